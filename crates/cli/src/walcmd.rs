//! `etcdscope wal`: the decoded WAL timeline, one row (or one JSON line) per entry, streamed:
//! the scan keeps only each entry's place; each entry is read, decoded, printed and dropped.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use etcd::json::text_or_b64_string;
use etcd::raftpb;
use etcd::v2req::decode_entry;
use etcd::wal::{self, SegmentFile, SegmentName};

use crate::datadir::{self, show};
use crate::input::fail;
use crate::output::io_fail;
use crate::{EntryKind, Failure, TableOrJson};

/// One JSON line. 64-bit numbers are exact; ids are hex strings.
#[derive(Serialize)]
struct Row<'a> {
    index: u64,
    term: u64,
    /// `normal`, `confchange`, `confchangev2`, or `type N`.
    #[serde(rename = "type")]
    entry_type: String,
    /// `v2`, `v3`, `conf`, `noop`, or `bad` (undecodable).
    kind: &'a str,
    op: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
    /// After `HardState.commit`: etcd has not applied it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    uncommitted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Segment and byte offset of the entry's frame.
    file: &'a str,
    offset: u64,
}

fn entry_type_name(t: i32) -> String {
    match t {
        raftpb::ENTRY_NORMAL => "normal".into(),
        raftpb::ENTRY_CONF_CHANGE => "confchange".into(),
        raftpb::ENTRY_CONF_CHANGE_V2 => "confchangev2".into(),
        t => format!("type {t}"),
    }
}

pub fn run(
    out: &mut dyn Write,
    input: &Path,
    from: Option<u64>,
    kind: Option<EntryKind>,
    fmt: TableOrJson,
) -> Result<(), Failure> {
    let member = datadir::member_dir(input)?;
    let wal_dir = member.join("wal");
    if !wal_dir.is_dir() {
        return Err(fail(&wal_dir, &"no wal directory (member/wal)"));
    }
    let list = etcd::snap::open_dir(&wal_dir).map_err(|e| fail(&wal_dir, &e))?;
    let mut segs: Vec<SegmentFile<storage::FileSource>> = list
        .into_iter()
        .filter(|(n, _)| SegmentName::parse(n).is_some())
        .map(|(name, src)| SegmentFile { name, src })
        .collect();
    if segs.is_empty() {
        return Err(fail(
            &wal_dir,
            &"no WAL segment (<seq>-<index>.wal) in the wal directory",
        ));
    }
    let sep = std::path::MAIN_SEPARATOR;
    let scan = wal::scan(&mut segs, None)
        .map_err(|e| Failure::Input(format!("etcdscope: {}{sep}{e}", wal_dir.display())))?;
    let commit = scan.hard_state.map_or(0, |h| h.commit);
    let want = kind.map(|k| match k {
        EntryKind::V2 => "v2",
        EntryKind::V3 => "v3",
        EntryKind::Conf => "conf",
    });
    if fmt == TableOrJson::Table {
        writeln!(
            out,
            "{:>10} {:>6}  {:<5} {:<26} {:>8} {:>16}  KEY / DETAIL",
            "INDEX", "TERM", "KIND", "OP", "SIZE", "LEASE"
        )
        .map_err(io_fail)?;
    }
    let mut bad: Vec<String> = Vec::new();
    for loc in &scan.entries {
        if from.is_some_and(|f| loc.index < f) {
            continue;
        }
        let file = segs
            .get(loc.segment as usize)
            .map_or("?", |s| s.name.as_str());
        let frame = loc.offset.saturating_sub(8);
        let entry = wal::read_entry(&segs, loc)
            .map_err(|e| Failure::Input(format!("etcdscope: {}{sep}{e}", wal_dir.display())))?;
        let (summary, error) = match decode_entry(&entry) {
            Ok(p) => (Some(p.summary()), None),
            Err(e) => {
                let msg = format!(
                    "{}{sep}{file} at byte offset {frame} (entry index {}): {e}",
                    wal_dir.display(),
                    loc.index
                );
                bad.push(msg);
                (None, Some(e.to_string()))
            }
        };
        let k = summary.as_ref().map_or("bad", |s| s.kind);
        if want.is_some_and(|w| w != k) {
            continue;
        }
        let uncommitted = loc.index > commit;
        let op = summary.as_ref().map_or("", |s| s.op.as_str());
        let detail = summary.as_ref().map_or("", |s| s.detail.as_str());
        match fmt {
            TableOrJson::Json => {
                let row = Row {
                    index: loc.index,
                    term: loc.term,
                    entry_type: entry_type_name(loc.entry_type),
                    kind: k,
                    op,
                    key: summary
                        .as_ref()
                        .and_then(|s| s.key.as_deref())
                        .map(text_or_b64_string),
                    range_end: summary
                        .as_ref()
                        .and_then(|s| s.range_end.as_deref())
                        .map(text_or_b64_string),
                    value_size: summary.as_ref().and_then(|s| s.value_size),
                    lease: summary.as_ref().and_then(|s| s.lease),
                    member_id: summary
                        .as_ref()
                        .and_then(|s| s.member_id)
                        .map(|m| format!("{m:x}")),
                    detail,
                    uncommitted,
                    error: error.clone(),
                    file,
                    offset: frame,
                };
                serde_json::to_writer(&mut *out, &row).map_err(|e| io_fail(e.into()))?;
                out.write_all(b"\n").map_err(io_fail)?;
            }
            TableOrJson::Table => {
                let mut what = String::new();
                if let Some(s) = &summary {
                    if let Some(key) = &s.key {
                        match &s.range_end {
                            Some(end) => what.push_str(&format!("[{}, {})", show(key), show(end))),
                            None => what.push_str(&show(key)),
                        }
                    }
                    if let Some(m) = s.member_id {
                        push_word(&mut what, &format!("member={m:x}"));
                    }
                }
                push_word(&mut what, detail);
                if let Some(e) = &error {
                    push_word(&mut what, e);
                }
                if uncommitted {
                    push_word(&mut what, "(uncommitted)");
                }
                let size = summary
                    .as_ref()
                    .and_then(|s| s.value_size)
                    .map_or(String::new(), |v| v.to_string());
                let lease = summary
                    .as_ref()
                    .and_then(|s| s.lease)
                    .map_or(String::new(), |l| format!("{l:x}"));
                let line = format!(
                    "{:>10} {:>6}  {:<5} {:<26} {:>8} {:>16}  {what}",
                    loc.index, loc.term, k, op, size, lease
                );
                writeln!(out, "{}", line.trim_end()).map_err(io_fail)?;
            }
        }
    }
    out.flush().map_err(io_fail)?;
    if let Some((file, offset, reason)) = &scan.torn {
        eprintln!(
            "etcdscope: warning: {}{sep}{file} at byte offset {offset}: torn last record ({reason}); entries before it were shown",
            wal_dir.display()
        );
    }
    if let Some(first) = bad.first() {
        return Err(Failure::Input(format!(
            "etcdscope: {first}{}",
            if bad.len() > 1 {
                format!(" (and {} more undecodable entries)", bad.len() - 1)
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

fn push_word(s: &mut String, w: &str) {
    if w.is_empty() {
        return;
    }
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(w);
}
