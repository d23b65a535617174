//! Damaged input: every case gives exit 1 and one line on stderr naming the file, the page and
//! the byte offset — never a panic (exit 101), a hang or a huge allocation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bbolt::page::Kind;
use storage::MemSource;

fn fixture() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v3/basic/snapshot.db");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_temp(name: &str, bytes: &[u8]) -> TempFile {
    let p = std::env::temp_dir().join(format!("etcdscope-bad-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    TempFile(p)
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_etcdscope"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `status` and `get --prefix ""` on the bytes; both must fail with exit 1 and a one-line
/// message naming the file. Returns the status message.
fn assert_clean_failure(name: &str, bytes: &[u8], must_contain: &[&str]) -> String {
    let f = write_temp(name, bytes);
    let mut first = String::new();
    for cmd in [vec!["status"], vec!["get", "", "--prefix"]] {
        let mut args: Vec<&std::ffi::OsStr> = vec![std::ffi::OsStr::new(cmd[0])];
        args.push(f.0.as_os_str());
        args.extend(cmd[1..].iter().map(std::ffi::OsStr::new));
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name} {cmd:?}: exit {:?}, stderr {err}",
            out.status.code()
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{name}: one line expected, got {err}"
        );
        assert!(
            err.contains(&*f.0.to_string_lossy()),
            "{name}: message must name the file: {err}"
        );
        for m in must_contain {
            assert!(
                err.contains(m),
                "{name} {cmd:?}: message should contain {m:?}: {err}"
            );
        }
        if first.is_empty() {
            first = err;
        }
    }
    first
}

/// Page ids of the `key` bucket: its root (a branch in the fixture) and one leaf under it.
fn key_bucket_pages(db: &[u8]) -> (u64, u64, u64) {
    let bolt = bbolt::Db::open(MemSource::new(db.to_vec())).unwrap();
    let b = bolt.bucket(b"key").unwrap().unwrap();
    let root = b.root_page().expect("fixture key bucket is page-backed");
    let page = bolt.read_page(root, (0, 0)).unwrap();
    assert_eq!(
        page.kind(),
        Kind::Branch,
        "fixture key bucket should need a branch page"
    );
    let (_, leaf) = page.branch(0).unwrap();
    (root, leaf, bolt.page_size())
}

#[test]
fn zero_length_file() {
    assert_clean_failure("empty", &[], &["too small"]);
}

#[test]
fn not_a_bbolt_file() {
    let text = b"this is not a database, just some text that goes on for a while.\n".repeat(100);
    assert_clean_failure("text", &text, &["meta page 0", "bad magic"]);
    let random: Vec<u8> = (0..20000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert_clean_failure("random", &random, &["meta page"]);
}

#[test]
fn truncated_at_several_points() {
    let db = fixture();
    let (root, leaf, ps) = key_bucket_pages(&db);
    let cuts = [
        40usize,
        4096 + 10,
        (root * ps) as usize + 100,
        (leaf * ps) as usize + 7,
        db.len() / 2,
        db.len() - 4096 - 33,
    ];
    for cut in cuts {
        if cut >= db.len() {
            continue;
        }
        let msg = assert_clean_failure(&format!("trunc{cut}"), &db[..cut], &[]);
        assert!(
            msg.contains("offset") || msg.contains("too small") || msg.contains("meta page"),
            "cut {cut}: {msg}"
        );
    }
}

#[test]
fn flipped_meta_byte_falls_back_then_fails_when_both_are_bad() {
    let mut db = fixture();
    // Flip a byte of meta 0's root pointer: its checksum no longer matches.
    db[16 + 16] ^= 0x01;
    let f = write_temp("meta0", &db);
    let out = run(&[
        std::ffi::OsStr::new("status"),
        f.0.as_os_str(),
        std::ffi::OsStr::new("-w"),
        std::ffi::OsStr::new("json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["metaPage"]["active"], 1);
    assert_eq!(st["metaPage"]["fellBack"], true);
    assert!(st["metaPage"]["otherProblem"]
        .as_str()
        .unwrap()
        .contains("checksum"));
    // Both metas broken.
    let ps = 4096;
    db[ps + 16 + 16] ^= 0x01;
    assert_clean_failure("meta01", &db, &["meta page 0", "checksum"]);
}

#[test]
fn flipped_byte_in_a_branch_page() {
    let db = fixture();
    let (root, _, ps) = key_bucket_pages(&db);
    let base = (root * ps) as usize;
    // The header's page id.
    let mut d = db.clone();
    d[base] ^= 0x40;
    assert_clean_failure(
        "branch-id",
        &d,
        &[
            &format!("page {root}"),
            &format!("offset {base}"),
            "header says",
        ],
    );
    // The page kind.
    let mut d = db.clone();
    d[base + 8] = 0x08;
    assert_clean_failure("branch-flags", &d, &[&format!("page {root}"), "flags"]);
    // The high byte of element 0's child page id: far past the high-water mark.
    let mut d = db.clone();
    d[base + 16 + 8 + 7] ^= 0x10;
    assert_clean_failure(
        "branch-child",
        &d,
        &[&format!("page {root}"), "high-water mark"],
    );
    // Element 1's key size: the key now runs off the page.
    let mut d = db.clone();
    d[base + 16 + 16 + 4 + 2] ^= 0x7f;
    assert_clean_failure("branch-ksize", &d, &[&format!("page {root}"), "element 1"]);
}

#[test]
fn flipped_byte_in_a_leaf_page() {
    let db = fixture();
    let (_, leaf, ps) = key_bucket_pages(&db);
    let base = (leaf * ps) as usize;
    let mut d = db.clone();
    d[base + 10 + 1] ^= 0x7f; // count: element table runs past the page
    assert_clean_failure("leaf-count", &d, &[&format!("page {leaf}"), "element"]);
    let mut d = db.clone();
    d[base + 16 + 4 + 2] ^= 0x7f; // element 0 pos
    assert_clean_failure("leaf-pos", &d, &[&format!("page {leaf}"), "element 0"]);
    let mut d = db.clone();
    d[base + 16 + 16 + 8] = 3; // element 1 ksize 3: not a revision key
    assert_clean_failure("leaf-ksize", &d, &[&format!("page {leaf}")]);
}

#[test]
fn page_cycle() {
    let mut db = fixture();
    let (root, _, ps) = key_bucket_pages(&db);
    let base = (root * ps) as usize;
    // Element 1 of the root branch points back at the root.
    db[base + 16 + 16 + 8..base + 16 + 16 + 16].copy_from_slice(&root.to_le_bytes());
    assert_clean_failure("cycle", &db, &["cycle", &format!("page {root}")]);
}
