//! `cargo xtask bench scan`: etcdscope vs the real etcdctl on a 1M-key db made by real etcd.
//!
//! The db is made once and cached outside git (`~/.cache/etcdscope/bench/scan-1m.db`): an etcd
//! 3.4 on 127.0.0.1 is loaded through its v3 JSON gateway by parallel keep-alive connections
//! (one put per request, values 100–500 bytes), then `etcdctl snapshot save` writes the file.
//! Each run then measures, in the same run and on the same file, the median wall time and the
//! peak RSS (wait4's ru_maxrss) of `etcdscope status` and `etcdctl snapshot status`, and the
//! time of `cat FILE > /dev/null` as the floor, and prints ratios. Numbers, not assertions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYS: u64 = 1_000_000;
const THREADS: u64 = 256;
const RUNS: usize = 5;

pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("scan") => scan(),
        Some("v2") => crate::bench_v2::run(),
        Some("migrate") => crate::bench_migrate::run(),
        Some("export") => crate::bench_export::run(),
        Some("page") => crate::bench_page::run(&args[1..]),
        Some("k8s") => crate::bench_k8s::run(),
        _ => Err(
            "usage: cargo xtask bench scan | v2 | migrate | export | page [--runs N] | k8s".into(),
        ),
    }
}

pub(crate) fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("etcdscope").join("bench")
}

fn scan() -> Result<(), String> {
    let root = crate::repo_root();
    let db = cache_dir().join("scan-1m.db");
    if !db.exists() {
        make_db(&db)?;
    }
    eprintln!("bench: building etcdscope (release)");
    crate::cargo(&root, &["build", "--release", "--locked", "-p", "cli"])?;
    let ours = root.join("target/release/etcdscope");
    let size = std::fs::metadata(&db).map_err(|e| e.to_string())?.len();
    let dbs = db.to_string_lossy().into_owned();

    // Warm the page cache once so every command reads from memory.
    measure("cat", &["sh", "-c", &format!("cat '{dbs}' > /dev/null")])?;
    let cat = median_of(
        "cat FILE > /dev/null",
        &["sh", "-c", &format!("cat '{dbs}' > /dev/null")],
    )?;
    let etcdctl = median_of(
        "etcdctl snapshot status",
        &["etcdctl", "snapshot", "status", "-w", "json", &dbs],
    )?;
    let us = median_of(
        "etcdscope status",
        &[&ours.to_string_lossy(), "status", "-w", "json", &dbs],
    )?;
    let us_nv = median_of(
        "etcdscope status --no-verify",
        &[
            &ours.to_string_lossy(),
            "status",
            "--no-verify",
            "-w",
            "json",
            &dbs,
        ],
    )?;

    // Same answer?
    let a = Command::new(&ours)
        .args(["status", "-w", "json", &dbs])
        .output()
        .map_err(|e| e.to_string())?;
    let b = Command::new("etcdctl")
        .args(["snapshot", "status", "-w", "json", &dbs])
        .output()
        .map_err(|e| e.to_string())?;
    let same = ["hash", "revision", "totalKey", "totalSize"]
        .iter()
        .all(|f| field(&a.stdout, f) == field(&b.stdout, f));

    println!();
    println!(
        "file: {} ({} bytes, {:.1} MB)",
        db.display(),
        size,
        size as f64 / 1e6
    );
    println!("runs per command: {RUNS} (median wall time; peak RSS = max ru_maxrss)");
    println!();
    print_table(&[&cat, &etcdctl, &us, &us_nv]);
    println!();
    println!(
        "etcdscope status vs etcdctl snapshot status: {:.2}x faster, {:.2}x less peak memory (same hash/revision/totalKey/totalSize: {same})",
        etcdctl.wall.as_secs_f64() / us.wall.as_secs_f64(),
        etcdctl.rss_kib as f64 / us.rss_kib.max(1) as f64
    );
    println!(
        "etcdscope status --no-verify (no SHA-256 pass): {:.2}x faster, {:.2}x less peak memory",
        etcdctl.wall.as_secs_f64() / us_nv.wall.as_secs_f64(),
        etcdctl.rss_kib as f64 / us_nv.rss_kib.max(1) as f64
    );
    println!(
        "floor (cat): {:.3} s = {:.0} MB/s",
        cat.wall.as_secs_f64(),
        size as f64 / 1e6 / cat.wall.as_secs_f64()
    );
    Ok(())
}

fn field(json: &[u8], name: &str) -> Option<String> {
    let s = String::from_utf8_lossy(json);
    let key = format!("\"{name}\":");
    let at = s.find(&key)? + key.len();
    let rest = s.get(at..)?.trim_start();
    Some(rest.chars().take_while(|c| c.is_ascii_digit()).collect())
}

/// The markdown table of measured commands (median wall time, peak RSS).
pub(crate) fn print_table(rows: &[&Measured]) {
    println!("| command | median wall | peak RSS |");
    println!("|---|---|---|");
    for m in rows {
        println!(
            "| `{}` | {:.3} s | {:.1} MiB |",
            m.name,
            m.wall.as_secs_f64(),
            m.rss_kib as f64 / 1024.0
        );
    }
}

pub(crate) struct Measured {
    pub name: String,
    pub wall: Duration,
    pub rss_kib: i64,
}

pub(crate) fn median_of(name: &str, argv: &[&str]) -> Result<Measured, String> {
    median_of_n(name, argv, RUNS)
}

/// Median wall time of `runs` runs; peak RSS: the largest of the runs.
pub(crate) fn median_of_n(name: &str, argv: &[&str], runs: usize) -> Result<Measured, String> {
    let mut walls = Vec::new();
    let mut rss = 0;
    for _ in 0..runs.max(1) {
        let (w, r) = measure(name, argv)?;
        walls.push(w);
        rss = rss.max(r);
    }
    walls.sort();
    Ok(Measured {
        name: name.into(),
        wall: walls[walls.len() / 2],
        rss_kib: rss,
    })
}

#[repr(C)]
#[derive(Default)]
struct Timeval {
    sec: i64,
    usec: i64,
}

/// Linux `struct rusage` (x86_64 and aarch64 layout).
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

/// Runs a command with output discarded; returns wall time and its peak RSS in KiB.
pub(crate) fn measure(name: &str, argv: &[&str]) -> Result<(Duration, i64), String> {
    let start = Instant::now();
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let mut status = 0i32;
    let mut ru = Rusage::default();
    // SAFETY: wait4 writes into the two out-pointers, which point at live locals of the right
    // layout; the pid is our own child, not yet waited for.
    let r = unsafe { wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    if r < 0 {
        return Err(format!("{name}: wait4 failed"));
    }
    if status != 0 {
        return Err(format!("{name}: exited with status {status}"));
    }
    Ok((wall, ru.maxrss))
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift), printable so values look like config text.
pub(crate) fn value(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789{}\":, ";
    let len = 100 + (next() % 401) as usize;
    (0..len)
        .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
        .collect()
}

pub(crate) fn key(i: u64) -> String {
    let ns = [
        "default",
        "kube-system",
        "monitoring",
        "prod",
        "staging",
        "team-a",
        "team-b",
        "ci",
    ][(i % 8) as usize];
    let res = [
        "pods",
        "configmaps",
        "secrets",
        "events",
        "services/specs",
        "leases",
    ][(i / 8 % 6) as usize];
    format!("/registry/{res}/{ns}/object-{i:07}")
}

fn make_db(out: &Path) -> Result<(), String> {
    make_db_of(out, KEYS)
}

/// `etcd` as the single member `bench` on 127.0.0.1 (client port `cport`, peer port `pport`),
/// on `data_dir` (new or restored with the same name and peer URL).
pub(crate) fn etcd_command(data_dir: &Path, cport: u16, pport: u16) -> Command {
    let curl = format!("http://127.0.0.1:{cport}");
    let purl = format!("http://127.0.0.1:{pport}");
    let mut c = Command::new("etcd");
    c.args(["--name", "bench", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen-client-urls",
            &curl,
            "--advertise-client-urls",
            &curl,
        ])
        .args([
            "--listen-peer-urls",
            &purl,
            "--initial-advertise-peer-urls",
            &purl,
        ])
        .args(["--initial-cluster", &format!("bench={purl}")]);
    c
}

/// A db of `keys` keys (the same keys and values as the first `keys` of the 1M-key db).
pub(crate) fn make_db_of(out: &Path, keys: u64) -> Result<(), String> {
    make_db_with(out, keys, Arc::new(|i| (key(i), value(i))))
}

/// Key and value of the `i`-th put.
pub(crate) type Gen = Arc<dyn Fn(u64) -> (String, Vec<u8>) + Send + Sync>;

/// A db made by real etcd from `keys` puts of `gen(0..keys)`.
pub(crate) fn make_db_with(out: &Path, keys: u64, gen: Gen) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("etcdscope-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (cport, pport) = (free_port()?, free_port()?);
    let curl = format!("http://127.0.0.1:{cport}");
    eprintln!(
        "bench: making a {keys}-key db with etcd on 127.0.0.1:{cport} (about {} s)",
        keys * 360 / KEYS
    );
    let mut etcd = etcd_command(&dir.join("data"), cport, pport);
    etcd.args(["--quota-backend-bytes", "8589934592"]);
    let mut etcd = etcd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("etcd.log")).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("etcd: {e} (run `cargo xtask setup` to install etcd-server)"))?;
    let result = (|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", cport)).is_err() {
            if Instant::now() > deadline {
                return Err("etcd did not start".to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let done = done.clone();
                let gen = gen.clone();
                std::thread::spawn(move || load(cport, t, keys, done, gen))
            })
            .collect();
        loop {
            std::thread::sleep(Duration::from_secs(10));
            let d = done.load(Ordering::Relaxed);
            eprintln!("bench: {d} keys in {:.0} s", start.elapsed().as_secs_f64());
            if d >= keys || handles.iter().all(|h| h.is_finished()) {
                break;
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| "loader thread panicked".to_string())??;
        }
        std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")))
            .map_err(|e| e.to_string())?;
        let tmp = out.with_extension("tmp");
        let st = Command::new("etcdctl")
            .args(["--endpoints", &curl, "snapshot", "save"])
            .arg(&tmp)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("etcdctl snapshot save failed".into());
        }
        std::fs::rename(&tmp, out).map_err(|e| e.to_string())
    })();
    let _ = etcd.kill();
    let _ = etcd.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One loader thread: keys t, t+THREADS, … over one keep-alive connection.
fn load(port: u16, t: u64, keys: u64, done: Arc<AtomicU64>, gen: Gen) -> Result<(), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut w = stream.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    let mut i = t;
    while i < keys {
        let (k, v) = gen(i);
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            b64(k.as_bytes()),
            b64(&v)
        );
        write!(
            w,
            "POST /v3/kv/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        )
        .map_err(|e| e.to_string())?;
        // Read the response head and body (Content-Length or chunked).
        let mut len = None;
        let mut chunked = false;
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        if !line.starts_with("HTTP/1.1 200") {
            return Err(format!("put {i}: {}", line.trim()));
        }
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            let l = line.trim().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        if let Some(n) = len {
            let mut buf = vec![0u8; n];
            r.read_exact(&mut buf).map_err(|e| e.to_string())?;
        } else if chunked {
            loop {
                line.clear();
                r.read_line(&mut line).map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(line.trim(), 16).map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; n + 2];
                r.read_exact(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
        i += THREADS;
    }
    Ok(())
}
