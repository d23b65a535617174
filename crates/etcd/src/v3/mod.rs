//! etcd's v3 backend: the bbolt file under `member/snap/db`, or a `snapshot save` file.
//! Schema: FORMATS.md §5.

mod info;
mod latest;
mod range;
pub mod rewrite;
mod status;
pub mod write;

pub use info::{
    AlarmInfo, AuthInfo, LeaseInfo, MemberInfo, MembersInfo, MetaInfo, PermissionInfo, RoleInfo,
    UserInfo,
};
pub use range::{HistoryEntry, RangeRequest, RangeResult};
pub use status::{BucketInfo, MetaPageInfo, PagesInfo, Status, StatusOptions, TrailerInfo};

use std::ops::ControlFlow;

use bbolt::{Db, LeafElem};
use storage::{ReadAt, SliceSource};

use crate::error::{Error, Result};
use crate::revision::{RevKey, Revision};
use crate::snapshot::{self, Trailer};

pub const BUCKET_KEY: &[u8] = b"key";
pub const BUCKET_META: &[u8] = b"meta";
pub const BUCKET_LEASE: &[u8] = b"lease";
pub const BUCKET_AUTH: &[u8] = b"auth";
pub const BUCKET_AUTH_USERS: &[u8] = b"authUsers";
pub const BUCKET_AUTH_ROLES: &[u8] = b"authRoles";
pub const BUCKET_MEMBERS: &[u8] = b"members";
pub const BUCKET_MEMBERS_REMOVED: &[u8] = b"members_removed";
pub const BUCKET_CLUSTER: &[u8] = b"cluster";
pub const BUCKET_ALARM: &[u8] = b"alarm";

/// An open v3 backend.
pub struct Backend<S: ReadAt> {
    db: Db<SliceSource<S>>,
    stored_trailer: Option<[u8; 32]>,
    file_size: u64,
}

impl<S: ReadAt> Backend<S> {
    /// Opens a snapshot file (trailer detected by size) or a raw db file.
    pub fn open(src: S) -> Result<Self> {
        let file_size = src.size();
        let (part, stored_trailer) = snapshot::split(src)?;
        let db = Db::open(part)?;
        Ok(Backend {
            db,
            stored_trailer,
            file_size,
        })
    }

    pub fn bolt(&self) -> &Db<SliceSource<S>> {
        &self.db
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub fn stored_trailer(&self) -> Option<[u8; 32]> {
        self.stored_trailer
    }

    /// Verifies the SHA-256 trailer (reads the whole db part once).
    pub fn verify_trailer(&self) -> Result<Trailer> {
        Ok(snapshot::verify(self.db.source(), self.stored_trailer)?)
    }

    /// Calls `f` for each entry of a top-level bucket in key order; returns false when the
    /// bucket does not exist.
    pub fn for_each<F>(&self, bucket: &[u8], mut f: F) -> Result<bool>
    where
        F: FnMut(&LeafElem<'_>) -> Result<ControlFlow<()>>,
    {
        let Some(b) = self.db.bucket(bucket)? else {
            return Ok(false);
        };
        let mut c = self.db.cursor(&b);
        let mut e = c.first()?;
        while let Some(entry) = e {
            if f(&entry)?.is_break() {
                break;
            }
            e = c.next()?;
        }
        Ok(true)
    }

    /// Calls `f` for every `key` bucket entry in revision order with its parsed KeyValue
    /// (tombstones included: `rk.tombstone`).
    pub fn for_each_revision<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(RevKey, crate::proto::KvRef<'_>) -> Result<()>,
    {
        self.scan_revisions(Revision::new(0, 0), |rk, e| {
            let kv = crate::proto::KvRef::parse(e.value).ok_or_else(|| range::bad_kv(rk, e))?;
            f(rk, kv)?;
            Ok(ControlFlow::Continue(()))
        })
    }

    /// The `key` bucket entry at exactly `rev` (put or tombstone), parsed; None when absent.
    pub fn kv_at(&self, rev: Revision) -> Result<Option<(RevKey, crate::proto::KeyValue)>> {
        let mut found = None;
        self.scan_revisions(rev, |rk, e| {
            if rk.rev == rev {
                let kv = crate::proto::KvRef::parse(e.value).ok_or_else(|| range::bad_kv(rk, e))?;
                found = Some((rk, kv.to_owned()));
            }
            Ok(ControlFlow::Break(()))
        })?;
        Ok(found)
    }

    /// The put of `key` at main revision `main` (what a range answered as its `mod_revision`):
    /// one seek, then the few entries of that main revision. None when there is none.
    pub fn put_at(&self, key: &[u8], main: i64) -> Result<Option<crate::proto::KeyValue>> {
        let mut found = None;
        self.scan_revisions(Revision::new(main, 0), |rk, e| {
            if rk.rev.main != main {
                return Ok(ControlFlow::Break(()));
            }
            let kv = crate::proto::KvRef::parse(e.value).ok_or_else(|| range::bad_kv(rk, e))?;
            if !rk.tombstone && kv.key == key {
                found = Some(kv.to_owned());
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(found)
    }

    /// Calls `f` for every `key` bucket entry in order with its raw key and value; the keys are
    /// checked to be revisions.
    pub fn for_each_revision_raw<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(&[u8], &[u8]) -> Result<()>,
    {
        self.scan_revisions(Revision::new(0, 0), |_, e| {
            f(e.key, e.value)?;
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Calls `f` for each `key` bucket entry from `start` on, in revision order, with the decoded
    /// revision key. `f` returns Break to stop.
    pub(crate) fn scan_revisions<F>(&self, start: Revision, mut f: F) -> Result<()>
    where
        F: FnMut(RevKey, &LeafElem<'_>) -> Result<ControlFlow<()>>,
    {
        let Some(b) = self.db.bucket(BUCKET_KEY)? else {
            return Ok(());
        };
        let mut c = self.db.cursor(&b);
        let mut e = c.seek(&start.to_bytes())?;
        while let Some(entry) = e {
            let rk = RevKey::parse(entry.key).ok_or(Error::BadRevisionKey {
                page: entry.page,
                offset: entry.offset,
                len: entry.key.len(),
            })?;
            if f(rk, &entry)?.is_break() {
                break;
            }
            e = c.next()?;
        }
        Ok(())
    }

    /// The last `key` bucket entry's main revision (what `snapshot status` calls `revision`),
    /// 0 when the bucket is empty or absent.
    pub fn last_revision(&self) -> Result<i64> {
        let Some(b) = self.db.bucket(BUCKET_KEY)? else {
            return Ok(0);
        };
        let mut c = self.db.cursor(&b);
        Ok(match c.last()? {
            Some(e) => RevKey::main_of(e.key).unwrap_or(0),
            None => 0,
        })
    }

    /// The revision etcd would serve as current: the largest main revision held, or the
    /// compaction revision if that is larger (etcd's restore rule).
    pub fn current_revision(&self) -> Result<i64> {
        let last = self.last_revision()?;
        let meta = self.meta_info()?;
        Ok(last
            .max(meta.effective_compact_revision().unwrap_or(0))
            .max(1))
    }
}

/// Reads a value that must be an 8-byte big-endian integer.
pub(crate) fn be_u64(v: &[u8]) -> Option<u64> {
    let a: [u8; 8] = v.try_into().ok()?;
    Some(u64::from_be_bytes(a))
}

/// Byte strings as text when they are valid UTF-8.
pub(crate) fn lossless_text(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).ok().map(str::to_owned)
}
