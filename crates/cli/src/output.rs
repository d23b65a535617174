//! Printing results as tables, etcdctl's simple form, or JSON (64-bit numbers exact, bytes as
//! base64 like etcdctl).

use std::io::Write;

use serde_json::{json, Value};

use etcd::json::text_or_b64_string;
use etcd::v3::{AuthInfo, HistoryEntry, LeaseInfo, MembersInfo, RangeResult, Status};

use crate::{Failure, SimpleOrJson, TableOrJson};

pub fn io_fail(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::BrokenPipe
    } else {
        Failure::Input(format!("etcdscope: writing output: {e}"))
    }
}

type Out<'a> = &'a mut dyn Write;

pub fn write_json(out: Out<'_>, v: &impl serde::Serialize) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, v).map_err(|e| io_fail(e.into()))?;
    out.write_all(b"\n").map_err(io_fail)
}

/// SI units, as etcdctl's humanize.Bytes.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A plain aligned table with a header row.
pub fn table(out: Out<'_>, header: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.push('\n');
        s
    };
    let mut text = line(header.to_vec());
    for r in rows {
        text.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out.write_all(text.as_bytes()).map_err(io_fail)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn status(out: Out<'_>, st: &Status, fmt: TableOrJson) -> Result<(), Failure> {
    if fmt == TableOrJson::Json {
        return write_json(out, st);
    }
    let m = &st.meta;
    let mut rows: Vec<Vec<String>> = vec![
        vec!["hash".into(), format!("{:08x} ({})", st.hash, st.hash)],
        vec!["revision".into(), st.revision.to_string()],
        vec!["total keys".into(), st.total_key.to_string()],
        vec![
            "total size".into(),
            format!("{} ({} bytes)", human(st.total_size), st.total_size),
        ],
        vec![
            "file size".into(),
            format!("{} ({} bytes)", human(st.file_size), st.file_size),
        ],
        vec!["sha256 trailer".into(), st.trailer.state.into()],
        vec![
            "meta page".into(),
            format!(
                "{} (txid {}){}",
                st.meta_page.active,
                st.meta_page.txid,
                if st.meta_page.fell_back {
                    ", fell back: other meta unusable"
                } else {
                    ""
                }
            ),
        ],
        vec!["schema".into(), st.schema.clone()],
        vec!["consistent index".into(), opt(&m.consistent_index)],
        vec!["term".into(), opt(&m.term)],
        vec!["compacted at".into(), opt(&m.finished_compact_revision)],
        vec!["oldest held revision".into(), opt(&st.oldest_revision)],
        vec!["cluster version".into(), opt(&m.cluster_version)],
        vec!["live keys".into(), st.live_keys.to_string()],
        vec!["deleted keys held".into(), st.deleted_keys.to_string()],
        vec!["revisions held".into(), st.revisions.to_string()],
        vec!["tombstones".into(), st.tombstones.to_string()],
        vec!["leases".into(), st.leases.to_string()],
        vec!["live data".into(), human(st.live_bytes)],
        vec!["history data".into(), human(st.history_bytes)],
        vec![
            "pages".into(),
            format!(
                "{} in use of {} ({} free), page size {}",
                st.pages.reachable, st.pages.high_water, st.pages.free, st.pages.page_size
            ),
        ],
    ];
    for a in &st.alarms {
        rows.push(vec![
            "alarm".into(),
            format!("{} on member {}", a.alarm, a.member_id_hex),
        ]);
    }
    if m.scheduled_compact_revision != m.finished_compact_revision {
        rows.push(vec![
            "compaction scheduled".into(),
            opt(&m.scheduled_compact_revision),
        ]);
    }
    table(out, &["FIELD", "VALUE"], &rows)?;
    out.write_all(b"\n").map_err(io_fail)?;
    let brows: Vec<Vec<String>> = st
        .buckets
        .iter()
        .map(|b| {
            vec![
                text_or_b64_string(&b.name),
                b.entries.to_string(),
                human(b.key_bytes + b.value_bytes),
                if b.inline {
                    "inline".into()
                } else {
                    (b.branch_pages + b.leaf_pages + b.overflow_pages).to_string()
                },
            ]
        })
        .collect();
    table(out, &["BUCKET", "ENTRIES", "BYTES", "PAGES"], &brows)?;
    if !st.problems.is_empty() {
        out.write_all(b"\nproblems:\n").map_err(io_fail)?;
        for p in &st.problems {
            writeln!(out, "  - {p}").map_err(io_fail)?;
        }
    }
    Ok(())
}

pub fn get(
    out: Out<'_>,
    res: &RangeResult,
    fmt: SimpleOrJson,
    value_only: bool,
) -> Result<(), Failure> {
    match fmt {
        SimpleOrJson::Json => {
            // Streamed: the kvs can be large; no tree of the whole answer is built.
            write!(out, "{{\"header\":{{\"revision\":{}}}", res.header_revision)
                .map_err(io_fail)?;
            if !res.kvs.is_empty() {
                out.write_all(b",\"kvs\":[").map_err(io_fail)?;
                for (i, kv) in res.kvs.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",").map_err(io_fail)?;
                    }
                    serde_json::to_writer(&mut *out, &etcd::json::etcdctl_kv(kv))
                        .map_err(|e| io_fail(e.into()))?;
                }
                out.write_all(b"]").map_err(io_fail)?;
            }
            if res.more {
                out.write_all(b",\"more\":true").map_err(io_fail)?;
            }
            if res.count != 0 {
                write!(out, ",\"count\":{}", res.count).map_err(io_fail)?;
            }
            out.write_all(b"}\n").map_err(io_fail)
        }
        SimpleOrJson::Simple => {
            for kv in &res.kvs {
                if !value_only {
                    out.write_all(&kv.key).map_err(io_fail)?;
                    out.write_all(b"\n").map_err(io_fail)?;
                }
                out.write_all(&kv.value).map_err(io_fail)?;
                out.write_all(b"\n").map_err(io_fail)?;
            }
            if res.kvs.is_empty() && res.count > 0 {
                // --count-only
                writeln!(out, "{}", res.count).map_err(io_fail)?;
            }
            Ok(())
        }
    }
}

/// Short printable preview of a value.
fn preview(v: &[u8]) -> String {
    const MAX: usize = 48;
    match std::str::from_utf8(v) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => {
            let t: String = s.chars().take(MAX).collect();
            if t.len() < s.len() {
                format!("{t}…")
            } else {
                t
            }
        }
        _ => {
            let mut h: String = v.iter().take(MAX / 2).map(|b| format!("{b:02x}")).collect();
            if v.len() > MAX / 2 {
                h.push('…');
            }
            format!("0x{h}")
        }
    }
}

pub fn history(out: Out<'_>, h: &[HistoryEntry], fmt: TableOrJson) -> Result<(), Failure> {
    if fmt == TableOrJson::Json {
        let list: Vec<Value> = h
            .iter()
            .map(|e| {
                json!({
                    "revision": e.revision.main,
                    "sub": e.revision.sub,
                    "type": if e.tombstone { "DELETE" } else { "PUT" },
                    "kv": etcd::json::etcdctl_kv(&e.kv),
                })
            })
            .collect();
        return write_json(out, &json!({ "history": list }));
    }
    let rows: Vec<Vec<String>> = h
        .iter()
        .map(|e| {
            if e.tombstone {
                vec![
                    e.revision.to_string(),
                    "DELETE".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                ]
            } else {
                vec![
                    e.revision.to_string(),
                    "PUT".into(),
                    e.kv.create_revision.to_string(),
                    e.kv.version.to_string(),
                    if e.kv.lease != 0 {
                        format!("{:x}", e.kv.lease)
                    } else {
                        "".into()
                    },
                    e.kv.value.len().to_string(),
                    preview(&e.kv.value),
                ]
            }
        })
        .collect();
    table(
        out,
        &[
            "REVISION", "TYPE", "CREATED", "VERSION", "LEASE", "SIZE", "VALUE",
        ],
        &rows,
    )
}

pub fn leases(out: Out<'_>, l: &[LeaseInfo], fmt: TableOrJson) -> Result<(), Failure> {
    if fmt == TableOrJson::Json {
        return write_json(out, &json!({ "leases": l }));
    }
    let rows: Vec<Vec<String>> = l
        .iter()
        .map(|x| {
            let keys: Vec<String> = x.keys.iter().map(|k| text_or_b64_string(k)).collect();
            vec![
                x.id_hex.clone(),
                x.id.to_string(),
                x.ttl.to_string(),
                x.remaining_ttl.to_string(),
                keys.join(", "),
            ]
        })
        .collect();
    table(
        out,
        &["ID", "ID (DECIMAL)", "TTL", "REMAINING", "KEYS"],
        &rows,
    )
}

pub fn members(out: Out<'_>, m: &MembersInfo, fmt: TableOrJson) -> Result<(), Failure> {
    if fmt == TableOrJson::Json {
        return write_json(out, m);
    }
    let rows: Vec<Vec<String>> = m
        .members
        .iter()
        .map(|x| {
            vec![
                x.id_hex.clone(),
                x.name.clone(),
                x.peer_urls.join(","),
                x.client_urls.join(","),
                x.is_learner.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &["ID", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"],
        &rows,
    )?;
    if !m.removed.is_empty() {
        writeln!(out, "removed: {}", m.removed.join(", ")).map_err(io_fail)?;
    }
    if let Some(v) = &m.cluster_version {
        writeln!(out, "cluster version: {v}").map_err(io_fail)?;
    }
    Ok(())
}

pub fn auth(out: Out<'_>, a: &AuthInfo, fmt: TableOrJson) -> Result<(), Failure> {
    if fmt == TableOrJson::Json {
        return write_json(out, a);
    }
    writeln!(
        out,
        "auth enabled: {}\nauth revision: {}\n",
        a.enabled,
        opt(&a.revision)
    )
    .map_err(io_fail)?;
    let users: Vec<Vec<String>> = a
        .users
        .iter()
        .map(|u| {
            vec![
                text_or_b64_string(&u.name),
                u.roles.join(","),
                if u.no_password {
                    "none".into()
                } else if u.has_password {
                    "set (hidden)".into()
                } else {
                    "empty".into()
                },
            ]
        })
        .collect();
    table(out, &["USER", "ROLES", "PASSWORD"], &users)?;
    out.write_all(b"\n").map_err(io_fail)?;
    let mut roles = Vec::new();
    for r in &a.roles {
        if r.permissions.is_empty() {
            roles.push(vec![
                text_or_b64_string(&r.name),
                "".into(),
                "".into(),
                "".into(),
            ]);
        }
        for p in &r.permissions {
            roles.push(vec![
                text_or_b64_string(&r.name),
                p.perm_type.into(),
                text_or_b64_string(&p.key),
                text_or_b64_string(&p.range_end),
            ]);
        }
    }
    table(out, &["ROLE", "PERMISSION", "KEY", "RANGE END"], &roles)
}
