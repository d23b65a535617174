//! `cargo xtask bench v2`: `etcdscope v2` against etcd 3.4 starting up on the same v2 data dir
//! (issue 3 item 8).
//!
//! The data dir is made once and cached outside git (`~/.cache/etcdscope/bench/v2-1m/`, built in
//! a temp dir next to it, then renamed): the real etcd 3.4 on 127.0.0.1 with `--enable-v2` and
//! the default `--snapshot-count` (100000), so the dir holds `.snap` files and WAL entries after
//! the last one, is loaded with 1M keys through the v2 HTTP API (`PUT /v2/keys/...`, form body,
//! many threads on keep-alive connections), nested dirs, values of 100–500 bytes, 1% of the keys
//! with `ttl=86400`; then etcd is stopped with SIGTERM.
//!
//! Each run then measures, in the same run, on copies of that dir with the page cache warm:
//! * `etcdscope v2 DIR --recursive -w json > /dev/null`: median wall time of 5, max peak RSS;
//! * etcd 3.4 started on a fresh `cp -a` copy (the copy not timed), from spawn until
//!   `GET /health` answers `"health":"true"` (polled every 10 ms), then SIGTERM; its peak RSS from
//!   wait4: median of 5;
//! * the floor: `cat` of every file of the dir.
//!
//! Once, outside the timing, the leaf count of our JSON is compared with the leaf count of
//! `GET /v2/keys/?recursive=true` on a started etcd. Numbers, not assertions: no ratio fails it.
//! `ETCDSCOPE_BENCH_V2_MAKE_ONLY=1` makes the data dir (when missing) and stops there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::{cache_dir, free_port};

const KEYS: u64 = 1_000_000;
const THREADS: u64 = 256;
const RUNS: usize = 5;
const APPS: u64 = 10;
const DIRS_PER_APP: u64 = 100;
/// One key in TTL_EVERY gets `ttl=86400`.
const TTL_EVERY: u64 = 100;
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;
const WNOHANG: i32 = 1;

pub fn run() -> Result<(), String> {
    let root = crate::repo_root();
    let cache = cache_dir();
    let data = cache.join("v2-1m");
    if !data.join("member").is_dir() {
        make_data_dir(&cache, &data)?;
    } else {
        eprintln!("bench: using the cached data dir {}", data.display());
    }
    if std::env::var_os("ETCDSCOPE_BENCH_V2_MAKE_ONLY").is_some() {
        return Ok(());
    }
    eprintln!("bench: building etcdscope (release)");
    crate::cargo(&root, &["build", "--release", "--locked", "-p", "cli"])?;
    let ours = root.join("target/release/etcdscope");

    let work = cache.join(format!("v2-work-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = measure_all(&ours, &data, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn measure_all(ours: &Path, data: &Path, work: &Path) -> Result<(), String> {
    let dir = work.join("ours");
    copy_dir(data, &dir)?;
    let dirs = dir.to_string_lossy().into_owned();
    let ours_s = ours.to_string_lossy().into_owned();
    let facts = Facts::of(&dir, ours)?;

    let cat_cmd = format!("find '{dirs}' -type f -exec cat {{}} + > /dev/null");
    // Warm the page cache once.
    measure("cat", &["sh", "-c", &cat_cmd])?;
    let cat = median_of("cat all files of DIR > /dev/null", &["sh", "-c", &cat_cmd])?;
    let us = median_of(
        "etcdscope v2 DIR --recursive -w json > /dev/null",
        &[&ours_s, "v2", &dirs, "--recursive", "-w", "json"],
    )?;

    let mut walls = Vec::new();
    let mut rss = Vec::new();
    for i in 0..RUNS {
        let (w, r) = etcd_until_healthy(data, work)?;
        eprintln!(
            "bench: etcd run {}: healthy after {:.3} s, peak RSS {:.1} MiB",
            i + 1,
            w.as_secs_f64(),
            r as f64 / 1024.0
        );
        walls.push(w);
        rss.push(r);
    }
    let etcd = Measured::from_runs(
        "etcd 3.4.23 start on a copy until /health is true (cp -a not timed)",
        walls,
        rss,
    );

    // Same keys? Once, outside the timing.
    let our_leaves = our_leaf_count(ours, &dir)?;
    let etcd_leaves = etcd_leaf_count(data, work)?;

    println!();
    facts.print(data);
    println!("runs per command: {RUNS} (median wall time; peak RSS: median of the runs' ru_maxrss for etcd, max for the others)");
    println!();
    println!("| command | median wall | peak RSS | runs (s) |");
    println!("|---|---|---|---|");
    for m in [&cat, &us, &etcd] {
        println!(
            "| `{}` | {:.3} s | {:.1} MiB | {} |",
            m.name,
            m.wall.as_secs_f64(),
            m.rss_kib as f64 / 1024.0,
            m.runs
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!();
    let faster = etcd.wall.as_secs_f64() / us.wall.as_secs_f64();
    let less = etcd.rss_kib as f64 / us.rss_kib.max(1) as f64;
    println!(
        "etcdscope v2 vs etcd start-up: {faster:.2}x faster (goal >= 5x: {}), {less:.2}x less peak memory (goal >= 3x: {})",
        if faster >= 5.0 { "met" } else { "missed" },
        if less >= 3.0 { "met" } else { "missed" },
    );
    println!(
        "leaf keys: etcdscope {our_leaves}, etcd GET /v2/keys/?recursive=true {etcd_leaves} (equal: {})",
        our_leaves == etcd_leaves
    );
    println!(
        "floor (cat): {:.3} s = {:.0} MB/s; etcdscope is {:.1}x the floor",
        cat.wall.as_secs_f64(),
        facts.bytes as f64 / 1e6 / cat.wall.as_secs_f64(),
        us.wall.as_secs_f64() / cat.wall.as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// the data set
// ---------------------------------------------------------------------------------------------

struct Facts {
    bytes: u64,
    files: u64,
    snaps: Vec<(String, u64)>,
    wals: Vec<(String, u64)>,
    db: u64,
    status: String,
}

impl Facts {
    fn of(dir: &Path, ours: &Path) -> Result<Facts, String> {
        let (bytes, files) = du(dir)?;
        let list = |sub: &str, ext: &str| -> Result<Vec<(String, u64)>, String> {
            let d = dir.join("member").join(sub);
            let mut v = Vec::new();
            for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
                let e = e.map_err(|e| e.to_string())?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(ext) {
                    v.push((name, e.metadata().map_err(|e| e.to_string())?.len()));
                }
            }
            v.sort();
            Ok(v)
        };
        let db = std::fs::metadata(dir.join("member/snap/db"))
            .map(|m| m.len())
            .unwrap_or(0);
        let out = Command::new(ours)
            .args(["status", "-w", "json"])
            .arg(dir)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("etcdscope status: {e}"))?;
        let s = String::from_utf8_lossy(&out.stdout);
        let status = [
            "last_index",
            "applied_index",
            "store_index",
            "ttl_keys",
            "overwritten_entries",
        ]
        .iter()
        .filter_map(|f| field(&s, f).map(|v| format!("{f} {v}")))
        .collect::<Vec<_>>()
        .join(", ");
        Ok(Facts {
            bytes,
            files,
            snaps: list("snap", ".snap")?,
            wals: list("wal", ".wal")?,
            db,
            status,
        })
    }

    fn print(&self, data: &Path) {
        println!(
            "data dir: {} ({KEYS} keys put through the v2 API, {APPS}x{DIRS_PER_APP} dirs, values 100-500 bytes, 1 in {TTL_EVERY} with ttl=86400)",
            data.display()
        );
        println!(
            "size: {} bytes ({:.1} MB) in {} files; member/snap/db {:.1} MB",
            self.bytes,
            self.bytes as f64 / 1e6,
            self.files,
            self.db as f64 / 1e6
        );
        let show = |v: &[(String, u64)]| {
            v.iter()
                .map(|(n, s)| format!("{n} ({:.1} MB)", *s as f64 / 1e6))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("snap files: {}: {}", self.snaps.len(), show(&self.snaps));
        println!("WAL segments: {}: {}", self.wals.len(), show(&self.wals));
        println!(
            "newest snapshot index: {}; etcdscope status: {}",
            self.snaps
                .last()
                .and_then(|(n, _)| n.split(['-', '.']).nth(1))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .map_or("-".to_string(), |i| i.to_string()),
            self.status
        );
    }
}

/// The first number after `"name":` in a JSON text.
fn field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    let v: String = json
        .get(at..)?
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Total bytes and number of regular files under `dir`.
fn du(dir: &Path) -> Result<(u64, u64), String> {
    let mut total = (0, 0);
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let t = e.file_type().map_err(|e| e.to_string())?;
        if t.is_dir() {
            let (b, f) = du(&e.path())?;
            total.0 += b;
            total.1 += f;
        } else if t.is_file() {
            total.0 += e.metadata().map_err(|e| e.to_string())?.len();
            total.1 += 1;
        }
    }
    Ok(total)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if !st.success() {
        return Err(format!("cp -a {} {} failed", from.display(), to.display()));
    }
    // Write the copy out now, so its writeback does not run during a timed run.
    let _ = Command::new("sync").status();
    Ok(())
}

fn key(i: u64) -> String {
    let app = i % APPS;
    let dir = i / APPS % DIRS_PER_APP;
    format!("/bench/app{app:02}/dir{dir:03}/key{i:07}")
}

/// Deterministic pseudo-random printable bytes (xorshift), 100–500 of them.
fn value(i: u64) -> Vec<u8> {
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

/// application/x-www-form-urlencoded.
fn form_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn make_data_dir(cache: &Path, data: &Path) -> Result<(), String> {
    let tmp = cache.join(format!("v2-1m.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let result = (|| {
        let dd = tmp.join("data");
        let started = Instant::now();
        eprintln!(
            "bench: making a {KEYS}-key v2 data dir with etcd 3.4 (--enable-v2) in {}",
            tmp.display()
        );
        let (mut etcd, cport) = start_etcd(&dd, &tmp.join("etcd.log"))?;
        wait_healthy(&mut etcd, cport, Duration::from_secs(60))?;
        let done = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let done = done.clone();
                std::thread::spawn(move || load(cport, t, done))
            })
            .collect();
        let load_start = Instant::now();
        let mut report = load_start;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let d = done.load(Ordering::Relaxed);
            if report.elapsed() >= Duration::from_secs(10) || d >= KEYS {
                report = Instant::now();
                eprintln!(
                    "bench: {d} keys in {:.0} s ({:.0} keys/s)",
                    load_start.elapsed().as_secs_f64(),
                    d as f64 / load_start.elapsed().as_secs_f64()
                );
            }
            if d >= KEYS || handles.iter().all(|h| h.is_finished()) {
                break;
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| "loader thread panicked".to_string())??;
        }
        let loaded = load_start.elapsed();
        eprintln!("bench: stopping etcd (SIGTERM)");
        etcd.stop(Duration::from_secs(300))?;
        std::fs::rename(&dd, data).map_err(|e| format!("rename to {}: {e}", data.display()))?;
        let total = started.elapsed();
        let note = format!(
            "{KEYS} keys loaded in {:.0} s with {THREADS} connections; made in {:.0} s in total\n",
            loaded.as_secs_f64(),
            total.as_secs_f64()
        );
        eprint!("bench: {note}");
        let _ = std::fs::write(cache.join("v2-1m.made.txt"), note);
        Ok(())
    })();
    if result.is_err() {
        eprintln!("bench: etcd log kept in {}", tmp.join("etcd.log").display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// One loader thread: keys t, t+THREADS, … over one keep-alive connection (reconnects on error).
fn load(port: u16, t: u64, done: Arc<AtomicU64>) -> Result<(), String> {
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let mut i = t;
    let mut failures = 0;
    while i < KEYS {
        let mut body = format!("value={}", form_encode(&value(i)));
        if i % TTL_EVERY == 7 {
            body.push_str("&ttl=86400");
        }
        let attempt = (|| -> Result<(), String> {
            if conn.is_none() {
                let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(Duration::from_secs(120)))
                    .map_err(|e| e.to_string())?;
                let r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
                conn = Some((s, r));
            }
            let Some((w, r)) = conn.as_mut() else {
                return Err("no connection".into());
            };
            write!(
                w,
                "PUT /v2/keys{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
                key(i),
                body.len(),
                body
            )
            .map_err(|e| e.to_string())?;
            let status = read_response(r, &mut |_| {})?;
            if status != 200 && status != 201 {
                return Err(format!("PUT {}: HTTP {status}", key(i)));
            }
            Ok(())
        })();
        match attempt {
            Ok(()) => {
                done.fetch_add(1, Ordering::Relaxed);
                i += THREADS;
                failures = 0;
            }
            Err(e) => {
                conn = None;
                failures += 1;
                if failures > 5 {
                    return Err(format!("put {}: {e}", key(i)));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Ok(())
}

/// Reads one HTTP/1.1 response, passing the body (de-chunked) to `sink`; returns the status.
fn read_response(r: &mut impl BufRead, sink: &mut dyn FnMut(&[u8])) -> Result<u16, String> {
    let mut line = String::new();
    if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("connection closed".into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {:?}", line.trim()))?;
    let mut len = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("connection closed in the response head".into());
        }
        let l = line.trim().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse::<u64>().ok();
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut copy = |r: &mut dyn Read, mut n: u64| -> Result<(), String> {
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..k]).map_err(|e| e.to_string())?;
            sink(&buf[..k]);
            n -= k as u64;
        }
        Ok(())
    };
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            let size = line.trim().split(';').next().unwrap_or("");
            let n = u64::from_str_radix(size, 16).map_err(|e| format!("chunk size: {e}"))?;
            copy(r, n)?;
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
        }
    } else if let Some(n) = len {
        copy(r, n)?;
    } else {
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).map_err(|e| e.to_string())?;
        sink(&rest);
    }
    Ok(status)
}

/// `GET path` on a fresh connection; the body goes to `sink`.
fn http_get(
    port: u16,
    path: &str,
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<u16, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    write!(
        w,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    read_response(&mut BufReader::with_capacity(256 * 1024, s), sink)
}

// ---------------------------------------------------------------------------------------------
// etcd processes
// ---------------------------------------------------------------------------------------------

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
    fn kill(pid: i32, sig: i32) -> i32;
}

/// A child we reap ourselves (wait4, for its rusage); killed and reaped on drop if still alive.
struct Proc {
    pid: i32,
    reaped: bool,
}

impl Proc {
    /// `Some((status, peak RSS KiB))` once it has exited; reaps it.
    fn try_reap(&mut self, options: i32) -> Result<Option<(i32, i64)>, String> {
        if self.reaped {
            return Err("already reaped".into());
        }
        let mut status = 0i32;
        let mut ru = Rusage::default();
        // SAFETY: wait4 writes into the two out-pointers, which point at live locals of the
        // right layout; the pid is our own child, not yet reaped.
        let r = unsafe { wait4(self.pid, &mut status, options, &mut ru) };
        if r < 0 {
            return Err(format!("wait4({}) failed", self.pid));
        }
        if r == 0 {
            return Ok(None);
        }
        self.reaped = true;
        Ok(Some((status, ru.maxrss)))
    }

    fn signal(&self, sig: i32) {
        if !self.reaped {
            // SAFETY: kill(2) on our own child's pid, which is not reaped yet, so not reused.
            unsafe { kill(self.pid, sig) };
        }
    }

    /// SIGTERM, then waits (SIGKILL after `grace`); returns the peak RSS in KiB.
    fn stop(&mut self, grace: Duration) -> Result<i64, String> {
        self.signal(SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            if let Some((_, rss)) = self.try_reap(WNOHANG)? {
                return Ok(rss);
            }
            if Instant::now() > deadline {
                eprintln!("bench: etcd ignored SIGTERM for {grace:?}; SIGKILL");
                self.signal(SIGKILL);
                return self
                    .try_reap(0)?
                    .map(|(_, rss)| rss)
                    .ok_or_else(|| "wait4 returned no child".to_string());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(SIGKILL);
            let _ = self.try_reap(0);
        }
    }
}

/// Starts etcd 3.4 on `data_dir` (new or existing) with v2 enabled, on free ports.
fn start_etcd(data_dir: &Path, log: &Path) -> Result<(Proc, u16), String> {
    let (cport, pport) = (free_port()?, free_port()?);
    let curl = format!("http://127.0.0.1:{cport}");
    let purl = format!("http://127.0.0.1:{pport}");
    let child = Command::new("etcd")
        .args(["--name", "bench", "--enable-v2", "--data-dir"])
        .arg(data_dir)
        .args([
            "--listen-client-urls",
            &curl,
            "--advertise-client-urls",
            &curl,
            "--listen-peer-urls",
            &purl,
            "--initial-advertise-peer-urls",
            &purl,
            "--initial-cluster",
            &format!("bench={purl}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?)
        .spawn()
        .map_err(|e| format!("etcd: {e} (run `cargo xtask setup` to install etcd-server)"))?;
    let pid = child.id() as i32;
    // The Child is not waited for by std: we reap it with wait4 to get its rusage.
    drop(child);
    Ok((Proc { pid, reaped: false }, cport))
}

/// Polls `GET /health` every 10 ms until it answers `"health":"true"`.
fn wait_healthy(etcd: &mut Proc, port: u16, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut body = Vec::new();
        // etcd accepts connections before it is ready and answers once it is: a blocked read
        // ends as soon as it serves; the timeout only bounds how late a crash is noticed.
        let ok = http_get(port, "/health", Duration::from_secs(2), &mut |b| {
            body.extend_from_slice(b)
        })
        .is_ok_and(|s| s == 200);
        if ok && String::from_utf8_lossy(&body).contains("\"health\":\"true\"") {
            return Ok(());
        }
        if let Some((status, _)) = etcd.try_reap(WNOHANG)? {
            return Err(format!(
                "etcd exited (wait status {status}) before it was healthy"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("etcd not healthy after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One timed start of etcd on a fresh copy of `data`: (spawn → healthy, peak RSS KiB).
fn etcd_until_healthy(data: &Path, work: &Path) -> Result<(Duration, i64), String> {
    let copy = work.join("etcd-copy");
    copy_dir(data, &copy)?;
    let log = work.join("etcd-run.log");
    let start = Instant::now();
    let (mut etcd, cport) = start_etcd(&copy, &log)?;
    let healthy = wait_healthy(&mut etcd, cport, Duration::from_secs(600));
    let wall = start.elapsed();
    let rss = etcd.stop(Duration::from_secs(120));
    let _ = std::fs::remove_dir_all(&copy);
    healthy.map_err(|e| format!("{e} (log: {})", log.display()))?;
    Ok((wall, rss?))
}

// ---------------------------------------------------------------------------------------------
// key counts
// ---------------------------------------------------------------------------------------------

/// Counts the `"value"` keys of a v2 JSON answer (one per file node), fed in pieces.
#[derive(Default)]
struct LeafCounter {
    in_string: bool,
    escaped: bool,
    /// The string being read, up to 6 bytes.
    current: Vec<u8>,
    /// A string just ended and was `value`: a `:` next makes it a key.
    value_string: bool,
    leaves: u64,
}

impl LeafCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.value_string = self.current == b"value";
                    continue;
                }
                if self.current.len() < 6 {
                    self.current.push(b);
                }
            } else if b == b'"' {
                self.in_string = true;
                self.current.clear();
                self.value_string = false;
            } else if b == b':' {
                if self.value_string {
                    self.leaves += 1;
                }
                self.value_string = false;
            } else if !b.is_ascii_whitespace() {
                self.value_string = false;
            }
        }
    }
}

fn our_leaf_count(ours: &Path, dir: &Path) -> Result<u64, String> {
    let mut child = Command::new(ours)
        .arg("v2")
        .arg(dir)
        .args(["--recursive", "-w", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("etcdscope: {e}"))?;
    let mut counter = LeafCounter::default();
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = out.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            counter.feed(&buf[..n]);
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() {
        return Err(format!("etcdscope v2 failed ({st})"));
    }
    Ok(counter.leaves)
}

fn etcd_leaf_count(data: &Path, work: &Path) -> Result<u64, String> {
    let copy = work.join("etcd-count");
    copy_dir(data, &copy)?;
    let log = work.join("etcd-count.log");
    let (mut etcd, cport) = start_etcd(&copy, &log)?;
    let result = wait_healthy(&mut etcd, cport, Duration::from_secs(600)).and_then(|()| {
        let mut counter = LeafCounter::default();
        let status = http_get(
            cport,
            "/v2/keys/?recursive=true",
            Duration::from_secs(600),
            &mut |b| counter.feed(b),
        )?;
        if status != 200 {
            return Err(format!("GET /v2/keys/?recursive=true: HTTP {status}"));
        }
        Ok(counter.leaves)
    });
    let _ = etcd.stop(Duration::from_secs(120));
    let _ = std::fs::remove_dir_all(&copy);
    result
}

// ---------------------------------------------------------------------------------------------
// timing
// ---------------------------------------------------------------------------------------------

struct Measured {
    name: String,
    wall: Duration,
    rss_kib: i64,
    runs: Vec<Duration>,
}

impl Measured {
    /// Median wall time; peak RSS: the median of the runs' values.
    fn from_runs(name: &str, runs: Vec<Duration>, mut rss: Vec<i64>) -> Measured {
        let mut sorted = runs.clone();
        sorted.sort();
        rss.sort();
        Measured {
            name: name.into(),
            wall: sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
            rss_kib: rss.get(rss.len() / 2).copied().unwrap_or_default(),
            runs,
        }
    }
}

/// Median wall time of RUNS runs; peak RSS: the largest of the runs.
fn median_of(name: &str, argv: &[&str]) -> Result<Measured, String> {
    let mut runs = Vec::new();
    let mut rss = 0;
    for _ in 0..RUNS {
        let (w, r) = measure(name, argv)?;
        runs.push(w);
        rss = rss.max(r);
    }
    let mut m = Measured::from_runs(name, runs, vec![]);
    m.rss_kib = rss;
    Ok(m)
}

/// Runs a command with output discarded; returns wall time and its peak RSS in KiB.
fn measure(name: &str, argv: &[&str]) -> Result<(Duration, i64), String> {
    let start = Instant::now();
    let child = Command::new(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let mut p = Proc {
        pid: child.id() as i32,
        reaped: false,
    };
    drop(child);
    let (status, rss) = p
        .try_reap(0)?
        .ok_or_else(|| format!("{name}: wait4 returned no child"))?;
    let wall = start.elapsed();
    if status != 0 {
        return Err(format!("{name}: exited with wait status {status}"));
    }
    Ok((wall, rss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_counter_counts_value_keys_only() {
        let json = br#"{"action":"get","node":{"dir":true,"nodes":[{"key":"/a","value":"x\"value\":1","modifiedIndex":4},{"key":"/d","dir":true,"nodes":[{"key":"/d/value","value" : ""}]}]}}"#;
        let mut c = LeafCounter::default();
        for piece in json.chunks(3) {
            c.feed(piece);
        }
        assert_eq!(c.leaves, 2);
    }

    #[test]
    fn form_encoding_and_keys() {
        assert_eq!(form_encode(b"a b\"{}:,"), "a%20b%22%7B%7D%3A%2C");
        assert_eq!(key(1234567), "/bench/app07/dir056/key1234567");
        let v = value(3);
        assert!((100..=500).contains(&v.len()));
    }
}
