//! `cargo xtask bench migrate`: `etcdscope migrate` against the real `etcdctl migrate` (3.4.23)
//! on the 1M-key v2 data dir that `cargo xtask bench v2` makes and caches
//! (`~/.cache/etcdscope/bench/v2-1m/`).
//!
//! Same run, same machine, page cache warm: median wall time and peak RSS (wait4) of
//! * `etcdscope migrate DIR -o OUT.db --force` (the output outside DIR);
//! * `etcdctl migrate --data-dir COPY` on a fresh `cp -a` copy each run (the copy is not timed;
//!   etcdctl writes into the dir);
//!
//! plus our snapshot write throughput (output bytes / wall time). Once, outside the timing, the
//! key counts of both results are compared (`etcdscope get --count-only` on our file and on the
//! db etcdctl wrote). Numbers, not assertions.

use std::path::Path;
use std::process::Command;

use crate::bench::{cache_dir, median_of_n, print_table, Measured};
use crate::bench_v2::copy_dir;

/// etcdctl migrate takes about two minutes per run on this data: three runs each.
const RUNS: usize = 3;

pub fn run() -> Result<(), String> {
    let root = crate::repo_root();
    let cache = cache_dir();
    let data = cache.join("v2-1m");
    if !data.join("member").is_dir() {
        return Err(format!(
            "{} is missing: `cargo xtask bench v2` makes it (about 5 minutes)",
            data.display()
        ));
    }
    eprintln!("bench: building etcdscope (release)");
    crate::cargo(&root, &["build", "--release", "--locked", "-p", "cli"])?;
    let ours = root.join("target/release/etcdscope");
    let work = cache.join(format!("migrate-work-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = measure_all(&ours, &data, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `count` of `etcdscope get FILE "" --prefix --count-only -w json`.
fn count(ours: &Path, db: &Path) -> Result<u64, String> {
    let out = Command::new(ours)
        .args(["get", &s(db), "", "--prefix", "--count-only", "-w", "json"])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("\"count\":")
        .ok_or_else(|| format!("no count in: {text}"))?;
    text[at + 8..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .map_err(|e| format!("count: {e}"))
}

fn measure_all(ours: &Path, data: &Path, work: &Path) -> Result<(), String> {
    // Warm the page cache.
    let _ = Command::new("sh")
        .args(["-c", &format!("cat '{}'/member/*/* > /dev/null", s(data))])
        .status();
    let out = work.join("migrated.db");
    let us = median_of_n(
        "etcdscope migrate DIR -o OUT.db",
        &[&s(ours), "migrate", &s(data), "-o", &s(&out), "--force"],
        RUNS,
    )?;
    let out_size = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();

    let mut runs = Vec::new();
    let mut rss = 0;
    let copy = work.join("copy");
    for i in 0..RUNS {
        copy_dir(data, &copy)?;
        eprintln!("bench: etcdctl migrate run {} of {RUNS}", i + 1);
        let (w, r) = crate::bench::measure(
            "etcdctl migrate",
            &["etcdctl", "migrate", "--data-dir", &s(&copy)],
        )?;
        runs.push(w);
        rss = rss.max(r);
    }
    runs.sort();
    let theirs = Measured {
        name: "etcdctl migrate --data-dir COPY".into(),
        wall: runs[runs.len() / 2],
        rss_kib: rss,
    };
    let ours_count = count(ours, &out)?;
    let theirs_count = count(ours, &copy.join("member/snap/db"))?;

    println!();
    println!(
        "data: {} (1M-key v2 data dir made by etcd 3.4.23); runs per command: {RUNS}",
        data.display()
    );
    print_table(&[&theirs, &us]);
    println!();
    println!(
        "etcdscope migrate vs etcdctl migrate: {:.1}x faster, {:.2}x less peak memory (goal: >= 20x, >= 4x)",
        theirs.wall.as_secs_f64() / us.wall.as_secs_f64(),
        theirs.rss_kib as f64 / us.rss_kib.max(1) as f64
    );
    println!(
        "our snapshot: {} bytes, written at {:.0} MB/s of wall time (load + write)",
        out_size,
        out_size as f64 / 1e6 / us.wall.as_secs_f64()
    );
    println!(
        "keys: ours {ours_count}, etcdctl's {theirs_count} (equal: {})",
        ours_count == theirs_count
    );
    Ok(())
}
