//! `etcdscope k8s INPUT analyze`: what fills a Kubernetes etcd db, on one screen.

use std::io::Write;
use std::path::Path;

use etcd::v3::StatusOptions;
use kube::analyze::{Analyzer, Report, TopKey, Totals};
use serde_json::{json, Value};

use crate::input::{self, fail};
use crate::output::io_fail;
use crate::{Failure, TableOrJson};

pub struct AnalyzeOptions {
    /// Entries in each top list and table.
    pub top: usize,
    /// The apiserver's `--etcd-prefix`.
    pub prefix: Vec<u8>,
    pub write_out: TableOrJson,
}

pub fn analyze(out: &mut dyn Write, input: &Path, o: &AnalyzeOptions) -> Result<(), Failure> {
    let (path, be) = input::open_v3(input)?;
    let st = be
        .status_threaded(StatusOptions {
            verify_trailer: false,
        })
        .map_err(|e| fail(&path, &e))?;
    let mut a = Analyzer::new(&o.prefix, o.top);
    be.for_each_revision(|rk, kv| {
        a.observe(kv.key, kv.value.len(), rk.tombstone);
        Ok(())
    })
    .map_err(|e| fail(&path, &e))?;
    a.end_first_pass();
    be.for_each_revision(|rk, kv| {
        a.observe_again(kv.key, rk.tombstone);
        Ok(())
    })
    .map_err(|e| fail(&path, &e))?;
    let r = a.finish();
    let pages = &st.pages;
    let free_bytes = pages.free * pages.page_size;
    match o.write_out {
        TableOrJson::Json => {
            let v = json!({
                "file": path.display().to_string(),
                "file_size": st.file_size,
                "page_size": pages.page_size,
                "free_pages": pages.free,
                "free_bytes": free_bytes,
                "revision": st.revision,
                "compact_revision": st.meta.effective_compact_revision(),
                "all": totals_json(&r.all),
                "by_type": r.by_type.iter().map(|(n, t)| group_json("type", n, t)).collect::<Vec<_>>(),
                "by_namespace": r.by_namespace.iter().map(|(n, t)| group_json("namespace", n, t)).collect::<Vec<_>>(),
                "largest": r.largest.iter().map(top_json).collect::<Vec<_>>(),
                "most_revisions": r.most_revisions.iter().map(top_json).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &v).map_err(|e| io_fail(e.into()))?;
            writeln!(out).map_err(io_fail)
        }
        TableOrJson::Table => table(out, &path, &st, free_bytes, &r, o.top),
    }
}

fn totals_json(t: &Totals) -> Value {
    json!({
        "objects": t.objects, "deleted": t.deleted, "revisions": t.revisions,
        "live_bytes": t.live_bytes, "history_bytes": t.history_bytes,
    })
}

fn group_json(what: &str, name: &str, t: &Totals) -> Value {
    let mut v = totals_json(t);
    v[what] = json!(name);
    v
}

fn top_json(t: &TopKey) -> Value {
    let key = match std::str::from_utf8(&t.key) {
        Ok(s) => json!(s),
        Err(_) => json!({ "base64": etcd::json::b64_string(&t.key) }),
    };
    json!({ "key": key, "type": t.type_name, "bytes": t.bytes, "revisions": t.revisions })
}

fn size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Keys as text, bytes outside printable ASCII as `\xNN`.
fn show_key(k: &[u8]) -> String {
    let mut s = String::new();
    for &c in k {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

fn table(
    out: &mut dyn Write,
    path: &Path,
    st: &etcd::v3::Status,
    free_bytes: u64,
    r: &Report,
    top: usize,
) -> Result<(), Failure> {
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(io_fail);
    let all_bytes = r.all.bytes();
    w(
        out,
        format!(
            "{}: {} file, revision {}; {} objects ({} live), {} deleted but held, {} revisions",
            path.display(),
            size(st.file_size),
            st.revision,
            r.all.objects,
            size(r.all.live_bytes),
            r.all.deleted,
            r.all.revisions
        ),
    )?;
    w(
        out,
        format!(
            "what fills the file: live {} ({}), history {} ({}), free pages {} ({}), the rest is page and tree overhead",
            size(r.all.live_bytes),
            pct(r.all.live_bytes, st.file_size),
            size(r.all.history_bytes),
            pct(r.all.history_bytes, st.file_size),
            size(free_bytes),
            pct(free_bytes, st.file_size)
        ),
    )?;
    if r.all.history_bytes > r.all.live_bytes {
        w(
            out,
            "history holds more than the live data: compaction (and then defragmentation) would shrink it"
                .into(),
        )?;
    }
    for (title, rows) in [("TYPE", &r.by_type), ("NAMESPACE", &r.by_namespace)] {
        w(out, String::new())?;
        w(
            out,
            format!(
                "{title:<40} {:>9} {:>9} {:>10} {:>11} {:>11} {:>7}",
                "OBJECTS", "DELETED", "REVISIONS", "LIVE", "HISTORY", "SHARE"
            ),
        )?;
        for (name, t) in rows.iter().take(top) {
            w(
                out,
                format!(
                    "{:<40} {:>9} {:>9} {:>10} {:>11} {:>11} {:>7}",
                    name,
                    t.objects,
                    t.deleted,
                    t.revisions,
                    size(t.live_bytes),
                    size(t.history_bytes),
                    pct(t.bytes(), all_bytes)
                ),
            )?;
        }
        if rows.len() > top {
            w(out, format!("… and {} more", rows.len() - top))?;
        }
    }
    for (title, rows) in [
        ("LARGEST OBJECTS", &r.largest),
        ("MOST REVISIONS HELD", &r.most_revisions),
    ] {
        w(out, String::new())?;
        w(
            out,
            format!("{title:<70} {:>11} {:>10}", "BYTES", "REVISIONS"),
        )?;
        for t in rows {
            w(
                out,
                format!(
                    "{:<70} {:>11} {:>10}",
                    show_key(&t.key),
                    size(t.bytes),
                    t.revisions
                ),
            )?;
        }
    }
    Ok(())
}
