//! WAL segments (`member/wal/*.wal`, FORMATS.md §1): frames, records, the CRC-32C chained across
//! segments, the zero-filled pre-allocated tail, torn last records, and entries overwritten by a
//! later leader.
//!
//! Reading is two passes so memory stays small: [`scan`] checks every frame and CRC and keeps,
//! per entry, only its index, term, type and place; [`read_entry`] fetches one entry's bytes
//! again when it is needed.

use std::fmt;

use prost::Message;
use storage::ReadAt;

use crate::raftpb::{self, Entry, HardState, Metadata, Record, WalSnapshot};

/// etcd's segment size (decimal MB).
pub const SEGMENT_SIZE: u64 = 64_000_000;
/// We refuse records larger than this (etcd 3.4 refuses 10 MiB; 3.5+ only checks the file size).
pub const MAX_RECORD: u64 = 256 << 20;
const SECTOR: u64 = 512;

/// `<seq>-<index>.wal`, both 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentName {
    pub seq: u64,
    pub index: u64,
}

impl SegmentName {
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(".wal")?;
        let (a, b) = stem.split_once('-')?;
        if a.len() != 16 || b.len() != 16 {
            return None;
        }
        let hex = |s: &str| {
            s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        };
        if !hex(a) || !hex(b) {
            return None;
        }
        Some(SegmentName {
            seq: u64::from_str_radix(a, 16).ok()?,
            index: u64::from_str_radix(b, 16).ok()?,
        })
    }
}

/// One segment file to read.
pub struct SegmentFile<S> {
    pub name: String,
    pub src: S,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalErrorKind {
    Read(String),
    /// A record's stored CRC differs from the running CRC.
    Crc {
        stored: u32,
        computed: u32,
    },
    /// A frame's bytes do not decode as a record.
    BadRecord(String),
    /// A length word asks for more than we accept.
    TooLarge {
        len: u64,
    },
    UnknownType(i64),
    /// Segment sequence numbers are not consecutive.
    SequenceGap {
        expected: u64,
        found: u64,
    },
    /// An entry index skips ahead.
    IndexGap {
        expected: u64,
        found: u64,
    },
    /// Metadata records differ between segments.
    MetadataConflict,
}

/// A WAL error: the file, the byte offset of the frame, and the entry index when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalError {
    pub file: String,
    pub offset: u64,
    pub entry_index: Option<u64>,
    pub kind: WalErrorKind,
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.file, self.offset)?;
        if let Some(i) = self.entry_index {
            write!(f, " (entry index {i})")?;
        }
        write!(f, ": ")?;
        match &self.kind {
            WalErrorKind::Read(e) => write!(f, "cannot read: {e}"),
            WalErrorKind::Crc { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            WalErrorKind::BadRecord(e) => write!(f, "not a WAL record: {e}"),
            WalErrorKind::TooLarge { len } => {
                write!(f, "record length {len} is larger than we accept")
            }
            WalErrorKind::UnknownType(t) => write!(f, "unknown record type {t}"),
            WalErrorKind::SequenceGap { expected, found } => {
                write!(
                    f,
                    "segment sequence {found} where {expected} was expected (a segment is missing)"
                )
            }
            WalErrorKind::IndexGap { expected, found } => {
                write!(
                    f,
                    "entry index {found} where {expected} was expected (entries are missing)"
                )
            }
            WalErrorKind::MetadataConflict => {
                write!(f, "metadata differs from the first segment's")
            }
        }
    }
}

impl std::error::Error for WalError {}

/// How a segment's data ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEnd {
    /// At the end of the file.
    Clean,
    /// At a zero length word: the rest is pre-allocated zeros.
    ZeroTail { offset: u64 },
    /// A partial or damaged last record (only accepted in the last segment): everything before
    /// `offset` was read.
    Torn { offset: u64, reason: String },
}

/// Where an entry is, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLoc {
    pub index: u64,
    pub term: u64,
    pub entry_type: i32,
    pub segment: u32,
    /// Offset of the record's bytes (after the length word).
    pub offset: u64,
    pub len: u32,
    /// Bytes of the entry's data.
    pub data_len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub name: String,
    pub seq: u64,
    pub first_index: u64,
    pub size: u64,
    pub records: u64,
    pub end: SegmentEnd,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct WalScan {
    pub segments: Vec<SegmentInfo>,
    pub metadata: Option<Metadata>,
    pub hard_state: Option<HardState>,
    pub snapshots: Vec<WalSnapshot>,
    /// Entries in log order after the overwrite rule.
    pub entries: Vec<EntryLoc>,
    /// Entries dropped because a later record rewrote their index (a new leader's log).
    pub overwritten: u64,
    /// Set when the last segment ends in a torn record.
    pub torn: Option<(String, u64, String)>,
    /// Set by [`WalScan::trim_through`]: `entries` holds only those above this index.
    pub trimmed_through: Option<u64>,
    /// (index, term) of the first and last entry, kept by [`WalScan::trim_through`].
    ends: Option<((u64, u64), (u64, u64))>,
}

impl WalScan {
    pub fn last_index(&self) -> Option<u64> {
        self.last_entry().map(|e| e.0)
    }

    /// (index, term) of the first entry.
    pub fn first_entry(&self) -> Option<(u64, u64)> {
        match self.ends {
            Some((first, _)) => Some(first),
            None => self.entries.first().map(|e| (e.index, e.term)),
        }
    }

    /// (index, term) of the last entry.
    pub fn last_entry(&self) -> Option<(u64, u64)> {
        match self.ends {
            Some((_, last)) => Some(last),
            None => self.entries.last().map(|e| (e.index, e.term)),
        }
    }

    /// Drops the entries at or below `index` (a snapshot at `index` will be loaded), keeping
    /// the first and last entry's index and term: a million entry locations are 40 MB.
    pub fn trim_through(&mut self, index: u64) {
        if let (Some(first), Some(last)) = (self.first_entry(), self.last_entry()) {
            self.ends = Some((first, last));
        }
        self.entries.retain(|e| e.index > index);
        self.entries.shrink_to_fit();
        self.trimmed_through = Some(self.trimmed_through.map_or(index, |t| t.max(index)));
    }
}

fn err(file: &str, offset: u64, entry_index: Option<u64>, kind: WalErrorKind) -> WalError {
    WalError {
        file: file.to_owned(),
        offset,
        entry_index,
        kind,
    }
}

/// True when some 512-byte sector (by absolute file offset) of `start..start+len` is all zero —
/// etcd's sign of a torn write.
fn has_zero_sector<S: ReadAt>(src: &S, start: u64, len: u64) -> bool {
    let end = start + len;
    let mut at = start;
    let mut buf = vec![0u8; SECTOR as usize];
    while at < end {
        let chunk_end = ((at / SECTOR) + 1) * SECTOR;
        let n = (chunk_end.min(end) - at) as usize;
        if src.read_exact_at(at, &mut buf[..n]).is_err() {
            return true;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            return true;
        }
        at += n as u64;
    }
    false
}

/// Bytes read per refill when scanning a segment.
const SCAN_CHUNK: usize = 4 << 20;

/// Reads a segment front to back through one buffer of [`SCAN_CHUNK`] bytes (more only for a
/// record that does not fit), instead of two reads per record.
struct Chunked<'a, S> {
    src: &'a S,
    size: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    at: u64,
}

impl<'a, S: ReadAt> Chunked<'a, S> {
    fn new(src: &'a S, size: u64, buf: Vec<u8>) -> Self {
        let mut buf = buf;
        buf.clear();
        Chunked {
            src,
            size,
            buf,
            at: 0,
        }
    }

    /// The bytes at `pos..pos + len`; the caller has checked that they lie inside the file.
    fn get(&mut self, pos: u64, len: usize) -> Result<&[u8], storage::ReadError> {
        let end = pos.checked_add(len as u64);
        let have = pos >= self.at && end.is_some_and(|e| e <= self.at + self.buf.len() as u64);
        if !have {
            let want = (len.max(SCAN_CHUNK) as u64).min(self.size.saturating_sub(pos));
            // A short range is a read error from the source (past the end), as before.
            let want = want.max(len as u64) as usize;
            if self.buf.capacity() > 2 * SCAN_CHUNK && want <= SCAN_CHUNK {
                self.buf = Vec::new();
            }
            self.buf.resize(want, 0);
            if let Err(e) = self.src.read_exact_at(pos, &mut self.buf) {
                self.buf.clear();
                return Err(e);
            }
            self.at = pos;
        }
        let k = (pos - self.at) as usize;
        Ok(self.buf.get(k..k + len).unwrap_or(&[]))
    }

    fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

/// A protobuf field value seen by [`lite_fields`].
enum Lite<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// A varint at `*i`; `None` when truncated or 10 bytes long (left to prost).
#[inline]
fn lite_varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for k in 0..9 {
        let c = *b.get(*i + k)?;
        v |= ((c & 0x7f) as u64) << (7 * k);
        if c < 0x80 {
            *i += k + 1;
            return Some(v);
        }
    }
    None
}

/// Walks the fields of a flat message without copying. `None` when anything is unusual
/// (groups, bad tags, truncation, or `f` refusing a field): the caller then decodes with prost,
/// which gives the same answer or the exact error.
#[inline]
fn lite_fields<'a>(b: &'a [u8], mut f: impl FnMut(u64, Lite<'a>) -> Option<()>) -> Option<()> {
    let mut i = 0;
    while i < b.len() {
        let tag = lite_varint(b, &mut i)?;
        if tag > u32::MAX as u64 || tag >> 3 == 0 {
            return None;
        }
        let v = match tag & 7 {
            0 => Lite::Varint(lite_varint(b, &mut i)?),
            1 | 5 => {
                i = i.checked_add(if tag & 7 == 1 { 8 } else { 4 })?;
                if i > b.len() {
                    return None;
                }
                Lite::Fixed
            }
            2 => {
                let len = usize::try_from(lite_varint(b, &mut i)?).ok()?;
                let end = i.checked_add(len)?;
                let d = b.get(i..end)?;
                i = end;
                Lite::Bytes(d)
            }
            _ => return None,
        };
        f(tag >> 3, v)?;
    }
    Some(())
}

/// A `walpb.Record` read in place: (type, crc, data).
fn lite_record(b: &[u8]) -> Option<(i64, u32, &[u8])> {
    let (mut t, mut crc, mut data) = (0i64, 0u32, &b[..0]);
    lite_fields(b, |n, v| {
        match (n, v) {
            (1, Lite::Varint(x)) => t = x as i64,
            (2, Lite::Varint(x)) => crc = x as u32,
            (3, Lite::Bytes(d)) => data = d,
            (1..=3, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some((t, crc, data))
}

/// What the scan keeps of a `raftpb.Entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryHead {
    entry_type: i32,
    term: u64,
    index: u64,
    data_len: usize,
}

fn lite_entry(b: &[u8]) -> Option<EntryHead> {
    let mut h = EntryHead {
        entry_type: 0,
        term: 0,
        index: 0,
        data_len: 0,
    };
    lite_fields(b, |n, v| {
        match (n, v) {
            (1, Lite::Varint(x)) => h.entry_type = x as i32,
            (2, Lite::Varint(x)) => h.term = x,
            (3, Lite::Varint(x)) => h.index = x,
            (4, Lite::Bytes(d)) => h.data_len = d.len(),
            (1..=4, _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(h)
}

/// The entry's head, in place when possible, else through prost (its exact error).
fn entry_head(b: &[u8]) -> Result<EntryHead, prost::DecodeError> {
    if let Some(h) = lite_entry(b) {
        return Ok(h);
    }
    let e = Entry::decode(b)?;
    Ok(EntryHead {
        entry_type: e.r#type,
        term: e.term,
        index: e.index,
        data_len: e.data.as_ref().map_or(0, Vec::len),
    })
}

/// Checks and indexes the segments (given in any order; sorted by name here). Only the last
/// segment may end in a torn record. `start_after` skips entries at or below that index (the
/// snapshot a reader starts from); `None` takes the log from its first entry.
pub fn scan<S: ReadAt>(
    files: &mut [SegmentFile<S>],
    start_after: Option<u64>,
) -> Result<WalScan, WalError> {
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = WalScan::default();
    let mut crc: u32 = 0;
    let mut base: Option<u64> = start_after;
    let n = files.len();
    let mut expected_seq: Option<u64> = None;
    let mut chunk_buf: Vec<u8> = Vec::new();
    for (si, f) in files.iter().enumerate() {
        let last = si + 1 == n;
        let name = SegmentName::parse(&f.name).ok_or_else(|| {
            err(
                &f.name,
                0,
                None,
                WalErrorKind::BadRecord("not a segment name (<seq>-<index>.wal)".into()),
            )
        })?;
        if let Some(e) = expected_seq {
            if name.seq != e {
                return Err(err(
                    &f.name,
                    0,
                    None,
                    WalErrorKind::SequenceGap {
                        expected: e,
                        found: name.seq,
                    },
                ));
            }
        }
        expected_seq = Some(name.seq + 1);
        let size = f.src.size();
        let mut pos = 0u64;
        let mut records = 0u64;
        let mut rd = Chunked::new(&f.src, size, std::mem::take(&mut chunk_buf));
        let end = loop {
            if pos + 8 > size {
                if pos == size {
                    break SegmentEnd::Clean;
                }
                let reason = "partial length word".to_string();
                if last {
                    break SegmentEnd::Torn {
                        offset: pos,
                        reason,
                    };
                }
                return Err(err(&f.name, pos, None, WalErrorKind::BadRecord(reason)));
            }
            let mut w = [0u8; 8];
            w.copy_from_slice(
                rd.get(pos, 8)
                    .map_err(|e| err(&f.name, pos, None, WalErrorKind::Read(e.to_string())))?,
            );
            let word = u64::from_le_bytes(w);
            if word == 0 {
                break SegmentEnd::ZeroTail { offset: pos };
            }
            let len = word & 0x00FF_FFFF_FFFF_FFFF;
            let pad = if (word as i64) < 0 {
                (word >> 56) & 0x7
            } else {
                0
            };
            if len > MAX_RECORD {
                return Err(err(&f.name, pos, None, WalErrorKind::TooLarge { len }));
            }
            if len + pad > size - pos - 8 {
                let reason = format!("record of {len} bytes runs past the end of the file");
                if last {
                    break SegmentEnd::Torn {
                        offset: pos,
                        reason,
                    };
                }
                return Err(err(&f.name, pos, None, WalErrorKind::BadRecord(reason)));
            }
            let data = rd
                .get(pos + 8, len as usize)
                .map_err(|e| err(&f.name, pos, None, WalErrorKind::Read(e.to_string())))?;
            let torn_here = |reason: String| -> Option<SegmentEnd> {
                (last && has_zero_sector(&f.src, pos + 8, len + pad)).then_some(SegmentEnd::Torn {
                    offset: pos,
                    reason,
                })
            };
            let owned: Vec<u8>;
            let (rec_type, rec_crc, payload) = match lite_record(data) {
                Some(r) => r,
                None => match Record::decode(data) {
                    Ok(r) => {
                        // Rare (unusual encoding): keep the bytes apart from the buffer.
                        owned = r.data.unwrap_or_default();
                        (r.r#type, r.crc, &owned[..])
                    }
                    Err(e) => {
                        if let Some(t) = torn_here(format!("undecodable record: {e}")) {
                            break t;
                        }
                        return Err(err(
                            &f.name,
                            pos,
                            None,
                            WalErrorKind::BadRecord(e.to_string()),
                        ));
                    }
                },
            };
            let head = if rec_type == raftpb::RECORD_ENTRY {
                Some(entry_head(payload))
            } else {
                None
            };
            let entry_index = match &head {
                Some(Ok(h)) => Some(h.index),
                _ => None,
            };
            if rec_type == raftpb::RECORD_CRC {
                if crc != 0 && rec_crc != crc {
                    return Err(err(
                        &f.name,
                        pos,
                        None,
                        WalErrorKind::Crc {
                            stored: rec_crc,
                            computed: crc,
                        },
                    ));
                }
                crc = rec_crc;
            } else {
                let next = crc32c::crc32c_append(crc, payload);
                if rec_crc != next {
                    if let Some(t) = torn_here("CRC mismatch".into()) {
                        break t;
                    }
                    return Err(err(
                        &f.name,
                        pos,
                        entry_index,
                        WalErrorKind::Crc {
                            stored: rec_crc,
                            computed: next,
                        },
                    ));
                }
                crc = next;
            }
            let bad = |e: prost::DecodeError| {
                err(
                    &f.name,
                    pos,
                    entry_index,
                    WalErrorKind::BadRecord(e.to_string()),
                )
            };
            match rec_type {
                raftpb::RECORD_CRC => {}
                raftpb::RECORD_METADATA => {
                    let m = Metadata::decode(payload).map_err(bad)?;
                    match &out.metadata {
                        Some(prev) if *prev != m => {
                            return Err(err(&f.name, pos, None, WalErrorKind::MetadataConflict));
                        }
                        _ => out.metadata = Some(m),
                    }
                }
                raftpb::RECORD_STATE => {
                    out.hard_state = Some(HardState::decode(payload).map_err(bad)?)
                }
                raftpb::RECORD_SNAPSHOT => out
                    .snapshots
                    .push(WalSnapshot::decode(payload).map_err(bad)?),
                raftpb::RECORD_ENTRY => {
                    let e = match head {
                        Some(h) => h.map_err(bad)?,
                        None => entry_head(payload).map_err(bad)?,
                    };
                    let b = *base.get_or_insert(e.index.saturating_sub(1));
                    if e.index > b {
                        let position = (e.index - b - 1) as usize;
                        if position > out.entries.len() {
                            let expected = b + 1 + out.entries.len() as u64;
                            return Err(err(
                                &f.name,
                                pos,
                                Some(e.index),
                                WalErrorKind::IndexGap {
                                    expected,
                                    found: e.index,
                                },
                            ));
                        }
                        if position < out.entries.len() {
                            out.overwritten += (out.entries.len() - position) as u64;
                            out.entries.truncate(position);
                        }
                        out.entries.push(EntryLoc {
                            index: e.index,
                            term: e.term,
                            entry_type: e.entry_type,
                            segment: si as u32,
                            offset: pos + 8,
                            len: len as u32,
                            data_len: e.data_len as u32,
                        });
                    }
                }
                t => return Err(err(&f.name, pos, None, WalErrorKind::UnknownType(t))),
            }
            records += 1;
            pos += 8 + len + pad;
        };
        chunk_buf = rd.into_buf();
        if let SegmentEnd::Torn { offset, reason } = &end {
            out.torn = Some((f.name.clone(), *offset, reason.clone()));
        }
        out.segments.push(SegmentInfo {
            name: f.name.clone(),
            seq: name.seq,
            first_index: name.index,
            size,
            records,
            end,
        });
    }
    Ok(out)
}

/// Reads one entry found by [`scan`] (the segments in the same order as scanned).
pub fn read_entry<S: ReadAt>(files: &[SegmentFile<S>], loc: &EntryLoc) -> Result<Entry, WalError> {
    let f = files.get(loc.segment as usize).ok_or_else(|| {
        err(
            "?",
            loc.offset,
            Some(loc.index),
            WalErrorKind::Read("segment no longer present".into()),
        )
    })?;
    let mut data = vec![0u8; loc.len as usize];
    f.src.read_exact_at(loc.offset, &mut data).map_err(|e| {
        err(
            &f.name,
            loc.offset,
            Some(loc.index),
            WalErrorKind::Read(e.to_string()),
        )
    })?;
    let rec = Record::decode(&data[..]).map_err(|e| {
        err(
            &f.name,
            loc.offset,
            Some(loc.index),
            WalErrorKind::BadRecord(e.to_string()),
        )
    })?;
    Entry::decode(rec.data.as_deref().unwrap_or(&[])).map_err(|e| {
        err(
            &f.name,
            loc.offset,
            Some(loc.index),
            WalErrorKind::BadRecord(e.to_string()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MemSource;

    /// Builds frames the way etcd's encoder does (running CRC, padding flag in the top byte).
    struct Writer {
        buf: Vec<u8>,
        crc: u32,
    }

    impl Writer {
        fn new(prev_crc: u32) -> Self {
            let mut w = Writer {
                buf: Vec::new(),
                crc: prev_crc,
            };
            w.record(raftpb::RECORD_CRC, None);
            w
        }
        fn record(&mut self, t: i64, data: Option<Vec<u8>>) {
            let crc = match &data {
                Some(d) if t != raftpb::RECORD_CRC => {
                    self.crc = crc32c::crc32c_append(self.crc, d);
                    self.crc
                }
                _ => self.crc,
            };
            let bytes = Record {
                r#type: t,
                crc,
                data,
            }
            .encode_to_vec();
            let len = bytes.len() as u64;
            let pad = (8 - len % 8) % 8;
            let word = if pad > 0 {
                len | ((0x80 | pad) << 56)
            } else {
                len
            };
            self.buf.extend_from_slice(&word.to_le_bytes());
            self.buf.extend_from_slice(&bytes);
            self.buf.extend(std::iter::repeat(0).take(pad as usize));
        }
        fn entry(&mut self, index: u64, term: u64, data: &[u8]) {
            let e = Entry {
                r#type: 0,
                term,
                index,
                data: Some(data.to_vec()),
            };
            self.record(raftpb::RECORD_ENTRY, Some(e.encode_to_vec()));
        }
    }

    fn seg(name: &str, bytes: Vec<u8>) -> SegmentFile<MemSource> {
        SegmentFile {
            name: name.into(),
            src: MemSource::new(bytes),
        }
    }

    /// The in-place readers agree with prost whenever they answer, on valid and mangled bytes.
    #[test]
    fn lite_decoding_agrees_with_prost() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut answered = 0;
        for round in 0..30_000u64 {
            let e = Entry {
                r#type: (round % 3) as i32,
                term: rnd() >> (rnd() % 64),
                index: rnd() >> (rnd() % 64),
                data: (round % 5 != 0).then(|| vec![7u8; (rnd() % 40) as usize]),
            }
            .encode_to_vec();
            let mut r = Record {
                r#type: raftpb::RECORD_ENTRY,
                crc: rnd() as u32,
                data: Some(e),
            }
            .encode_to_vec();
            // Mangle some: flip bytes, cut, append junk fields.
            match round % 4 {
                1 => {
                    let n = r.len();
                    if n > 0 {
                        let at = (rnd() as usize) % n;
                        r[at] ^= 1 << (rnd() % 8);
                    }
                }
                2 => {
                    let n = (rnd() as usize) % (r.len() + 1);
                    r.truncate(n);
                }
                3 => r.extend_from_slice(&[(rnd() % 256) as u8, (rnd() % 256) as u8, 0x01]),
                _ => {}
            }
            if let Some((t, crc, data)) = lite_record(&r) {
                let want = Record::decode(&r[..]).unwrap();
                assert_eq!(
                    (t, crc, data),
                    (want.r#type, want.crc, want.data.as_deref().unwrap_or(&[]))
                );
                answered += 1;
                match (entry_head(data), Entry::decode(data)) {
                    (Ok(h), Ok(e)) => assert_eq!(
                        (h.entry_type, h.term, h.index, h.data_len),
                        (e.r#type, e.term, e.index, e.data.map_or(0, |d| d.len()))
                    ),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{a:?} vs {b:?}"),
                }
            } else {
                assert!(Record::decode(&r[..]).is_err() || round % 4 != 0);
            }
        }
        assert!(answered > 10_000, "{answered}");
    }

    #[test]
    fn names() {
        assert_eq!(
            SegmentName::parse("0000000000000001-00000000000000a0.wal"),
            Some(SegmentName {
                seq: 1,
                index: 0xa0
            })
        );
        assert_eq!(
            SegmentName::parse("0000000000000001-00000000000000a0.wal.broken"),
            None
        );
        assert_eq!(SegmentName::parse("0.tmp"), None);
        assert_eq!(
            SegmentName::parse("000000000000000G-0000000000000000.wal"),
            None
        );
    }

    #[test]
    fn chain_across_segments_overwrites_and_zero_tail() {
        let meta = Metadata {
            node_id: 1,
            cluster_id: 2,
        }
        .encode_to_vec();
        let mut a = Writer::new(0);
        a.record(raftpb::RECORD_METADATA, Some(meta.clone()));
        a.record(
            raftpb::RECORD_SNAPSHOT,
            Some(
                WalSnapshot {
                    index: 0,
                    term: 0,
                    conf_state: None,
                }
                .encode_to_vec(),
            ),
        );
        for i in 1..=5 {
            a.entry(i, 1, b"x");
        }
        // A new leader rewrites index 4 and 5.
        a.entry(4, 2, b"y");
        let mut b = Writer::new(a.crc);
        b.record(raftpb::RECORD_METADATA, Some(meta));
        b.entry(5, 2, b"z");
        b.record(
            raftpb::RECORD_STATE,
            Some(
                HardState {
                    term: 2,
                    vote: 1,
                    commit: 5,
                }
                .encode_to_vec(),
            ),
        );
        let mut tail = b.buf.clone();
        tail.extend(std::iter::repeat(0).take(4096)); // pre-allocated zeros
        let mut files = vec![
            seg("0000000000000000-0000000000000000.wal", a.buf.clone()),
            seg("0000000000000001-0000000000000006.wal", tail),
        ];
        let s = scan(&mut files, None).unwrap();
        assert_eq!(
            s.entries
                .iter()
                .map(|e| (e.index, e.term))
                .collect::<Vec<_>>(),
            vec![(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]
        );
        assert_eq!(s.overwritten, 2);
        assert_eq!(s.hard_state.unwrap().commit, 5);
        assert!(matches!(s.segments[1].end, SegmentEnd::ZeroTail { .. }));
        assert_eq!(
            read_entry(&files, &s.entries[4]).unwrap().data.unwrap(),
            b"z"
        );

        // A flipped byte inside an entry's data: CRC error naming file, offset and index.
        let mut bad = a.buf.clone();
        let at = s.entries[1].offset as usize + s.entries[1].len as usize - 1;
        bad[at] ^= 0x01;
        let mut files2 = vec![
            seg("0000000000000000-0000000000000000.wal", bad),
            seg("0000000000000001-0000000000000006.wal", b.buf.clone()),
        ];
        let e = scan(&mut files2, None).unwrap_err();
        assert!(matches!(e.kind, WalErrorKind::Crc { .. }), "{e}");
        assert_eq!(e.entry_index, Some(2));
        assert!(e
            .to_string()
            .contains("0000000000000000-0000000000000000.wal at byte offset"));

        // A torn last record (cut in the middle): everything before it is kept.
        let cut = b.buf.len() - 5;
        let mut files3 = vec![
            seg("0000000000000000-0000000000000000.wal", a.buf.clone()),
            seg(
                "0000000000000001-0000000000000006.wal",
                b.buf[..cut].to_vec(),
            ),
        ];
        let s3 = scan(&mut files3, None).unwrap();
        assert!(s3.torn.is_some());
        assert_eq!(s3.last_index(), Some(5));

        // A missing middle segment.
        let mut files4 = vec![
            seg("0000000000000000-0000000000000000.wal", a.buf.clone()),
            seg("0000000000000002-0000000000000006.wal", b.buf.clone()),
        ];
        assert!(matches!(
            scan(&mut files4, None).unwrap_err().kind,
            WalErrorKind::SequenceGap { .. }
        ));
    }
}
