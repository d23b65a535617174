//! `etcdscope wal`: the decoded WAL timeline, one row (or one JSON line) per entry, streamed:
//! the scan keeps only each entry's place; each entry is read, decoded, printed and dropped
//! (`etcd::timeline`, which the page's WAL tab uses too).

use std::io::Write;
use std::path::Path;

use etcd::timeline;
use etcd::wal::{self, SegmentFile, SegmentName};

use crate::datadir::{self, show};
use crate::input::fail;
use crate::output::io_fail;
use crate::{EntryKind, Failure, TableOrJson};

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
        let row = timeline::row(&segs, loc, commit)
            .map_err(|e| Failure::Input(format!("etcdscope: {}{sep}{e}", wal_dir.display())))?;
        if let Some(e) = &row.error {
            bad.push(format!(
                "{}{sep}{} at byte offset {} (entry index {}): {e}",
                wal_dir.display(),
                row.file,
                row.offset,
                loc.index
            ));
        }
        if want.is_some_and(|w| w != row.kind) {
            continue;
        }
        match fmt {
            TableOrJson::Json => {
                serde_json::to_writer(&mut *out, &row).map_err(|e| io_fail(e.into()))?;
                out.write_all(b"\n").map_err(io_fail)?;
            }
            TableOrJson::Table => {
                let mut what = String::new();
                if let Some(key) = &row.key_bytes {
                    match &row.range_end_bytes {
                        Some(end) => what.push_str(&format!("[{}, {})", show(key), show(end))),
                        None => what.push_str(&show(key)),
                    }
                }
                if let Some(m) = &row.member_id {
                    push_word(&mut what, &format!("member={m}"));
                }
                push_word(&mut what, &row.detail);
                if let Some(e) = &row.error {
                    push_word(&mut what, e);
                }
                if row.uncommitted {
                    push_word(&mut what, "(uncommitted)");
                }
                let size = row.value_size.map_or(String::new(), |v| v.to_string());
                let lease = row.lease.map_or(String::new(), |l| format!("{l:x}"));
                let line = format!(
                    "{:>10} {:>6}  {:<5} {:<26} {:>8} {:>16}  {what}",
                    loc.index, loc.term, row.kind, row.op, size, lease
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
