//! Data directories (`member/wal`, `member/snap`): finding them, rebuilding the v2 store with
//! messages that name the file, and the `status` and `check` commands for them.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use etcd::check::{Level, Place};
use etcd::json::text_or_b64_string;
use etcd::v2::{self, LoadError, LoadOptions, LoadReport, V2Data};
use etcd::v3::StatusOptions;
use etcd::wal::SegmentEnd;

use crate::input::fail;
use crate::output::{io_fail, write_json};
use crate::{Failure, TableOrJson};

/// The member dir of a data dir, its member dir, or its `wal` dir, when it has a `wal` dir.
pub fn find_member(input: &Path) -> Option<PathBuf> {
    if !input.is_dir() {
        return None;
    }
    for cand in [input.join("member"), input.to_path_buf()] {
        if cand.join("wal").is_dir() {
            return Some(cand);
        }
    }
    if input.file_name().is_some_and(|n| n == "wal") {
        return input.parent().map(Path::to_path_buf);
    }
    None
}

/// The member dir for commands that need one: as [`find_member`], else a dir that looks like
/// a member dir without its `wal` (the load then says what is missing).
pub fn member_dir(input: &Path) -> Result<PathBuf, Failure> {
    let meta = std::fs::metadata(input).map_err(|e| fail(input, &e))?;
    if !meta.is_dir() {
        return Err(fail(
            input,
            &"not a directory: give an etcd data dir (holding member/wal) or its member dir",
        ));
    }
    if let Some(m) = find_member(input) {
        return Ok(m);
    }
    for cand in [input.join("member"), input.to_path_buf()] {
        if cand.join("snap").is_dir() {
            return Ok(cand);
        }
    }
    Err(fail(
        input,
        &"no etcd data dir here (looked for member/wal, wal and snap)",
    ))
}

/// `PATH: message` for a load error, naming the file inside the member dir.
pub fn load_error(member: &Path, e: &LoadError) -> Failure {
    let member = member.display().to_string();
    let place = Place {
        member: &member,
        sep: std::path::MAIN_SEPARATOR,
    };
    Failure::Input(format!("etcdscope: {}", place.load_error(e)))
}

/// Rebuilds the v2 store of a member dir.
pub fn load(member: &Path, opts: &LoadOptions) -> Result<V2Data, Failure> {
    load_spilling(member, opts, None)
}

/// [`load`] with the snapshot's values in temporary files in `spill_dir` (for `migrate`,
/// which reads them back in revision order).
pub fn load_spilling(
    member: &Path,
    opts: &LoadOptions,
    spill_dir: Option<&Path>,
) -> Result<V2Data, Failure> {
    let files = v2::open_member_dir(member).map_err(|e| fail(member, &e))?;
    v2::load_parallel_spilling(files, opts, spill_dir).map_err(|e| load_error(member, &e))
}

/// Things a reader should know about a load that still gave a store: a torn tail (etcd cuts
/// it off at start-up), `.snap` files passed over, entries etcd would choke on.
pub fn load_warnings(member: &Path, r: &LoadReport) -> Vec<String> {
    let wal = member.join("wal");
    let snap = member.join("snap");
    let sep = std::path::MAIN_SEPARATOR;
    let mut w = Vec::new();
    if let Some((file, offset, reason)) = &r.torn {
        w.push(format!(
            "{}{sep}{file} at byte offset {offset}: torn last record ({reason}); entries before it were read",
            wal.display()
        ));
    }
    for s in &r.snap_rejected {
        w.push(format!("{}{sep}{s} (passed over)", snap.display()));
    }
    for p in &r.problems {
        w.push(format!("{}{sep}{p}", wal.display()));
    }
    w
}

pub fn print_warnings(member: &Path, r: &LoadReport) {
    for w in load_warnings(member, r) {
        eprintln!("etcdscope: warning: {w}");
    }
}

/// Bytes for a table cell: as they are when they are UTF-8 without control characters,
/// otherwise quoted with `\xNN` escapes.
pub fn show(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) && !s.starts_with('"') => s.to_owned(),
        _ => format!("\"{}\"", b.escape_ascii()),
    }
}

fn hex(v: u64) -> String {
    format!("{v:x}")
}

fn segment_end(e: &SegmentEnd) -> String {
    match e {
        SegmentEnd::Clean => "end of file".into(),
        SegmentEnd::ZeroTail { offset } => format!("zero-filled from byte offset {offset}"),
        SegmentEnd::Torn { offset, reason } => {
            format!("torn at byte offset {offset}: {reason}")
        }
    }
}

fn status_json(member: &Path, d: &V2Data, v3: Option<Value>) -> Value {
    let r = &d.report;
    let m = d.store.membership();
    let content = d.store.content_summary();
    let meta = r.metadata.as_ref();
    json!({
        "member_dir": member.display().to_string(),
        "cluster_id": meta.map(|m| hex(m.cluster_id)),
        "member_id": meta.map(|m| hex(m.node_id)),
        "members": m.members.iter().map(|x| json!({
            "id": hex(x.id),
            "name": x.name,
            "peerURLs": x.peer_urls,
            "clientURLs": x.client_urls,
            "isLearner": x.is_learner,
        })).collect::<Vec<_>>(),
        "removed_members": m.removed.iter().map(|&x| hex(x)).collect::<Vec<_>>(),
        "cluster_version": m.version,
        "hard_state": r.hard_state.map(|h| json!({
            "term": h.term, "vote": hex(h.vote), "commit": h.commit,
        })),
        "first_index": r.first_wal_index,
        "last_index": r.last_wal_index,
        "last_term": r.last_wal_term,
        "applied_index": r.applied_index,
        "snapshot": r.snapshot.as_ref().map(|s| json!({
            "file": s.file, "term": s.term, "index": s.index, "size": s.file_size,
        })),
        "snap_rejected": r.snap_rejected.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "snap_older": r.snap_older,
        "snap_dbs": r.snap_dbs,
        "v2": {
            "store_index": d.store.current_index(),
            // The root is not a key.
            "keys": d.store.node_count().saturating_sub(1),
            "non_membership_keys": content.key_count,
            "hidden_keys": content.hidden_count,
            "etcd_3_6_would_start": content.meta_only,
            "etcd_3_6_0_would_start": content.meta_only_3_6_0,
            "blocking": content.blocking.iter().map(|p| text_or_b64_string(p)).collect::<Vec<_>>(),
            "ttl_keys": d.store.ttl_count(),
            "last_sync_time": r.last_sync_time_ns.map(v2::time::format_rfc3339_nano_utc),
        },
        "wal": {
            "segments": r.segments.iter().map(|s| json!({
                "name": s.name, "seq": s.seq, "first_index": s.first_index, "size": s.size,
                "records": s.records, "end": segment_end(&s.end),
            })).collect::<Vec<_>>(),
            "torn": r.torn.as_ref().map(|(f, o, why)| json!({"file": f, "offset": o, "reason": why})),
            "overwritten_entries": r.overwritten,
            "ignored": r.wal_ignored,
        },
        "entries": r.counts,
        "problems": r.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "v3": v3,
    })
}

/// `status` for a data dir: raft and WAL facts, the v2 store, and the v3 db when present.
pub fn status(
    out: &mut dyn Write,
    member: &Path,
    fmt: TableOrJson,
    verify: bool,
) -> Result<(), Failure> {
    let d = load(member, &LoadOptions::default())?;
    print_warnings(member, &d.report);
    let db = member.join("snap").join("db");
    // A damaged db does not hide the rest: it is reported after the data-dir part (exit 1).
    let (v3, v3_err) = if db.is_file() {
        let res = crate::input::open_v3(&db).and_then(|(path, be)| {
            be.status_threaded(StatusOptions {
                verify_trailer: verify,
            })
            .map_err(|e| fail(&path, &e))
        });
        match res {
            Ok(st) => (Some(st), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let done = |out: &mut dyn Write| -> Result<(), Failure> {
        match v3_err {
            Some(e) => {
                out.flush().map_err(io_fail)?;
                Err(e)
            }
            None => Ok(()),
        }
    };
    if fmt == TableOrJson::Json {
        let v3v = match &v3 {
            Some(st) => Some(serde_json::to_value(st).map_err(|e| io_fail(e.into()))?),
            None => None,
        };
        write_json(out, &status_json(member, &d, v3v))?;
        return done(out);
    }
    let r = &d.report;
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |x| x.to_string());
    let meta = r.metadata.as_ref();
    let content = d.store.content_summary();
    let mut rows: Vec<Vec<String>> = vec![
        vec!["member dir".into(), member.display().to_string()],
        vec![
            "cluster id".into(),
            meta.map_or("-".into(), |m| hex(m.cluster_id)),
        ],
        vec![
            "member id".into(),
            meta.map_or("-".into(), |m| hex(m.node_id)),
        ],
        vec![
            "hard state".into(),
            r.hard_state.map_or("-".into(), |h| {
                format!("term {}, vote {}, commit {}", h.term, hex(h.vote), h.commit)
            }),
        ],
        vec![
            "WAL entries".into(),
            format!(
                "{} .. {} (last term {})",
                opt(r.first_wal_index),
                opt(r.last_wal_index),
                opt(r.last_wal_term)
            ),
        ],
        vec![
            "snapshot used".into(),
            r.snapshot.as_ref().map_or("none".into(), |s| {
                format!("{} (term {}, index {})", s.file, s.term, s.index)
            }),
        ],
        vec!["applied up to".into(), r.applied_index.to_string()],
        vec!["v2 store index".into(), d.store.current_index().to_string()],
        vec![
            "v2 keys".into(),
            format!(
                "{} ({} besides membership, {} of them hidden)",
                d.store.node_count().saturating_sub(1),
                content.key_count,
                content.hidden_count
            ),
        ],
        vec![
            "etcd 3.6 would start".into(),
            if content.meta_only {
                "yes".into()
            } else {
                let b: Vec<String> = content.blocking.iter().map(|p| show(p)).collect();
                format!("no: v2 data under {}", b.join(", "))
            },
        ],
        vec![
            "cluster version".into(),
            d.store.membership().version.unwrap_or_else(|| "-".into()),
        ],
        vec![
            "torn tail".into(),
            r.torn.as_ref().map_or("none".into(), |(f, o, why)| {
                format!("{f} at byte offset {o}: {why}")
            }),
        ],
    ];
    if r.overwritten > 0 {
        rows.push(vec![
            "overwritten entries".into(),
            r.overwritten.to_string(),
        ]);
    }
    if let Some(t) = r.last_sync_time_ns {
        rows.push(vec![
            "last SYNC".into(),
            v2::time::format_rfc3339_nano_utc(t),
        ]);
    }
    for s in &r.snap_rejected {
        rows.push(vec!["snap passed over".into(), s.to_string()]);
    }
    for p in &r.problems {
        rows.push(vec!["problem".into(), p.to_string()]);
    }
    crate::output::table(out, &["FIELD", "VALUE"], &rows)?;
    out.write_all(b"\n").map_err(io_fail)?;
    let m = d.store.membership();
    let mrows: Vec<Vec<String>> = m
        .members
        .iter()
        .map(|x| {
            vec![
                hex(x.id),
                x.name.clone(),
                x.peer_urls.join(","),
                x.client_urls.join(","),
                x.is_learner.to_string(),
            ]
        })
        .collect();
    crate::output::table(
        out,
        &["MEMBER", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
        &mrows,
    )?;
    if !m.removed.is_empty() {
        let ids: Vec<String> = m.removed.iter().map(|&x| hex(x)).collect();
        writeln!(out, "removed: {}", ids.join(", ")).map_err(io_fail)?;
    }
    out.write_all(b"\n").map_err(io_fail)?;
    let srows: Vec<Vec<String>> = r
        .segments
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.size.to_string(),
                s.records.to_string(),
                segment_end(&s.end),
            ]
        })
        .collect();
    crate::output::table(out, &["SEGMENT", "SIZE", "RECORDS", "ENDS"], &srows)?;
    if let Some(st) = &v3 {
        writeln!(out, "\nv3 backend {}:\n", db.display()).map_err(io_fail)?;
        crate::output::status(out, st, TableOrJson::Table)?;
    }
    done(out)
}

/// `check`: every WAL frame and CRC, every `.snap`, the v2 store's content (etcd 3.6's
/// start-up check), the v3 db's checked walk. The judging is [`etcd::check`], shared with
/// the page.
pub fn check(out: &mut dyn Write, input: &Path, fmt: TableOrJson) -> Result<(), Failure> {
    let member = member_dir(input)?;
    let member_text = member.display().to_string();
    let place = Place {
        member: &member_text,
        sep: std::path::MAIN_SEPARATOR,
    };
    let snap_dir = member.join("snap");
    let snap_files = if snap_dir.is_dir() {
        Some(etcd::snap::open_dir(&snap_dir).map_err(|e| fail(&snap_dir, &e))?)
    } else {
        None
    };
    let loaded = v2::open_member_dir(&member)
        .map_err(|e| format!("{}: {e}", member.display()))
        .and_then(|files| {
            v2::load(files, &LoadOptions::default()).map_err(|e| place.load_error(&e))
        });
    let db = snap_dir.join("db");
    let status = if db.is_file() {
        let res = crate::input::open_v3(&db).and_then(|(path, be)| {
            be.status_threaded(StatusOptions {
                verify_trailer: true,
            })
            .map_err(|e| fail(&path, &e))
        });
        match res {
            Ok(st) => Some(Ok(st)),
            Err(Failure::Input(msg)) => Some(Err(msg
                .strip_prefix("etcdscope: ")
                .unwrap_or(&msg)
                .to_string())),
            Err(other) => return Err(other),
        }
    } else {
        None
    };
    let report = etcd::check::check(
        &place,
        etcd::check::Inputs {
            snap_files: snap_files.as_deref(),
            v2: loaded.as_ref().map_err(String::clone),
            db: status
                .as_ref()
                .map(|st| (db.display().to_string(), st.as_ref().map_err(String::clone))),
        },
    );
    let ok = report.ok();
    if fmt == TableOrJson::Json {
        write_json(out, &report.to_json(&place))?;
    } else {
        for f in &report.findings {
            writeln!(out, "{:<6}{:<7} {}", f.area.name(), f.level.word(), f.text)
                .map_err(io_fail)?;
            if f.level == Level::Data {
                for k in &report.v2_keys {
                    let mut p = show(&k.path);
                    if k.dir {
                        p.push('/');
                    }
                    writeln!(out, "        {p}").map_err(io_fail)?;
                }
            }
        }
        for w in &report.warnings {
            if !report.findings.iter().any(|f| &f.text == w) {
                writeln!(out, "warning {w}").map_err(io_fail)?;
            }
        }
        writeln!(out, "result: {}", if ok { "ok" } else { "FAILED" }).map_err(io_fail)?;
    }
    out.flush().map_err(io_fail)?;
    if ok {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "etcdscope: {}: {}",
            member.display(),
            report.verdict()
        )))
    }
}
