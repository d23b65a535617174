//! The WAL timeline: one row per entry (index, term, what it does, where it is), shared by
//! `etcdscope wal` and the page's WAL tab. Each entry is read and decoded when its row is made.

use serde::Serialize;
use storage::ReadAt;

use crate::json::text_or_b64_string;
use crate::raftpb;
use crate::v2req::decode_entry;
use crate::wal::{self, EntryLoc, SegmentFile, WalError};

/// One entry. 64-bit numbers are exact; ids are hex strings; keys are text when UTF-8
/// (`base64:…` otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub index: u64,
    pub term: u64,
    /// `normal`, `confchange`, `confchangev2`, or `type N`.
    #[serde(rename = "type")]
    pub entry_type: String,
    /// `v2`, `v3`, `conf`, `noop`, or `bad` (undecodable).
    pub kind: &'static str,
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// After `HardState.commit`: etcd has not applied it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub uncommitted: bool,
    /// Why the entry's data could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Segment and byte offset of the entry's frame.
    pub file: String,
    pub offset: u64,
    /// The key and range end as bytes (for printing them another way).
    #[serde(skip)]
    pub key_bytes: Option<Vec<u8>>,
    #[serde(skip)]
    pub range_end_bytes: Option<Vec<u8>>,
}

fn entry_type_name(t: i32) -> String {
    match t {
        raftpb::ENTRY_NORMAL => "normal".into(),
        raftpb::ENTRY_CONF_CHANGE => "confchange".into(),
        raftpb::ENTRY_CONF_CHANGE_V2 => "confchangev2".into(),
        t => format!("type {t}"),
    }
}

/// The row of the entry at `loc`; `commit`: the HardState's commit index. An entry whose
/// data does not decode is a row of kind `bad` with its `error`; only an unreadable record is
/// an `Err`.
pub fn row<S: ReadAt>(
    segs: &[SegmentFile<S>],
    loc: &EntryLoc,
    commit: u64,
) -> Result<Row, WalError> {
    let file = segs
        .get(loc.segment as usize)
        .map_or("?", |s| s.name.as_str())
        .to_string();
    let entry = wal::read_entry(segs, loc)?;
    let mut row = Row {
        index: loc.index,
        term: loc.term,
        entry_type: entry_type_name(loc.entry_type),
        kind: "bad",
        op: String::new(),
        key: None,
        range_end: None,
        value_size: None,
        lease: None,
        member_id: None,
        detail: String::new(),
        uncommitted: loc.index > commit,
        error: None,
        file,
        offset: loc.offset.saturating_sub(8),
        key_bytes: None,
        range_end_bytes: None,
    };
    match decode_entry(&entry) {
        Ok(p) => {
            let s = p.summary();
            row.kind = s.kind;
            row.op = s.op;
            row.key = s.key.as_deref().map(text_or_b64_string);
            row.range_end = s.range_end.as_deref().map(text_or_b64_string);
            row.value_size = s.value_size;
            row.lease = s.lease;
            row.member_id = s.member_id.map(|m| format!("{m:x}"));
            row.detail = s.detail;
            row.key_bytes = s.key;
            row.range_end_bytes = s.range_end;
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    Ok(row)
}
