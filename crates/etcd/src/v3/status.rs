//! `etcdctl snapshot status`, and what it leaves out.
//!
//! One checked walk over every page computes etcdctl's four numbers exactly (FORMATS.md §5.5:
//! CRC-32C `hash` over bucket names, keys and values; `revision` from the last `key` entry;
//! `totalKey` = entries in all buckets; `totalSize` = high-water mark × page size) together with
//! our own: live keys, tombstones, live vs history bytes, per-bucket and per-page-kind numbers.

use std::ops::ControlFlow;

use bbolt::{Visitor, WalkEntry};
use serde::Serialize;
use storage::ReadAt;

use super::{Backend, MetaInfo, BUCKET_KEY, BUCKET_LEASE};
use crate::error::{Error, Result};
use crate::hash::key_hash;
use crate::json;
use crate::proto::KvRef;
use crate::revision::RevKey;
use crate::snapshot::{hex, Trailer};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailerInfo {
    /// "ok", "mismatch", "absent" or "unchecked".
    pub state: &'static str,
    pub stored_sha256: Option<String>,
    pub computed_sha256: Option<String>,
}

impl From<&Trailer> for TrailerInfo {
    fn from(t: &Trailer) -> Self {
        let (stored, computed) = match t {
            Trailer::Absent => (None, None),
            Trailer::Ok { sha256 } => (Some(hex(sha256)), Some(hex(sha256))),
            Trailer::Mismatch { stored, computed } => (Some(hex(stored)), Some(hex(computed))),
            Trailer::Unchecked { stored } => (Some(hex(stored)), None),
        };
        TrailerInfo {
            state: t.state(),
            stored_sha256: stored,
            computed_sha256: computed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaPageInfo {
    /// 0 or 1.
    pub active: u8,
    pub txid: u64,
    pub fell_back: bool,
    /// Why the other meta page is unusable, if it is.
    pub other_problem: Option<String>,
    pub root_page: u64,
    pub freelist_page: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketInfo {
    #[serde(serialize_with = "json::text_or_b64")]
    pub name: Vec<u8>,
    pub entries: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub inline: bool,
    pub depth: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PagesInfo {
    pub page_size: u64,
    /// The high-water mark (pages in use, including free ones below it).
    pub high_water: u64,
    pub reachable: u64,
    pub free: u64,
    pub freelist_pages: u64,
    pub has_freelist: bool,
    /// Bytes past the high-water mark in the file (pre-allocated space of a live db).
    pub bytes_past_high_water: u64,
}

/// `etcdctl snapshot status` fields first (same names and values), then ours.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub hash: u32,
    pub revision: i64,
    pub total_key: u64,
    pub total_size: u64,

    pub file_size: u64,
    pub trailer: TrailerInfo,
    pub meta_page: MetaPageInfo,
    pub meta: MetaInfo,
    /// Schema version etcd would detect ("3.4", "3.5", or meta/storageVersion).
    pub schema: String,
    /// Entries in the `key` bucket (every held revision, tombstones included).
    pub revisions: u64,
    pub tombstones: u64,
    /// Keys whose latest held revision is a put.
    pub live_keys: u64,
    /// Keys whose latest held revision is a delete.
    pub deleted_keys: u64,
    pub leases: u64,
    /// Raised alarms (NOSPACE, CORRUPT) recorded in the `alarm` bucket.
    pub alarms: Vec<super::AlarmInfo>,
    /// Encoded `KeyValue` bytes of each live key's latest revision.
    pub live_bytes: u64,
    /// Encoded bytes of every other `key` entry (superseded revisions and tombstones).
    pub history_bytes: u64,
    pub oldest_revision: Option<i64>,
    pub buckets: Vec<BucketInfo>,
    pub pages: PagesInfo,
    pub problems: Vec<String>,
}

/// What the status needs.
#[derive(Debug, Clone, Copy)]
pub struct StatusOptions {
    /// Hash the whole db part to check the SHA-256 trailer.
    pub verify_trailer: bool,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            verify_trailer: true,
        }
    }
}

use super::latest::{Latest, DELETED};

#[derive(Default)]
struct StatusVisitor {
    crc: u32,
    /// Bytes fed to `crc` (to combine the CRCs of a parallel walk).
    crc_len: u64,
    /// Main revision of the last `key` entry seen, if any.
    last_key_main: Option<i64>,
    total_key: u64,
    in_key: bool,
    in_lease: bool,
    revisions: u64,
    tombstones: u64,
    leases: u64,
    kv_bytes: u64,
    oldest: Option<i64>,
    /// Encoded size of each key's latest revision (DELETED for a tombstone).
    latest: Latest,
    /// Set instead of `latest` when parts of a parallel walk were combined.
    merged: Option<Vec<(u64, u32)>>,
    error: Option<Error>,
}

impl Visitor for StatusVisitor {
    fn bucket(&mut self, name: &[u8]) -> ControlFlow<()> {
        self.crc = crc32c::crc32c_append(self.crc, name);
        self.crc_len += name.len() as u64;
        self.resume(name)
    }

    fn resume(&mut self, name: &[u8]) -> ControlFlow<()> {
        self.in_key = name == BUCKET_KEY;
        self.in_lease = name == BUCKET_LEASE;
        ControlFlow::Continue(())
    }

    fn entry(&mut self, e: WalkEntry<'_>) -> ControlFlow<()> {
        self.crc = crc32c::crc32c_append(self.crc, e.key);
        self.crc = crc32c::crc32c_append(self.crc, e.value);
        self.crc_len += (e.key.len() + e.value.len()) as u64;
        self.total_key += 1;
        if self.in_lease {
            self.leases += 1;
        }
        if !self.in_key {
            return ControlFlow::Continue(());
        }
        // etcdctl decodes the main revision of every key without further checks.
        if let Some(main) = RevKey::main_of(e.key) {
            self.last_key_main = Some(main);
        }
        let Some(rk) = RevKey::parse(e.key) else {
            self.error = Some(Error::BadRevisionKey {
                page: e.page,
                offset: e.offset,
                len: e.key.len(),
            });
            return ControlFlow::Break(());
        };
        let Some(kv) = KvRef::parse(e.value) else {
            self.error = Some(Error::BadKeyValue {
                page: e.page,
                offset: e.offset,
                revision: rk.rev.to_string(),
                reason: "malformed protobuf".into(),
            });
            return ControlFlow::Break(());
        };
        self.revisions += 1;
        self.kv_bytes += e.value.len() as u64;
        if self.oldest.is_none() {
            self.oldest = Some(rk.rev.main);
        }
        let size = if rk.tombstone {
            self.tombstones += 1;
            DELETED
        } else {
            e.value.len().min(DELETED as usize - 1) as u32
        };
        self.latest.push(key_hash(kv.key), size);
        ControlFlow::Continue(())
    }
}

impl<S: ReadAt> Backend<S> {
    /// The full status. Reads every page once (and the whole file once more for the trailer
    /// when asked).
    pub fn status(&self, opts: StatusOptions) -> Result<Status> {
        let walked = self.status_walk()?;
        let trailer = self.trailer_state(opts)?;
        self.status_from(walked, trailer)
    }

    /// As [`Backend::status`], hashing the trailer on a second thread while the walk runs.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn status_threaded(&self, opts: StatusOptions) -> Result<Status>
    where
        S: Sync,
    {
        std::thread::scope(|scope| {
            let hasher = scope.spawn(|| self.trailer_state(opts));
            // With the trailer hashed on a second core the walk keeps one; otherwise it splits.
            let walked = if opts.verify_trailer && self.stored_trailer().is_some() {
                self.status_walk()
            } else {
                self.status_walk_parallel()
            };
            let trailer = hasher.join().unwrap_or_else(|_| {
                Err(Error::NotEtcd {
                    reason: "the trailer hashing thread failed".into(),
                })
            });
            self.status_from(walked?, trailer?)
        })
    }

    fn trailer_state(&self, opts: StatusOptions) -> Result<Trailer> {
        Ok(match (opts.verify_trailer, self.stored_trailer()) {
            (_, None) => Trailer::Absent,
            (true, Some(_)) => self.verify_trailer()?,
            (false, Some(stored)) => Trailer::Unchecked { stored },
        })
    }

    /// The walk on several threads (native only); the parts are combined in walk order.
    #[cfg(not(target_arch = "wasm32"))]
    fn status_walk_parallel(&self) -> Result<(StatusVisitor, bbolt::WalkReport)>
    where
        S: Sync,
    {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(4);
        if threads < 2 {
            return self.status_walk();
        }
        let (parts, report) = self.bolt().walk_parallel(threads, StatusVisitor::default)?;
        let mut all = StatusVisitor::default();
        let mut tables = Vec::new();
        for mut p in parts {
            if let Some(e) = p.error.take() {
                return Err(e);
            }
            all.crc = crc32c::crc32c_combine(all.crc, p.crc, p.crc_len as usize);
            all.crc_len += p.crc_len;
            all.last_key_main = p.last_key_main.or(all.last_key_main);
            all.total_key += p.total_key;
            all.revisions += p.revisions;
            all.tombstones += p.tombstones;
            all.leases += p.leases;
            all.kv_bytes += p.kv_bytes;
            all.oldest = all.oldest.or(p.oldest);
            tables.push(p.latest.finish());
        }
        let merged = tables.into_iter().fold(Vec::new(), Latest::merge_tables);
        all.merged = Some(merged);
        Ok((all, report))
    }

    fn status_walk(&self) -> Result<(StatusVisitor, bbolt::WalkReport)> {
        let mut v = StatusVisitor::default();
        let report = self.bolt().walk(&mut v)?;
        if let Some(e) = v.error.take() {
            return Err(e);
        }
        Ok((v, report))
    }

    fn status_from(
        &self,
        walked: (StatusVisitor, bbolt::WalkReport),
        trailer: Trailer,
    ) -> Result<Status> {
        let (v, report) = walked;
        let meta = self.meta_info()?;
        let (mut live_keys, mut deleted_keys, mut live_bytes) = (0u64, 0u64, 0u64);
        let table = match v.merged {
            Some(t) => t,
            None => v.latest.finish(),
        };
        for (_, size) in table {
            if size == DELETED {
                deleted_keys += 1;
            } else {
                live_keys += 1;
                live_bytes += size as u64;
            }
        }
        let db = self.bolt();
        let choice = db.meta_choice();
        let total_size = db.size_in_use();
        let mut problems = report.problems.clone();
        if let Some(p) = &choice.other_problem {
            problems.push(format!("meta page {} is unusable: {p}", 1 - choice.index));
        }
        if let Trailer::Mismatch { .. } = trailer {
            problems.push("the SHA-256 trailer does not match the data (etcdctl snapshot restore would refuse it)".into());
        }
        if db.is_truncated() {
            problems.push(format!(
                "the file holds {} bytes of data but its meta page describes {} bytes",
                db.source().size(),
                total_size
            ));
        }
        Ok(Status {
            hash: v.crc,
            revision: v.last_key_main.unwrap_or(0),
            total_key: v.total_key,
            total_size,
            file_size: self.file_size(),
            trailer: TrailerInfo::from(&trailer),
            meta_page: MetaPageInfo {
                active: choice.index,
                txid: choice.meta.txid,
                fell_back: choice.fell_back,
                other_problem: choice.other_problem.as_ref().map(|p| p.to_string()),
                root_page: choice.meta.root,
                freelist_page: (choice.meta.freelist != bbolt::meta::NO_FREELIST)
                    .then_some(choice.meta.freelist),
            },
            schema: meta.detected_schema().to_owned(),
            meta,
            revisions: v.revisions,
            tombstones: v.tombstones,
            live_keys,
            deleted_keys,
            leases: v.leases,
            alarms: self.alarms()?,
            live_bytes,
            history_bytes: v.kv_bytes - live_bytes,
            oldest_revision: v.oldest,
            buckets: report
                .buckets
                .iter()
                .map(|b| BucketInfo {
                    name: b.name.clone(),
                    entries: b.entries,
                    key_bytes: b.key_bytes,
                    value_bytes: b.value_bytes,
                    branch_pages: b.branch_pages,
                    leaf_pages: b.leaf_pages,
                    overflow_pages: b.overflow_pages,
                    inline: b.inline,
                    depth: b.depth,
                })
                .collect(),
            pages: PagesInfo {
                page_size: db.page_size(),
                high_water: report.high_water,
                reachable: report.reachable_pages,
                free: report.free_pages(),
                freelist_pages: report.freelist_pages,
                has_freelist: report.has_freelist,
                bytes_past_high_water: db.source().size().saturating_sub(total_size),
            },
            problems,
        })
    }
}
