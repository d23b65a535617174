//! v2 → v3 migration: the keys of a rebuilt v2 store as a new v3 backend (FORMATS.md §6).
//!
//! Default: what `etcdctl migrate` (3.3/3.4) leaves for the same data dir, after
//! `etcdctl snapshot restore`: every visible v2 file under `/1` becomes a v3 key (the v2 path
//! without `/1`, leading slash kept), same value, `create_revision` = createdIndex,
//! `mod_revision` = modifiedIndex, version 1, no lease, stored at revision `{modifiedIndex, 0}`;
//! directories, hidden nodes (and everything below them) and the internal `/0`, `/2` trees are
//! skipped. Where etcdctl is lossy this is not:
//!
//! * values are the v2 bytes exactly (etcdctl decodes them as Go strings through JSON, so
//!   invalid UTF-8 became U+FFFD);
//! * [`TtlMode::Lease`] gives every key that still has a TTL a lease of that many seconds;
//! * `include_hidden` migrates hidden nodes too; `prefix_map` renames key prefixes;
//! * with a non-empty v3 keyspace beside the v2 data ([`Migration::with_v3`]), the v3 data is
//!   kept intact and the v2 keys are added at new revisions above the v3 head (etcdctl wrote them
//!   at their v2 indices and overwrote whatever v3 revisions were there).

use std::collections::HashMap;
use std::io::Write;

use crate::error::{Error, Result};
use crate::proto::KeyValue;
use crate::proto::{encode_key_value, encoded_key_value_len};
use crate::revision::Revision;
use crate::v2::store::{NodeId, Val};
use crate::v2::time::ttl_seconds;
use crate::v2::Store;
use crate::v3::rewrite::{copy_key_bucket_mapped, ValueMap};
use crate::v3::write::{put_revision_encoded, put_revision_sized, NewBackend};
use crate::v3::{Backend, BUCKET_KEY};
use bbolt::WriteError;

/// What to do with v2 keys that still have a TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlMode {
    /// Keep the key, permanent (etcdctl's default).
    #[default]
    Keep,
    /// Leave the key out (etcdctl `--no-ttl`): every node whose TTL at `now` is not 0.
    Drop,
    /// Keep the key and attach a lease with the seconds it had left at `now`; keys already
    /// expired at `now` are left out.
    Lease,
}

/// Migration settings.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    pub ttl: TtlMode,
    /// Migrate hidden nodes (names starting with `_`) and what is below them.
    pub include_hidden: bool,
    /// `(OLD, NEW)`: a v3 key starting with OLD gets NEW instead; the first matching pair wins.
    pub prefix_map: Vec<(Vec<u8>, Vec<u8>)>,
    /// "Now" for TTLs, Unix nanoseconds.
    pub now_ns: i64,
    /// First lease id handed out in [`TtlMode::Lease`] (raised above any v3 lease id).
    pub first_lease_id: i64,
}

/// Why a v2 node did not become a v3 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    Directory,
    Hidden,
    HasTtl,
    Expired,
}

/// One v2 file that became a v3 key. Its keys are not stored (a million copies would double
/// the memory of a large migration): [`Migration::v2_key`] and [`Migration::v3_key`] build them.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The v2 node.
    node: NodeId,
    /// Lengths of the v3 key and of the value (u32::MAX: look at the node).
    key_len: u32,
    /// Where the v3 key is in the plan's key arena (u32::MAX: rebuilt from the node).
    key_at: u32,
    value_len: u32,
    pub created_index: u64,
    pub modified_index: u64,
    /// Seconds left at `now` (0: no TTL).
    pub ttl: i64,
    /// Revision the key is stored at, and its KeyValue fields.
    pub revision: Revision,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// Counts for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrateCounts {
    pub v2_files: u64,
    pub v2_dirs: u64,
    pub migrated: u64,
    pub skipped_hidden: u64,
    pub skipped_ttl: u64,
    pub skipped_expired: u64,
    pub leases: u64,
    /// Keys stored on a revision shared with another key (same modifiedIndex).
    pub shared_revisions: u64,
    /// v3 keys kept from the existing v3 keyspace (entries of its `key` bucket).
    pub v3_revisions_kept: u64,
    /// v2 keys that overwrite a live v3 key of the same name.
    pub v3_keys_updated: u64,
}

/// A migration ready to write: what goes where.
pub struct Migration<'s> {
    store: &'s Store,
    opts: MigrateOptions,
    planned: Vec<Planned>,
    /// The v3 keys of the planned keys, end to end (built in tree order while planning, so the
    /// writer, which goes in revision order, need not walk the store's parent chains).
    keys: Vec<u8>,
    skipped: Vec<(Vec<u8>, SkipReason)>,
    pub counts: MigrateCounts,
    /// Revision above which the v2 keys were placed (0: at their v2 indices).
    pub v3_head: i64,
}

fn map_key(key: &[u8], map: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    for (old, new) in map {
        if let Some(rest) = key.strip_prefix(old.as_slice()) {
            return [new.as_slice(), rest].concat();
        }
    }
    key.to_vec()
}

impl<'s> Migration<'s> {
    /// Plans the migration of `store` alone (no v3 data kept).
    pub fn new(store: &'s Store, opts: MigrateOptions) -> Result<Self> {
        let mut m = Migration {
            store,
            opts,
            planned: Vec::new(),
            keys: Vec::new(),
            skipped: Vec::new(),
            counts: MigrateCounts::default(),
            v3_head: 0,
        };
        m.collect()?;
        Ok(m)
    }

    fn collect(&mut self) -> Result<()> {
        let store = self.store;
        let Ok(user_root) = store.lookup(b"/1") else {
            return Ok(()); // no /1: nothing to migrate
        };
        let mut planned = Vec::new();
        let mut skipped = Vec::new();
        let mut counts = MigrateCounts::default();
        let opts = &self.opts;
        // The v2 key (below /1) of the node being looked at: a prefix of it is its parent's.
        let mut path: Vec<u8> = Vec::new();
        let mut keys: Vec<u8> = Vec::new();
        // Depth-first over /1, children in name order; per node: below a hidden node (left out
        // unless `include_hidden`), and the length of its parent's key.
        let mut stack: Vec<(NodeId, bool, usize)> = Vec::new();
        let children = |id: NodeId| store.node(id).children.as_deref();
        if let Some(c) = children(user_root) {
            stack.extend(c.values().rev().map(|&id| (id, false, 0)));
        }
        while let Some((id, below_hidden, parent_len)) = stack.pop() {
            let n = store.node(id);
            let hidden = below_hidden || (!opts.include_hidden && n.name.first() == Some(&b'_'));
            path.truncate(parent_len);
            path.push(b'/');
            path.extend_from_slice(&n.name);
            if let Some(c) = &n.children {
                counts.v2_dirs += 1;
                stack.extend(c.values().rev().map(|&child| (child, hidden, path.len())));
                continue;
            }
            counts.v2_files += 1;
            if hidden {
                counts.skipped_hidden += 1;
                skipped.push((path.clone(), SkipReason::Hidden));
                continue;
            }
            let ttl = n.expire.map_or(0, |t| ttl_seconds(t, opts.now_ns));
            let mut lease = 0;
            match opts.ttl {
                TtlMode::Drop if ttl != 0 => {
                    counts.skipped_ttl += 1;
                    skipped.push((path.clone(), SkipReason::HasTtl));
                    continue;
                }
                TtlMode::Lease if n.expire.is_some() => {
                    if ttl <= 0 {
                        counts.skipped_expired += 1;
                        skipped.push((path.clone(), SkipReason::Expired));
                        continue;
                    }
                    lease = -1; // assigned below, in revision order
                }
                _ => {}
            }
            let mapped;
            let v3_key: &[u8] = if opts.prefix_map.is_empty() {
                &path
            } else {
                mapped = map_key(&path, &opts.prefix_map);
                &mapped
            };
            // The arena is indexed by u32: beyond 4 GiB of keys, they are rebuilt when needed.
            let key_at = match u32::try_from(keys.len() + v3_key.len()) {
                Ok(_) => {
                    let at = keys.len() as u32;
                    keys.extend_from_slice(v3_key);
                    at
                }
                Err(_) => u32::MAX,
            };
            planned.push(Planned {
                node: id,
                key_len: u32::try_from(v3_key.len()).unwrap_or(u32::MAX),
                key_at,
                value_len: u32::try_from(n.value.len()).unwrap_or(u32::MAX),
                created_index: n.created,
                modified_index: n.modified,
                ttl,
                revision: Revision::new(n.modified as i64, 0),
                create_revision: n.created as i64,
                version: 1,
                lease,
            });
        }
        // Keys in revision order; ties (same modifiedIndex) share a main revision, in key order
        // (sorted below, so the sort need not be stable).
        planned.sort_unstable_by_key(|p| p.modified_index);
        let mut i = 0;
        while i < planned.len() {
            let run = planned[i..]
                .iter()
                .take_while(|p| p.modified_index == planned[i].modified_index)
                .count();
            if run > 1 {
                planned[i..i + run].sort_by_cached_key(|p| self.v3_key(p));
            }
            i += run;
        }
        // Without a prefix map, v3 keys are the (distinct) v2 keys.
        if !opts.prefix_map.is_empty() {
            let mut seen: HashMap<Vec<u8>, NodeId> = HashMap::with_capacity(planned.len());
            for p in &planned {
                if let Some(other) = seen.insert(self.v3_key(p), p.node) {
                    let mut a = Vec::new();
                    store.key_below_top_into(other, &mut a);
                    return Err(Error::Write(format!(
                        "--prefix-map makes two v2 keys the same v3 key {:?}: {:?} and {:?}",
                        String::from_utf8_lossy(&self.v3_key(p)),
                        String::from_utf8_lossy(&a),
                        String::from_utf8_lossy(&self.v2_key(p))
                    )));
                }
            }
        }
        let mut next_lease = opts.first_lease_id.max(1);
        for i in 0..planned.len() {
            if i > 0 && planned[i].modified_index == planned[i - 1].modified_index {
                planned[i].revision.sub = planned[i - 1].revision.sub + 1;
                counts.shared_revisions += 1;
            }
            if planned[i].lease == -1 {
                planned[i].lease = next_lease;
                next_lease += 1;
                counts.leases += 1;
            }
        }
        counts.migrated = planned.len() as u64;
        keys.shrink_to_fit();
        self.keys = keys;
        self.planned = planned;
        self.skipped = skipped;
        self.counts = counts;
        Ok(())
    }

    /// The v2 key of a planned key (without `/1`).
    pub fn v2_key(&self, p: &Planned) -> Vec<u8> {
        let mut k = Vec::new();
        self.store.key_below_top_into(p.node, &mut k);
        k
    }

    /// The v3 key a planned key gets.
    pub fn v3_key(&self, p: &Planned) -> Vec<u8> {
        let mut k = Vec::new();
        self.v3_key_into(p, &mut k);
        k
    }

    /// The v3 key of a planned key, from the plan's arena (None: beyond it; see
    /// [`Migration::v3_key_into`]).
    fn arena_key(&self, p: &Planned) -> Option<&[u8]> {
        if p.key_at == u32::MAX {
            return None;
        }
        let at = p.key_at as usize;
        self.keys.get(at..at.checked_add(p.key_len as usize)?)
    }

    /// [`Migration::v3_key`] into a reused buffer.
    pub fn v3_key_into(&self, p: &Planned, out: &mut Vec<u8>) {
        if let Some(k) = self.arena_key(p) {
            out.clear();
            out.extend_from_slice(k);
            return;
        }
        self.store.key_below_top_into(p.node, out);
        if !self.opts.prefix_map.is_empty() {
            *out = map_key(out, &self.opts.prefix_map);
        }
    }

    /// The v2 value of a planned key (bytes as stored).
    pub fn value(&self, p: &Planned) -> std::borrow::Cow<'s, [u8]> {
        self.store.value(p.node)
    }

    /// Plans the migration of `store`; when `v3` (the db beside the WAL) holds a non-empty
    /// (or compacted) keyspace, that keyspace is kept and the v2 keys go above it ([`Migration::place_above`]).
    pub fn plan<S: storage::ReadAt>(
        store: &'s Store,
        opts: MigrateOptions,
        v3: Option<&Backend<S>>,
    ) -> Result<Self> {
        let mut m = Migration::new(store, opts)?;
        if let Some(be) = v3 {
            // A data dir of a v2-only cluster still has a db (no keys, current revision 1):
            // the keys then go at their v2 indices, as etcdctl puts them.
            let compacted = be.meta_info()?.effective_compact_revision().unwrap_or(0);
            if be.last_revision()? > 0 || compacted > 0 {
                m.place_above(be)?;
            }
        }
        Ok(m)
    }

    /// Keeps the v3 keyspace of `v3` intact and places the v2 keys at new revisions above its
    /// head (in modifiedIndex order, one revision each). A v2 key whose name is live in v3
    /// becomes an update of it (its create revision kept, version + 1).
    pub fn place_above<S: storage::ReadAt>(&mut self, v3: &Backend<S>) -> Result<()> {
        let head = v3.current_revision()?;
        self.v3_head = head;
        // Latest state of the v3 keys that v2 keys will land on.
        let wanted: HashMap<Vec<u8>, usize> = self
            .planned
            .iter()
            .enumerate()
            .map(|(i, p)| (self.v3_key(p), i))
            .collect();
        let mut latest: HashMap<usize, Option<(i64, i64)>> = HashMap::new();
        let mut kept = 0u64;
        v3.for_each_revision(|rk, kv| {
            kept += 1;
            if let Some(&i) = wanted.get(kv.key) {
                let state = if rk.tombstone {
                    None
                } else {
                    Some((kv.create_revision, kv.version))
                };
                latest.insert(i, state);
            }
            Ok(())
        })?;
        drop(wanted);
        for (i, p) in self.planned.iter_mut().enumerate() {
            let rev = head + 1 + i as i64;
            p.revision = Revision::new(rev, 0);
            match latest.get(&i) {
                Some(Some((create, version))) => {
                    p.create_revision = *create;
                    p.version = version + 1;
                    self.counts.v3_keys_updated += 1;
                }
                _ => {
                    p.create_revision = rev;
                    p.version = 1;
                }
            }
        }
        self.counts.shared_revisions = 0;
        self.counts.v3_revisions_kept = kept;
        // Lease ids above the v3 ones.
        let max_v3_lease = v3.leases()?.iter().map(|l| l.id).max().unwrap_or(0);
        if max_v3_lease >= self.opts.first_lease_id.max(1) {
            let shift = max_v3_lease + 1 - self.opts.first_lease_id.max(1);
            for p in self.planned.iter_mut().filter(|p| p.lease != 0) {
                p.lease += shift;
            }
        }
        Ok(())
    }

    pub fn planned(&self) -> &[Planned] {
        &self.planned
    }

    pub fn skipped(&self) -> &[(Vec<u8>, SkipReason)] {
        &self.skipped
    }

    /// The KeyValue stored for a planned key.
    pub fn key_value(&self, p: &Planned) -> Result<KeyValue> {
        Ok(KeyValue {
            key: self.v3_key(p),
            create_revision: p.create_revision,
            mod_revision: p.revision.main,
            version: p.version,
            value: self.value(p).to_vec(),
            lease: p.lease,
        })
    }

    /// The length of [`Migration::encode_key_value`]'s output.
    pub fn encoded_len(&self, p: &Planned) -> usize {
        let key_len = match p.key_len {
            u32::MAX => self.v3_key(p).len(),
            n => n as usize,
        };
        let value_len = match p.value_len {
            u32::MAX => self.value(p).len(),
            n => n as usize,
        };
        encoded_key_value_len(
            key_len,
            p.create_revision,
            p.revision.main,
            p.version,
            value_len,
            p.lease,
        )
    }

    /// The encoded KeyValue stored for a planned key, into `buf`; `key` is scratch.
    pub fn encode_key_value(&self, p: &Planned, key: &mut Vec<u8>, buf: &mut Vec<u8>) {
        self.v3_key_into(p, key);
        encode_key_value(
            buf,
            key,
            p.create_revision,
            p.revision.main,
            p.version,
            &self.value(p),
            p.lease,
        );
    }

    /// The new backend: v2 keys only (`v3` None), or the v3 db's buckets with the v2 keys
    /// added above its head.
    pub fn content<'a, S: storage::ReadAt>(
        &'a self,
        v3: Option<&'a Backend<S>>,
        consistent_index: u64,
    ) -> Result<NewBackend<'a>> {
        self.content_mapped(v3, consistent_index, None)
    }

    /// [`Migration::content`] with every value (v2 and kept v3 ones) passed through `map`
    /// (e.g. `--redact`).
    pub fn content_mapped<'a, S: storage::ReadAt>(
        &'a self,
        v3: Option<&'a Backend<S>>,
        consistent_index: u64,
        map: Option<&'a ValueMap<'a>>,
    ) -> Result<NewBackend<'a>> {
        let mut nb = NewBackend::new();
        if let Some(src) = v3 {
            src.copy_small_buckets(&mut nb)?;
        }
        let ci = nb
            .entries(crate::v3::BUCKET_META)
            .and_then(|m| m.get(b"consistent_index".as_slice()))
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        nb.set_consistent_index(ci.max(consistent_index));
        for p in self.planned.iter().filter(|p| p.lease != 0) {
            nb.put_lease(p.lease, p.ttl.max(1));
        }
        nb.stream(
            BUCKET_KEY,
            Box::new(move |sink| {
                let mut buf = Vec::new();
                if let Some(src) = v3 {
                    match map {
                        None => src.for_each_revision_raw(|key, value| {
                            sink.put(key, value)?;
                            Ok(())
                        })?,
                        Some(_) => copy_key_bucket_mapped(src, sink, map, &mut buf)?,
                    }
                }
                let mut key = Vec::new();
                if !sink.needs_values() && map.is_none() {
                    // The writer's layout pass: lengths only, no look at the v2 nodes (with a
                    // value map the lengths change: both passes make every value).
                    for p in &self.planned {
                        put_revision_sized(sink, p.revision, false, self.encoded_len(p))?;
                    }
                    return Ok(());
                }
                // Spilled values are read a partition at a time, in revision order.
                let mut cursor = self.store.spill.as_ref().map(|s| s.cursor());
                for p in &self.planned {
                    let k: &[u8] = match self.arena_key(p) {
                        Some(k) => k,
                        None => {
                            self.v3_key_into(p, &mut key);
                            &key
                        }
                    };
                    let value: &[u8] = match (&self.store.node(p.node).value, cursor.as_mut()) {
                        (Val::Mem(v), _) => v,
                        (Val::Spilled(r), Some(c)) => c.get(*r).map_err(WriteError::from)?,
                        (Val::Spilled(_), None) => {
                            return Err(WriteError::Io {
                                kind: std::io::ErrorKind::NotFound,
                                message: "a spilled value without its spill files".into(),
                            }
                            .into())
                        }
                    };
                    let mapped = map.and_then(|m| (m.f)(k, value).map(|v| (m, v)));
                    let value = match &mapped {
                        Some((m, v)) => {
                            if sink.needs_values() {
                                m.replaced
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            v.as_slice()
                        }
                        None => value,
                    };
                    encode_key_value(
                        &mut buf,
                        k,
                        p.create_revision,
                        p.revision.main,
                        p.version,
                        value,
                        p.lease,
                    );
                    put_revision_encoded(sink, p.revision, false, &buf)?;
                }
                Ok(())
            }),
        );
        Ok(nb)
    }

    /// The verification report as JSON: options, counts, every migrated key (v2 key → v3 key
    /// and its revisions, lease, ttl) and every skipped node with the reason. Keys are shown
    /// as text when they are UTF-8, else as `{"base64": ...}`.
    pub fn write_report<W: Write>(&self, mut w: W, input: &str) -> std::io::Result<()> {
        let key = |k: &[u8]| -> serde_json::Value {
            match std::str::from_utf8(k) {
                Ok(s) => serde_json::Value::String(s.to_string()),
                Err(_) => serde_json::json!({ "base64": crate::json::b64_string(k) }),
            }
        };
        let head = serde_json::json!({
            "input": input,
            "ttl": format!("{:?}", self.opts.ttl).to_lowercase(),
            "includeHidden": self.opts.include_hidden,
            "prefixMap": self.opts.prefix_map.iter().map(|(a, b)| [key(a), key(b)]).collect::<Vec<_>>(),
            "now": crate::v2::time::format_rfc3339_nano_utc(self.opts.now_ns),
            "v3Head": self.v3_head,
            "counts": self.counts,
        });
        let head = serde_json::to_string_pretty(&head)?;
        // Splice the two big arrays in, streamed, before the closing brace.
        let body = head.trim_end().trim_end_matches('}').trim_end();
        write!(w, "{body},\n  \"keys\": [")?;
        for (i, p) in self.planned.iter().enumerate() {
            let row = serde_json::json!({
                "v2": key(&self.v2_key(p)), "v3": key(&self.v3_key(p)),
                "createdIndex": p.created_index, "modifiedIndex": p.modified_index,
                "revision": format!("{}", p.revision),
                "create_revision": p.create_revision, "mod_revision": p.revision.main,
                "version": p.version, "lease": p.lease, "ttl": p.ttl,
            });
            write!(w, "{}\n    {}", if i == 0 { "" } else { "," }, row)?;
        }
        write!(w, "\n  ],\n  \"skipped\": [")?;
        for (i, (k, why)) in self.skipped.iter().enumerate() {
            let row = serde_json::json!({ "v2": key(k), "reason": why });
            write!(w, "{}\n    {}", if i == 0 { "" } else { "," }, row)?;
        }
        writeln!(w, "\n  ]\n}}")?;
        Ok(())
    }
}
