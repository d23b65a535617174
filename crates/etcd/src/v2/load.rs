//! Rebuilding the v2 store of a data directory: the snapshot etcd would load, then the WAL
//! entries after it, applied with v2 semantics.

use std::collections::BTreeMap;
use std::fmt;

use storage::ReadAt;

use super::apply::{apply_conf_change, apply_v2, apply_v3, Outcome};
use super::snapjson::{self, SnapJsonInfo};
use super::store::Store;
use crate::raftpb::{HardState, Metadata, WalSnapshot};
use crate::snap::{self, SnapDirEntry, SnapError};
use crate::v2req::{decode_entry, Payload};
use crate::wal::{self, EntryLoc, SegmentFile, SegmentInfo, SegmentName, WalError};

/// The files of a member directory, as `(name, source)` pairs. `wal: None` means there is no
/// `wal` directory; `snap: None` no `snap` directory.
pub struct DataDirFiles<S> {
    pub wal: Option<Vec<(String, S)>>,
    pub snap: Option<Vec<(String, S)>>,
}

/// Choices for [`load`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Also apply entries after `HardState.commit` (etcd would not, until raft commits them).
    pub include_uncommitted: bool,
    /// Stop after this raft index (the store as it was then; only snapshots at or below it
    /// are used).
    pub stop_at: Option<u64>,
}

/// Why the v2 store could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// There is no `wal` directory.
    NoWalDir,
    /// The `wal` directory has no `<seq>-<index>.wal` file.
    NoWalSegments { ignored: Vec<String> },
    /// A WAL segment is damaged (file, offset, entry index in the error).
    Wal(WalError),
    /// The WAL does not start at the beginning of the log and no usable `.snap` covers the
    /// entries before it.
    NoUsableSnapshot {
        first_wal_index: u64,
        rejected: Vec<SnapError>,
    },
    /// The WAL starts after the chosen snapshot: entries in between are missing.
    Gap {
        snapshot_index: u64,
        first_wal_index: u64,
    },
    /// The v2 store JSON in the chosen `.snap` is damaged (offset in the file).
    SnapJson {
        file: String,
        offset: u64,
        msg: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoWalDir => write!(f, "no wal directory (member/wal)"),
            LoadError::NoWalSegments { ignored } => {
                write!(f, "no WAL segment (<seq>-<index>.wal) in the wal directory")?;
                if !ignored.is_empty() {
                    write!(f, " (ignored: {})", ignored.join(", "))?;
                }
                Ok(())
            }
            LoadError::Wal(e) => write!(f, "{e}"),
            LoadError::NoUsableSnapshot {
                first_wal_index,
                rejected,
            } => {
                write!(
                    f,
                    "the WAL starts at entry {first_wal_index} and no usable .snap file covers the entries before it"
                )?;
                for r in rejected {
                    write!(f, "; {r}")?;
                }
                Ok(())
            }
            LoadError::Gap {
                snapshot_index,
                first_wal_index,
            } => write!(
                f,
                "entries {} to {} are missing: the snapshot ends at {snapshot_index} and the WAL starts at {first_wal_index}",
                snapshot_index + 1,
                first_wal_index - 1
            ),
            LoadError::SnapJson { file, offset, msg } => {
                write!(f, "{file} at byte offset {offset}: v2 store JSON: {msg}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<WalError> for LoadError {
    fn from(e: WalError) -> Self {
        LoadError::Wal(e)
    }
}

/// The snapshot the store started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUsed {
    pub file: String,
    pub term: u64,
    pub index: u64,
    pub file_size: u64,
    /// `CurrentIndex` and other facts of its JSON.
    pub json: SnapJsonInfo,
    /// Nodes right after loading it.
    pub nodes: usize,
    /// What the snapshot alone holds besides membership (counts and etcd 3.6's verdict; no
    /// key list).
    pub content: super::Content,
}

/// An entry etcd would choke on (undecodable, or it would panic applying it). The replay
/// applies nothing for it and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryProblem {
    pub file: String,
    pub offset: u64,
    pub index: u64,
    pub term: u64,
    pub message: String,
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte offset {} (entry index {}, term {}): {}",
            self.file, self.offset, self.index, self.term, self.message
        )
    }
}

/// Counters of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Entries replayed (after the snapshot, up to the commit index or `stop_at`).
    pub entries: u64,
    /// Empty entries (leader no-ops).
    pub empty: u64,
    /// v2 requests by method (`PUT`, `POST`, `DELETE`, `QGET`, `SYNC`, …).
    pub v2_by_method: BTreeMap<String, u64>,
    /// v2 writes that succeeded / failed (compare failed, key exists, …).
    pub v2_applied: u64,
    pub v2_failed: u64,
    /// v2 requests other than membership (`/0/members/<id>/attributes`, `/0/version`) and
    /// SYNC: the ones etcd 3.6 refuses to replay.
    pub v2_user_requests: u64,
    /// Nodes removed by SYNC.
    pub expired: u64,
    /// ConfChange(V2) entries, and how many of them etcd refused.
    pub conf_changes: u64,
    pub conf_rejected: u64,
    /// Membership writes (each consumed store indices).
    pub membership_writes: u64,
    /// v3 requests (not applied to the v2 store, except 3.5's membership ones), by operation.
    pub v3: u64,
    pub v3_by_op: BTreeMap<String, u64>,
    /// Entries after the commit index, not applied.
    pub uncommitted: u64,
    /// Entries etcd would choke on.
    pub problems: u64,
}

/// What was found and done besides the tree.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub snapshot: Option<SnapshotUsed>,
    /// Newer `.snap` files passed over (broken, or not named by the WAL), newest first.
    pub snap_rejected: Vec<SnapError>,
    /// Older `.snap` files (not read).
    pub snap_older: Vec<String>,
    pub snap_dbs: Vec<String>,
    pub has_db: bool,
    /// Other names in the snap directory.
    pub snap_ignored: Vec<(String, SnapDirEntry)>,
    /// Names in the wal directory that are not segments (`*.tmp` spares, `.broken`, strays).
    pub wal_ignored: Vec<String>,
    pub segments: Vec<SegmentInfo>,
    pub metadata: Option<Metadata>,
    pub hard_state: Option<HardState>,
    /// Snapshot records of the WAL.
    pub wal_snapshots: Vec<WalSnapshot>,
    /// `(file, offset, reason)` when the last segment ends in a torn record.
    pub torn: Option<(String, u64, String)>,
    /// Entries dropped because a new leader rewrote their index.
    pub overwritten: u64,
    pub first_wal_index: Option<u64>,
    pub last_wal_index: Option<u64>,
    /// Term of the last WAL entry.
    pub last_wal_term: Option<u64>,
    /// Raft index of the last entry applied (the snapshot index when none).
    pub applied_index: u64,
    pub counts: Counts,
    pub problems: Vec<EntryProblem>,
    /// `Time` of the last SYNC applied (the leader's clock, Unix ns): the best "now" a WAL
    /// offers.
    pub last_sync_time_ns: Option<i64>,
}

/// A rebuilt v2 store.
#[derive(Debug)]
pub struct V2Data {
    pub store: Store,
    pub report: LoadReport,
}

/// Called for every replayed entry: where it is, what it carries, what applying it did.
pub type EntryHook<'h> = &'h mut dyn FnMut(&EntryLoc, &Payload, &Outcome);

/// Rebuilds the v2 store. See [`load_with`] (and [`load_parallel`] for two threads).
pub fn load<S: ReadAt>(files: DataDirFiles<S>, opts: &LoadOptions) -> Result<V2Data, LoadError> {
    load_with(files, opts, None)
}

fn is_user_v2(method: &[u8], path: &[u8]) -> bool {
    match method {
        b"SYNC" | b"QGET" => false,
        b"PUT" => {
            !(path == b"/0/version"
                || (path.starts_with(b"/0/members/") && path.ends_with(b"/attributes")))
        }
        _ => true,
    }
}

/// Rebuilds the v2 store: scans and checks every WAL segment, picks the `.snap` etcd would load
/// (newest first, CRC-checked, named by a WAL snapshot record at or below the commit index),
/// loads its JSON, then applies the WAL entries after it up to the commit index. `hook` sees
/// every replayed entry.
pub fn load_with<S: ReadAt>(
    files: DataDirFiles<S>,
    opts: &LoadOptions,
    hook: Option<EntryHook<'_>>,
) -> Result<V2Data, LoadError> {
    let mut report = LoadReport::default();
    let mut segs = wal_segments(files.wal, &mut report)?;
    let scan = wal::scan(&mut segs, None)?;
    finish(files.snap, segs, scan, report, opts, hook, None)
}

/// [`load`] on two threads: the newest `.snap` is read and parsed while the WAL is scanned
/// (used when it is the one etcd would load; otherwise dropped and the chosen one is read).
/// Same result as [`load`].
#[cfg(not(target_arch = "wasm32"))]
pub fn load_parallel<S: ReadAt + Sync + Send>(
    files: DataDirFiles<S>,
    opts: &LoadOptions,
) -> Result<V2Data, LoadError> {
    load_parallel_spilling(files, opts, None)
}

/// [`load_parallel`] with the values of the newest `.snap` kept in temporary files in
/// `spill_dir` instead of memory (see [`super::spill`]; values set by WAL entries stay in
/// memory, and so does everything when the files cannot be created). For a reader that wants
/// the values in revision order, such as [`crate::migrate::Migration`].
#[cfg(not(target_arch = "wasm32"))]
pub fn load_parallel_spilling<S: ReadAt + Sync + Send>(
    files: DataDirFiles<S>,
    opts: &LoadOptions,
    spill_dir: Option<&std::path::Path>,
) -> Result<V2Data, LoadError> {
    let mut report = LoadReport::default();
    let mut segs = wal_segments(files.wal, &mut report)?;
    // With `stop_at` an older snapshot may be needed: no guessing then.
    let candidate = match (&files.snap, opts.stop_at) {
        (Some(list), None) => snap::newest(list),
        _ => None,
    };
    let (scan, ahead) = std::thread::scope(|sc| {
        // This thread parses the JSON (its allocations come from the main heap, which grows
        // more cheaply than a thread's arena); the other scans the WAL, then checks the CRC.
        let segs_ref = &mut segs;
        let job = sc.spawn(move || {
            let mut scan = wal::scan(segs_ref, None);
            // Only the entries after the snapshot are replayed: drop the others now (finish
            // scans again if an older snapshot is used after all).
            if let (Ok(scan), Some((name, _))) = (&mut scan, candidate) {
                if let Some(sn) = snap::SnapName::parse(name) {
                    scan.trim_through(sn.index);
                }
            }
            let checked = candidate.map(|(name, src)| snap::read(name, src));
            (scan, checked)
        });
        let parsed = candidate.and_then(|(name, src)| parse_ahead(name, src, spill_dir));
        // A failed scan thread (it cannot panic on input: no unchecked lengths) is redone below.
        let Ok((scan, checked)) = job.join() else {
            return (None, None);
        };
        let ahead = candidate.zip(checked).map(|((name, _), snap)| {
            // The parse counts only for the file as checked.
            let parsed = match (&snap, parsed) {
                (Ok(s), Some((range, p))) if s.json_range() == range => Some(p),
                _ => None,
            };
            Ahead {
                file: name.clone(),
                snap,
                parsed,
            }
        });
        (Some(scan), ahead)
    });
    let scan = match scan {
        Some(scan) => scan,
        None => wal::scan(&mut segs, None),
    };
    let scan = scan?;
    finish(files.snap, segs, scan, report, opts, None, ahead)
}

/// A `.snap` file read and parsed ahead of the selection.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
struct Ahead {
    file: String,
    snap: Result<snap::Snap, SnapError>,
    parsed: Option<Result<(Store, SnapJsonInfo), snapjson::JsonError>>,
}

/// Where the JSON of a `.snap` is (CRC not checked here) and the store parsed from it.
#[cfg(not(target_arch = "wasm32"))]
type Parsed = (
    std::ops::Range<u64>,
    Result<(Store, SnapJsonInfo), snapjson::JsonError>,
);

#[cfg(not(target_arch = "wasm32"))]
fn parse_ahead<S: ReadAt + Sync>(
    name: &str,
    src: &S,
    spill_dir: Option<&std::path::Path>,
) -> Option<Parsed> {
    let s = snap::read_unchecked(name, src).ok()?;
    let range = s.json_range();
    // No value of the snapshot is modified after its index.
    let spill = spill_dir
        .zip(snap::SnapName::parse(name))
        .and_then(|(dir, sn)| super::spill::Spill::create(dir, sn.index).ok())
        .map(std::sync::Arc::new);
    // Two halves on two threads (the same result as one pass).
    let parsed = snapjson::load_from_split(src, range.clone(), spill);
    Some((range, parsed))
}

/// The WAL segments of the wal directory (other names go to `report.wal_ignored`).
fn wal_segments<S>(
    wal_files: Option<Vec<(String, S)>>,
    report: &mut LoadReport,
) -> Result<Vec<SegmentFile<S>>, LoadError> {
    let wal_files = wal_files.ok_or(LoadError::NoWalDir)?;
    let mut segs: Vec<SegmentFile<S>> = Vec::new();
    for (name, src) in wal_files {
        if SegmentName::parse(&name).is_some() {
            segs.push(SegmentFile { name, src });
        } else {
            report.wal_ignored.push(name);
        }
    }
    report.wal_ignored.sort();
    if segs.is_empty() {
        return Err(LoadError::NoWalSegments {
            ignored: std::mem::take(&mut report.wal_ignored),
        });
    }
    Ok(segs)
}

/// Everything after the WAL scan: the snapshot, then the replay.
fn finish<S: ReadAt>(
    snap_files: Option<Vec<(String, S)>>,
    mut segs: Vec<SegmentFile<S>>,
    mut scan: wal::WalScan,
    mut report: LoadReport,
    opts: &LoadOptions,
    mut hook: Option<EntryHook<'_>>,
    ahead: Option<Ahead>,
) -> Result<V2Data, LoadError> {
    report.segments = scan.segments.clone();
    report.metadata = scan.metadata.clone();
    report.hard_state = scan.hard_state;
    report.wal_snapshots = scan.snapshots.clone();
    report.torn = scan.torn.clone();
    report.overwritten = scan.overwritten;
    report.first_wal_index = scan.first_entry().map(|e| e.0);
    report.last_wal_index = scan.last_index();
    report.last_wal_term = scan.last_entry().map(|e| e.1);
    let commit = scan.hard_state.map_or(0, |h| h.commit);

    // The snapshot etcd would load.
    let limit = commit.min(opts.stop_at.unwrap_or(u64::MAX));
    let valid: Vec<WalSnapshot> = scan
        .snapshots
        .iter()
        .filter(|s| s.index <= limit)
        .cloned()
        .collect();
    let sel = match &snap_files {
        Some(list) => snap::select_known(
            list,
            Some(&valid),
            ahead.as_ref().map(|a| (a.file.as_str(), &a.snap)),
        ),
        None => snap::Selection::default(),
    };
    report.snap_rejected = sel.rejected;
    report.snap_older = sel.older;
    report.snap_dbs = sel.snap_dbs;
    report.has_db = sel.has_db;
    report.snap_ignored = sel.ignored;
    let (mut store, snap_index) = match sel.chosen {
        Some(s) => {
            // The parse done ahead, when it was of this file (any other is dropped first).
            let pre = match ahead {
                Some(a) if a.file == s.file => a.parsed,
                _ => None,
            };
            let range = s.json_range();
            let parsed = match pre {
                Some(p) => p,
                None => {
                    let src = snap_files
                        .as_ref()
                        .and_then(|l| l.iter().find(|(n, _)| *n == s.file))
                        .map(|(_, src)| src);
                    let Some(src) = src else {
                        return Err(LoadError::SnapJson {
                            file: s.file.clone(),
                            offset: 0,
                            msg: "file vanished".into(),
                        });
                    };
                    snapjson::load_from(src, range.clone())
                }
            };
            let (store, json) = parsed.map_err(|e| LoadError::SnapJson {
                file: s.file.clone(),
                offset: range.start + e.offset,
                msg: e.msg,
            })?;
            report.snapshot = Some(SnapshotUsed {
                file: s.file.clone(),
                term: s.term,
                index: s.index,
                file_size: s.file_size,
                json,
                nodes: store.node_count(),
                content: store.content_summary(),
            });
            (store, s.index)
        }
        None => (Store::new(), 0),
    };
    report.applied_index = snap_index;

    // The entries after it must all be there.
    if let Some(first) = report.first_wal_index {
        if first > snap_index + 1 {
            if report.snapshot.is_none() {
                return Err(LoadError::NoUsableSnapshot {
                    first_wal_index: first,
                    rejected: report.snap_rejected.clone(),
                });
            }
            return Err(LoadError::Gap {
                snapshot_index: snap_index,
                first_wal_index: first,
            });
        }
    }

    // Entries were dropped for a newer snapshot than the one used: read them again.
    if scan.trimmed_through.is_some_and(|t| snap_index < t) {
        scan = wal::scan(&mut segs, None)?;
    }
    for loc in scan.entries.iter().filter(|e| e.index > snap_index) {
        if opts.stop_at.is_some_and(|s| loc.index > s) {
            break;
        }
        if loc.index > commit && !opts.include_uncommitted {
            report.counts.uncommitted += 1;
            continue;
        }
        let entry = wal::read_entry(&segs, loc)?;
        report.counts.entries += 1;
        report.applied_index = loc.index;
        let file = segs
            .get(loc.segment as usize)
            .map_or_else(String::new, |s| s.name.clone());
        let problem = |message: String| EntryProblem {
            file: file.clone(),
            offset: loc.offset.saturating_sub(8),
            index: loc.index,
            term: loc.term,
            message,
        };
        let payload = match decode_entry(&entry) {
            Ok(p) => p,
            Err(e) => {
                report.counts.problems += 1;
                report.problems.push(problem(e.to_string()));
                continue;
            }
        };
        let c = &mut report.counts;
        let out = match &payload {
            Payload::Empty => {
                c.empty += 1;
                Outcome::Nothing
            }
            Payload::V2 { req, .. } => {
                *c.v2_by_method
                    .entry(String::from_utf8_lossy(&req.method).into_owned())
                    .or_default() += 1;
                if is_user_v2(&req.method, &req.path) {
                    c.v2_user_requests += 1;
                }
                if req.method == b"SYNC" {
                    report.last_sync_time_ns = Some(req.time);
                }
                apply_v2(&mut store, req)
            }
            Payload::V3(r) => {
                c.v3 += 1;
                *c.v3_by_op.entry(r.op_name().to_string()).or_default() += 1;
                apply_v3(&mut store, r)
            }
            Payload::ConfChange { cc, context } => {
                c.conf_changes += 1;
                apply_conf_change(&mut store, cc, context.as_ref())
            }
            Payload::ConfChangeV2 { .. } => {
                c.conf_changes += 1;
                Outcome::WouldPanic("etcd 3.4–3.6 do not apply ConfChangeV2 entries".into())
            }
        };
        match &out {
            Outcome::Applied { .. } => c.v2_applied += 1,
            Outcome::Failed(_) => c.v2_failed += 1,
            Outcome::Expired { paths } => c.expired += paths.len() as u64,
            Outcome::Membership { .. } => c.membership_writes += 1,
            Outcome::Rejected(_) => c.conf_rejected += 1,
            Outcome::WouldPanic(m) => {
                c.problems += 1;
                report
                    .problems
                    .push(problem(format!("etcd would panic: {m}")));
            }
            Outcome::Nothing | Outcome::Skipped(_) => {}
        }
        if let Some(h) = hook.as_mut() {
            h(loc, &payload, &out);
        }
    }
    Ok(V2Data { store, report })
}

/// Lists a native member directory (`<member>/wal`, `<member>/snap`) for [`load`].
#[cfg(not(target_arch = "wasm32"))]
pub fn open_member_dir(
    member: &std::path::Path,
) -> std::io::Result<DataDirFiles<storage::FileSource>> {
    let open =
        |d: &std::path::Path| -> std::io::Result<Option<Vec<(String, storage::FileSource)>>> {
            match std::fs::metadata(d) {
                Ok(m) if m.is_dir() => snap::open_dir(d).map(Some),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
    Ok(DataDirFiles {
        wal: open(&member.join("wal"))?,
        snap: open(&member.join("snap"))?,
    })
}
