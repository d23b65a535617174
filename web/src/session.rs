//! What the worker holds for an opened input, and the answers it gives the page.
//!
//! Generic over the byte source so it runs natively in unit tests (`MemSource`) and in the
//! worker over browser Blobs. Answers are `serde_json::Value`s serialized to text by the worker:
//! keys and values travel as base64 (exact bytes) next to a display text.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use storage::ReadAt;

use etcd::check::Place;
use etcd::v2::{self, GetOptions, LoadError, V2Data};
use etcd::v3::{Backend, StatusOptions};
use etcd::wal;
use etcd::Revision;

use crate::report::escape;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Base64 of bytes (keys travel between page and worker this way).
pub fn b64_bytes(b: &[u8]) -> String {
    b64(b)
}

/// Base64 of a text key (the v2 view passes keys as text).
pub fn b64_text(s: &str) -> String {
    b64(s.as_bytes())
}

pub fn unb64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("bad key encoding: {e}"))
}

/// Values shown in the viewer are cut here (the download gives all of it).
pub const VIEW_LIMIT: usize = 256 * 1024;

/// A live key's place in the index: its bytes in the arena and its latest revision.
#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u32,
    len: u32,
    main: i64,
    sub: u32,
    value_len: u32,
}

/// The index's hash table while it is built: open addressing with linear probing, 8 bytes a
/// slot (the hash's top 32 bits, the entry's number + 1; 0 is empty), kept at most 3/4 full.
/// Half the memory of a `HashMap<u64, u32>` for the same keys, and no second map for keys whose
/// hashes collide: a slot whose tag matches is checked against the key's bytes.
struct Slots {
    slots: Vec<u64>,
    used: usize,
}

impl Slots {
    fn with_capacity(n: usize) -> Slots {
        let len = (n.max(512) * 2).next_power_of_two();
        Slots {
            slots: vec![0; len],
            used: 0,
        }
    }

    /// The entry holding the key (by `same(entry)`), or the slot where it goes.
    fn find(&self, h: u64, same: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let tag = h >> 32;
        let mut i = h as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return Err(i);
            }
            let entry = (s as u32).wrapping_sub(1);
            if s >> 32 == tag && same(entry) {
                return Ok(entry);
            }
            i = (i + 1) & mask;
        }
    }

    /// Puts `entry` in slot `at` (from [`Slots::find`]); see [`Slots::needs_growth`] after.
    fn insert(&mut self, at: usize, h: u64, entry: u32) {
        self.slots[at] = (h >> 32) << 32 | u64::from(entry + 1);
        self.used += 1;
    }

    fn needs_growth(&self) -> bool {
        self.used * 4 >= self.slots.len() * 3
    }

    /// A table twice the size, refilled from the entries' hashes.
    fn grown(&self, entries: usize, hash_of: impl Fn(u32) -> u64) -> Slots {
        let mut t = Slots {
            slots: vec![0; self.slots.len() * 2],
            used: 0,
        };
        for e in 0..entries as u32 {
            let h = hash_of(e);
            if let Err(at) = t.find(h, |_| false) {
                t.insert(at, h, e);
            }
        }
        t
    }
}

/// Key bytes in 4 MiB chunks (one `Vec` would double its capacity as it grows, and wasm
/// memory keeps its peak). A key's offset is in a 32-bit space where chunk `i` starts at
/// `i << 22`; a key that does not fit in what is left of a chunk starts the next one, and a
/// key longer than a chunk gets a chunk of its own size, covering as many chunk numbers.
#[derive(Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
}

impl Arena {
    const SHIFT: u32 = 22;
    const CHUNK: usize = 1 << Self::SHIFT;

    /// Stores `key`; its offset, or `None` past 4 GiB of offsets.
    fn push(&mut self, key: &[u8]) -> Option<u32> {
        let last = self.chunks.len().checked_sub(1);
        if let (Some(i), Some(c)) = (last, self.chunks.last_mut()) {
            // (A long key's chunk is over CHUNK long: nothing joins it.)
            if c.len() + key.len() <= Self::CHUNK {
                if c.capacity() == 0 {
                    c.reserve_exact(Self::CHUNK);
                }
                let within = c.len();
                c.extend_from_slice(key);
                return Some((i as u32) << Self::SHIFT | within as u32);
            }
        }
        let first = self.chunks.len();
        let span = key.len().div_ceil(Self::CHUNK).max(1);
        if ((first + span) as u64) << Self::SHIFT > 1u64 << 32 {
            return None;
        }
        let mut c = Vec::with_capacity(key.len().max(Self::CHUNK));
        c.extend_from_slice(key);
        self.chunks.push(c);
        // The chunk numbers a long key covers; later keys may use them.
        for _ in 1..span {
            self.chunks.push(Vec::new());
        }
        Some((first as u32) << Self::SHIFT)
    }

    fn get(&self, off: u32, len: u32) -> &[u8] {
        let chunk = (off >> Self::SHIFT) as usize;
        let within = (off as usize) & (Self::CHUNK - 1);
        self.chunks
            .get(chunk)
            .and_then(|c| c.get(within..within + len as usize))
            .unwrap_or(&[])
    }
}

/// An entry's key bytes in the arena.
fn key_of<'a>(arena: &'a Arena, e: &Entry) -> &'a [u8] {
    arena.get(e.off, e.len)
}

/// A 64-bit hash of a key (FNV-1a, then a multiply-xorshift finish).
fn key_hash(k: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in k {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Live keys at the current revision, sorted (built once per input): key bytes in one arena,
/// 24 bytes per key beside them (about 100 MB for 1M keys of 40 bytes while building, 65 MB
/// after), instead of one allocation per key.
pub(crate) struct KeyIndex {
    arena: Arena,
    entries: Vec<Entry>,
}

impl KeyIndex {
    /// `distinct`: the number of distinct keys when known (0: not), so the tables are made
    /// at their size once instead of doubling (wasm memory never shrinks: its peak is what
    /// the tab keeps).
    fn build<S: ReadAt>(be: &Backend<S>, distinct: u64) -> Result<KeyIndex, String> {
        let n = usize::try_from(distinct)
            .unwrap_or(0)
            .min(u32::MAX as usize);
        let mut arena = Arena::default();
        let mut entries: Vec<Entry> = Vec::with_capacity(n);
        let mut live: Vec<bool> = Vec::with_capacity(n);
        let mut table = Slots::with_capacity(n);
        let too_big = || "too many keys for the page's index (over 4 GiB of key bytes)".to_string();
        be.for_each_revision(|rk, kv| {
            let h = key_hash(kv.key);
            let found = table.find(h, |i| key_of(&arena, &entries[i as usize]) == kv.key);
            let sub = u32::try_from(rk.rev.sub).unwrap_or(u32::MAX);
            let value_len = u32::try_from(kv.value.len()).unwrap_or(u32::MAX);
            match found {
                Ok(i) => {
                    let e = &mut entries[i as usize];
                    e.main = rk.rev.main;
                    e.sub = sub;
                    e.value_len = value_len;
                    live[i as usize] = !rk.tombstone;
                }
                Err(slot) => {
                    let len = u32::try_from(kv.key.len())
                        .map_err(|_| etcd::Error::NotEtcd { reason: too_big() })?;
                    if entries.len() >= u32::MAX as usize - 1 {
                        return Err(etcd::Error::NotEtcd { reason: too_big() });
                    }
                    let off = arena
                        .push(kv.key)
                        .ok_or_else(|| etcd::Error::NotEtcd { reason: too_big() })?;
                    let i = entries.len() as u32;
                    entries.push(Entry {
                        off,
                        len,
                        main: rk.rev.main,
                        sub,
                        value_len,
                    });
                    live.push(!rk.tombstone);
                    table.insert(slot, h, i);
                    if table.needs_growth() {
                        table = table.grown(entries.len(), |e| {
                            key_hash(key_of(&arena, &entries[e as usize]))
                        });
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        drop(table);
        // The live ones, sorted in place (no second table).
        let mut live = live.into_iter();
        entries.retain(|_| live.next().unwrap_or(false));
        let key = |e: &Entry| key_of(&arena, e);
        entries.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        Ok(KeyIndex { arena, entries })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn key(&self, i: usize) -> &[u8] {
        match self.entries.get(i) {
            Some(e) => key_of(&self.arena, e),
            None => &[],
        }
    }

    pub(crate) fn value_len(&self, i: usize) -> u64 {
        self.entries.get(i).map_or(0, |e| u64::from(e.value_len))
    }

    pub(crate) fn rev(&self, i: usize) -> Option<Revision> {
        self.entries.get(i).map(|e| Revision {
            main: e.main,
            sub: i64::from(e.sub),
        })
    }

    /// The first index whose key is not below `k`.
    pub(crate) fn lower_bound(&self, k: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < k {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        let i = self.lower_bound(key);
        (i < self.len() && self.key(i) == key).then_some(i)
    }
}

/// One entry of a key-tree level: a sub-"directory" (keys continuing after a `/`) or a key.
/// Its name is `name_len` bytes of the key at `first`, after the level's prefix.
#[derive(Debug, Clone, Copy)]
struct Child {
    first: u32,
    name_len: u32,
    dir: bool,
    count: u64,
    bytes: u64,
}

/// v2 nodes listed by the integrity report (the count says how many there are in all).
pub const INTEGRITY_KEYS: usize = 1000;

pub struct Session<S: ReadAt> {
    pub name: String,
    backend: Option<Backend<S>>,
    v2: Option<V2Data>,
    index: Option<KeyIndex>,
    /// Distinct keys (live and deleted) the summary counted: the key index is sized by it.
    distinct_keys: std::cell::Cell<u64>,
    /// The db's status (trailer not verified) from the summary's walk, kept for the integrity
    /// report so that it does not walk the db again.
    status: std::cell::OnceCell<etcd::v3::Status>,
    level: Option<(Vec<u8>, Vec<Child>)>,
    /// The last search (mode, pattern) and the indexes of its matches, so that scrolling
    /// through a million results does not search again for every chunk of rows.
    found: Option<(String, String, Vec<u32>)>,
    /// The Kubernetes mode's resource types (built on first use).
    pub(crate) k8s_types: Option<Value>,
    /// A data dir's WAL segments (shared with the v2 load), and their scan for the WAL
    /// timeline (made on first use: the entries' places, not their data).
    wal_files: Vec<(String, Arc<S>)>,
    wal_scan: Option<(Vec<wal::SegmentFile<Arc<S>>>, wal::WalScan)>,
    /// A data dir's `snap` files (for the integrity report); `None` for a single file.
    snap_files: Option<Vec<(String, Arc<S>)>>,
    /// Why a data dir's v2 store could not be rebuilt, when its v3 db could still be opened.
    v2_error: Option<String>,
}

/// Splits a folder's files (relative paths) into what a data dir holds.
pub fn classify_paths<S>(
    files: Vec<(String, S)>,
) -> (Vec<(String, S)>, Vec<(String, S)>, Option<S>) {
    let mut wal = Vec::new();
    let mut snap = Vec::new();
    let mut db = None;
    for (path, src) in files {
        let parts: Vec<&str> = path.split('/').collect();
        let n = parts.len();
        let (dir, name) = match n {
            0 | 1 => ("", parts.first().copied().unwrap_or("")),
            _ => (parts[n - 2], parts[n - 1]),
        };
        match (dir, name) {
            ("snap", "db") => db = Some(src),
            ("wal", _) => wal.push((name.to_string(), src)),
            ("snap", _) => snap.push((name.to_string(), src)),
            _ => {}
        }
    }
    (wal, snap, db)
}

impl<S: ReadAt> Session<S> {
    /// A v3 snapshot or db file.
    pub fn open_v3(name: &str, src: S) -> Result<Self, String> {
        let backend = Backend::open(src).map_err(|e| format!("{name}: {e}"))?;
        Ok(Session {
            name: name.to_string(),
            backend: Some(backend),
            v2: None,
            index: None,
            distinct_keys: std::cell::Cell::new(0),
            status: std::cell::OnceCell::new(),
            level: None,
            found: None,
            k8s_types: None,
            wal_files: Vec::new(),
            wal_scan: None,
            snap_files: None,
            v2_error: None,
        })
    }

    /// A data dir given as files with their relative paths (from a folder picker or drop).
    pub fn open_files(name: &str, files: Vec<(String, S)>) -> Result<Self, String> {
        let (wal, snap, db) = classify_paths(files);
        let shared = |v: Vec<(String, S)>| -> Vec<(String, Arc<S>)> {
            v.into_iter().map(|(n, s)| (n, Arc::new(s))).collect()
        };
        let (wal, snap) = (shared(wal), shared(snap));
        let wal_files = wal.clone();
        let snap_files = snap.clone();
        let backend = match db {
            Some(src) => {
                Some(Backend::open(src).map_err(|e| format!("{name}/member/snap/db: {e}"))?)
            }
            None => None,
        };
        let member = format!("{name}/member");
        let place = Place {
            member: &member,
            sep: '/',
        };
        let (v2, v2_error) = if wal.is_empty() {
            (None, None)
        } else {
            let files = v2::DataDirFiles {
                wal: Some(wal),
                snap: Some(snap),
            };
            match v2::load(files, &v2::LoadOptions::default()) {
                Ok(d) => (Some(d), None),
                // The v3 db is still worth opening; the summary and the integrity report say
                // what could not be read.
                Err(e) if backend.is_some() => (None, Some(place.load_error(&e))),
                Err(e) => return Err(place.load_error(&e)),
            }
        };
        if backend.is_none() && v2.is_none() {
            return Err(format!(
                "{name}: no etcd data found (looked for member/wal/*.wal and member/snap/db)"
            ));
        }
        Ok(Session {
            name: name.to_string(),
            backend,
            v2,
            index: None,
            distinct_keys: std::cell::Cell::new(0),
            status: std::cell::OnceCell::new(),
            level: None,
            found: None,
            k8s_types: None,
            wal_files,
            wal_scan: None,
            snap_files: Some(snap_files),
            v2_error,
        })
    }

    /// The v3 revision etcd would serve (0 without a v3 db); used in download names.
    pub fn revision(&self) -> i64 {
        self.backend
            .as_ref()
            .and_then(|b| b.current_revision().ok())
            .unwrap_or(0)
    }

    /// Whether the input has a v2 store (downloads are migrations then).
    pub fn has_v2(&self) -> bool {
        self.v2.is_some()
    }

    /// The v2 → v3 plan of a data dir with default options (TTLs counted from the last SYNC),
    /// keeping a non-empty v3 keyspace beside it.
    fn migration<'a>(&'a self, d: &'a V2Data) -> Result<etcd::migrate::Migration<'a>, String> {
        let opts = etcd::migrate::MigrateOptions {
            now_ns: d.report.last_sync_time_ns.unwrap_or(0),
            first_lease_id: 1,
            ..Default::default()
        };
        etcd::migrate::Migration::plan(&d.store, opts, self.backend.as_ref())
            .map_err(|e| e.to_string())
    }

    pub(crate) fn be(&self) -> Result<&Backend<S>, String> {
        self.backend
            .as_ref()
            .ok_or_else(|| format!("{}: no v3 db in this input", self.name))
    }

    /// Bytes the summary reads, about: the db once, and again for a SHA-256 trailer.
    pub fn status_estimate(&self) -> u64 {
        self.backend
            .as_ref()
            .map(|b| b.file_size() * if b.stored_trailer().is_some() { 2 } else { 1 })
            .unwrap_or(0)
    }

    pub(crate) fn index(&mut self) -> Result<&KeyIndex, String> {
        if self.index.is_none() {
            let be = self.be()?;
            crate::progress::begin("indexing the keys", be.file_size());
            let idx = KeyIndex::build(be, self.distinct_keys.get())
                .map_err(|e| format!("{}: {e}", self.name))?;
            self.index = Some(idx);
        }
        self.index
            .as_ref()
            .ok_or_else(|| "key index unavailable".to_string())
    }

    /// The summary with the SHA-256 trailer verified.
    pub fn summary(&self) -> Result<Value, String> {
        let mut v = self.summary_unverified()?;
        if self.has_trailer() {
            v["status"]["trailer"] = self.trailer()?;
        }
        Ok(v)
    }

    /// Whether the v3 file ends with a `snapshot save` SHA-256 trailer.
    pub fn has_trailer(&self) -> bool {
        self.backend
            .as_ref()
            .is_some_and(|b| b.stored_trailer().is_some())
    }

    /// The SHA-256 trailer's state (`TrailerInfo` as JSON), hashing the whole db part.
    pub fn trailer(&self) -> Result<Value, String> {
        let be = self.be()?;
        let t = be
            .verify_trailer()
            .map_err(|e| format!("{}: {e}", self.name))?;
        serde_json::to_value(etcd::v3::TrailerInfo::from(&t)).map_err(|e| e.to_string())
    }

    /// Bytes the SHA-256 trailer covers (the db part: the file without its last 32 bytes).
    pub fn trailer_covers(&self) -> u64 {
        self.backend
            .as_ref()
            .filter(|b| b.stored_trailer().is_some())
            .map_or(0, |b| b.bolt().source().size())
    }

    /// Adds bytes `from..to` of the db part to `hasher` (the trailer check in steps, so the
    /// page can browse between them).
    pub fn hash_part(&self, hasher: &mut sha2::Sha256, from: u64, to: u64) -> Result<(), String> {
        use sha2::Digest;
        let be = self.be()?;
        let src = be.bolt().source();
        let to = to.min(src.size());
        let mut buf = vec![0u8; 4 << 20];
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(buf.len() as u64) as usize;
            src.read_exact_at(pos, &mut buf[..n])
                .map_err(|e| format!("{}: {e}", self.name))?;
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        Ok(())
    }

    /// The trailer's state (`TrailerInfo` as JSON) once `hasher` has seen all of the db part.
    pub fn trailer_result(&self, hasher: sha2::Sha256) -> Result<Value, String> {
        use sha2::Digest;
        let be = self.be()?;
        let t = match be.stored_trailer() {
            None => etcd::snapshot::Trailer::Absent,
            Some(stored) => {
                let computed: [u8; 32] = hasher.finalize().into();
                if computed == stored {
                    etcd::snapshot::Trailer::Ok { sha256: stored }
                } else {
                    etcd::snapshot::Trailer::Mismatch { stored, computed }
                }
            }
        };
        serde_json::to_value(etcd::v3::TrailerInfo::from(&t)).map_err(|e| e.to_string())
    }

    /// The summary without hashing the trailer (its state is "unchecked"): one walk of the
    /// pages. The page shows it at once and verifies the trailer after.
    pub fn summary_unverified(&self) -> Result<Value, String> {
        let mut out = json!({ "name": self.name });
        if let Some(be) = &self.backend {
            let st = self
                .status_unverified(be)
                .map_err(|e| format!("{}: {e}", self.name))?;
            self.distinct_keys
                .set(st.live_keys.saturating_add(st.deleted_keys));
            out["kind"] = json!(if self.v2.is_some() {
                "data dir (v2 + v3)"
            } else if self.v2_error.is_some() {
                "data dir (v3; its v2 store could not be rebuilt)"
            } else if self.snap_files.is_some() {
                "data dir (v3)"
            } else if be.stored_trailer().is_some() {
                "v3 snapshot"
            } else {
                "v3 db"
            });
            out["status"] = serde_json::to_value(&st).map_err(|e| e.to_string())?;
            // The members bucket (small): who the cluster was. A damaged one is a problem to
            // show, not a reason to fail the summary.
            match be.members() {
                Ok(m) => {
                    out["members"] = json!(m
                        .members
                        .iter()
                        .map(|x| json!({"id": x.id_hex, "name": x.name}))
                        .collect::<Vec<_>>())
                }
                Err(e) => out["membersError"] = json!(e.to_string()),
            }
        } else {
            out["kind"] = json!("data dir (v2)");
        }
        if self.snap_files.is_some() {
            out["dataDir"] = json!(true);
        }
        if let Some(e) = &self.v2_error {
            out["v2Error"] = json!(e);
        }
        if let Some(d) = &self.v2 {
            let c = d.store.content_summary();
            let m = d.store.membership();
            let c_version = m.version.clone();
            let v2_members: Vec<Value> = m
                .members
                .iter()
                .map(|x| json!({"id": format!("{:x}", x.id), "name": x.name}))
                .collect();
            out["v2"] = json!({
                "storeIndex": d.store.current_index(),
                "nodes": d.store.node_count(),
                "nonMembershipKeys": c.key_count,
                "appliedIndex": d.report.applied_index,
                "lastWalIndex": d.report.last_wal_index,
                "snapshot": d.report.snapshot.as_ref().map(|s| s.file.clone()),
                "tornTail": d.report.torn.as_ref().map(|t| format!("{} at byte offset {}: {}", t.0, t.1, t.2)),
                "clusterId": d.report.metadata.as_ref().map(|m| format!("{:x}", m.cluster_id)),
                "memberId": d.report.metadata.as_ref().map(|m| format!("{:x}", m.node_id)),
                "clusterVersion": c_version,
                "members": v2_members,
            });
        }
        Ok(out)
    }

    /// The db's status without the trailer verified: walked once, then kept.
    fn status_unverified(&self, be: &Backend<S>) -> Result<etcd::v3::Status, etcd::Error> {
        if let Some(st) = self.status.get() {
            return Ok(st.clone());
        }
        let st = be.status(StatusOptions {
            verify_trailer: false,
        })?;
        let _ = self.status.set(st.clone());
        Ok(st)
    }

    /// A data dir's integrity report, as `etcdscope check` makes it (every `.snap`, the WAL's
    /// frames and CRCs as the load read them, the v2 store's content, the db's checked walk):
    /// the findings in order, the verdict, and the first [`INTEGRITY_KEYS`] v2 nodes besides
    /// membership.
    pub fn integrity(&self) -> Result<Value, String> {
        let Some(snap_files) = &self.snap_files else {
            return Err(format!(
                "{}: the integrity report is for data dirs (a snapshot's is its summary)",
                self.name
            ));
        };
        let member = format!("{}/member", self.name);
        let place = Place {
            member: &member,
            sep: '/',
        };
        let db_path = format!("{member}/snap/db");
        let total = snap_files
            .iter()
            .filter(|(n, _)| n.ends_with(".snap"))
            .map(|(_, s)| s.size())
            .sum::<u64>()
            + match (&self.backend, self.status.get()) {
                (Some(b), None) => b.file_size(),
                _ => 0,
            };
        crate::progress::begin("checking the data dir", total);
        let status = self.backend.as_ref().map(|be| {
            self.status_unverified(be)
                .map_err(|e| format!("{db_path}: {e}"))
        });
        let v2 = match (&self.v2, &self.v2_error) {
            (Some(d), _) => Ok(d),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err(place.load_error(&LoadError::NoWalDir)),
        };
        let report = etcd::check::check(
            &place,
            etcd::check::Inputs {
                snap_files: Some(snap_files),
                v2,
                db: status
                    .as_ref()
                    .map(|st| (db_path.clone(), st.as_ref().map_err(String::clone))),
            },
        );
        let keys: Vec<String> = report
            .v2_keys
            .iter()
            .take(INTEGRITY_KEYS)
            .map(|k| {
                let mut p = etcd::json::text_or_b64_string(&k.path);
                if k.dir {
                    p.push('/');
                }
                p
            })
            .collect();
        let unlisted: Vec<&String> = report
            .warnings
            .iter()
            .filter(|w| !report.findings.iter().any(|f| &f.text == *w))
            .collect();
        Ok(json!({
            "ok": report.ok(),
            "verdict": report.verdict(),
            "findings": report.findings,
            "otherWarnings": unlisted,
            "v2Keys": keys,
            "v2KeyCount": report.v2_keys.len(),
            "damage": report.damage.len(),
            "warnings": report.warnings.len(),
        }))
    }

    /// One level of the key tree under `prefix` (split on `/`), children `offset..offset+limit`.
    pub fn children(
        &mut self,
        prefix: &[u8],
        offset: usize,
        limit: usize,
    ) -> Result<Value, String> {
        let cached = matches!(&self.level, Some((p, _)) if p.as_slice() == prefix);
        if !cached {
            let idx = self.index()?;
            let start = idx.lower_bound(prefix);
            let mut kids: Vec<Child> = Vec::new();
            for i in start..idx.len() {
                let k = idx.key(i);
                if !k.starts_with(prefix) {
                    break;
                }
                let rest = &k[prefix.len()..];
                let (name_len, dir) = match rest.iter().position(|&b| b == b'/') {
                    Some(p) if p + 1 < rest.len() => (p + 1, true),
                    _ => (rest.len(), false),
                };
                let bytes = idx.value_len(i) + k.len() as u64;
                let same_dir = kids.last().is_some_and(|last| {
                    last.dir
                        && dir
                        && last.name_len as usize == name_len
                        && idx.key(last.first as usize)[prefix.len()..prefix.len() + name_len]
                            == rest[..name_len]
                });
                match kids.last_mut() {
                    Some(last) if same_dir => {
                        last.count += 1;
                        last.bytes += bytes;
                    }
                    _ => kids.push(Child {
                        first: i as u32,
                        name_len: name_len as u32,
                        dir,
                        count: 1,
                        bytes,
                    }),
                }
            }
            self.level = Some((prefix.to_vec(), kids));
        }
        let (Some(idx), Some((_, kids))) = (self.index.as_ref(), self.level.as_ref()) else {
            return Err("key index unavailable".into());
        };
        let total_keys: u64 = kids.iter().map(|c| c.count).sum();
        let page: Vec<Value> = kids
            .iter()
            .skip(offset)
            .take(limit)
            .map(|c| {
                let k = idx.key(c.first as usize);
                let end = (prefix.len() + c.name_len as usize).min(k.len());
                let name = &k[prefix.len().min(end)..end];
                json!({
                    "name": escape(name),
                    "key": b64(&k[..end]),
                    "dir": c.dir,
                    "count": c.count,
                    "bytes": c.bytes,
                })
            })
            .collect();
        Ok(json!({
            "prefix": escape(prefix),
            "prefixKey": b64(prefix),
            "total": kids.len(),
            "keys": total_keys,
            "offset": offset,
            "children": page,
        }))
    }

    /// Live keys matching `pattern`: `mode` is "prefix", "substring" or "regex" (on the key
    /// bytes; invalid UTF-8 is matched as bytes). Returns the count and matches
    /// `offset..offset+limit`.
    pub fn search(
        &mut self,
        mode: &str,
        pattern: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Value, String> {
        let cached = matches!(&self.found, Some((m, p, _)) if m == mode && p == pattern);
        if !cached {
            let re = if mode == "regex" {
                Some(
                    regex::bytes::RegexBuilder::new(pattern)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("not a regular expression: {e}"))?,
                )
            } else {
                None
            };
            let needle = pattern.as_bytes();
            let idx = self.index()?;
            let matches = |k: &[u8]| -> bool {
                match mode {
                    "prefix" => k.starts_with(needle),
                    "substring" => {
                        needle.is_empty() || k.windows(needle.len()).any(|w| w == needle)
                    }
                    _ => re.as_ref().is_some_and(|r| r.is_match(k)),
                }
            };
            let hits: Vec<u32> = if mode == "prefix" {
                // Keys are sorted: the matches are one run.
                let start = idx.lower_bound(needle);
                let mut end = start;
                while end < idx.len() && idx.key(end).starts_with(needle) {
                    end += 1;
                }
                (start as u32..end as u32).collect()
            } else {
                (0..idx.len() as u32)
                    .filter(|&i| matches(idx.key(i as usize)))
                    .collect()
            };
            self.found = Some((mode.to_string(), pattern.to_string(), hits));
        }
        self.index()?;
        let (Some(idx), Some((_, _, hits))) = (self.index.as_ref(), self.found.as_ref()) else {
            return Err("key index unavailable".into());
        };
        let count = hits.len();
        let page: Vec<Value> = hits
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| {
                let i = i as usize;
                let k = idx.key(i);
                json!({
                    "key": b64(k),
                    "name": escape(k),
                    "dir": false,
                    "count": 1,
                    "bytes": idx.value_len(i) + k.len() as u64,
                })
            })
            .collect();
        Ok(json!({
            "prefix": format!("{mode}: {pattern}"),
            "prefixKey": "",
            "total": count,
            "keys": count,
            "offset": offset,
            "children": page,
            "search": true,
        }))
    }

    /// The latest value of a live key, with its metadata and ready-made views. A Kubernetes
    /// object also gets a YAML view; a Secret's data is masked unless `opts.reveal_secrets`
    /// (and then only the masked YAML is given: no text, JSON, protobuf or hex view).
    pub fn value(&mut self, key: &[u8], opts: &kube::object::Options<'_>) -> Result<Value, String> {
        let idx = self.index()?;
        let i = idx
            .find(key)
            .ok_or_else(|| format!("{:?} is not a live key", escape(key)))?;
        let rev = idx
            .rev(i)
            .ok_or_else(|| "key index unavailable".to_string())?;
        let (_, kv) = self
            .be()?
            .kv_at(rev)
            .map_err(|e| format!("{}: {e}", self.name))?
            .ok_or_else(|| format!("revision {rev} is missing"))?;
        Ok(describe_value(
            key,
            &kv.value,
            opts,
            json!({
                "revision": rev.to_string(),
                "create_revision": kv.create_revision,
                "mod_revision": rev.main,
                "version": kv.version,
                "lease": kv.lease.to_string(),
            }),
        ))
    }

    /// Every held revision of a key. Revisions that hold a Secret give its masked YAML as their
    /// value unless `opts.reveal_secrets` (so a diff shows no Secret data either).
    pub fn history(&self, key: &[u8], opts: &kube::object::Options<'_>) -> Result<Value, String> {
        let h = self
            .be()?
            .history(key)
            .map_err(|e| format!("{}: {e}", self.name))?;
        let rows: Vec<Value> = h
            .iter()
            .map(|e| {
                let masked = if e.tombstone {
                    None
                } else {
                    masked_secret_yaml(key, &e.kv.value, opts, e.revision.main)
                };
                json!({
                    "revision": e.revision.to_string(),
                    "deleted": e.tombstone,
                    "create_revision": e.kv.create_revision,
                    "version": e.kv.version,
                    "lease": e.kv.lease.to_string(),
                    "value_len": e.kv.value.len(),
                    "masked": masked.is_some(),
                    "value": b64(masked.as_deref().map_or(&e.kv.value[..], str::as_bytes)),
                })
            })
            .collect();
        Ok(json!({ "key": b64(key), "keyText": escape(key), "revisions": rows }))
    }

    pub fn leases(&self) -> Result<Value, String> {
        let l = self.be()?.leases().map_err(|e| e.to_string())?;
        serde_json::to_value(l).map_err(|e| e.to_string())
    }

    pub fn members(&self) -> Result<Value, String> {
        let m = self.be()?.members().map_err(|e| e.to_string())?;
        serde_json::to_value(m).map_err(|e| e.to_string())
    }

    /// "What fills my db" for a Kubernetes etcd (`kube::analyze`, top 20), as the CLI's
    /// `k8s analyze -w json` gives it.
    pub fn k8s_analyze(&self) -> Result<Value, String> {
        let be = self.be()?;
        crate::progress::begin("reading the history by resource type", 2 * be.file_size());
        let mut a = kube::analyze::Analyzer::new(kube::keys::DEFAULT_PREFIX, 20);
        be.for_each_revision(|rk, kv| {
            a.observe(kv.key, kv.value.len(), rk.tombstone);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        a.end_first_pass();
        be.for_each_revision(|rk, kv| {
            a.observe_again(kv.key, rk.tombstone);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(a.finish().to_json())
    }

    /// Auth without password hashes.
    pub fn auth(&self) -> Result<Value, String> {
        let a = self.be()?.auth(false).map_err(|e| e.to_string())?;
        serde_json::to_value(a).map_err(|e| e.to_string())
    }

    /// The v2 node at `key` (one level), as the v2 API shows it.
    pub fn v2_node(&self, key: &[u8]) -> Result<Value, String> {
        let d = self
            .v2
            .as_ref()
            .ok_or_else(|| format!("{}: no v2 store in this input", self.name))?;
        let now = d.report.last_sync_time_ns.unwrap_or(0);
        let node = d
            .store
            .node_at(key)
            .map_err(|c| format!("{}: {}", escape(key), c.message()))?;
        let text = node.to_json(&GetOptions {
            recursive: false,
            include_hidden: false,
            now_ns: now,
        });
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    /// Rows `offset..offset+limit` of the WAL timeline (`etcd::timeline`), with the segments,
    /// the commit index and a torn tail.
    pub fn wal_rows(&mut self, offset: usize, limit: usize) -> Result<Value, String> {
        if self.wal_scan.is_none() {
            let mut segs: Vec<wal::SegmentFile<Arc<S>>> = self
                .wal_files
                .iter()
                .filter(|(n, _)| wal::SegmentName::parse(n).is_some())
                .map(|(n, s)| wal::SegmentFile {
                    name: n.clone(),
                    src: Arc::clone(s),
                })
                .collect();
            if segs.is_empty() {
                return Err(format!("{}: no WAL segment in this input", self.name));
            }
            let scan =
                wal::scan(&mut segs, None).map_err(|e| format!("{}/member/wal/{e}", self.name))?;
            self.wal_scan = Some((segs, scan));
        }
        let Some((segs, scan)) = &self.wal_scan else {
            return Err("WAL scan unavailable".into());
        };
        let commit = scan.hard_state.map_or(0, |h| h.commit);
        let mut rows = Vec::new();
        for loc in scan.entries.iter().skip(offset).take(limit) {
            let row = etcd::timeline::row(segs, loc, commit)
                .map_err(|e| format!("{}/member/wal/{e}", self.name))?;
            rows.push(serde_json::to_value(row).map_err(|e| e.to_string())?);
        }
        let segments: Vec<Value> = scan
            .segments
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "firstIndex": s.first_index.to_string(),
                    "size": s.size,
                    "records": s.records,
                })
            })
            .collect();
        Ok(json!({
            "total": scan.entries.len(),
            "offset": offset,
            "rows": rows,
            "commit": commit.to_string(),
            "overwritten": scan.overwritten,
            "torn": scan.torn.as_ref().map(|(f, o, r)| format!("{f} at byte offset {o}: {r}")),
            "segments": segments,
        }))
    }

    /// The live keys of a selection with their values, written to `out` as `etcdctl get -w
    /// json` prints them (`{"header":{"revision":N},"kvs":[…],"count":N}`; keys and values in
    /// base64), one key at a time: the keys under `prefix` (a tree level), or the matches of
    /// `search` (mode, pattern). `redact`: Secret data replaced by `<redacted>`. Returns a
    /// one-line description.
    pub fn selection_json(
        &mut self,
        prefix: &[u8],
        search: Option<(&str, &str)>,
        redact: bool,
        out: &mut dyn std::io::Write,
    ) -> Result<String, String> {
        let werr = |e: std::io::Error| format!("writing the JSON: {e}");
        if let Some((mode, pattern)) = search {
            self.search(mode, pattern, 0, 0)?;
        }
        self.index()?;
        let (Some(idx), Some(be)) = (self.index.as_ref(), self.backend.as_ref()) else {
            return Err(format!("{}: no v3 db in this input", self.name));
        };
        let picked: Box<dyn Iterator<Item = usize> + '_> = match (search, &self.found) {
            (Some(_), Some((_, _, hits))) => Box::new(hits.iter().map(|&i| i as usize)),
            (Some(_), None) => return Err("the search is gone; search again".into()),
            (None, _) => {
                let start = idx.lower_bound(prefix);
                Box::new((start..idx.len()).take_while(move |&i| idx.key(i).starts_with(prefix)))
            }
        };
        let redactor = kube::redact::Redactor::secrets();
        let (mut count, mut redacted) = (0u64, 0u64);
        write!(
            out,
            "{{\"header\":{{\"revision\":{}}},\"kvs\":[",
            self.revision()
        )
        .map_err(werr)?;
        for i in picked {
            let rev = idx.rev(i).ok_or("key index unavailable")?;
            let (_, mut kv) = be
                .kv_at(rev)
                .map_err(|e| format!("{}: {e}", self.name))?
                .ok_or_else(|| format!("{}: revision {rev} is missing", self.name))?;
            if redact {
                if let Some((v, _)) = redactor.redact(&kv.key, &kv.value) {
                    kv.value = v;
                    redacted += 1;
                }
            }
            if count > 0 {
                out.write_all(b",").map_err(werr)?;
            }
            serde_json::to_writer(&mut *out, &etcd::json::etcdctl_kv(&kv))
                .map_err(|e| werr(e.into()))?;
            count += 1;
        }
        writeln!(out, "],\"count\":{count}}}").map_err(werr)?;
        Ok(if redact {
            format!("{count} keys with their values; Secret data redacted in {redacted} value(s)")
        } else {
            format!("{count} keys with their values")
        })
    }

    /// A new snapshot file: a rewrite of the v3 db (v3 inputs) or the v2 → v3 migration
    /// (data dirs with a v2 store), written to `out`. Returns a one-line description.
    /// `redact`: Secret data replaced by `<redacted>` (`kube::redact`, v3 rewrites only).
    pub fn snapshot(
        &self,
        latest_only: bool,
        redact: bool,
        out: &mut dyn Write,
    ) -> Result<String, String> {
        let redactor = kube::redact::Redactor::secrets();
        let f = |k: &[u8], v: &[u8]| redactor.redact(k, v).map(|(v, _)| v);
        let map = etcd::v3::rewrite::ValueMap::new(&f);
        let map_opt = if redact { Some(&map) } else { None };
        let redacted = |map: &etcd::v3::rewrite::ValueMap<'_>| {
            if redact {
                format!(
                    "; Secret data redacted in {} value(s)",
                    map.replaced.load(std::sync::atomic::Ordering::Relaxed)
                )
            } else {
                String::new()
            }
        };
        if let Some(d) = &self.v2 {
            let m = self.migration(d)?;
            let content = m
                .content_mapped(self.backend.as_ref(), d.report.applied_index, map_opt)
                .map_err(|e| e.to_string())?;
            let s =
                etcd::v3::write::write_backend(&content, out, true).map_err(|e| e.to_string())?;
            return Ok(format!(
                "migrated {} v2 keys: {} bytes{}",
                m.counts.migrated,
                s.bytes,
                redacted(&map)
            ));
        }
        let be = self.be()?;
        let opts = etcd::v3::rewrite::RewriteOptions {
            latest_only,
            ..Default::default()
        };
        let (content, report) =
            etcd::v3::rewrite::rewrite_mapped(be, &opts, map_opt).map_err(|e| e.to_string())?;
        let s = etcd::v3::write::write_backend(&content, out, true).map_err(|e| e.to_string())?;
        let redacted = redacted(&map);
        Ok(format!(
            "kept {} of {} revisions: {} bytes{redacted}",
            report.kept_entries, report.source_entries, s.bytes
        ))
    }
}

impl<S: ReadAt> Session<S> {
    /// A SQL file (`dialect` "sqlite" | "postgres", `schema` "etcd" | "kine") of the input:
    /// the v3 history, or for a data dir with a v2 store its keys through the migrate mapping
    /// (with the v3 db beside it kept). Returns a one-line description.
    /// `redact`: Secret data replaced by `<redacted>` (`kube::redact`).
    pub fn sql(
        &self,
        dialect: &str,
        schema: &str,
        redact: bool,
        out: &mut dyn Write,
    ) -> Result<String, String> {
        let redactor = kube::redact::Redactor::secrets();
        let f = |k: &[u8], v: &[u8]| redactor.redact(k, v).map(|(v, _)| v);
        let run = |src: &dyn sql::Source, out: &mut dyn Write, opts: &sql::Options| {
            let redacting = sql::Redacting {
                inner: src,
                redact: &f,
            };
            let src: &dyn sql::Source = if redact { &redacting } else { src };
            sql::check(src, opts).map_err(|e| e.to_string())?;
            sql::export(src, out, opts).map_err(|e| e.to_string())
        };
        let opts = sql::Options {
            dialect: match dialect {
                "postgres" => sql::Dialect::Postgres,
                _ => sql::Dialect::Sqlite,
            },
            schema: match schema {
                "kine" => sql::Schema::Kine,
                _ => sql::Schema::Etcd,
            },
            inserts: false,
            with_secrets: false,
            sqlite_name_integer: false,
            strict_revisions: false,
            exported_by: format!("etcdscope {} (browser)", env!("CARGO_PKG_VERSION")),
        };
        let summary = if let Some(d) = &self.v2 {
            let m = self.migration(d)?;
            let src = sql::MigrationSource {
                migration: &m,
                v3: self.backend.as_ref(),
                applied_index: d.report.applied_index,
            };
            // Members: the v2 store's /0 (the only record without a v3 db), merged with the
            // v3 db's, as the CLI does.
            let membership = d.store.membership();
            let src = sql::WithV2Membership {
                inner: &src,
                membership: &membership,
            };
            run(&src, out, &opts)?
        } else {
            run(self.be()?, out, &opts)?
        };
        Ok(format!(
            "{} rows, {} bytes of SQL",
            summary.rows, summary.bytes
        ))
    }
}

/// A line diff of two values (`-` old, `+` new, ` ` both), for the history view. Values that
/// are not text, or too long for the quadratic table, are compared by size and hash only.
pub fn diff_values(old: &[u8], new: &[u8]) -> String {
    const MAX_LINES: usize = 2000;
    let (Ok(a), Ok(b)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return format!(
            "binary values: {} bytes → {} bytes ({})",
            old.len(),
            new.len(),
            if old == new { "identical" } else { "different" }
        );
    };
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return format!(
            "{} lines → {} lines ({}); too long to diff here",
            a.len(),
            b.len(),
            if old == new { "identical" } else { "different" }
        );
    }
    // Longest common subsequence table, from the ends.
    let (n, m) = (a.len(), b.len());
    let mut t = vec![0u16; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i * (m + 1) + j] = if a[i] == b[j] {
                t[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                t[(i + 1) * (m + 1) + j].max(t[i * (m + 1) + j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// Whether a value is worth decoding as a Kubernetes object.
fn k8s_like(key: &[u8], value: &[u8]) -> bool {
    key.starts_with(b"/registry/")
        || value.starts_with(kube::raw::K8S_MAGIC)
        || value.starts_with(kube::raw::ENC_PREFIX)
}

/// The object as kube-apiserver serves it: `metadata.resourceVersion` = the revision it was
/// read at.
pub(crate) fn served(o: &kube::object::Object, mod_revision: i64) -> Option<Value> {
    let mut v = o.json.clone()?;
    kube::object::set_resource_version(&mut v, mod_revision);
    Some(v)
}

/// For a Secret while secrets are not revealed: its masked YAML (or a line saying it is
/// masked); `None` for anything else, or when revealed.
fn masked_secret_yaml(
    key: &[u8],
    value: &[u8],
    opts: &kube::object::Options<'_>,
    mod_revision: i64,
) -> Option<String> {
    if opts.reveal_secrets || !k8s_like(key, value) {
        return None;
    }
    let o = kube::object::decode(key, value, opts);
    if !o.is_secret() {
        return None;
    }
    Some(match served(&o, mod_revision) {
        Some(v) => kube::yaml::to_yaml(&v),
        None => format!("<masked Secret: {} bytes>\n", value.len()),
    })
}

/// A value with the views the page offers: text (UTF-8), pretty JSON, hex dump; for a
/// Kubernetes object also YAML. A Secret (unless revealed) gets only its masked YAML.
fn describe_value(
    key: &[u8],
    value: &[u8],
    opts: &kube::object::Options<'_>,
    meta: Value,
) -> Value {
    let decoded = k8s_like(key, value).then(|| kube::object::decode(key, value, opts));
    let mod_revision = meta["mod_revision"].as_i64().unwrap_or(0);
    let yaml = decoded
        .as_ref()
        .and_then(|o| served(o, mod_revision))
        .map(|v| kube::yaml::to_yaml(&v));
    let notes = decoded
        .as_ref()
        .map(|o| o.notes.clone())
        .unwrap_or_default();
    if !opts.reveal_secrets
        && decoded
            .as_ref()
            .is_some_and(kube::object::Object::is_secret)
    {
        return json!({
            "key": b64(key),
            "keyText": escape(key),
            "envelope": kube::raw::describe_envelope(value),
            "meta": meta,
            "size": value.len(),
            "truncated": false,
            "kind": "Kubernetes Secret (data masked)",
            "masked": true,
            "notes": notes,
            "yaml": yaml.unwrap_or_else(|| format!("<masked Secret: {} bytes>\n", value.len())),
        });
    }
    let shown = &value[..value.len().min(VIEW_LIMIT)];
    let text = std::str::from_utf8(value).ok();
    let json_pretty = text
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .filter(|v| v.is_object() || v.is_array())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let mut hex = String::new();
    for (i, chunk) in shown.chunks(16).take(4096).enumerate() {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        hex.push_str(&format!(
            "{:08x}  {:<47}  {}\n",
            i * 16,
            bytes.join(" "),
            ascii
        ));
    }
    // The raw protobuf view (values up to 4 MiB; the decoder is linear in size × depth).
    let plain = decoded
        .as_ref()
        .and_then(|o| o.plaintext.as_deref())
        .unwrap_or(value);
    let protobuf = if plain.len() <= 4 << 20 {
        kube::raw::view(plain, kube::raw::Limits::default())
    } else {
        None
    };
    let envelope = kube::raw::describe_envelope(value);
    json!({
        "key": b64(key),
        "keyText": escape(key),
        "envelope": envelope,
        "protobuf": protobuf,
        "meta": meta,
        "size": value.len(),
        "truncated": value.len() > shown.len(),
        "text": text.map(|t| t.chars().take(VIEW_LIMIT).collect::<String>()),
        "json": json_pretty,
        "hex": hex,
        "yaml": yaml,
        "notes": notes,
        "masked": false,
        "kind": if value.starts_with(b"k8s\0") { "kubernetes protobuf" }
                else if value.starts_with(kube::raw::ENC_PREFIX) { "encrypted (k8s:enc)" }
                else if json_pretty.is_some() { "json" }
                else if text.is_some() { "text" } else { "binary" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MemSource;

    #[test]
    fn arena_gives_back_every_key() {
        let mut keys: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| vec![(i % 251) as u8; (i as usize * 37) % 5000])
            .collect();
        keys.insert(1000, vec![7u8; Arena::CHUNK * 2 + 5]); // longer than a chunk
        keys.insert(1001, vec![9u8; Arena::CHUNK]); // exactly one
        let mut a = Arena::default();
        let offs: Vec<u32> = keys.iter().map(|k| a.push(k).unwrap()).collect();
        for (k, off) in keys.iter().zip(offs) {
            assert_eq!(a.get(off, k.len() as u32), &k[..]);
        }
        assert!(a
            .chunks
            .iter()
            .all(|c| c.len() <= Arena::CHUNK || c.len() == c.capacity()));
    }

    #[test]
    fn slots_find_every_key_through_collisions_and_growth() {
        // Hashes that collide on purpose (7 values, same tag): keys are told apart by their bytes.
        let keys: Vec<Vec<u8>> = (0..5000u32).map(|i| format!("k{i}").into_bytes()).collect();
        let hash = |k: &[u8]| (k.len() as u64 % 7) << 32 | 3;
        let mut t = Slots::with_capacity(0);
        for (i, k) in keys.iter().enumerate() {
            let h = hash(k);
            match t.find(h, |e| keys[e as usize] == *k) {
                Ok(e) => panic!("key {i} found as {e} before it was put"),
                Err(at) => t.insert(at, h, i as u32),
            }
            if t.needs_growth() {
                t = t.grown(i + 1, |e| hash(&keys[e as usize]));
            }
        }
        assert!(t.slots.len() >= 5000 * 4 / 3);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.find(hash(k), |e| keys[e as usize] == *k), Ok(i as u32));
        }
        assert!(t
            .find(hash(b"absent"), |e| keys[e as usize] == b"absent")
            .is_err());
    }

    fn sample() -> Session<MemSource> {
        let bytes = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        Session::open_v3("s.db", MemSource::new(bytes.to_vec())).unwrap()
    }

    #[test]
    fn tree_levels_add_up() {
        let mut s = sample();
        let root = s.children(b"", 0, 1000).unwrap();
        let st = s.summary().unwrap();
        assert_eq!(root["keys"], st["status"]["liveKeys"]);
        let app = root["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "/")
            .expect("keys starting with / group under /");
        assert_eq!(app["dir"], true);
        let slash = s.children(b"/", 0, 1000).unwrap();
        assert_eq!(slash["keys"], app["count"]);
    }

    /// A v2 fixture's member dir as `d/member/...` files, WAL segments un-gzipped.
    fn fixture_dir(name: &str) -> Vec<(String, MemSource)> {
        use std::io::Read;
        let member = format!(
            "{}/../tests/fixtures/v2/{name}/member",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut files = Vec::new();
        for sub in ["wal", "snap"] {
            let Ok(list) = std::fs::read_dir(format!("{member}/{sub}")) else {
                continue;
            };
            for e in list {
                let p = e.unwrap().path();
                let raw = std::fs::read(&p).unwrap();
                let name = p.file_name().unwrap().to_str().unwrap();
                let (name, bytes) = match name.strip_suffix(".gz") {
                    Some(n) => {
                        let mut out = Vec::new();
                        flate2::read::GzDecoder::new(&raw[..])
                            .read_to_end(&mut out)
                            .unwrap();
                        (n, out)
                    }
                    None => (name, raw),
                };
                files.push((format!("d/member/{sub}/{name}"), MemSource::new(bytes)));
            }
        }
        files
    }

    /// The files named `*<ext>`, in name order.
    fn sorted_named<'a>(
        files: &'a mut [(String, MemSource)],
        ext: &str,
    ) -> Vec<&'a mut (String, MemSource)> {
        let mut named: Vec<_> = files.iter_mut().filter(|(n, _)| n.ends_with(ext)).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// The findings of the integrity report as `(area, level, text)`.
    fn findings(v: &Value) -> Vec<(String, String, String)> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_string();
                (s("area"), s("level"), s("text"))
            })
            .collect()
    }

    #[test]
    fn integrity_report_of_data_dirs() {
        // Sound: six .snap files, the WAL, and a v2 store holding data (etcd 3.6 refuses it).
        let s = Session::open_files("d", fixture_dir("snapped")).unwrap();
        let r = s.integrity().unwrap();
        let f = findings(&r);
        let snaps = f.iter().filter(|x| x.0 == "snap" && x.1 == "ok").count();
        assert_eq!(snaps, 6, "{r}");
        assert!(f.iter().any(|x| x.0 == "wal" && x.1 == "ok"), "{r}");
        assert!(f.iter().any(|x| x.0 == "v2" && x.1 == "data"), "{r}");
        assert_eq!(r["ok"], false);
        assert_eq!(r["damage"], 0);
        assert_eq!(
            r["v2Keys"].as_array().unwrap().len() as u64,
            r["v2KeyCount"].as_u64().unwrap()
        );
        assert!(r["v2Keys"]
            .as_array()
            .unwrap()
            .contains(&json!("/1/dir1/dir2/key1")));

        // The newest .snap damaged: etcd loads the one before, so a warning naming the file.
        let mut files = fixture_dir("snapped");
        let newest = sorted_named(&mut files, ".snap").pop().unwrap();
        let name = newest.0.rsplit('/').next().unwrap().to_string();
        let mut bytes = newest.1.bytes().to_vec();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        newest.1 = MemSource::new(bytes);
        // The last WAL segment torn: its last 10 bytes gone.
        let last = sorted_named(&mut files, ".wal").pop().unwrap();
        let bytes = last.1.bytes().to_vec();
        let cut = bytes.len() - 10;
        last.1 = MemSource::new(bytes[..cut].to_vec());
        let s = Session::open_files("d", files).unwrap();
        let r = s.integrity().unwrap();
        let f = findings(&r);
        let snap = f
            .iter()
            .find(|x| x.0 == "snap" && x.2.contains(&name))
            .unwrap_or_else(|| panic!("{r}"));
        assert_eq!(snap.1, "warning", "{r}");
        assert!(snap.2.starts_with("d/member/snap/"), "{r}");
        assert!(snap.2.contains("etcd skips it"), "{r}");
        let torn = f
            .iter()
            .find(|x| x.0 == "wal" && x.1 == "warning")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(torn.2.contains("torn last record"), "{r}");
        assert!(torn.2.starts_with("d/member/wal/"), "{r}");
        assert_eq!(r["damage"], 0, "{r}");

        // A v3 file has no such report.
        assert!(sample().integrity().is_err());
    }

    #[test]
    fn a_data_dir_with_an_unreadable_wal_still_opens_its_db() {
        let mut files = fixture_dir("wal-only");
        // A byte flipped in the middle of the first segment: a CRC mismatch, not a torn tail.
        let first = sorted_named(&mut files, ".wal").swap_remove(0);
        let mut bytes = first.1.bytes().to_vec();
        let mid = bytes.len() / 3;
        bytes[mid] ^= 0x55;
        first.1 = MemSource::new(bytes);
        // Without a db there is nothing to show: the message names the WAL.
        let err = Session::open_files("d", files.clone()).err().unwrap();
        assert!(err.starts_with("d/member/wal/"), "{err}");
        // With one, the db opens and the report names the damage.
        let db = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        let mut with_db = files.clone();
        with_db.push(("d/member/snap/db".into(), MemSource::new(db.to_vec())));
        let s = Session::open_files("d", with_db).unwrap();
        let summary = s.summary_unverified().unwrap();
        assert_eq!(summary["v2Error"].as_str().unwrap(), err);
        assert!(summary["status"]["liveKeys"].as_u64().unwrap() > 0);
        let r = s.integrity().unwrap();
        let f = findings(&r);
        assert_eq!(f.iter().filter(|x| x.1 == "damage").count(), 1, "{r}");
        assert!(
            f.contains(&("wal".into(), "damage".into(), err.clone())),
            "{r}"
        );
        assert!(f.iter().any(|x| x.0 == "v2" && x.1 == "notChecked"), "{r}");
        assert!(f.iter().any(|x| x.0 == "db" && x.1 == "ok"), "{r}");
        assert_eq!(r["ok"], false);
    }

    #[test]
    fn wal_timeline_of_a_data_dir() {
        let files = fixture_dir("wal-only");
        let mut s = Session::open_files("d", files).unwrap();
        let summary = s.summary_unverified().unwrap();
        let all = s.wal_rows(0, 100_000).unwrap();
        let rows = all["rows"].as_array().unwrap();
        assert_eq!(rows.len() as u64, all["total"].as_u64().unwrap());
        assert!(rows.len() > 10, "{all}");
        // Consecutive indexes up to the last one the load saw; every row says where it is.
        for w in rows.windows(2) {
            assert_eq!(
                w[1]["index"].as_u64().unwrap(),
                w[0]["index"].as_u64().unwrap() + 1
            );
        }
        assert_eq!(rows.last().unwrap()["index"], summary["v2"]["lastWalIndex"]);
        assert!(rows
            .iter()
            .all(|r| r["file"].as_str().unwrap().ends_with(".wal")));
        assert!(
            rows.iter().any(|r| r["kind"] == "v2" && r["op"] == "PUT"),
            "{all}"
        );
        // A page of it.
        let page = s.wal_rows(5, 3).unwrap();
        assert_eq!(page["rows"].as_array().unwrap().len(), 3);
        assert_eq!(page["rows"][0], rows[5]);
        // A v3 file has none.
        assert!(sample().wal_rows(0, 10).is_err());
    }

    #[test]
    fn selection_json_is_etcdctls_layout_with_every_value() {
        let mut s = sample();
        let st = s.summary().unwrap();
        let parse = |s: &mut Session<MemSource>, p: &[u8], q: Option<(&str, &str)>| {
            let mut out = Vec::new();
            let msg = s.selection_json(p, q, false, &mut out).unwrap();
            (serde_json::from_slice::<Value>(&out).unwrap(), msg)
        };
        let (all, msg) = parse(&mut s, b"", None);
        assert_eq!(all["count"], st["status"]["liveKeys"], "{msg}");
        assert_eq!(all["header"]["revision"], st["status"]["revision"]);
        let kvs = all["kvs"].as_array().unwrap();
        assert_eq!(kvs.len() as u64, all["count"].as_u64().unwrap());
        // Each entry is the key's latest value, as the viewer shows it.
        let first = &kvs[0];
        let key = unb64(first["key"].as_str().unwrap()).unwrap();
        let shown = s.value(&key, &kube::object::Options::default()).unwrap();
        assert_eq!(
            first["mod_revision"].to_string(),
            shown["meta"]["mod_revision"].to_string()
        );
        // A tree level: only keys under the prefix; a search: only its matches.
        let (under, _) = parse(&mut s, b"/", None);
        let slash = s.children(b"/", 0, 1000).unwrap();
        assert_eq!(under["count"], slash["keys"]);
        let found = s.search("substring", "a", 0, 10).unwrap();
        let (hits, _) = parse(&mut s, b"", Some(("substring", "a")));
        assert_eq!(hits["count"], found["total"]);
        for kv in hits["kvs"].as_array().unwrap() {
            let k = unb64(kv["key"].as_str().unwrap()).unwrap();
            assert!(k.windows(1).any(|w| w == b"a"));
        }
    }

    #[test]
    fn search_modes() {
        let mut s = sample();
        let p = s.search("prefix", "/app/config/api/", 0, 100).unwrap();
        assert_eq!(p["total"], 8); // cache.yaml database.yaml env features.json flags limits.conf logging.yaml tls.conf
        let sub = s.search("substring", "nul", 0, 100).unwrap();
        assert!(sub["total"].as_u64().unwrap() >= 2);
        let re = s
            .search("regex", r"^/app/config/(api|web)/env$", 0, 100)
            .unwrap();
        assert_eq!(re["total"], 2);
        assert!(s.search("regex", "(", 0, 10).is_err());
    }

    #[test]
    fn value_and_history() {
        let mut s = sample();
        let o = kube::object::Options::default();
        let v = s.value(b"/bin/nul\0inside", &o).unwrap();
        assert_eq!(v["keyText"], "/bin/nul\\x00inside");
        assert!(v["meta"]["mod_revision"].as_i64().unwrap() > 0);
        let big = s.value(b"/big/value-200k", &o).unwrap();
        assert_eq!(big["size"], 204800);
        let h = s.history(b"/big/value-200k", &o).unwrap();
        assert!(!h["revisions"].as_array().unwrap().is_empty());
        assert!(s.value(b"/no/such/key", &o).is_err());
    }

    #[test]
    fn sql_files_are_made() {
        let s = sample();
        for (d, sc) in [("sqlite", "etcd"), ("postgres", "kine")] {
            let mut out = Vec::new();
            s.sql(d, sc, false, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("COMMIT"), "{d} {sc}");
        }
    }

    #[test]
    fn diffs() {
        assert_eq!(diff_values(b"a\nb\nc", b"a\nx\nc"), "  a\n- b\n+ x\n  c\n");
        assert!(diff_values(b"\xff", b"\xfe").starts_with("binary values"));
        assert_eq!(diff_values(b"same", b"same"), "  same\n");
    }

    #[test]
    fn snapshot_download_reopens() {
        let s = sample();
        let mut out = Vec::new();
        s.snapshot(true, false, &mut out).unwrap();
        let again = Session::open_v3("again.db", MemSource::new(out)).unwrap();
        let st = again.summary().unwrap();
        assert_eq!(st["status"]["revision"], 359);
        assert_eq!(st["status"]["trailer"]["state"], "ok");
    }
}
