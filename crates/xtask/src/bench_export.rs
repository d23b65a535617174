//! `cargo xtask bench export`: `etcdscope export` on the 1M-key v3 snapshot that `bench scan`
//! makes (`~/.cache/etcdscope/bench/scan-1m.db`), for each dialect and schema: SQL throughput
//! (MB/s, rows/s) and peak RSS, against the floor of `dd` writing as many bytes; then the time
//! for the real `sqlite3` and `psql` (a throwaway PostgreSQL 15 started here, on a Unix socket in
//! a temp dir) to load each file; then `--to sqlite-db` (the database file written directly)
//! against exporting the SQLite script and loading it with `sqlite3`. Numbers, not assertions.

use std::path::Path;
use std::process::Command;

use crate::bench::{cache_dir, measure, median_of_n};

const RUNS: usize = 3;
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn run() -> Result<(), String> {
    let root = crate::repo_root();
    let db = cache_dir().join("scan-1m.db");
    if !db.exists() {
        return Err(format!(
            "{} is missing: `cargo xtask bench scan` makes it (about 6 minutes)",
            db.display()
        ));
    }
    eprintln!("bench: building etcdscope (release)");
    crate::cargo(&root, &["build", "--release", "--locked", "-p", "cli"])?;
    let ours = root.join("target/release/etcdscope");
    let work = std::env::temp_dir().join(format!("etcdscope-bench-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = measure_all(&ours, &db, &work);
    let _ = Command::new("runuser")
        .args([
            "-u",
            "postgres",
            "--",
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            &s(&work.join("pg")),
            "stop",
            "-m",
            "immediate",
        ])
        .output();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Rows the export reports ("wrote N bytes of SQL, R rows ...").
fn rows_of(ours: &Path, db: &Path, dialect: &str, schema: &str, out: &Path) -> Result<u64, String> {
    let o = Command::new(ours)
        .args([
            "export",
            &s(db),
            "--to",
            dialect,
            "--schema",
            schema,
            "-o",
            &s(out),
            "--force",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&o.stdout);
    let at = text
        .find(" rows")
        .ok_or_else(|| format!("no row count in: {text}"))?;
    text[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no row count in: {text}"))
}

fn start_postgres(work: &Path) -> Result<String, String> {
    let data = work.join("pg");
    let sock = work.join("sock");
    std::fs::create_dir_all(&sock).map_err(|e| e.to_string())?;
    let chown = Command::new("chown")
        .args(["-R", "postgres:postgres", &s(work)])
        .status()
        .map_err(|e| e.to_string())?;
    if !chown.success() {
        return Err("chown postgres failed".into());
    }
    let as_pg = |args: &[&str]| -> Result<(), String> {
        let o = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    };
    as_pg(&[
        &format!("{PG_BIN}/initdb"),
        "-D",
        &s(&data),
        "-A",
        "trust",
        "-U",
        "postgres",
    ])?;
    // -l: the server writes to a log file, not to our pipes (which would never close).
    as_pg(&[
        &format!("{PG_BIN}/pg_ctl"),
        "-D",
        &s(&data),
        "-l",
        &s(&work.join("pg.log")),
        "-o",
        &format!("-k {} -c listen_addresses='' -c fsync=off", s(&sock)),
        "-w",
        "start",
    ])?;
    Ok(s(&sock))
}

fn measure_all(ours: &Path, db: &Path, work: &Path) -> Result<(), String> {
    let _ = Command::new("sh")
        .args(["-c", &format!("cat '{}' > /dev/null", s(db))])
        .status();
    let sock = start_postgres(work)?;
    println!();
    println!(
        "input: {} (1M keys, etcd 3.4.23); runs per export: {RUNS}",
        db.display()
    );
    println!("| dialect · schema | SQL bytes | rows | median wall | MB/s | rows/s | peak RSS | dd floor | load |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // schema -> (export wall, sqlite3 load) of the SQLite script, for the sqlite-db table.
    let mut script_path = std::collections::HashMap::new();
    for (dialect, schema) in [
        ("sqlite", "etcd"),
        ("sqlite", "kine"),
        ("postgres", "etcd"),
        ("postgres", "kine"),
    ] {
        let out = work.join(format!("{dialect}-{schema}.sql"));
        let rows = rows_of(ours, db, dialect, schema, &out)?;
        let m = median_of_n(
            &format!("export {dialect} {schema}"),
            &[
                &s(ours),
                "export",
                &s(db),
                "--to",
                dialect,
                "--schema",
                schema,
                "-o",
                &s(&out),
                "--force",
            ],
            RUNS,
        )?;
        let bytes = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
        let blocks = bytes.div_ceil(1 << 20).to_string();
        let floor = work.join("dd.out");
        let (dd, _) = measure(
            "dd",
            &[
                "dd",
                "if=/dev/zero",
                &format!("of={}", s(&floor)),
                "bs=1M",
                &format!("count={blocks}"),
                "conv=fsync",
            ],
        )?;
        let _ = std::fs::remove_file(&floor);
        let load = if dialect == "sqlite" {
            let target = work.join(format!("{schema}.sqlite"));
            let _ = std::fs::remove_file(&target);
            measure(
                "sqlite3",
                &["sqlite3", &s(&target), &format!(".read {}", s(&out))],
            )?
            .0
        } else {
            let dbname = format!("b_{schema}");
            let _ = Command::new("psql")
                .args([
                    "-h",
                    &sock,
                    "-U",
                    "postgres",
                    "-q",
                    "-c",
                    &format!("CREATE DATABASE {dbname}"),
                ])
                .output();
            measure(
                "psql",
                &[
                    "psql",
                    "-h",
                    &sock,
                    "-U",
                    "postgres",
                    "-d",
                    &dbname,
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-f",
                    &s(&out),
                ],
            )?
            .0
        };
        let wall = m.wall.as_secs_f64();
        if dialect == "sqlite" {
            script_path.insert(schema, (wall, load.as_secs_f64()));
        }
        println!(
            "| {dialect} · {schema} | {bytes} | {rows} | {wall:.3} s | {:.0} | {:.0} | {:.1} MiB | {:.3} s | {:.1} s |",
            bytes as f64 / 1e6 / wall,
            rows as f64 / wall,
            m.rss_kib as f64 / 1024.0,
            dd.as_secs_f64(),
            load.as_secs_f64()
        );
        let _ = std::fs::remove_file(&out);
    }
    println!();
    println!("goal: >= 300 MB/s of SQL with < 64 MiB peak RSS; dd floor = the same bytes written by dd (conv=fsync)");
    println!();
    println!("| sqlite-db · schema | database bytes | rows | median wall | rows/s | peak RSS | script export + sqlite3 load |");
    println!("|---|---|---|---|---|---|---|");
    for schema in ["etcd", "kine"] {
        let out = work.join(format!("direct-{schema}.sqlite"));
        let argv = [
            s(ours),
            "export".into(),
            s(db),
            "--to".into(),
            "sqlite-db".into(),
            "--schema".into(),
            schema.into(),
            "-o".into(),
            s(&out),
            "--force".into(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let rows = rows_of(ours, db, "sqlite-db", schema, &out)?;
        let m = median_of_n(&format!("export sqlite-db {schema}"), &argv, RUNS)?;
        let bytes = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
        let wall = m.wall.as_secs_f64();
        let (export, load) = script_path.get(schema).copied().unwrap_or((0.0, 0.0));
        println!(
            "| sqlite-db · {schema} | {bytes} | {rows} | {wall:.3} s | {:.0} | {:.1} MiB | {:.3} s + {:.1} s = {:.1} s |",
            rows as f64 / wall,
            m.rss_kib as f64 / 1024.0,
            export,
            load,
            export + load
        );
        let _ = std::fs::remove_file(&out);
    }
    Ok(())
}
