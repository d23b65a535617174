//! `migrate` and `rewrite` checked by the real thing: every produced file passes
//! `etcdctl snapshot status`, is restored by `etcdctl snapshot restore` (hash check on), and an
//! etcd 3.4.23 started on the restored dir serves exactly the expected keys, values and
//! revisions; a put afterwards gets the next revision. The default migration is compared with
//! the real `etcdctl migrate` (3.4.23) run on a copy of the same data dir.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "/usr/bin/etcdctl";

fn have_etcd() -> bool {
    let ok = Path::new(ETCD).exists() && Path::new(ETCDCTL).exists();
    if !ok {
        eprintln!("etcd/etcdctl not installed: `cargo xtask setup` installs them");
    }
    ok
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("produce-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

fn etcdscope(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    assert_ne!(
        o.status.code(),
        Some(101),
        "panic: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn ok(o: Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn etcdctl(args: &[&str]) -> Output {
    Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .args(args)
        .output()
        .unwrap()
}

/// An etcd 3.4.23 restored from a snapshot and started on 127.0.0.1; killed when dropped.
struct Etcd {
    child: Child,
    endpoint: String,
    user: Option<String>,
    _dir: Scratch,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Etcd {
    fn restore_and_start(snapshot: &Path, user: Option<&str>) -> Etcd {
        Etcd::start(Some(snapshot), user)
    }

    /// etcd on a restored snapshot, or on an empty data dir (`snapshot` None).
    fn start(snapshot: Option<&Path>, user: Option<&str>) -> Etcd {
        let dir = Scratch::new("etcd");
        let data = dir.0.join("data");
        let (peer, client) = (free_port(), free_port());
        let peer_url = format!("http://127.0.0.1:{peer}");
        let client_url = format!("http://127.0.0.1:{client}");
        let cluster = format!("m1={peer_url}");
        if let Some(snapshot) = snapshot {
            ok(etcdctl(&[
                "snapshot",
                "restore",
                snapshot.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--name",
                "m1",
                "--initial-cluster",
                &cluster,
                "--initial-advertise-peer-urls",
                &peer_url,
            ]));
        }
        let log = std::fs::File::create(dir.0.join("etcd.log")).unwrap();
        let child = Command::new(ETCD)
            .args([
                "--name",
                "m1",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
                "--initial-cluster",
                &cluster,
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let e = Etcd {
            child,
            endpoint: client_url,
            user: user.map(str::to_string),
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if e.ctl(&["endpoint", "health"]).status.success() {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(e._dir.0.join("etcd.log")).unwrap_or_default();
                panic!("etcd did not become healthy:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["--endpoints", &self.endpoint];
        if let Some(u) = &self.user {
            all.extend(["--user", u.as_str()]);
        }
        all.extend_from_slice(args);
        etcdctl(&all)
    }

    fn get_all(&self) -> Value {
        serde_json::from_slice(&ok(self.ctl(&["get", "", "--prefix", "-w", "json"]))).unwrap()
    }
}

/// `kvs` of an etcdctl JSON answer as (key, value, create, mod, version, lease) tuples.
fn kvs(v: &Value) -> Vec<(Vec<u8>, Vec<u8>, i64, i64, i64, i64)> {
    v["kvs"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let n = |f: &str| kv[f].as_i64().unwrap_or(0);
            (
                b64(kv["key"].as_str().unwrap()),
                kv["value"].as_str().map(b64).unwrap_or_default(),
                n("create_revision"),
                n("mod_revision"),
                n("version"),
                n("lease"),
            )
        })
        .collect()
}

fn v3_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v3/basic")
}

fn gz_json(p: &Path) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap()
}

fn snapshot_status(file: &Path) -> Value {
    serde_json::from_slice(&ok(etcdctl(&[
        "snapshot",
        "status",
        "-w",
        "json",
        file.to_str().unwrap(),
    ])))
    .unwrap()
}

const ROOT: &str = "root:fixture-root-pw";

#[test]
fn rewrite_copy_is_restored_and_served_by_etcd() {
    if !have_etcd() {
        return;
    }
    let s = Scratch::new("rewrite-copy");
    let out = s.0.join("copy.db");
    let src = v3_fixture().join("snapshot.db");
    ok(etcdscope(&[&"rewrite", &src, &"-o", &out]));
    let st = snapshot_status(&out);
    let want = snapshot_status(&src);
    assert_eq!(st["hash"], want["hash"], "same content, same etcdctl hash");
    assert_eq!(st["revision"], want["revision"]);
    assert_eq!(st["totalKey"], want["totalKey"]);

    let etcd = Etcd::restore_and_start(&out, Some(ROOT));
    let got = etcd.get_all();
    let expected = gz_json(&v3_fixture().join("expected/get-current.json.gz"));
    assert_eq!(kvs(&got), kvs(&expected));
    assert_eq!(got["header"]["revision"], expected["header"]["revision"]);
    assert_eq!(got["count"], expected["count"]);
    // An older revision still answers (history kept), below the compaction it is refused.
    let old = etcd.ctl(&["get", "", "--prefix", "--rev", "345", "-w", "json"]);
    let want_old = gz_json(&v3_fixture().join("expected/get-rev-345.json.gz"));
    assert_eq!(
        kvs(&serde_json::from_slice(&ok(old)).unwrap()),
        kvs(&want_old)
    );
    let compacted = etcd.ctl(&["get", "", "--prefix", "--rev", "300"]);
    assert!(!compacted.status.success());
    assert!(String::from_utf8_lossy(&compacted.stderr).contains("compacted"));
    // The next write gets the next revision; leases survived.
    let put: Value =
        serde_json::from_slice(&ok(etcd.ctl(&["put", "/after", "x", "-w", "json"]))).unwrap();
    assert_eq!(put["header"]["revision"].as_i64(), Some(360));
    let leases = String::from_utf8(ok(etcd.ctl(&["lease", "list"]))).unwrap();
    assert!(leases.contains("3095a203b79ce053"), "{leases}");
}

#[test]
fn rewrite_latest_only_subset() {
    if !have_etcd() {
        return;
    }
    let s = Scratch::new("rewrite-latest");
    let out = s.0.join("latest.db");
    let src = v3_fixture().join("snapshot.db");
    ok(etcdscope(&[
        &"rewrite",
        &src,
        &"-o",
        &out,
        &"--latest-only",
        &"--prefix",
        &"/app/",
    ]));
    snapshot_status(&out);
    let etcd = Etcd::restore_and_start(&out, Some(ROOT));
    let got = etcd.get_all();
    let expected = gz_json(&v3_fixture().join("expected/get-current.json.gz"));
    let want: Vec<_> = kvs(&expected)
        .into_iter()
        .filter(|kv| kv.0.starts_with(b"/app/"))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(kvs(&got), want);
    assert_eq!(got["header"]["revision"].as_i64(), Some(359));
    let older = etcd.ctl(&["get", "/app/", "--prefix", "--rev", "358"]);
    assert!(String::from_utf8_lossy(&older.stderr).contains("compacted"));
    let put: Value =
        serde_json::from_slice(&ok(etcd.ctl(&["put", "/after", "x", "-w", "json"]))).unwrap();
    assert_eq!(put["header"]["revision"].as_i64(), Some(360));
    // A refused output: exists without --force.
    let again = etcdscope(&[&"rewrite", &src, &"-o", &out]);
    assert_eq!(again.status.code(), Some(2));
}

/// The v2 fixture's live answer as (key, value, created, modified) for every file node.
fn v2_leaves(node: &Value, out: &mut Vec<(Vec<u8>, Vec<u8>, i64, i64)>) {
    if node["dir"].as_bool() == Some(true) {
        for n in node["nodes"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
        {
            v2_leaves(n, out);
        }
    } else if let Some(k) = node["key"].as_str() {
        out.push((
            k.as_bytes().to_vec(),
            node["value"]
                .as_str()
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
            node["createdIndex"].as_i64().unwrap(),
            node["modifiedIndex"].as_i64().unwrap(),
        ));
    }
}

fn now_arg(variant: &str) -> String {
    let facts: Value = serde_json::from_slice(
        &std::fs::read(common::fixture_dir(variant).join("expected/facts.json")).unwrap(),
    )
    .unwrap();
    let ns = facts["recorded_to_ns"].as_u64().unwrap();
    let secs = ns / 1_000_000_000;
    // RFC 3339 from Unix seconds (UTC), civil-from-days.
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ns % 1_000_000_000
    )
}

#[test]
fn migrate_equals_etcdctl_migrate_and_is_served_by_etcd() {
    if !have_etcd() {
        return;
    }
    for variant in ["wal-only", "snapped"] {
        let s = Scratch::new(&format!("migrate-{variant}"));
        let dir = common::data_dir(variant);
        let out = s.0.join("migrated.db");
        let report = s.0.join("report.json");
        let now = now_arg(variant);
        let printed = ok(etcdscope(&[
            &"migrate",
            &dir,
            &"-o",
            &out,
            &"--now",
            &now,
            &"--report",
            &report,
        ]));
        let printed = String::from_utf8(printed).unwrap();
        assert!(printed.contains("migrated "), "{printed}");
        snapshot_status(&out);

        // What the live v2 server answered, as v3 keys (etcdctl migrate's mapping).
        let live: Value = serde_json::from_slice(
            &std::fs::read(common::fixture_dir(variant).join("expected/keys-recursive.json"))
                .unwrap(),
        )
        .unwrap();
        let mut leaves = Vec::new();
        v2_leaves(&live["node"], &mut leaves);
        leaves.sort();
        assert!(leaves.len() > 10, "{variant}: {} leaves", leaves.len());

        let etcd = Etcd::restore_and_start(&out, None);
        let got = kvs(&etcd.get_all());
        let got_v2: Vec<_> = got
            .iter()
            .map(|(k, v, c, m, ver, lease)| {
                assert_eq!(
                    (*ver, *lease),
                    (1, 0),
                    "{variant}: {:?}",
                    String::from_utf8_lossy(k)
                );
                (k.clone(), v.clone(), *c, *m)
            })
            .collect();
        // JSON answers carry values as Go strings: compare through the same lossy lens.
        // (Go turns each byte of an invalid sequence into one U+FFFD.)
        let lossy = |v: &[u8]| {
            let mut out = Vec::new();
            for chunk in v.utf8_chunks() {
                out.extend_from_slice(chunk.valid().as_bytes());
                for _ in chunk.invalid() {
                    out.extend_from_slice("\u{fffd}".as_bytes());
                }
            }
            out
        };
        let got_lossy: Vec<_> = got_v2
            .iter()
            .map(|(k, v, c, m)| (k.clone(), lossy(v), *c, *m))
            .collect();
        assert_eq!(
            got_lossy, leaves,
            "{variant}: served keys = the live v2 answer"
        );

        // The real etcdctl migrate on a copy of the same dir.
        // (etcd always has member/snap; the wal-only fixture stores none.)
        let copy = copy_of_v2_fixture(&s, variant, "copy");
        ok(etcdctl(&["migrate", "--data-dir", copy.to_str().unwrap()]));
        let theirs: Value = serde_json::from_slice(&ok(etcdscope(&[
            &"get",
            &copy.join("member/snap/db"),
            &"",
            &"--prefix",
            &"-w",
            &"json",
        ])))
        .unwrap();
        let theirs = kvs(&theirs);
        assert_eq!(
            theirs.len(),
            got.len(),
            "{variant}: same key count as etcdctl migrate"
        );
        // etcdctl's replay skips learner ConfChange entries, which the real server applies to
        // its v2 store (a raftAttributes write each), so its store indices fall behind the live
        // server's by up to the number of ConfChange entries. Ours equal the live server's
        // (checked above); theirs may only be lower by that much, in the same order.
        let conf_changes = String::from_utf8(ok(etcdscope(&[
            &"wal", &dir, &"--type", &"conf", &"-w", &"json",
        ])))
        .unwrap()
        .lines()
        .count() as i64;
        // In-order keys (POST) are named after their store index, so they move with it.
        let normalize = |v: &[(Vec<u8>, Vec<u8>, i64, i64, i64, i64)]| {
            let mut out: Vec<_> = v
                .iter()
                .cloned()
                .map(|mut kv| {
                    let cut = kv.0.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
                    if kv.0[cut..] == *format!("{:020}", kv.2).as_bytes() {
                        kv.0.truncate(cut);
                        kv.0.extend_from_slice(b"<in-order>");
                    }
                    kv
                })
                .collect();
            out.sort();
            out
        };
        let (theirs, got) = (normalize(&theirs), normalize(&got));
        let mut differ = 0;
        let mut shifted = 0;
        for (a, b) in theirs.iter().zip(&got) {
            assert_eq!((&a.0, a.4, a.5), (&b.0, b.4, b.5), "{variant}");
            for (t, o) in [(a.2, b.2), (a.3, b.3)] {
                assert!(
                    t <= o && o - t <= conf_changes,
                    "{variant}: {:?} etcdctl {t}, ours {o}, {conf_changes} conf changes",
                    String::from_utf8_lossy(&a.0)
                );
            }
            if (a.2, a.3) != (b.2, b.3) {
                shifted += 1;
            }
            if a.1 != b.1 {
                // Only where etcdctl replaced invalid UTF-8 by U+FFFD.
                assert_eq!(
                    a.1,
                    lossy(&b.1),
                    "{variant}: {:?}",
                    String::from_utf8_lossy(&a.0)
                );
                assert!(std::str::from_utf8(&b.1).is_err());
                differ += 1;
            }
        }
        let order = |v: &[(Vec<u8>, Vec<u8>, i64, i64, i64, i64)]| {
            let mut o: Vec<(i64, Vec<u8>)> = v.iter().map(|kv| (kv.3, kv.0.clone())).collect();
            o.sort();
            o.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
        };
        assert_eq!(
            order(&theirs),
            order(&got),
            "{variant}: same order of revisions"
        );
        eprintln!(
            "{variant}: {} keys as etcdctl migrate; {differ} values byte-exact where etcdctl's are not; \
             {shifted} keys at the live server's indices where etcdctl's replay fell behind",
            got.len()
        );

        // The report lists every key.
        let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["keys"].as_array().unwrap().len(), got.len());
        assert_eq!(r["counts"]["migrated"].as_u64(), Some(got.len() as u64));
        let put: Value =
            serde_json::from_slice(&ok(etcd.ctl(&["put", "/after", "x", "-w", "json"]))).unwrap();
        let head = got.iter().map(|kv| kv.3).max().unwrap();
        assert_eq!(
            put["header"]["revision"].as_i64(),
            Some(head + 1),
            "{variant}"
        );
    }
}

#[test]
fn migrate_ttl_lease_and_prefix_map() {
    if !have_etcd() {
        return;
    }
    let variant = "wal-only";
    let s = Scratch::new("migrate-lease");
    let dir = common::data_dir(variant);
    let out = s.0.join("leased.db");
    let now = now_arg(variant);
    ok(etcdscope(&[
        &"migrate",
        &dir,
        &"-o",
        &out,
        &"--now",
        &now,
        &"--ttl",
        &"lease",
        &"--prefix-map",
        &"/dir1/=/moved/",
    ]));
    let etcd = Etcd::restore_and_start(&out, None);
    let got = kvs(&etcd.get_all());
    let leased: Vec<_> = got.iter().filter(|kv| kv.5 != 0).collect();
    assert!(!leased.is_empty(), "the fixture has live TTL keys");
    for kv in &leased {
        let id = format!("{:x}", kv.5);
        let ttl = String::from_utf8(ok(etcd.ctl(&["lease", "timetolive", &id]))).unwrap();
        assert!(ttl.contains("remaining"), "{ttl}");
    }
    assert!(got.iter().any(|kv| kv.0.starts_with(b"/moved/")));
    assert!(!got.iter().any(|kv| kv.0.starts_with(b"/dir1/")));
    // Never into the input dir.
    let inside = dir.join("out.db");
    let o = etcdscope(&[&"migrate", &dir, &"-o", &inside]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!inside.exists());
}

/// A copy of a v2 fixture data dir at `s/name`, with a member/snap dir (etcd always has one).
fn copy_of_v2_fixture(s: &Scratch, variant: &str, name: &str) -> PathBuf {
    let dir = s.0.join(name);
    let cp = Command::new("cp")
        .args([
            "-a",
            common::data_dir(variant).to_str().unwrap(),
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(cp.success());
    std::fs::create_dir_all(dir.join("member/snap")).unwrap();
    dir
}

/// A copy of a v2 fixture dir with the v3 fixture's raw db as member/snap/db (a cluster that
/// holds both v2 keys and a non-empty v3 keyspace).
fn mixed_dir(s: &Scratch) -> PathBuf {
    let dir = copy_of_v2_fixture(s, "wal-only", "mixed");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(v3_fixture().join("raw.db.gz")).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    std::fs::write(dir.join("member/snap/db"), raw).unwrap();
    dir
}

#[test]
fn migrate_mixed_dir_keeps_every_v3_revision() {
    if !have_etcd() {
        return;
    }
    let s = Scratch::new("migrate-mixed");
    let dir = mixed_dir(&s);
    let out = s.0.join("mixed.db");
    let printed = String::from_utf8(ok(etcdscope(&[
        &"migrate",
        &dir,
        &"-o",
        &out,
        &"--now",
        &now_arg("wal-only"),
    ])))
    .unwrap();
    assert!(printed.contains("kept 325 revisions"), "{printed}");
    let etcd = Etcd::restore_and_start(&out, Some(ROOT));
    // Every v3 revision is still there, with the same answers etcdctl recorded.
    for rev in [341, 350, 359] {
        let got = etcd.ctl(&[
            "get",
            "",
            "--prefix",
            "--rev",
            &rev.to_string(),
            "-w",
            "json",
        ]);
        let want = gz_json(&v3_fixture().join(format!("expected/get-rev-{rev}.json.gz")));
        assert_eq!(
            kvs(&serde_json::from_slice(&ok(got)).unwrap()),
            kvs(&want),
            "rev {rev}"
        );
    }
    // The v2 keys come after the v3 head, one revision each, in v2 order.
    let now = kvs(&etcd.get_all());
    let v3_now = kvs(&gz_json(&v3_fixture().join("expected/get-current.json.gz")));
    let added: Vec<_> = now.iter().filter(|kv| kv.3 > 359).collect();
    assert_eq!(added.len(), 34);
    assert_eq!(now.len(), v3_now.len() + added.len());
    let mut revs: Vec<i64> = added.iter().map(|kv| kv.3).collect();
    revs.sort();
    assert_eq!(revs, (360..360 + 34).collect::<Vec<_>>());
    let put: Value =
        serde_json::from_slice(&ok(etcd.ctl(&["put", "/after", "x", "-w", "json"]))).unwrap();
    assert_eq!(put["header"]["revision"].as_i64(), Some(360 + 34));
}

/// A v2-only cluster's data dir still has a v3 db (buckets, no keys): the v2 keys then keep
/// their v2 indices as revisions, exactly as etcdctl migrate gives them.
#[test]
fn migrate_v2_dir_with_a_keyless_v3_db_keeps_v2_indices() {
    if !have_etcd() {
        return;
    }
    let s = Scratch::new("migrate-keyless-db");
    // A db as a fresh etcd 3.4.23 leaves it.
    let fresh = Etcd::start(None, None);
    let db = fresh._dir.0.join("data/member/snap/db");
    let mut child = fresh;
    let _ = Command::new("kill")
        .args(["-TERM", &child.child.id().to_string()])
        .status();
    let _ = child.child.wait();
    let dir = copy_of_v2_fixture(&s, "snapped", "v2");
    std::fs::copy(&db, dir.join("member/snap/db")).unwrap();
    drop(child);
    let out = s.0.join("out.db");
    let printed = String::from_utf8(ok(etcdscope(&[
        &"migrate",
        &dir,
        &"-o",
        &out,
        &"--now",
        &now_arg("snapped"),
    ])))
    .unwrap();
    assert!(!printed.contains("kept"), "{printed}");
    let live: Value = serde_json::from_slice(
        &std::fs::read(common::fixture_dir("snapped").join("expected/keys-recursive.json"))
            .unwrap(),
    )
    .unwrap();
    let mut leaves = Vec::new();
    v2_leaves(&live["node"], &mut leaves);
    leaves.sort();
    let etcd = Etcd::restore_and_start(&out, None);
    let got: Vec<_> = kvs(&etcd.get_all())
        .into_iter()
        .map(|(k, _, c, m, _, _)| (k, c, m))
        .collect();
    let want: Vec<_> = leaves.into_iter().map(|(k, _, c, m)| (k, c, m)).collect();
    assert!(want.len() > 10);
    assert_eq!(
        got, want,
        "create/mod revisions = createdIndex/modifiedIndex"
    );
}

#[test]
fn damaged_input_is_refused_before_writing() {
    let s = Scratch::new("migrate-damaged");
    let dir = copy_of_v2_fixture(&s, "snapped", "damaged");
    // Flip a byte inside the first record of the first WAL segment: a CRC mismatch.
    let wal = common::files_in(&dir.join("member/wal"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut b = std::fs::read(&wal).unwrap();
    b[20] ^= 0x01;
    std::fs::write(&wal, b).unwrap();
    let out = s.0.join("never.db");
    let o = etcdscope(&[&"migrate", &dir, &"-o", &out]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("at byte offset"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    assert!(std::fs::read_dir(&s.0).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".tmp-")));

    // A damaged v3 source for rewrite: truncated in the middle.
    let src = std::fs::read(v3_fixture().join("snapshot.db")).unwrap();
    let torn = s.0.join("torn.db");
    std::fs::write(&torn, &src[..src.len() / 2]).unwrap();
    let o = etcdscope(&[&"rewrite", &torn, &"-o", &out]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
}

/// `migrate --redact-prefix`: the v2 values and the kept v3 values under the prefix are replaced
/// (re-encoded), the rest of the file as without it.
#[test]
fn migrate_redacts_v2_and_kept_v3_values() {
    let s = Scratch::new("migrate-redact");
    let dir = mixed_dir(&s);
    let out = s.0.join("redacted.db");
    let printed = String::from_utf8(ok(etcdscope(&[
        &"migrate",
        &dir,
        &"-o",
        &out,
        &"--now",
        &now_arg("wal-only"),
        &"--redact-prefix",
        &"",
    ])))
    .unwrap();
    let line = printed
        .lines()
        .find(|l| l.starts_with("redacted "))
        .unwrap_or_else(|| panic!("{printed}"));
    let n: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let all: serde_json::Value = serde_json::from_slice(&ok(etcdscope(&[
        &"get",
        &out,
        &"",
        &"--prefix",
        &"-w",
        &"json",
    ])))
    .unwrap();
    let kvs = all["kvs"].as_array().unwrap();
    assert!(
        kvs.len() > 10 && n as usize >= kvs.len(),
        "{n} redacted, {} keys",
        kvs.len()
    );
    for kv in kvs {
        assert_eq!(kv["value"], "PHJlZGFjdGVkPg==", "{kv}");
    }
    // Without it: the values are there.
    let plain = s.0.join("plain.db");
    ok(etcdscope(&[
        &"migrate",
        &dir,
        &"-o",
        &plain,
        &"--now",
        &now_arg("wal-only"),
    ]));
    let all: serde_json::Value = serde_json::from_slice(&ok(etcdscope(&[
        &"get",
        &plain,
        &"",
        &"--prefix",
        &"-w",
        &"json",
    ])))
    .unwrap();
    assert!(all["kvs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|kv| kv["value"] != "PHJlZGFjdGVkPg=="));
}
