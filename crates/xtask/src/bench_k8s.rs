//! `cargo xtask bench k8s`: decoding Kubernetes objects. A db of 100k objects is made once by
//! real etcd 3.4 (cached in `~/.cache/etcdscope/bench/`): the values are the upstream
//! kubernetes/api protobuf testdata (all 193 types when ../shared/k8s-api-testdata is there,
//! else the 4 committed in crates/kube/tests/data), round-robin, under
//! `/registry/<kind>s/ns-<n>/obj-<i>`. Each run measures, on the same file:
//!
//! * `etcdscope k8s DB get all -o json` and `-o yaml` (every object decoded and printed);
//! * the same as a table (decoded, one row each);
//! * the real competitor for reading them: `etcdctl get --prefix /registry -w json` against
//!   etcd 3.4 started on the restored snapshot (undecoded protobuf, base64), which is what a
//!   user without a decoder does today.
//!
//! Objects per second = objects / median wall time. Then the page (Trunk release build, headless
//! Chromium, `tests/bench-page.mjs --k8s`): the db opened as a user would, every live object
//! decoded and made into YAML in the worker, timed there, while the page counts its animation
//! frames (the UI thread stays free). Numbers, not assertions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::{cache_dir, etcd_command, free_port, make_db_with, median_of_n, print_table};

const OBJECTS: u64 = 100_000;
const RUNS: usize = 3;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The `.pb` values to store, with the resource name for their keys.
fn values(root: &Path) -> Result<(String, Vec<(String, Vec<u8>)>), String> {
    let shared = root.join("../shared/k8s-api-testdata/testdata/HEAD");
    let (dir, what) = if shared.is_dir() {
        (shared, "upstream HEAD testdata")
    } else {
        (
            root.join("crates/kube/tests/data"),
            "crates/kube/tests/data",
        )
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "pb") {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
            let kind = stem
                .as_deref()
                .and_then(|s| s.rsplit('.').next())
                .unwrap_or("object")
                .to_ascii_lowercase();
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push((format!("{kind}s"), bytes));
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("no .pb files in {}", dir.display()));
    }
    Ok((format!("{} types from {what}", out.len()), out))
}

pub fn run() -> Result<(), String> {
    let root = crate::repo_root();
    let (what, vals) = values(&root)?;
    let db = cache_dir().join(format!("k8s-100k-{}types.db", vals.len()));
    if !db.exists() {
        let vals = Arc::new(vals.clone());
        make_db_with(
            &db,
            OBJECTS,
            Arc::new(move |i| {
                let (res, v) = &vals[(i % vals.len() as u64) as usize];
                (
                    format!("/registry/{res}/ns-{}/obj-{i:06}", i % 50),
                    v.clone(),
                )
            }),
        )?;
    }
    eprintln!("bench: building etcdscope (release)");
    crate::cargo(&root, &["build", "--release", "--locked", "-p", "cli"])?;
    let ours = s(&root.join("target/release/etcdscope"));
    let dbs = s(&db);
    let work = std::env::temp_dir().join(format!("etcdscope-bench-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let result = measure_all(&ours, &dbs, &work, &what);
    let _ = std::fs::remove_dir_all(&work);
    result?;
    // The same decoding in the page's worker (headless Chromium).
    crate::run(&root, "trunk", &["build", "--release"])?;
    println!();
    crate::run(
        &root,
        "node",
        &["tests/bench-page.mjs", "dist", "3", "--k8s", &dbs],
    )
}

fn measure_all(ours: &str, db: &str, work: &Path, what: &str) -> Result<(), String> {
    // How many decode, and the sizes. The output goes to a file: held in this process, it
    // would count in every later child's peak RSS (Linux carries a process's peak across exec).
    let out_file = work.join("all.json");
    let o = Command::new(ours)
        .args(["k8s", db, "get", "all", "-o", "json"])
        .stdout(std::fs::File::create(&out_file).map_err(|e| e.to_string())?)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "etcdscope k8s get all: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let json_bytes = std::fs::metadata(&out_file).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&out_file);
    // "N of M object(s) could not be decoded" on stderr when some are not, after one line per
    // object saying why; the distinct reasons.
    let err = String::from_utf8_lossy(&o.stderr);
    let undecoded = err
        .lines()
        .find(|l| l.contains("could not be decoded"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let mut reasons: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, r)| r))
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    let decoded = OBJECTS - undecoded.min(OBJECTS);
    let json = median_of_n(
        "etcdscope k8s DB get all -o json",
        &[ours, "k8s", db, "get", "all", "-o", "json"],
        RUNS,
    )?;
    let yaml = median_of_n(
        "etcdscope k8s DB get all -o yaml",
        &[ours, "k8s", db, "get", "all", "-o", "yaml"],
        RUNS,
    )?;
    let table = median_of_n(
        "etcdscope k8s DB get all (table)",
        &[ours, "k8s", db, "get", "all"],
        RUNS,
    )?;
    let mut etcd = Restored::start(db, work)?;
    let endpoint = format!("http://127.0.0.1:{}", etcd.port);
    let ctl = median_of_n(
        "etcdctl get --prefix /registry -w json (etcd on the restored db; not decoded)",
        &[
            "etcdctl",
            "--endpoints",
            &endpoint,
            "get",
            "--prefix",
            "/registry",
            "-w",
            "json",
        ],
        RUNS,
    );
    etcd.stop();
    let ctl = ctl?;

    println!();
    println!("db: {db} ({OBJECTS} objects: {what}); runs per command: {RUNS}");
    println!(
        "decoded to JSON: {decoded} of {OBJECTS} objects ({:.1} MB of JSON); not decoded: {}",
        json_bytes as f64 / 1e6,
        if reasons.is_empty() {
            "-".to_string()
        } else {
            reasons.join("; ")
        }
    );
    println!();
    print_table(&[&json, &yaml, &table, &ctl]);
    println!();
    let per_s = |m: &crate::bench::Measured| OBJECTS as f64 / m.wall.as_secs_f64();
    println!(
        "objects per second: {:.0} (JSON), {:.0} (YAML), {:.0} (table); etcdctl reads {:.0} per second undecoded",
        per_s(&json),
        per_s(&yaml),
        per_s(&table),
        per_s(&ctl)
    );
    println!(
        "etcdscope get all -o json vs etcdctl get --prefix: {:.2}x the speed, {:.2}x less peak memory",
        ctl.wall.as_secs_f64() / json.wall.as_secs_f64(),
        ctl.rss_kib as f64 / json.rss_kib.max(1) as f64
    );
    Ok(())
}

/// etcd 3.4 on a restored copy of the db.
struct Restored {
    child: Child,
    port: u16,
}

impl Restored {
    fn start(db: &str, work: &Path) -> Result<Restored, String> {
        let (cport, pport) = (free_port()?, free_port()?);
        let purl = format!("http://127.0.0.1:{pport}");
        let curl = format!("http://127.0.0.1:{cport}");
        let data: PathBuf = work.join("restored");
        let st = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "restore", db, "--name", "bench"])
            .args(["--initial-cluster", &format!("bench={purl}")])
            .args(["--initial-advertise-peer-urls", &purl, "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("etcdctl snapshot restore failed".into());
        }
        let child = etcd_command(&data, cport, pport)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("etcd: {e}"))?;
        let mut r = Restored { child, port: cport };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new("etcdctl")
                .args(["--endpoints", &curl, "endpoint", "health"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(r);
            }
            if Instant::now() > deadline {
                r.stop();
                return Err("etcd on the restored db did not become healthy".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
