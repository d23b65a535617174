//! `etcdscope k8s …` on snapshots of a real etcd 3.4.23 holding what kube-apiserver writes: the
//! upstream kubernetes/api protobuf values under /registry, some overwritten, one deleted, events
//! under a lease, a custom resource as JSON, values encrypted at rest and compact_rev_key (one
//! made here, and the committed fixture of crates/kube/tests/data/make-snapshot.sh); and the
//! `--redact` of rewrite and export.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

const ETCD: &str = "/usr/bin/etcd";

fn have_etcd() -> bool {
    let ok = Path::new(ETCD).exists() && Path::new("/usr/bin/etcdctl").exists();
    if !ok {
        eprintln!("skipped: etcd 3.4.23 is not installed (cargo xtask setup installs it)");
    }
    ok
}

struct Etcd {
    child: Child,
    dir: PathBuf,
    client: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    fn start() -> Etcd {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("k8s-etcd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (peer, client) = (
            format!("http://127.0.0.1:{}", port()),
            format!("http://127.0.0.1:{}", port()),
        );
        let child = Command::new(ETCD)
            .args(["--name", "k", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args(["--initial-cluster", &format!("k={peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let e = Etcd { child, dir, client };
        let start = Instant::now();
        while !e.ctl(&["endpoint", "health"]).status.success() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "etcd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.client))
            .args(args)
            .output()
            .unwrap()
    }

    /// A put through the JSON gateway (binary values intact); returns the revision.
    fn put(&self, key: &str, value: &[u8], lease: Option<&str>) {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut body = serde_json::json!({"key": b64(key.as_bytes()), "value": b64(value)});
        if let Some(l) = lease {
            body["lease"] = Value::String(l.to_string());
        }
        let o = Command::new("curl")
            .args([
                "-sf",
                &format!("{}/v3/kv/put", self.client),
                "-d",
                &body.to_string(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "put {key}");
    }
}

fn pb(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../kube/tests/data")
            .join(name),
    )
    .unwrap()
}

#[test]
fn analyze_groups_a_real_kubernetes_snapshot() {
    if !have_etcd() {
        return;
    }
    let e = Etcd::start();
    let pod = pb("core.v1.Pod.pb");
    let cm = pb("core.v1.ConfigMap.pb");
    let deploy = pb("apps.v1.Deployment.pb");
    let secret = pb("core.v1.Secret.pb");
    // Three revisions of one pod, one of another in a second namespace.
    for _ in 0..3 {
        e.put("/registry/pods/default/web-0", &pod, None);
    }
    e.put("/registry/pods/team-a/api-0", &pod, None);
    e.put("/registry/configmaps/default/settings", &cm, None);
    e.put("/registry/deployments/team-a/api", &deploy, None);
    e.put("/registry/secrets/default/token", &secret, None);
    // A deleted object, still held in history.
    e.put("/registry/configmaps/team-a/gone", &cm, None);
    assert!(e
        .ctl(&["del", "/registry/configmaps/team-a/gone"])
        .status
        .success());
    // Events under a lease, a cluster-scoped node, a custom resource (JSON), compact_rev_key.
    let grant: Value =
        serde_json::from_slice(&e.ctl(&["lease", "grant", "3600", "-w", "json"]).stdout).unwrap();
    let lease = grant["ID"].as_i64().unwrap().to_string();
    for i in 0..4 {
        e.put(
            &format!("/registry/events/default/web-0.{i}"),
            b"k8s\0event",
            Some(&lease),
        );
    }
    e.put("/registry/minions/node-1", &pod, None);
    e.put(
        "/registry/example.com/widgets/team-a/w1",
        br#"{"apiVersion":"example.com/v1","kind":"Widget"}"#,
        None,
    );
    e.put("compact_rev_key", b"1", None);
    let snap = e.dir.join("k8s.db");
    assert!(e
        .ctl(&["snapshot", "save", snap.to_str().unwrap()])
        .status
        .success());

    let o = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(["k8s"])
        .arg(&snap)
        .args(["analyze", "-w", "json", "--top", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |table: &str, field: &str, name: &str| -> Value {
        r[table]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x[field] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{table} {name}: {r}"))
    };
    let pods = row("by_type", "type", "pods");
    let kb = |k: &str, v: &[u8]| (k.len() + v.len()) as u64;
    assert_eq!(pods["objects"], 2);
    assert_eq!(pods["revisions"], 4);
    assert_eq!(
        pods["live_bytes"].as_u64().unwrap(),
        kb("/registry/pods/default/web-0", &pod) + kb("/registry/pods/team-a/api-0", &pod)
    );
    assert_eq!(
        pods["history_bytes"].as_u64().unwrap(),
        2 * kb("/registry/pods/default/web-0", &pod)
    );
    let cms = row("by_type", "type", "configmaps");
    assert_eq!(
        (
            cms["objects"].as_u64(),
            cms["deleted"].as_u64(),
            cms["revisions"].as_u64()
        ),
        (Some(1), Some(1), Some(3))
    );
    assert_eq!(row("by_type", "type", "events")["objects"], 4);
    assert_eq!(row("by_type", "type", "nodes")["objects"], 1);
    assert_eq!(row("by_type", "type", "widgets.example.com")["objects"], 1);
    assert_eq!(row("by_type", "type", "(compact_rev_key)")["objects"], 1);
    let team_a = row("by_namespace", "namespace", "team-a");
    assert_eq!(
        (team_a["objects"].as_u64(), team_a["deleted"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(row("by_namespace", "namespace", "(cluster)")["objects"], 2);
    assert_eq!(r["all"]["revisions"], 16);
    // The largest live objects are the pods and the node (same value, longer keys first by
    // bytes); web-0 has the most revisions.
    let largest: Vec<&str> = r["largest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(largest.len(), 3);
    assert!(
        largest
            .iter()
            .all(|k| k.starts_with("/registry/pods/") || k.starts_with("/registry/minions/")),
        "{largest:?}"
    );
    assert_eq!(
        r["most_revisions"][0]["key"],
        "/registry/pods/default/web-0"
    );
    assert_eq!(r["most_revisions"][0]["revisions"], 3);
    // The table names the same groups.
    let t = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(["k8s"])
        .arg(&snap)
        .arg("analyze")
        .output()
        .unwrap();
    let text = String::from_utf8(t.stdout).unwrap();
    assert!(text.contains("1 deleted but held"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("widgets.example.com")),
        "{text}"
    );

    // The deleted configmap is still held: listed, exported as stored, and put back.
    let deleted = |extra: &[&str]| -> Value {
        let o = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
            .args(["k8s"])
            .arg(&snap)
            .arg("deleted")
            .args(extra)
            .args(["-w", "json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let all = deleted(&[]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["key"], "/registry/configmaps/team-a/gone");
    assert_eq!(all[0]["revision"], 9);
    assert_eq!(all[0]["deleted_at"], 10);
    assert_eq!(all[0]["encoding"], "pb");
    assert!(deleted(&["pods"]).as_array().unwrap().is_empty());
    assert!(deleted(&["configmaps", "-n", "default"])
        .as_array()
        .unwrap()
        .is_empty());
    let dir = e.dir.join("export");
    let ex = deleted(&[
        "configmaps",
        "-n",
        "team-a",
        "--export",
        dir.to_str().unwrap(),
    ]);
    let file = PathBuf::from(ex[0]["file"].as_str().unwrap());
    assert_eq!(file, dir.join("configmaps/team-a/gone@9.pb"));
    assert_eq!(std::fs::read(&file).unwrap(), cm);
    let put = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", e.client))
        .args(["put", "/registry/configmaps/team-a/gone"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let got = e.ctl(&["get", "/registry/configmaps/team-a/gone", "-w", "json"]);
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    let value = base64::engine::general_purpose::STANDARD
        .decode(got["kvs"][0]["value"].as_str().unwrap())
        .unwrap();
    assert_eq!(value, cm, "the object is back, byte for byte");
}

/// The committed fixture (crates/kube/tests/data/make-snapshot.sh: a real etcd 3.4.23 snapshot).
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kube/tests/data/k8s-snapshot.db")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kube/tests/data")
        .join(name)
}

fn scope(args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn get(extra: &[&str]) -> Output {
    let f = fixture();
    let mut args = vec!["k8s", f.to_str().unwrap(), "get"];
    args.extend_from_slice(extra);
    scope(&args)
}

#[test]
fn get_prints_objects_as_kubectl_does() {
    // A table: one pod, at the revision of its third put.
    let t = String::from_utf8(get(&["po"]).stdout).unwrap();
    let row: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["default", "nameValue", "v1/Pod", "4"], "{t}");
    // YAML of one object: upstream's kubectl-style YAML, resourceVersion = the etcd revision.
    let y = String::from_utf8(get(&["pod", "nameValue", "-n", "default", "-o", "yaml"]).stdout)
        .unwrap();
    let want = std::fs::read_to_string(data("core.v1.Pod.yaml"))
        .unwrap()
        .replacen(
            "  resourceVersion: resourceVersionValue\n",
            "  resourceVersion: \"4\"\n",
            1,
        );
    assert!(y == want, "the pod's YAML differs from upstream's");
    // A list in JSON; the custom resource (stored as JSON) and the events too.
    let l: Value =
        serde_json::from_slice(&get(&["events", "-n", "busy", "-o", "json"]).stdout).unwrap();
    assert_eq!(l["kind"], "List");
    assert_eq!(l["items"].as_array().unwrap().len(), 40);
    let w: Value =
        serde_json::from_slice(&get(&["widgets.example.com", "w1", "-o", "json"]).stdout).unwrap();
    assert_eq!(w["spec"]["size"], 3);
    // An older revision: the pod existed at revision 3, not at 1.
    let old = String::from_utf8(get(&["pods", "--rev", "3"]).stdout).unwrap();
    assert!(old.lines().nth(1).unwrap().contains(" 3 "), "{old}");
    let f = fixture();
    let none = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(["k8s", f.to_str().unwrap(), "get", "pods", "--rev", "1"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no pods"));
}

#[test]
fn secrets_are_masked_unless_revealed_and_decrypted_with_the_config() {
    let secret = |extra: &[&str]| -> Value {
        let mut a = vec!["secret", "plain", "-n", "default", "-o", "json"];
        a.extend_from_slice(extra);
        serde_json::from_slice(&get(&a).stdout).unwrap()
    };
    let masked = secret(&[]);
    assert_eq!(masked["data"]["dataKey"], "<masked: 1 bytes>");
    assert_eq!(masked["stringData"]["stringDataKey"], "<masked: 15 bytes>");
    assert_eq!(masked["type"], "typeValue");
    let clear = secret(&["--reveal-secrets"]);
    let upstream: Value =
        serde_json::from_slice(&std::fs::read(data("core.v1.Secret.json")).unwrap()).unwrap();
    assert_eq!(clear["data"], upstream["data"]);
    assert_eq!(clear["stringData"], upstream["stringData"]);
    // --mask-prefix masks whole values.
    let f = fixture();
    let o = Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args([
            "k8s",
            f.to_str().unwrap(),
            "get",
            "cm",
            "nameValue",
            "-o",
            "yaml",
        ])
        .args(["--mask-prefix", "/registry/configmaps/"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("dataValue"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("masked"));
    // Encrypted at rest: labelled without a config, decrypted with it (aesgcm authenticates the
    // etcd key, so this also checks the key is passed).
    let t = String::from_utf8(get(&["secrets"]).stdout).unwrap();
    assert!(t.contains("encrypted, aesgcm v1 key \"gcm256\""), "{t}");
    assert!(t.contains("encrypted, kms v2 key \"vault-kms\""), "{t}");
    let cfg = data("encryption/config.yaml");
    let s1: Value = serde_json::from_slice(
        &get(&[
            "secret",
            "s1",
            "-o",
            "json",
            "--reveal-secrets",
            "--encryption-config",
            cfg.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(s1["kind"], "Secret");
    assert_eq!(s1["data"], upstream["data"]);
    let cm1: Value = serde_json::from_slice(
        &get(&[
            "cm",
            "cm1",
            "-o",
            "json",
            "--encryption-config",
            cfg.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(cm1["kind"], "ConfigMap");
}

#[test]
fn deleted_exports_yaml_and_redacted_copies_still_decode() {
    let tmp = std::env::temp_dir().join(format!("etcdscope-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let f = fixture();
    let dir = tmp.join("export");
    let ex: Value = serde_json::from_slice(
        &scope(&[
            "k8s",
            f.to_str().unwrap(),
            "deleted",
            "--export",
            dir.to_str().unwrap(),
            "--export-format",
            "yaml",
            "-w",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let file = PathBuf::from(ex[0]["file"].as_str().unwrap());
    assert_eq!(file.extension().unwrap(), "yaml");
    let y = std::fs::read_to_string(&file).unwrap();
    assert!(
        y.contains("kind: ConfigMap\n") && y.contains("dataKey: dataValue\n"),
        "{y}"
    );
    // A raw export with --redact-prefix: the value replaced.
    let dir2 = tmp.join("export2");
    let ex2: Value = serde_json::from_slice(
        &scope(&[
            "k8s",
            f.to_str().unwrap(),
            "deleted",
            "--export",
            dir2.to_str().unwrap(),
            "--redact-prefix",
            "/registry/configmaps/",
            "-w",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let raw = std::fs::read(ex2[0]["file"].as_str().unwrap()).unwrap();
    assert_eq!(raw, b"<redacted>");
    // A decoded export of a masked key is not its bytes.
    let dir3 = tmp.join("export3");
    let ex3: Value = serde_json::from_slice(
        &scope(&[
            "k8s",
            f.to_str().unwrap(),
            "deleted",
            "--export",
            dir3.to_str().unwrap(),
            "--export-format",
            "yaml",
            "--mask-prefix",
            "/registry/configmaps/",
            "-w",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let masked = std::fs::read(ex3[0]["file"].as_str().unwrap()).unwrap();
    assert_eq!(masked, b"masked\n");

    // rewrite --redact: Secret data replaced, the rest as it was; still a valid snapshot.
    let out = tmp.join("redacted.db");
    let r = String::from_utf8(
        scope(&[
            "rewrite",
            f.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--redact",
        ])
        .stdout,
    )
    .unwrap();
    assert!(r.contains("redacted 1 value(s)"), "{r}");
    let s: Value = serde_json::from_slice(
        &scope(&[
            "k8s",
            out.to_str().unwrap(),
            "get",
            "secret",
            "plain",
            "-n",
            "default",
            "-o",
            "json",
            "--reveal-secrets",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(s["data"]["dataKey"], "PHJlZGFjdGVkPg==");
    assert_eq!(s["stringData"]["stringDataKey"], "<redacted>");
    assert_eq!(s["metadata"]["name"], "nameValue");
    let pods =
        |db: &Path| scope(&["k8s", db.to_str().unwrap(), "get", "pods", "-o", "json"]).stdout;
    assert_eq!(pods(&out), pods(&f), "other objects unchanged");
    if have_etcd() {
        let st = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    // export --redact: the Secret's stringData value is gone from the SQL, the rest is there.
    let sql = |extra: &[&str]| {
        let mut a = vec!["export", f.to_str().unwrap(), "--to", "sqlite"];
        a.extend_from_slice(extra);
        scope(&a).stdout
    };
    let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let plain = sql(&[]);
    let red = sql(&["--redact"]);
    // SQLite blobs are hex: "stringDataValue" = 737472696e6744617461...
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
    let needle = hex(b"stringDataValue");
    assert!(has(&plain, needle.as_bytes()) || has(&plain, needle.to_uppercase().as_bytes()));
    assert!(!has(&red, needle.as_bytes()) && !has(&red, needle.to_uppercase().as_bytes()));
    // The Secret's other fields are still there.
    let name = hex(b"typeValue");
    assert!(has(&red, name.as_bytes()) || has(&red, name.to_uppercase().as_bytes()));
    std::fs::remove_dir_all(&tmp).unwrap();
}
