//! `cargo xtask`: the project's tasks, std only.
//!
//! * `setup`: installs what is missing on a Debian 12 machine (idempotent; each step checks first).
//! * `serve [--port N]`: setup, a release build of the page, then serves it on 127.0.0.1 with the
//!   production Content-Security-Policy.
//! * `test`: setup, then everything: unit and integration tests, fixtures made fresh by a real
//!   etcd 3.4.23 compared with our answers, the page built by Trunk offline and driven in headless
//!   Chromium over http://127.0.0.1 and as a single file from file://. Ends with `N passed, N failed`.
//! * `single`: the single self-contained HTML page (dist-single/etcdscope.html).
//! * `bench scan`: etcdscope against etcdctl on a 1M-key snapshot (see bench.rs).
//! * `bench page`: the page in headless Chromium, drop to summary and to the first tree level,
//!   memory, on 100k- and 1M-key snapshots (see bench_page.rs).
//! * `k8s-schema --api DIR --apimachinery DIR`: kube's schema table from upstream generated.proto
//!   and Go struct tags (see k8s_schema.rs and crates/kube/src/schema/SOURCES.md).

mod bench;
mod bench_export;
mod bench_k8s;
mod bench_migrate;
mod bench_page;
mod bench_v2;
mod k8s_schema;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const TRUNK_VERSION: &str = "0.21.14";
/// Debian 12 packages the tests and the page need.
const APT_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "etcd-server",
    "etcd-client",
    "sqlite3",
    "postgresql",
    "curl",
    "python3",
];
/// A command each apt package provides, to tell whether it is installed.
const APT_PROBES: &[&str] = &[
    "/usr/bin/chromium",
    "/usr/bin/chromedriver",
    "/usr/bin/etcd",
    "/usr/bin/etcdctl",
    "/usr/bin/sqlite3",
    "/usr/lib/postgresql/15/bin/initdb",
    "/usr/bin/curl",
    "/usr/bin/python3",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("serve") => serve(&args[1..]),
        Some("test") => test(),
        Some("single") => setup().and_then(|()| build_page()).and_then(|()| single()),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("k8s-schema") => k8s_schema::run(&args[1..]),
        _ => Err(
            "usage: cargo xtask setup | serve [--port N] | test | single | bench scan | bench v2 | bench migrate | bench export | bench page | fuzz [CASES] [SEED] | k8s-schema --api DIR --apimachinery DIR"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// PATH with npm's wasm-opt (binaryen 132) and ~/.cargo/bin first.
fn tool_path(root: &Path) -> OsString {
    let mut dirs = vec![root.join("web/node_modules/.bin")];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap_or_default()
}

fn command(root: &Path, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(root)
        .env("PATH", tool_path(root))
        .env("TRUNK_SKIP_VERSION_CHECK", "true");
    c
}

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command in `root`, inheriting stdout/stderr.
pub fn run(root: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ {}", describe(program, args));
    let status = command(root, program, args)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(program, args)))
    }
}

pub fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, args)
}

/// `cargo xtask fuzz [CASES] [SEED]`: the hostile-input test (crates/cli/tests/hostile.rs) in
/// release mode with many more mutated cases per reader (default 20000, seed from the clock).
fn fuzz(args: &[String]) -> Result<(), String> {
    let cases = args.first().cloned().unwrap_or_else(|| "20000".into());
    let seed = args.get(1).cloned().unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            .to_string()
    });
    for (name, v) in [("CASES", &cases), ("SEED", &seed)] {
        if v.parse::<u64>().is_err() {
            return Err(format!("fuzz: {name} must be a number, not {v:?}"));
        }
    }
    eprintln!("xtask: fuzz: {cases} cases per reader, ETCDSCOPE_HOSTILE_SEED={seed}");
    std::env::set_var("ETCDSCOPE_HOSTILE_CASES", &cases);
    std::env::set_var("ETCDSCOPE_HOSTILE_SEED", &seed);
    cargo(
        &repo_root(),
        &[
            "test",
            "--release",
            "--locked",
            "-p",
            "cli",
            "--test",
            "hostile",
        ],
    )
}

/// The first line a command prints on stdout, if it runs.
fn output_line(program: &str, args: &[&str], root: &Path) -> Option<String> {
    let out = command(root, program, args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

fn is_root() -> bool {
    output_line("id", &["-u"], Path::new("/")).as_deref() == Some("0")
}

// ---------------------------------------------------------------------------------------------
// setup
// ---------------------------------------------------------------------------------------------

fn setup() -> Result<(), String> {
    let root = repo_root();
    let started = Instant::now();

    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .zip(APT_PROBES)
        .filter(|(_, probe)| !Path::new(probe).exists())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
        let apt = |args: &[&str]| -> Result<(), String> {
            let mut argv: Vec<&str> = sudo.to_vec();
            argv.extend_from_slice(&[
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "-o",
                "DPkg::Lock::Timeout=600",
                "-o",
                "Acquire::Retries=3",
            ]);
            argv.extend_from_slice(args);
            run(&root, argv[0], &argv[1..])
        };
        apt(&["update", "-q"])?;
        let mut install = vec!["install", "-y", "-q"];
        install.extend(missing.iter().copied());
        apt(&install)?;
    }

    let targets = output_all("rustup", &["target", "list", "--installed"], &root);
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(
            &root,
            "rustup",
            &["target", "add", "wasm32-unknown-unknown"],
        )?;
    }

    if output_line("trunk", &["--version"], &root).as_deref()
        != Some(&format!("trunk {TRUNK_VERSION}"))
    {
        // --debug: 5 minutes instead of 13 on two cores; a page build is ~3 s slower.
        cargo(
            &root,
            &[
                "install",
                "--locked",
                "--debug",
                "trunk",
                "--version",
                TRUNK_VERSION,
            ],
        )?;
    }

    let wb = wasm_bindgen_version(&root)?;
    if output_line("wasm-bindgen", &["--version"], &root).as_deref()
        != Some(&format!("wasm-bindgen {wb}"))
    {
        // No --locked: its lockfile pins a webpki-roots the registry here does not serve.
        cargo(&root, &["install", "wasm-bindgen-cli", "--version", &wb])?;
    }

    for dir in ["web", "tests"] {
        let d = root.join(dir);
        let stamp = d.join("node_modules/.package-lock.json");
        let lock = d.join("package-lock.json");
        if newer(&lock, &stamp) {
            run(&d, "npm", &["ci", "--no-audit", "--no-fund"])?;
        }
    }

    // Trunk runs cargo with --offline.
    cargo(&root, &["fetch", "--locked"])?;
    eprintln!("xtask: setup done in {:.0?}", started.elapsed());
    Ok(())
}

fn output_all(program: &str, args: &[&str], root: &Path) -> String {
    command(root, program, args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// True when `a` was modified after `b`, or `b` does not exist.
fn newer(a: &Path, b: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(a), mtime(b)) {
        (_, None) => true,
        (Some(a), Some(b)) => a > b,
        (None, Some(_)) => false,
    }
}

/// The wasm-bindgen version in Cargo.lock (the CLI must match it exactly).
fn wasm_bindgen_version(root: &Path) -> Result<String, String> {
    let lock =
        std::fs::read_to_string(root.join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                return Ok(v.to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

// ---------------------------------------------------------------------------------------------
// page builds
// ---------------------------------------------------------------------------------------------

fn build_page() -> Result<(), String> {
    run(&repo_root(), "trunk", &["build", "--release"])
}

fn single() -> Result<(), String> {
    run(
        &repo_root(),
        "node",
        &["web/singlefile.mjs", "dist", "dist-single/etcdscope.html"],
    )
}

fn serve(args: &[String]) -> Result<(), String> {
    let port = match args {
        [] => "8080".to_string(),
        [flag, p] if flag == "--port" => p.clone(),
        _ => return Err("usage: cargo xtask serve [--port N]".into()),
    };
    setup()?;
    build_page()?;
    eprintln!("xtask: press \"Try a sample\" on the page to see a real etcd snapshot");
    run(&repo_root(), "node", &["tests/serve.mjs", "dist", &port])
}

// ---------------------------------------------------------------------------------------------
// test
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    steps_failed: Vec<String>,
}

impl Tally {
    /// Runs one step, streaming its output, and adds the test counts it prints
    /// (cargo's `test result: ok. N passed; M failed` and the browser tests' `N passed, M failed`).
    fn step(
        &mut self,
        name: &str,
        root: &Path,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) {
        eprintln!("\nxtask: == {name}: {}", describe(program, args));
        let started = Instant::now();
        let mut c = command(root, program, args);
        c.envs(env.iter().copied()).stdout(Stdio::piped());
        let result = c.spawn().map_err(|e| e.to_string()).and_then(|mut child| {
            let mut counted = (0u64, 0u64);
            if let Some(out) = child.stdout.take() {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    println!("{line}");
                    if let Some((p, f)) = counts(&line) {
                        counted.0 += p;
                        counted.1 += f;
                    }
                }
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            Ok((status, counted))
        });
        match result {
            Ok((status, (p, f))) => {
                self.passed += p;
                self.failed += f;
                if !status.success() {
                    if f == 0 {
                        // A build or set-up failure: count the step itself.
                        self.failed += 1;
                    }
                    self.steps_failed.push(name.to_string());
                }
                eprintln!(
                    "xtask: == {name}: {} in {:.0?} ({p} passed, {f} failed)",
                    if status.success() { "ok" } else { "FAILED" },
                    started.elapsed()
                );
            }
            Err(e) => {
                self.failed += 1;
                self.steps_failed.push(format!("{name} ({e})"));
            }
        }
    }
}

/// Test counts in a line of cargo test or e2e output.
fn counts(line: &str) -> Option<(u64, u64)> {
    let number_before = |s: &str, word: &str| -> Option<u64> {
        let i = s.find(word)?;
        s[..i]
            .split_whitespace()
            .last()?
            .trim_end_matches([';', ','])
            .parse()
            .ok()
    };
    if let Some(rest) = line.strip_prefix("test result: ") {
        let p = number_before(rest, " passed")?;
        let f = number_before(rest, " failed")?;
        return Some((p, f));
    }
    // "N passed, M failed" (tests/e2e.mjs)
    let mut words = line.split_whitespace();
    let p = words.next()?.parse().ok()?;
    (words.next()? == "passed,").then_some(())?;
    let f = words.next()?.parse().ok()?;
    (words.next()? == "failed" && words.next().is_none()).then_some((p, f))
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    setup()?;
    let root = repo_root();
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut t = Tally::default();

    t.step(
        "unit and integration tests (committed fixtures)",
        &root,
        &cargo_bin,
        &["test", "--workspace", "--locked"],
        &[],
    );

    let fresh = std::env::temp_dir().join(format!("etcdscope-fixture-{}", std::process::id()));
    let fresh_s = fresh.to_string_lossy().into_owned();
    t.step(
        "fixture made now by real etcd 3.4.23",
        &root,
        "bash",
        &["tests/fixtures/make-v3.sh", &fresh_s],
        &[],
    );
    if fresh.join("snapshot.db").exists() {
        t.step(
            "our answers vs etcdctl's on the fresh fixture",
            &root,
            &cargo_bin,
            &["test", "--workspace", "--locked", "--test", "fixtures"],
            &[("ETCDSCOPE_FIXTURE_DIR", &fresh_s)],
        );
    }
    let _ = std::fs::remove_dir_all(&fresh);

    let webdriver = root.join("tests/webdriver.json");
    let webdriver = webdriver.to_string_lossy().into_owned();
    t.step(
        "core crates as wasm32 in Node (wasm-bindgen-test)",
        &root,
        &cargo_bin,
        &[
            "test",
            "--locked",
            "-p",
            "web",
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "core_node",
        ],
        &[],
    );
    t.step(
        "core crates as wasm32 in a Chromium dedicated worker (Blob + FileReaderSync)",
        &root,
        &cargo_bin,
        &[
            "test",
            "--locked",
            "-p",
            "web",
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "core_worker",
        ],
        &[
            ("CHROMEDRIVER", "/usr/bin/chromedriver"),
            ("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver),
            ("WASM_BINDGEN_TEST_TIMEOUT", "120"),
        ],
    );
    t.step(
        "page: trunk build --release (offline)",
        &root,
        "trunk",
        &["build", "--release"],
        &[],
    );
    t.step(
        "page in Chromium over http://127.0.0.1",
        &root,
        "node",
        &["tests/e2e.mjs", "dist"],
        &[],
    );
    // The same checks with JSPI hidden from the worker, as in browsers without it (Firefox and
    // Safari today): FileReaderSync reads, Blob exports.
    t.step(
        "page in Chromium over http://127.0.0.1, without JSPI",
        &root,
        "node",
        &["tests/e2e.mjs", "dist"],
        &[("E2E_NO_JSPI", "1")],
    );
    t.step(
        "single-file page",
        &root,
        "node",
        &["web/singlefile.mjs", "dist", "dist-single/etcdscope.html"],
        &[],
    );
    t.step(
        "single-file page in Chromium from file://",
        &root,
        "node",
        &["tests/e2e.mjs", "dist-single/etcdscope.html"],
        &[],
    );

    eprintln!("\nxtask: test finished in {:.0?}", started.elapsed());
    for s in &t.steps_failed {
        eprintln!("xtask: failed step: {s}");
    }
    println!("{} passed, {} failed", t.passed, t.failed);
    if t.steps_failed.is_empty() && t.failed == 0 {
        Ok(())
    } else {
        Err("some tests failed".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cargo_and_e2e_lines() {
        assert_eq!(
            counts("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"),
            Some((12, 0))
        );
        assert_eq!(
            counts("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some((3, 2))
        );
        assert_eq!(counts("7 passed, 1 failed"), Some((7, 1)));
        assert_eq!(counts("ok   http: page loads"), None);
        assert_eq!(counts("7 passed, 1 failed and more"), None);
    }

    #[test]
    fn wasm_bindgen_version_is_read_from_the_lock() {
        let v = wasm_bindgen_version(&repo_root()).unwrap();
        assert!(v.starts_with("0.2."), "{v}");
    }
}
