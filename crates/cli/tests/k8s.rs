//! `etcdscope k8s … analyze` on a snapshot of a real etcd 3.4.23 holding what kube-apiserver
//! writes: the upstream kubernetes/api protobuf values under /registry, some overwritten, one
//! deleted, events under a lease, a custom resource as JSON and compact_rev_key.

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
