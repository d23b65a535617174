//! Our answers against real etcd 3.4.23's, on fixtures made by `tests/fixtures/make-v3.sh`.
//!
//! By default the committed fixture `tests/fixtures/v3/basic` is used; `cargo xtask test` also
//! runs this file against a fixture freshly made by a real etcd (ETCDSCOPE_FIXTURE_DIR), so the
//! reader is checked on data it has never seen.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    match std::env::var_os("ETCDSCOPE_FIXTURE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v3/basic"),
    }
}

/// Reads `expected/NAME`, or `expected/NAME.gz` (large listings are stored gzipped).
fn read_expected(path: &Path) -> Vec<u8> {
    if let Ok(b) = std::fs::read(path) {
        return b;
    }
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let f = std::fs::File::open(&gz).unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn expected(name: &str) -> Value {
    let p = fixture_dir().join("expected").join(name);
    serde_json::from_slice(&read_expected(&p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn facts() -> Value {
    expected("facts.json")
}

fn snapshot() -> PathBuf {
    fixture_dir().join("snapshot.db")
}

/// The raw db, un-gzipped once per test process into a temp dir.
fn raw_db() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etcdscope-fixture-{}", std::process::id()));
    let out = dir.join("db");
    if !out.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let gz = std::fs::File::open(fixture_dir().join("raw.db.gz")).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut bytes)
            .unwrap();
        let tmp = dir.join(format!("db.{:?}", std::thread::current().id()).replace(['(', ')'], ""));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(args)
        .output()
        .unwrap()
}

fn run_ok(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = run(args);
    assert!(
        out.status.success(),
        "etcdscope {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json_of(args: &[&std::ffi::OsStr]) -> Value {
    serde_json::from_slice(&run_ok(args)).unwrap()
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

#[test]
fn status_matches_etcdctl_snapshot_status() {
    for (file, exp) in [(snapshot(), "status.json"), (raw_db(), "status-raw.json")] {
        let ours = json_of(args!["status", file.as_os_str(), "-w", "json"]);
        let theirs = expected(exp);
        for field in ["hash", "revision", "totalKey", "totalSize"] {
            assert_eq!(
                ours[field],
                theirs[field],
                "{field} of {} ({exp})",
                file.display()
            );
        }
    }
    let ours = json_of(args!["status", snapshot().as_os_str(), "-w", "json"]);
    assert_eq!(ours["trailer"]["state"], "ok");
    let raw = json_of(args!["status", raw_db().as_os_str(), "-w", "json"]);
    assert_eq!(raw["trailer"]["state"], "absent");
    assert_eq!(
        ours["meta"]["finishedCompactRevision"],
        facts()["compact_revision"]
    );
}

/// Compares our `get -w json` with etcdctl's: same kvs (keys, values, revisions, versions,
/// leases; etcd's order), count and more; header revision = current revision.
fn assert_same_get(ours: &Value, theirs: &Value, what: &str) {
    assert_eq!(ours["kvs"], theirs["kvs"], "kvs of {what}");
    assert_eq!(ours["count"], theirs["count"], "count of {what}");
    assert_eq!(ours["more"], theirs["more"], "more of {what}");
    assert_eq!(
        ours["header"]["revision"], theirs["header"]["revision"],
        "header.revision of {what}"
    );
}

fn revisions_recorded() -> Vec<(i64, PathBuf)> {
    let mut revs = Vec::new();
    for e in std::fs::read_dir(fixture_dir().join("expected")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let stem = name.strip_suffix(".gz").unwrap_or(&name);
        if let Some(n) = stem
            .strip_prefix("get-rev-")
            .and_then(|s| s.strip_suffix(".json"))
        {
            revs.push((
                n.parse::<i64>().unwrap(),
                fixture_dir().join("expected").join(stem),
            ));
        }
    }
    revs.sort();
    revs
}

#[test]
fn get_every_revision_matches_etcdctl() {
    let revs = revisions_recorded();
    assert!(
        revs.len() >= 10,
        "fixture should record many revisions, has {}",
        revs.len()
    );
    for file in [snapshot(), raw_db()] {
        for (rev, path) in &revs {
            let theirs: Value = serde_json::from_slice(&read_expected(path)).unwrap();
            let r = rev.to_string();
            let ours = json_of(args![
                "get",
                file.as_os_str(),
                "",
                "--prefix",
                "--rev",
                &r,
                "-w",
                "json"
            ]);
            assert_same_get(&ours, &theirs, &format!("rev {rev} of {}", file.display()));
        }
    }
}

#[test]
fn get_variants_match_etcdctl() {
    let s = snapshot();
    let cases: [(&str, Vec<&str>); 4] = [
        ("get-current.json", vec!["", "--prefix"]),
        ("get-keys-only.json", vec!["", "--prefix", "--keys-only"]),
        ("get-limit-5.json", vec!["", "--prefix", "--limit", "5"]),
        ("get-prefix-app.json", vec!["/app/", "--prefix"]),
    ];
    for (file, extra) in cases {
        let mut a: Vec<&std::ffi::OsStr> = args!["get", s.as_os_str()].to_vec();
        a.extend(extra.iter().map(std::ffi::OsStr::new));
        a.extend(args!["-w", "json"]);
        assert_same_get(&json_of(&a), &expected(file), file);
    }
}

#[test]
fn simple_output_is_byte_identical() {
    let p = fixture_dir().join("expected/get-simple.txt");
    let theirs = std::fs::read(&p).unwrap();
    let ours = run_ok(args![
        "get",
        snapshot().as_os_str(),
        "/app/config",
        "--prefix"
    ]);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert_eq!(ours, theirs);
}

#[test]
fn compacted_and_future_revisions_are_refused() {
    let compact = facts()["compact_revision"].as_i64().unwrap();
    let r = (compact - 1).to_string();
    let out = run(args![
        "get",
        snapshot().as_os_str(),
        "",
        "--prefix",
        "--rev",
        &r
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compacted"));
    let theirs = std::fs::read_to_string(fixture_dir().join("expected/get-compacted.txt")).unwrap();
    assert!(theirs.contains("compacted"), "etcdctl said: {theirs}");
    let future = (facts()["current_revision"].as_i64().unwrap() + 1).to_string();
    let out = run(args![
        "get",
        snapshot().as_os_str(),
        "",
        "--prefix",
        "--rev",
        &future
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("future revision"));
}

/// Every held revision of every key, checked against etcdctl's view at each recorded revision:
/// at revision N a key's latest held change at or below N must be what etcdctl returned.
#[test]
fn history_agrees_with_every_recorded_view() {
    let revs = revisions_recorded();
    let mut views: Vec<(i64, BTreeMap<String, Value>)> = Vec::new();
    let mut all_keys = std::collections::BTreeSet::new();
    for (rev, path) in &revs {
        let v: Value = serde_json::from_slice(&read_expected(path)).unwrap();
        let mut m = BTreeMap::new();
        for kv in v["kvs"].as_array().cloned().unwrap_or_default() {
            let k = kv["key"].as_str().unwrap().to_owned();
            all_keys.insert(k.clone());
            m.insert(k, kv);
        }
        views.push((*rev, m));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut checked = 0;
    for key_b64 in &all_keys {
        let key = b64.decode(key_b64).unwrap();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let h = json_of(args![
            "history",
            snapshot().as_os_str(),
            &hex,
            "--hex",
            "-w",
            "json"
        ]);
        let list = h["history"].as_array().unwrap();
        for (rev, view) in &views {
            let latest = list
                .iter()
                .filter(|e| e["revision"].as_i64().unwrap() <= *rev)
                .last();
            match (latest, view.get(key_b64)) {
                (Some(e), Some(kv)) if e["type"] == "PUT" => {
                    assert_eq!(&e["kv"], kv, "key {key_b64} at rev {rev}");
                }
                (Some(e), None) => assert_eq!(
                    e["type"], "DELETE",
                    "key {key_b64} at rev {rev}: we hold a put, etcd had none"
                ),
                (None, None) => {}
                (l, v) => panic!("key {key_b64} at rev {rev}: ours {l:?}, etcd's {v:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn leases_match_etcdctl() {
    let ours = json_of(args!["leases", snapshot().as_os_str(), "-w", "json"]);
    let ours = ours["leases"].as_array().unwrap();
    let list = expected("lease-list.json");
    let theirs = list["leases"].as_array().cloned().unwrap_or_default();
    assert_eq!(ours.len(), theirs.len(), "lease count");
    for t in &theirs {
        let id = t["id"].as_i64().unwrap();
        let o = ours
            .iter()
            .find(|o| o["id"].as_i64() == Some(id))
            .unwrap_or_else(|| panic!("lease {id:x} missing"));
        let ttl = expected(&format!("lease-{id:x}.json"));
        assert_eq!(o["ttl"], ttl["granted-ttl"], "granted ttl of {id:x}");
        let mut their_keys: Vec<String> = ttl["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        their_keys.sort_by_key(|k| base64::engine::general_purpose::STANDARD.decode(k).unwrap());
        let our_keys: Vec<String> = o["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(our_keys, their_keys, "keys of lease {id:x}");
    }
    let alive = facts()["lease_alive_id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert!(ours.iter().any(|o| o["id"].as_i64() == Some(alive)));
}

#[test]
fn auth_matches_etcdctl() {
    let ours = json_of(args!["auth", snapshot().as_os_str(), "-w", "json"]);
    assert_eq!(ours["enabled"], true);
    let users = facts()["users"].as_array().unwrap().clone();
    assert_eq!(ours["users"].as_array().unwrap().len(), users.len());
    for u in users {
        let name = u.as_str().unwrap();
        let theirs = expected(&format!("user-get-{name}.json"));
        let o = ours["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap();
        let mut their_roles: Vec<Value> = theirs["roles"].as_array().cloned().unwrap_or_default();
        their_roles.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        let mut our_roles = o["roles"].as_array().unwrap().clone();
        our_roles.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        assert_eq!(our_roles, their_roles, "roles of {name}");
        assert!(o.get("passwordHash").is_none(), "hashes hidden by default");
    }
    for r in facts()["roles"].as_array().unwrap() {
        let name = r.as_str().unwrap();
        let theirs = expected(&format!("role-get-{name}.json"));
        let o = ours["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap();
        let their_perms = theirs["perm"].as_array().cloned().unwrap_or_default();
        let our_perms = o["permissions"].as_array().unwrap();
        assert_eq!(our_perms.len(), their_perms.len(), "permissions of {name}");
        for (a, b) in our_perms.iter().zip(&their_perms) {
            let t = b.get("permType").and_then(|t| t.as_i64()).unwrap_or(0);
            let tname = ["READ", "WRITE", "READWRITE"][t as usize];
            assert_eq!(a["permType"], tname);
            assert_eq!(a["key"], b["key"]);
            assert_eq!(
                a["rangeEnd"],
                b.get("range_end")
                    .cloned()
                    .unwrap_or(Value::String(String::new()))
            );
        }
    }
    let secret = json_of(args![
        "auth",
        snapshot().as_os_str(),
        "-w",
        "json",
        "--with-secrets"
    ]);
    assert!(secret["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["passwordHash"]
            .as_str()
            .is_some_and(|h| h.starts_with("$2"))));
}

#[test]
fn members_match_etcdctl() {
    let ours = json_of(args!["members", raw_db().as_os_str(), "-w", "json"]);
    let theirs = expected("member-list.json");
    let their_members = theirs["members"].as_array().unwrap();
    let our_members = ours["members"].as_array().unwrap();
    // etcd 3.4 writes the members bucket; when it does, it must list the same members.
    if !our_members.is_empty() {
        assert_eq!(our_members.len(), their_members.len());
        for t in their_members {
            let o = our_members.iter().find(|o| o["id"] == t["ID"]).unwrap();
            assert_eq!(o["peerURLs"], t["peerURLs"]);
        }
    }
}
