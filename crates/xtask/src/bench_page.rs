//! `cargo xtask bench page [--runs N]`: the page in headless Chromium on snapshots made by real
//! etcd — time from giving the file to the page to the summary, to the first level of the key
//! tree and to the checked SHA-256 trailer; a flat list of all keys and a jump to its middle;
//! the worker's wasm memory, the page's JS heap and the tab's RSS. Then a large export: the
//! SQL of the 1M-key db written into a chosen file while it is made, and as a Blob download
//! (time, renderers' and browser process RSS). Measured, not asserted.
//!
//! Datasets (made once with etcd 3.4.23, cached in `~/.cache/etcdscope/bench/`): `page-100k.db`
//! (the first 100,000 keys of the 1M set), `page-100k-2g.db` (the same keys with 20 kB values:
//! about 2 GB, to see that memory follows the keys, not the file size) and `scan-1m.db` (shared
//! with `bench scan`). The page
//! is built by Trunk first (release, as served); the browser part is `tests/bench-page.mjs`.

use std::sync::Arc;

use crate::bench::{cache_dir, key, make_db_of, make_db_with, value};

/// Value size of `page-100k-2g.db`.
const LARGE_VALUE: usize = 20_000;

pub fn run(args: &[String]) -> Result<(), String> {
    let runs = match args {
        [] => "3".to_string(),
        [flag, n] if flag == "--runs" && n.parse::<u32>().is_ok_and(|n| n > 0) => n.clone(),
        _ => return Err("usage: cargo xtask bench page [--runs N]".into()),
    };
    let root = crate::repo_root();
    let small = cache_dir().join("page-100k.db");
    if !small.exists() {
        make_db_of(&small, 100_000)?;
    }
    let large = cache_dir().join("page-100k-2g.db");
    if !large.exists() {
        let gen = |i| {
            let v = value(i);
            (
                key(i),
                v.iter().copied().cycle().take(LARGE_VALUE).collect(),
            )
        };
        make_db_with(&large, 100_000, Arc::new(gen))?;
    }
    let big = cache_dir().join("scan-1m.db");
    if !big.exists() {
        make_db_of(&big, 1_000_000)?;
    }
    crate::run(&root, "trunk", &["build", "--release"])?;
    crate::run(
        &root,
        "node",
        &[
            "tests/bench-page.mjs",
            "dist",
            &runs,
            &small.to_string_lossy(),
            &large.to_string_lossy(),
            &big.to_string_lossy(),
        ],
    )?;
    crate::run(
        &root,
        "node",
        &[
            "tests/bench-page.mjs",
            "dist",
            &runs,
            "--export",
            &big.to_string_lossy(),
        ],
    )
}
