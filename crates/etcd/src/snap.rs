//! `member/snap/` (FORMATS.md §2): `<term>-<index>.snap` files, each one `snappb.snapshot`
//! `{crc, data}` where `data` is a `raftpb.Snapshot` whose own `data` is the v2 store JSON.
//!
//! etcd loads the newest `.snap` (by name, newest first) that reads cleanly and whose
//! (term, index) is one of the WAL's snapshot records at or below the committed index, falling
//! back to older files; it renames broken ones to `.broken`. [`select`] does the same without
//! renaming anything and reports why each file was passed over.
//!
//! The library never touches a file system: the caller hands in `(name, source)` pairs (a
//! browser gives `Blob`s). [`open_dir`] does that for a native directory.

use std::fmt;
use std::ops::Range;

use prost::Message;
use storage::ReadAt;

use crate::raftpb::{ConfState, SnapshotMetadata, WalSnapshot};

/// A `.snap` file name: `%016x-%016x.snap` = term, index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapName {
    pub term: u64,
    pub index: u64,
}

fn hex16(s: &str) -> Option<u64> {
    if s.len() != 16
        || !s
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

impl SnapName {
    pub fn parse(name: &str) -> Option<SnapName> {
        let stem = name.strip_suffix(".snap")?;
        let (a, b) = stem.split_once('-')?;
        Some(SnapName {
            term: hex16(a)?,
            index: hex16(b)?,
        })
    }

    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}.snap", self.term, self.index)
    }
}

/// What a name in the snap directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapDirEntry {
    /// `<term>-<index>.snap`.
    Snap(SnapName),
    /// Ends in `.snap` but is not `<16 hex>-<16 hex>`: etcd still tries to load it.
    OddSnap,
    /// `<index>.snap.db`: a backend received from a leader (renamed over `db` at startup when
    /// the newest snapshot is newer than the backend).
    SnapDb { index: Option<u64> },
    /// `db`: the v3 backend.
    Db,
    /// `*.snap.broken`: a snapshot etcd failed to load earlier.
    Broken,
    /// `tmp*` (a `.snap.db` being received) or `db.tmp*` (defragmentation leftovers).
    Tmp,
    /// Anything else (etcd warns and skips it).
    Other,
}

pub fn classify(name: &str) -> SnapDirEntry {
    if name == "db" {
        return SnapDirEntry::Db;
    }
    if let Some(stem) = name.strip_suffix(".snap.db") {
        return SnapDirEntry::SnapDb { index: hex16(stem) };
    }
    if name.ends_with(".snap") {
        return match SnapName::parse(name) {
            Some(n) => SnapDirEntry::Snap(n),
            None => SnapDirEntry::OddSnap,
        };
    }
    if name.ends_with(".broken") {
        return SnapDirEntry::Broken;
    }
    if name.starts_with("tmp") || name.starts_with("db.tmp") {
        return SnapDirEntry::Tmp;
    }
    SnapDirEntry::Other
}

/// Why a `.snap` file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapErrorKind {
    Read(String),
    /// Zero bytes (etcd: "empty snapshot").
    EmptyFile,
    /// Not a `snappb.snapshot` protobuf (e.g. a truncated file); `offset` is where decoding
    /// stopped.
    BadFrame {
        offset: u64,
        reason: String,
    },
    /// `data` missing/empty or `crc == 0` (etcd: "empty snapshot").
    EmptyData,
    /// The CRC-32C of `data` differs from the stored one; `data` is where the checked bytes
    /// are in the file.
    Crc {
        stored: u32,
        computed: u32,
        data: Range<u64>,
    },
    /// `data` is not a `raftpb.Snapshot`; `offset` is in the file.
    BadSnapshot {
        offset: u64,
        reason: String,
    },
    /// Read fine, but its (term, index) is not one of the WAL's snapshot records at or below
    /// the committed index, so etcd would not load it.
    NotInWal {
        term: u64,
        index: u64,
    },
}

/// A `.snap` file that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapError {
    pub file: String,
    pub kind: SnapErrorKind,
}

impl fmt::Display for SnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match &self.kind {
            SnapErrorKind::Read(e) => write!(f, "cannot read: {e}"),
            SnapErrorKind::EmptyFile => write!(f, "empty file"),
            SnapErrorKind::BadFrame { offset, reason } => {
                write!(
                    f,
                    "at byte offset {offset}: not a snappb.snapshot: {reason}"
                )
            }
            SnapErrorKind::EmptyData => write!(f, "empty snapshot (no data or crc 0)"),
            SnapErrorKind::Crc {
                stored,
                computed,
                data,
            } => write!(
                f,
                "at byte offset {}: CRC mismatch over the {} bytes of data there (stored {stored:#010x}, computed {computed:#010x})",
                data.start,
                data.end - data.start
            ),
            SnapErrorKind::BadSnapshot { offset, reason } => {
                write!(
                    f,
                    "at byte offset {offset}: data is not a raftpb.Snapshot: {reason}"
                )
            }
            SnapErrorKind::NotInWal { term, index } => write!(
                f,
                "snapshot (term {term}, index {index}) has no matching WAL snapshot record at or below the commit index; etcd would not load it"
            ),
        }
    }
}

impl std::error::Error for SnapError {}

/// A `.snap` file read and checked. Nothing of it stays in memory: the v2 store JSON is at
/// [`Snap::json_range`] in the file; read it with [`Snap::read_json`] or parse it in place with
/// [`crate::v2::snapjson::load_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub file: String,
    pub crc: u32,
    pub term: u64,
    pub index: u64,
    pub conf_state: Option<ConfState>,
    pub file_size: u64,
    /// Where `raftpb.Snapshot.data` (the v2 store JSON) is in the file.
    json: Range<u64>,
}

impl Snap {
    /// Byte range of the v2 store JSON in the file.
    pub fn json_range(&self) -> Range<u64> {
        self.json.clone()
    }

    /// Reads the v2 store JSON into memory.
    pub fn read_json<S: ReadAt>(&self, src: &S) -> Result<Vec<u8>, SnapError> {
        let fail = |kind| SnapError {
            file: self.file.clone(),
            kind,
        };
        let len = usize::try_from(self.json.end - self.json.start)
            .map_err(|_| fail(SnapErrorKind::Read("JSON too large for memory".into())))?;
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|e| {
            fail(SnapErrorKind::Read(format!(
                "cannot allocate {len} bytes: {e}"
            )))
        })?;
        v.resize(len, 0);
        src.read_exact_at(self.json.start, &mut v)
            .map_err(|e| fail(SnapErrorKind::Read(e.to_string())))?;
        Ok(v)
    }
}

// A protobuf field found at the top level of a message in a file.
struct Field {
    number: u64,
    wire: u8,
    /// For varints: the value.
    value: u64,
    /// For length-delimited fields: where the payload is (absolute file offsets).
    range: Range<u64>,
    /// Where the field's tag is.
    at: u64,
}

/// Reads a varint at `*at` (at most 10 bytes, not past `end`).
fn varint_at<S: ReadAt>(src: &S, at: &mut u64, end: u64) -> Result<Option<u64>, String> {
    let n = (end.saturating_sub(*at)).min(10) as usize;
    let mut b = [0u8; 10];
    src.read_exact_at(*at, &mut b[..n])
        .map_err(|e| e.to_string())?;
    let mut v: u64 = 0;
    for (i, &byte) in b[..n].iter().enumerate() {
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            *at += i as u64 + 1;
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Walks the top-level fields of the message at `range` in the file, reading only tags and
/// lengths. `Err((offset, reason))` on malformed input.
fn fields_at<S: ReadAt>(src: &S, range: Range<u64>) -> Result<Vec<Field>, (u64, String)> {
    let mut out = Vec::new();
    let mut at = range.start;
    let end = range.end;
    while at < end {
        let start = at;
        let tag = varint_at(src, &mut at, end)
            .map_err(|e| (start, e))?
            .ok_or((start, "truncated field tag".to_string()))?;
        let number = tag >> 3;
        let wire = (tag & 7) as u8;
        if number == 0 {
            return Err((start, "field number 0".into()));
        }
        let mut f = Field {
            number,
            wire,
            value: 0,
            range: 0..0,
            at: start,
        };
        match wire {
            0 => {
                f.value = varint_at(src, &mut at, end)
                    .map_err(|e| (start, e))?
                    .ok_or((start, "truncated varint".to_string()))?;
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if end - at < n {
                    return Err((start, "truncated fixed-size field".into()));
                }
                at += n;
            }
            2 => {
                let len = varint_at(src, &mut at, end)
                    .map_err(|e| (start, e))?
                    .ok_or((start, "truncated length".to_string()))?;
                if len > end - at {
                    return Err((
                        start,
                        format!("field {number} claims {len} bytes, only {} left", end - at),
                    ));
                }
                f.range = at..at + len;
                at += len;
            }
            w => return Err((start, format!("field {number} has wire type {w}"))),
        }
        out.push(f);
    }
    Ok(out)
}

const CHUNK: u64 = 1 << 20;

/// CRC-32C of a range of the file, read in chunks.
fn crc_of<S: ReadAt>(src: &S, range: Range<u64>) -> Result<u32, String> {
    let mut crc = 0u32;
    let mut buf = vec![0u8; CHUNK.min(range.end - range.start) as usize];
    let mut at = range.start;
    while at < range.end {
        let n = (range.end - at).min(CHUNK) as usize;
        src.read_exact_at(at, &mut buf[..n])
            .map_err(|e| e.to_string())?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        at += n as u64;
    }
    Ok(crc)
}

/// Reads and checks one `.snap` file the way etcd's `snap.Read` does (empty file, frame, empty
/// data or crc 0, CRC-32C of the data, `raftpb.Snapshot`), reading it piecewise.
pub fn read<S: ReadAt>(name: &str, src: &S) -> Result<Snap, SnapError> {
    read_impl(name, src, true)
}

/// [`read`] without the CRC-32C pass over the data (everything else is checked): where the
/// JSON is, for a caller that runs [`read`] at the same time and uses the result only when
/// that passes.
pub fn read_unchecked<S: ReadAt>(name: &str, src: &S) -> Result<Snap, SnapError> {
    read_impl(name, src, false)
}

fn read_impl<S: ReadAt>(name: &str, src: &S, check_crc: bool) -> Result<Snap, SnapError> {
    let fail = |kind| SnapError {
        file: name.to_owned(),
        kind,
    };
    let size = src.size();
    if size == 0 {
        return Err(fail(SnapErrorKind::EmptyFile));
    }

    // snappb.snapshot {crc = 1 (uint32), data = 2 (bytes)}
    let top = fields_at(src, 0..size)
        .map_err(|(offset, reason)| fail(SnapErrorKind::BadFrame { offset, reason }))?;
    let mut crc: u32 = 0;
    let mut data: Option<Range<u64>> = None;
    for f in &top {
        match (f.number, f.wire) {
            (1, 0) => crc = f.value as u32,
            (2, 2) => data = Some(f.range.clone()),
            (1 | 2, w) => {
                return Err(fail(SnapErrorKind::BadFrame {
                    offset: f.at,
                    reason: format!("field {} has wire type {w}", f.number),
                }))
            }
            _ => {}
        }
    }
    let data = match data {
        Some(d) if d.end > d.start && crc != 0 => d,
        _ => return Err(fail(SnapErrorKind::EmptyData)),
    };
    let computed = if check_crc {
        crc_of(src, data.clone()).map_err(|e| fail(SnapErrorKind::Read(e)))?
    } else {
        crc
    };
    if computed != crc {
        return Err(fail(SnapErrorKind::Crc {
            stored: crc,
            computed,
            data: data.clone(),
        }));
    }

    // raftpb.Snapshot {data = 1 (bytes), metadata = 2 (SnapshotMetadata)}
    let inner = fields_at(src, data.clone())
        .map_err(|(offset, reason)| fail(SnapErrorKind::BadSnapshot { offset, reason }))?;
    let mut json: Range<u64> = data.start..data.start;
    let mut meta = SnapshotMetadata::default();
    for f in &inner {
        match (f.number, f.wire) {
            (1, 2) => json = f.range.clone(),
            (2, 2) => {
                let mut b = vec![0u8; (f.range.end - f.range.start) as usize];
                src.read_exact_at(f.range.start, &mut b)
                    .map_err(|e| fail(SnapErrorKind::Read(e.to_string())))?;
                // Repeated occurrences of a message field merge, as in protobuf.
                meta.merge(&b[..]).map_err(|e| {
                    fail(SnapErrorKind::BadSnapshot {
                        offset: f.range.start,
                        reason: e.to_string(),
                    })
                })?
            }
            (1 | 2, w) => {
                return Err(fail(SnapErrorKind::BadSnapshot {
                    offset: f.at,
                    reason: format!("field {} has wire type {w}", f.number),
                }))
            }
            _ => {}
        }
    }
    Ok(Snap {
        file: name.to_owned(),
        crc,
        term: meta.term,
        index: meta.index,
        conf_state: meta.conf_state,
        file_size: size,
        json,
    })
}

/// What [`select`] found in a snap directory.
#[derive(Debug, Default)]
pub struct Selection {
    /// The snapshot etcd would load, if any.
    pub chosen: Option<Snap>,
    /// Newer `.snap` files passed over, newest first, with the reason.
    pub rejected: Vec<SnapError>,
    /// `.snap` files older than the chosen one (not read).
    pub older: Vec<String>,
    /// `*.snap.db` files (a backend received from a leader; etcd renames it over `db` at
    /// startup when the loaded snapshot is newer than the backend's consistent index).
    pub snap_dbs: Vec<String>,
    /// Whether a `db` file is present.
    pub has_db: bool,
    /// Names that are none of the above (`.broken`, temp files, strays), with what they are.
    pub ignored: Vec<(String, SnapDirEntry)>,
}

/// Picks the snapshot etcd would load: `.snap` names newest first (reverse byte order), the
/// first that reads cleanly and — when `wal_snapshots` is given — whose (term, index) is one of
/// those records (pass the WAL's snapshot records with index <= HardState.commit, as etcd's
/// `ValidSnapshotEntries`). `None` accepts any clean file.
pub fn select<S: ReadAt>(
    files: &[(String, S)],
    wal_snapshots: Option<&[WalSnapshot]>,
) -> Selection {
    select_known(files, wal_snapshots, None)
}

/// The `.snap` file [`select`] tries first (the newest name), if any.
pub fn newest<S>(files: &[(String, S)]) -> Option<&(String, S)> {
    files
        .iter()
        .filter(|(n, _)| matches!(classify(n), SnapDirEntry::Snap(_) | SnapDirEntry::OddSnap))
        .max_by(|a, b| a.0.cmp(&b.0))
}

/// [`select`], taking `known = (name, result of read(name))` instead of reading that file
/// again (a caller that read it ahead).
pub fn select_known<S: ReadAt>(
    files: &[(String, S)],
    wal_snapshots: Option<&[WalSnapshot]>,
    known: Option<(&str, &Result<Snap, SnapError>)>,
) -> Selection {
    let mut sel = Selection::default();
    let mut snaps: Vec<(&str, &S)> = Vec::new();
    for (name, src) in files {
        match classify(name) {
            SnapDirEntry::Snap(_) | SnapDirEntry::OddSnap => snaps.push((name, src)),
            SnapDirEntry::SnapDb { .. } => sel.snap_dbs.push(name.clone()),
            SnapDirEntry::Db => sel.has_db = true,
            other => sel.ignored.push((name.clone(), other)),
        }
    }
    snaps.sort_by(|a, b| b.0.cmp(a.0));
    sel.snap_dbs.sort();
    for (name, src) in snaps {
        if sel.chosen.is_some() {
            sel.older.push(name.to_owned());
            continue;
        }
        let result = match known {
            Some((k, r)) if k == name => r.clone(),
            _ => read(name, src),
        };
        match result {
            Ok(s) => {
                let ok = match wal_snapshots {
                    None => true,
                    Some(w) => w.iter().any(|r| r.index == s.index && r.term == s.term),
                };
                if ok {
                    sel.chosen = Some(s);
                } else {
                    sel.rejected.push(SnapError {
                        file: name.to_owned(),
                        kind: SnapErrorKind::NotInWal {
                            term: s.term,
                            index: s.index,
                        },
                    });
                }
            }
            Err(e) => sel.rejected.push(e),
        }
    }
    sel
}

/// A `.snap` file as checked by [`verify_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapCheck {
    pub file: String,
    /// (term, index, bytes of v2 JSON) when the file is sound.
    pub result: Result<(u64, u64, u64), SnapError>,
}

/// Reads and checks every `.snap` file (newest first), one at a time: for a `check` command.
pub fn verify_all<S: ReadAt>(files: &[(String, S)]) -> Vec<SnapCheck> {
    let mut snaps: Vec<&(String, S)> = files
        .iter()
        .filter(|(n, _)| matches!(classify(n), SnapDirEntry::Snap(_) | SnapDirEntry::OddSnap))
        .collect();
    snaps.sort_by(|a, b| b.0.cmp(&a.0));
    snaps
        .into_iter()
        .map(|(name, src)| SnapCheck {
            file: name.clone(),
            result: read(name, src).map(|s| (s.term, s.index, s.json.end - s.json.start)),
        })
        .collect()
}

/// Lists a native directory as `(name, source)` pairs (files only, sorted by name).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_dir(dir: &std::path::Path) -> std::io::Result<Vec<(String, storage::FileSource)>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir)? {
        let ent = ent?;
        if !ent.file_type()?.is_file() {
            continue;
        }
        let Ok(name) = ent.file_name().into_string() else {
            continue;
        };
        let src = storage::FileSource::open(&ent.path())?;
        out.push((name, src));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raftpb::{SnapFile, Snapshot};
    use storage::MemSource;

    fn snap_bytes(term: u64, index: u64, json: &[u8]) -> Vec<u8> {
        let inner = Snapshot {
            data: Some(json.to_vec()),
            metadata: Some(SnapshotMetadata {
                conf_state: Some(ConfState {
                    voters: vec![1],
                    ..Default::default()
                }),
                index,
                term,
            }),
        }
        .encode_to_vec();
        SnapFile {
            crc: crc32c::crc32c(&inner),
            data: Some(inner),
        }
        .encode_to_vec()
    }

    #[test]
    fn names() {
        assert_eq!(
            SnapName::parse("0000000000000002-00000000000000d9.snap"),
            Some(SnapName {
                term: 2,
                index: 0xd9
            })
        );
        assert_eq!(
            SnapName {
                term: 2,
                index: 0xd9
            }
            .file_name(),
            "0000000000000002-00000000000000d9.snap"
        );
        assert_eq!(
            classify("0000000000000002-00000000000000d9.snap.broken"),
            SnapDirEntry::Broken
        );
        assert_eq!(
            classify("00000000000000d9.snap.db"),
            SnapDirEntry::SnapDb { index: Some(0xd9) }
        );
        assert_eq!(classify("db"), SnapDirEntry::Db);
        assert_eq!(classify("x.snap"), SnapDirEntry::OddSnap);
        assert_eq!(classify("db.tmp.123"), SnapDirEntry::Tmp);
        assert_eq!(classify("notes.txt"), SnapDirEntry::Other);
    }

    #[test]
    fn read_checks_and_select_falls_back() {
        let good = snap_bytes(2, 10, b"{\"CurrentIndex\":3}");
        let src = MemSource::new(good.clone());
        let s = read("a.snap", &src).unwrap();
        assert_eq!((s.term, s.index), (2, 10));
        assert_eq!(s.read_json(&src).unwrap(), b"{\"CurrentIndex\":3}");
        assert_eq!(s.conf_state.as_ref().unwrap().voters, vec![1]);

        // Every truncation is an error, never a panic.
        for cut in 0..good.len() {
            let e = read("t.snap", &MemSource::new(good[..cut].to_vec())).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
        // A flipped byte in the data: CRC mismatch.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 30] ^= 0x40;
        assert!(matches!(
            read("f.snap", &MemSource::new(bad.clone()))
                .unwrap_err()
                .kind,
            SnapErrorKind::Crc { .. }
        ));
        // crc 0 is "empty".
        let zero = SnapFile {
            crc: 0,
            data: Some(vec![1, 2]),
        }
        .encode_to_vec();
        assert_eq!(
            read("z.snap", &MemSource::new(zero)).unwrap_err().kind,
            SnapErrorKind::EmptyData
        );

        let older = snap_bytes(2, 5, b"{}");
        let files = vec![
            (
                "0000000000000002-0000000000000005.snap".to_string(),
                MemSource::new(older),
            ),
            (
                "0000000000000002-000000000000000a.snap".to_string(),
                MemSource::new(bad),
            ),
            ("db".to_string(), MemSource::new(vec![])),
            (
                "000000000000000a.snap.db".to_string(),
                MemSource::new(vec![]),
            ),
            ("junk".to_string(), MemSource::new(vec![1])),
        ];
        let sel = select(&files, None);
        assert_eq!(sel.chosen.as_ref().unwrap().index, 5);
        assert_eq!(sel.rejected.len(), 1);
        assert!(sel.rejected[0]
            .to_string()
            .contains("000000000000000a.snap: at byte offset "));
        assert!(sel.rejected[0]
            .to_string()
            .contains(": CRC mismatch over the"));
        assert!(sel.has_db);
        assert_eq!(sel.snap_dbs, vec!["000000000000000a.snap.db"]);
        assert_eq!(sel.ignored.len(), 1);

        let all = verify_all(&files);
        assert_eq!(all.len(), 2);
        assert!(all[0].result.is_err());
        assert_eq!(all[1].result, Ok((2, 5, 2)));

        // Only snapshots named by the WAL count.
        let wal = [WalSnapshot {
            index: 7,
            term: 2,
            conf_state: None,
        }];
        let sel = select(&files, Some(&wal));
        assert!(sel.chosen.is_none());
        assert!(matches!(
            sel.rejected[1].kind,
            SnapErrorKind::NotInWal { .. }
        ));
    }
}
