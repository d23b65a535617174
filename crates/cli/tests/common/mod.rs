//! Shared by the CLI's integration tests: the committed v2 fixtures as data dirs on disk.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub fn fixture_dir(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/v2")
        .join(variant)
}

pub fn files_in(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The fixture as a data dir on disk (`<dir>/member/{wal,snap}`, WAL segments un-gzipped),
/// made once and kept under cargo's test temp dir (keyed by the fixture's file sizes).
pub fn data_dir(variant: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let src = fixture_dir(variant).join("member");
    let mut key: u64 = 0;
    for sub in ["wal", "snap"] {
        if src.join(sub).is_dir() {
            for f in files_in(&src.join(sub)) {
                key = key
                    .wrapping_mul(31)
                    .wrapping_add(f.metadata().unwrap().len());
            }
        }
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("v2-fixtures");
    let out = root.join(format!("{variant}-{key:x}"));
    if out.join("member").is_dir() {
        return out;
    }
    let tmp = root.join(format!("{variant}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for sub in ["wal", "snap"] {
        let from = src.join(sub);
        if !from.is_dir() {
            continue;
        }
        let to = tmp.join("member").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for f in files_in(&from) {
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            match name.strip_suffix(".gz") {
                Some(stem) => {
                    let mut raw = Vec::new();
                    flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap())
                        .read_to_end(&mut raw)
                        .unwrap();
                    std::fs::write(to.join(stem), raw).unwrap();
                }
                None => {
                    std::fs::copy(&f, to.join(&name)).unwrap();
                }
            }
        }
    }
    if std::fs::rename(&tmp, &out).is_err() {
        // Another test process made it first.
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(out.join("member").is_dir());
    }
    out
}
