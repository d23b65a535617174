//! The integrity check of a member directory: every `.snap` file, the WAL (every frame and
//! its CRC chain, as the v2 load reads them), the v2 store's content (etcd 3.6's start-up
//! check) and the v3 db's checked walk. `etcdscope check` prints it; the page shows it.
//!
//! The caller reads the files (natively or in the browser) and hands over what it got; this
//! module only judges and words it, so both say the same thing.

use serde::Serialize;
use serde_json::{json, Value};
use storage::ReadAt;

use crate::json::text_or_b64_string;
use crate::snap;
use crate::v2::{ContentKey, LoadError, V2Data};
use crate::v3::Status;

/// Where the member dir is, for messages: its path as the user knows it, and the separator
/// that path uses.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub member: &'a str,
    pub sep: char,
}

impl Place<'_> {
    /// `<member>/<sub>`.
    pub fn dir(&self, sub: &str) -> String {
        format!("{}{}{sub}", self.member, self.sep)
    }

    /// `PATH: message` for a failed v2 load, naming the directory of the file at fault (the
    /// error itself names the file and byte offset).
    pub fn load_error(&self, e: &LoadError) -> String {
        match e {
            LoadError::Wal(w) => format!("{}{}{w}", self.dir("wal"), self.sep),
            LoadError::SnapJson { .. } => format!("{}{}{e}", self.dir("snap"), self.sep),
            LoadError::NoWalDir | LoadError::NoWalSegments { .. } => {
                format!("{}: {e}", self.dir("wal"))
            }
            _ => format!("{}: {e}", self.member),
        }
    }
}

/// Which part of the member dir a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Snap,
    Wal,
    V2,
    Db,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Snap => "snap",
            Area::Wal => "wal",
            Area::V2 => "v2",
            Area::Db => "db",
        }
    }
}

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    Ok,
    /// Worth knowing; etcd starts anyway (a torn tail it cuts, a `.snap` it skips).
    Warning,
    /// Damage: the check fails.
    Damage,
    /// The v2 store holds data besides membership: etcd 3.6 refuses to start.
    Data,
    /// Not checked because something it depends on could not be read.
    NotChecked,
}

impl Level {
    /// The word `etcdscope check` prints.
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Damage => "DAMAGE",
            Level::Data => "DATA",
            Level::NotChecked => "not checked:",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub area: Area,
    pub level: Level,
    pub text: String,
}

/// What the caller read.
pub struct Inputs<'a, S> {
    /// The `snap` directory's files (`None`: there is no `snap` directory).
    pub snap_files: Option<&'a [(String, S)]>,
    /// The v2 store rebuilt from snapshot and WAL, or why it could not be (see
    /// [`Place::load_error`]).
    pub v2: Result<&'a V2Data, String>,
    /// The v3 db (`<member>/snap/db`) when there is one: its path for messages, and its status
    /// (a checked walk) or why it could not be read.
    pub db: Option<(String, Result<&'a Status, String>)>,
}

/// The check's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// In the order a reader should see them: `.snap` files, WAL, v2 store, db.
    pub findings: Vec<Finding>,
    /// The v2 store's nodes besides membership (listed under the [`Level::Data`] finding).
    pub v2_keys: Vec<ContentKey>,
    /// Damaged places: file, byte offset, what.
    pub damage: Vec<String>,
    /// Everything worth a warning, those without a finding of their own included.
    pub warnings: Vec<String>,
    pub v2_data: bool,
    /// `etcdscope check -w json`'s fields besides `ok`, `damage`, `warnings`, `v2_data`
    /// (`wal`, `snap`, `v2` without its `keys`, `db`).
    pub parts: Value,
}

impl Report {
    /// Passes when nothing is damaged and the v2 store holds only membership.
    pub fn ok(&self) -> bool {
        self.damage.is_empty() && !self.v2_data
    }

    /// One sentence: `ok`, or why the check failed.
    pub fn verdict(&self) -> String {
        if let Some(first) = self.damage.first() {
            format!(
                "check failed: {} damaged place(s); first: {first}",
                self.damage.len()
            )
        } else if self.v2_data {
            "check failed: the v2 store holds data besides membership (etcd 3.6 checks this before it starts)".into()
        } else {
            "ok".into()
        }
    }

    /// `etcdscope check -w json`.
    pub fn to_json(&self, place: &Place<'_>) -> Value {
        let mut v = json!({
            "ok": self.ok(),
            "member_dir": place.member,
            "damage": self.damage,
            "warnings": self.warnings,
            "v2_data": self.v2_data,
        });
        for k in ["wal", "snap", "v2", "db"] {
            v[k] = self.parts[k].clone();
        }
        if v["v2"].is_object() {
            v["v2"]["keys"] = json!(self.v2_keys);
        }
        v
    }
}

/// Judges what was read.
pub fn check<S: ReadAt>(place: &Place<'_>, inputs: Inputs<'_, S>) -> Report {
    let mut r = Report {
        findings: Vec::new(),
        v2_keys: Vec::new(),
        damage: Vec::new(),
        warnings: Vec::new(),
        v2_data: false,
        parts: json!({"wal": null, "snap": [], "v2": null, "db": null}),
    };
    let snap_dir = place.dir("snap");
    let wal_dir = place.dir("wal");
    let sep = place.sep;
    // The .snap files, each on its own. A broken one is damage unless the store could be
    // rebuilt without it: etcd skips a broken .snap and loads an older one.
    let from = rebuilt_from(&inputs.v2);
    let mut snaps_json = Vec::new();
    for c in snap::verify_all(inputs.snap_files.unwrap_or(&[])) {
        match &c.result {
            Ok((term, index, json_bytes)) => {
                find(
                    &mut r,
                    Area::Snap,
                    Level::Ok,
                    format!(
                        "{} (term {term}, index {index}, {json_bytes} bytes of v2 store)",
                        c.file
                    ),
                );
                snaps_json.push(json!({"file": c.file, "ok": true, "term": term, "index": index}));
            }
            Err(e) => {
                let msg = format!("{snap_dir}{sep}{e}");
                snaps_json.push(json!({"file": c.file, "ok": false, "error": msg}));
                match &from {
                    Some(from) => find(
                        &mut r,
                        Area::Snap,
                        Level::Warning,
                        format!("{msg}; etcd skips it (the store was rebuilt from {from})"),
                    ),
                    None => find(&mut r, Area::Snap, Level::Damage, msg),
                }
            }
        }
    }
    r.parts["snap"] = json!(snaps_json);

    // The WAL (every frame, the CRC chain) and the v2 store rebuilt from it.
    match inputs.v2 {
        Err(msg) => {
            find(&mut r, Area::Wal, Level::Damage, msg);
            find(
                &mut r,
                Area::V2,
                Level::NotChecked,
                "the WAL could not be read".into(),
            );
        }
        Ok(d) => {
            let rep = &d.report;
            let entries = match (rep.first_wal_index, rep.last_wal_index) {
                (Some(a), Some(b)) => format!("entries {a}..{b}"),
                _ => "no entries".into(),
            };
            find(
                &mut r,
                Area::Wal,
                Level::Ok,
                format!(
                    "{} segment(s), {entries}, every frame and CRC checked",
                    rep.segments.len()
                ),
            );
            if let Some((file, offset, reason)) = &rep.torn {
                // A record that was never fully written (a crash while appending): etcd cuts
                // the log there when it starts, so this is no reason to fail.
                find(
                    &mut r,
                    Area::Wal,
                    Level::Warning,
                    format!("{wal_dir}{sep}{file} at byte offset {offset}: torn last record ({reason}); etcd cuts the log there when it starts"),
                );
            }
            for p in &rep.problems {
                find(
                    &mut r,
                    Area::Wal,
                    Level::Damage,
                    format!("{wal_dir}{sep}{p}"),
                );
            }
            for s in &rep.snap_rejected {
                if matches!(s.kind, snap::SnapErrorKind::NotInWal { .. }) {
                    find(
                        &mut r,
                        Area::Snap,
                        Level::Warning,
                        format!("{snap_dir}{sep}{s}"),
                    );
                }
            }
            if !rep.wal_ignored.is_empty() {
                r.warnings.push(format!(
                    "ignored in the wal dir: {}",
                    rep.wal_ignored.join(", ")
                ));
            }
            r.parts["wal"] = json!({
                "segments": rep.segments.len(),
                "first_index": rep.first_wal_index,
                "last_index": rep.last_wal_index,
                "torn": rep.torn.as_ref().map(|(fl, o, why)| json!({"file": fl, "offset": o, "reason": why})),
                "problems": rep.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            });
            let content = d.store.content();
            r.v2_data = content.key_count > 0;
            let snapshot = rep.snapshot.as_ref().map(|s| s.file.clone());
            if r.v2_data {
                let verdict = if content.meta_only {
                    "etcd 3.6.3+ would start"
                } else {
                    "etcd 3.6 would refuse to start"
                };
                find(
                    &mut r,
                    Area::V2,
                    Level::Data,
                    format!(
                        "{} node(s) besides membership ({} hidden); {verdict}:",
                        content.key_count, content.hidden_count
                    ),
                );
            } else {
                find(
                    &mut r,
                    Area::V2,
                    Level::Ok,
                    format!(
                        "only membership (store index {}, snapshot {})",
                        d.store.current_index(),
                        snapshot.as_deref().unwrap_or("none")
                    ),
                );
            }
            r.parts["v2"] = json!({
                "store_index": d.store.current_index(),
                "snapshot": snapshot,
                "non_membership_keys": content.key_count,
                "hidden_keys": content.hidden_count,
                "etcd_3_6_would_start": content.meta_only,
                "etcd_3_6_0_would_start": content.meta_only_3_6_0,
                "blocking": content.blocking.iter().map(|p| text_or_b64_string(p)).collect::<Vec<_>>(),
            });
            r.v2_keys = content.keys;
        }
    }

    // The v3 db.
    if let Some((path, status)) = inputs.db {
        match status {
            Ok(st) => {
                find(
                    &mut r,
                    Area::Db,
                    Level::Ok,
                    format!(
                        "{path}: checked walk of {} pages, revision {}, {} live keys",
                        st.pages.reachable, st.revision, st.live_keys
                    ),
                );
                for p in &st.problems {
                    find(&mut r, Area::Db, Level::Warning, format!("{path}: {p}"));
                }
                r.parts["db"] = json!({"file": path, "ok": true,
                    "revision": st.revision, "live_keys": st.live_keys, "problems": st.problems});
            }
            Err(msg) => {
                r.parts["db"] = json!({"file": path, "ok": false, "error": msg});
                find(&mut r, Area::Db, Level::Damage, msg);
            }
        }
    }
    r
}

/// What the v2 store was rebuilt from, when it was.
fn rebuilt_from(v2: &Result<&V2Data, String>) -> Option<String> {
    let d = v2.as_ref().ok()?;
    Some(
        d.report
            .snapshot
            .as_ref()
            .map_or("the WAL alone".to_string(), |s| s.file.clone()),
    )
}

fn find(r: &mut Report, area: Area, level: Level, text: String) {
    match level {
        Level::Damage => r.damage.push(text.clone()),
        Level::Warning => r.warnings.push(text.clone()),
        _ => {}
    }
    r.findings.push(Finding { area, level, text });
}
