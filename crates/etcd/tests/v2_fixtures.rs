//! The v2 store rebuilt from real etcd 3.4.23 data dirs (tests/fixtures/v2, made by
//! tests/fixtures/make-v2.sh) equals what the live server answered before it stopped; damaged
//! inputs give clean errors or partial results, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etcd::snap::SnapErrorKind;
use etcd::v2::{self, Code, DataDirFiles, GetOptions, LoadError, LoadOptions, Outcome, V2Data};
use etcd::v2req::{decode_entry, Payload};
use etcd::wal::{self, SegmentFile, WalErrorKind};
use serde_json::Value;
use storage::ReadAt;

fn fixture_dir(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/v2")
        .join(variant)
}

/// Bytes shared between a fixture and its clones (copied only when a test changes them).
type Bytes = Arc<Vec<u8>>;

/// A [`ReadAt`] over shared bytes, so loads do not copy the 64 MB segment.
#[derive(Clone)]
struct Shared(Bytes);

impl ReadAt for Shared {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), storage::ReadError> {
        self.check_range(offset, buf.len() as u64)?;
        let at = offset as usize;
        buf.copy_from_slice(&self.0[at..at + buf.len()]);
        Ok(())
    }
}

/// A fixture member dir in memory (WAL segments decompressed).
#[derive(Clone)]
struct Fixture {
    wal: Vec<(String, Bytes)>,
    snap: Option<Vec<(String, Bytes)>>,
    dir: PathBuf,
    facts: Value,
}

fn read_dir(d: &Path) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        match name.strip_suffix(".gz") {
            Some(stem) => {
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut raw)
                    .unwrap();
                out.push((stem.to_string(), Arc::new(raw)));
            }
            None => out.push((name, Arc::new(bytes))),
        }
    }
    out.sort();
    out
}

fn fixture(variant: &str) -> Fixture {
    let dir = fixture_dir(variant);
    let snap_dir = dir.join("member/snap");
    Fixture {
        wal: read_dir(&dir.join("member/wal")),
        snap: snap_dir.is_dir().then(|| read_dir(&snap_dir)),
        facts: serde_json::from_slice(&std::fs::read(dir.join("expected/facts.json")).unwrap())
            .unwrap(),
        dir,
    }
}

impl Fixture {
    fn files(&self) -> DataDirFiles<Shared> {
        let mem = |v: &Vec<(String, Bytes)>| {
            v.iter()
                .map(|(n, b)| (n.clone(), Shared(b.clone())))
                .collect::<Vec<_>>()
        };
        DataDirFiles {
            wal: Some(mem(&self.wal)),
            snap: self.snap.as_ref().map(mem),
        }
    }

    fn load(&self) -> Result<V2Data, LoadError> {
        v2::load(self.files(), &LoadOptions::default())
    }

    fn expected(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("expected").join(name)).unwrap()
    }

    fn fact_u64(&self, k: &str) -> u64 {
        self.facts[k]
            .as_u64()
            .unwrap_or_else(|| panic!("facts.{k}"))
    }

    fn last_segment(&mut self) -> &mut Vec<u8> {
        Arc::make_mut(
            &mut self
                .wal
                .iter_mut()
                .rfind(|(n, _)| n.ends_with(".wal"))
                .unwrap()
                .1,
        )
    }

    fn segment(&mut self, name: &str) -> &mut Vec<u8> {
        Arc::make_mut(&mut self.wal.iter_mut().find(|(n, _)| n == name).unwrap().1)
    }
}

/// The `node` object of a recorded `GET /v2/keys/...` body.
fn node_bytes(body: &[u8]) -> &[u8] {
    let b = body.strip_suffix(b"\n").unwrap_or(body);
    b.strip_prefix(br#"{"action":"get","node":"#)
        .and_then(|b| b.strip_suffix(b"}"))
        .unwrap_or_else(|| panic!("not a get answer: {}", String::from_utf8_lossy(body)))
}

/// `"ttl":<n>` → `"ttl":_` (the live ttl depends on the instant of the request), and a raw
/// U+FFFD → `\ufffd`: a value with invalid UTF-8 that went through a `.snap` holds real U+FFFD
/// characters (Go's JSON replaced the bad bytes when the snapshot was written), which Go prints
/// raw, while the live server still had the bad bytes in memory and printed `\ufffd` escapes.
/// Same JSON value either way.
fn mask_ttl(s: &[u8]) -> String {
    let s = String::from_utf8(s.to_vec())
        .unwrap()
        .replace('\u{FFFD}', "\\ufffd");
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("\"ttl\":") {
        out.push_str(&rest[..i + 6]);
        rest = rest[i + 6..].trim_start_matches(|c: char| c == '-' || c.is_ascii_digit());
        out.push('_');
    }
    out.push_str(rest);
    out
}

/// Compares a recorded node with ours field by field; ttl must lie between what etcd would
/// have printed at the start and at the end of the recording window.
fn compare(live: &Value, ours: &Value, t0: i64, t1: i64, checked: &mut usize) {
    let l = live.as_object().unwrap();
    let o = ours.as_object().unwrap();
    let key = l.get("key").cloned().unwrap_or(Value::Null);
    for f in [
        "key",
        "dir",
        "value",
        "createdIndex",
        "modifiedIndex",
        "expiration",
    ] {
        assert_eq!(l.get(f), o.get(f), "{f} of {key}");
    }
    if let Some(exp) = l.get("expiration").and_then(Value::as_str) {
        let e = v2::time::parse_rfc3339(exp).unwrap().unwrap();
        let live_ttl = l.get("ttl").and_then(Value::as_i64).unwrap_or(0);
        let (hi, lo) = (v2::time::ttl_seconds(e, t0), v2::time::ttl_seconds(e, t1));
        assert!(
            lo <= live_ttl && live_ttl <= hi,
            "ttl of {key}: {live_ttl} not in {lo}..={hi}"
        );
    }
    let empty = Vec::new();
    let ln = l.get("nodes").and_then(Value::as_array).unwrap_or(&empty);
    let on = o.get("nodes").and_then(Value::as_array).unwrap_or(&empty);
    let lk: Vec<_> = ln.iter().map(|n| n.get("key")).collect();
    let ok: Vec<_> = on.iter().map(|n| n.get("key")).collect();
    assert_eq!(lk, ok, "children of {key}");
    *checked += 1;
    for (a, b) in ln.iter().zip(on) {
        compare(a, b, t0, t1, checked);
    }
}

/// Our answer to a recorded GET equals etcd's: field by field, and byte for byte once the ttl
/// numbers are masked. Returns the number of nodes compared.
fn check_get(f: &Fixture, data: &V2Data, file: &str, key: &str, recursive: bool) -> usize {
    let t0 = f.fact_u64("recorded_from_ns") as i64;
    let t1 = f.fact_u64("all_gets_done_ns") as i64;
    let body = f.expected(file);
    let live = node_bytes(&body);
    let opts = GetOptions {
        recursive,
        include_hidden: false,
        now_ns: t0,
    };
    let node = data
        .store
        .node_at(key.as_bytes())
        .unwrap_or_else(|e| panic!("{file}: {key}: {e}"));
    let ours = node.to_json(&opts);
    assert_eq!(mask_ttl(live), mask_ttl(ours.as_bytes()), "{file}");
    let view = data.store.get(key.as_bytes(), &opts).unwrap();
    assert_eq!(view.to_go_json(), ours);
    let mut n = 0;
    compare(
        &serde_json::from_slice(live).unwrap(),
        &serde_json::to_value(&view).unwrap(),
        t0,
        t1,
        &mut n,
    );
    n
}

fn check_against_live(f: &Fixture, data: &V2Data) {
    assert_eq!(
        data.store.current_index(),
        f.fact_u64("store_current_index"),
        "X-Etcd-Index"
    );
    let n = check_get(f, data, "keys-recursive.json", "/", true);
    assert!(n > 40, "only {n} nodes");
    check_get(f, data, "get-root.json", "/", false);
    check_get(f, data, "get-dir1.json", "/dir1", false);
    check_get(f, data, "get-ttl-long.json", "/ttl/long", false);
    check_get(f, data, "get-binary.json", "/binary", true);
    check_get(f, data, "hidden-_hidden.json", "/_hidden", false);
    check_get(f, data, "hidden-dir1-_x.json", "/dir1/_x", false);
    check_get(f, data, "hidden-_hdir.json", "/_hdir", true);
    // Keys written after membership changes and v2 auth writes: their indices show that
    // those consumed store indices as etcd did.
    check_get(f, data, "get-members.json", "/members", false);
}

fn value(data: &V2Data, key: &str) -> Vec<u8> {
    let v = data
        .store
        .get(key.as_bytes(), &GetOptions::default())
        .unwrap();
    v.value.unwrap()
}

#[test]
fn wal_only_equals_the_live_server() {
    let f = fixture("wal-only");
    let data = f.load().unwrap();
    check_against_live(&f, &data);
    let r = &data.report;
    assert!(r.snapshot.is_none());
    assert_eq!(r.segments.len(), 2);
    assert!(r.torn.is_none());
    assert_eq!(r.first_wal_index, Some(1));
    assert_eq!(r.applied_index, r.last_wal_index.unwrap());
    let c = &r.counts;
    assert_eq!(c.problems, 0, "{:?}", r.problems);
    assert_eq!(c.uncommitted, 0);
    assert_eq!(c.conf_changes, 4, "bootstrap, add learner, update, remove");
    assert_eq!(c.conf_rejected, 0);
    assert_eq!(c.expired, 2, "/ttl/short and /ttl/short-dir");
    assert!(c.v2_failed >= 10, "{c:?}");
    assert!(c.v3 >= 69, "{c:?}");
    assert!(c.v2_by_method["QGET"] >= 1 && c.v2_by_method["SYNC"] >= 1);
    assert!(r.last_sync_time_ns.is_some());
    // Values written through the v2 API with invalid UTF-8 are kept as sent.
    assert_eq!(
        value(&data, "/binary/invalid-utf8"),
        b"ok\xff\xfe\xc3\x28end"
    );
    assert_eq!(value(&data, "/binary/truncated-rune"), b"\xf0\x9f\x98");
    assert_eq!(
        value(&data, "/binary/after-snap"),
        b"\xff\x00\xc3\x28-\xe2\x82"
    );
    // Membership: the member from the metadata record, its attributes and the version.
    let member = format!("{:x}", r.metadata.as_ref().unwrap().node_id);
    assert_eq!(member, f.facts["member_id_hex"].as_str().unwrap());
    let raw = data
        .store
        .node_at_store_path(format!("/0/members/{member}/attributes").as_bytes())
        .unwrap()
        .view(&GetOptions::default());
    assert!(String::from_utf8(raw.value.unwrap())
        .unwrap()
        .starts_with(r#"{"name":"fx2","clientURLs":["#));
    let m = data.store.membership();
    assert_eq!(m.members.len(), 1);
    assert_eq!(m.members[0].name, "fx2");
    assert_eq!(m.version.as_deref(), Some("3.4.0"));
    assert_eq!(m.removed.len(), 1);
    assert!(r.last_wal_term.unwrap() >= 2);
    // The removed learner.
    let removed = data
        .store
        .node_at_store_path(b"/0/removed_members")
        .unwrap()
        .view(&GetOptions::default());
    assert_eq!(removed.nodes.len(), 1);
    // The 3.6 upgrade check sees user data and v2 auth data.
    let content = data.store.content();
    assert!(!content.meta_only && !content.meta_only_3_6_0);
    assert_eq!(content.blocking, vec![b"/1".to_vec(), b"/2".to_vec()]);
    let keys = data.store.non_membership_keys();
    assert!(keys.contains(&b"/1/_hidden".to_vec()));
    assert!(keys.contains(&b"/1/emptydir".to_vec()));
    assert!(keys.contains(&b"/2/users/alice".to_vec()));
    assert!(keys.contains(&b"/2/roles/reader".to_vec()));
    assert!(keys
        .iter()
        .all(|k| k.starts_with(b"/1/") || k.starts_with(b"/2/")));
}

#[test]
fn snapped_equals_the_live_server() {
    let f = fixture("snapped");
    let data = f.load().unwrap();
    check_against_live(&f, &data);
    let r = &data.report;
    let s = r.snapshot.as_ref().unwrap();
    let newest = f
        .snap
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n)
        .max()
        .unwrap();
    assert_eq!(&s.file, newest);
    assert!(r.snap_rejected.is_empty(), "{:?}", r.snap_rejected);
    assert_eq!(r.snap_older.len(), f.snap.as_ref().unwrap().len() - 1);
    // The first segment was purged: the WAL starts in the middle of the log.
    assert_eq!(r.segments.len(), 1);
    assert!(r.first_wal_index.unwrap() > 1);
    assert!(s.json.current_index > 0 && s.json.current_index < data.store.current_index());
    assert_eq!(s.json.path_mismatch_count, 0);
    // The snapshot alone already holds user data (what etcd 3.6 would check first).
    assert!(!s.content.meta_only && s.content.key_count > 40);
    assert!(etcd::snap::verify_all(&f.files().snap.unwrap())
        .iter()
        .all(|c| c.result.is_ok()));
    let c = &r.counts;
    assert_eq!(c.problems, 0, "{:?}", r.problems);
    assert_eq!(c.expired, 2);
    // A value written before the snapshot went through Go's JSON (invalid UTF-8 → U+FFFD);
    // one written after it is still the bytes that were sent.
    assert_eq!(
        value(&data, "/binary/invalid-utf8"),
        "ok\u{FFFD}\u{FFFD}\u{FFFD}(end".as_bytes()
    );
    assert_eq!(
        value(&data, "/binary/after-snap"),
        b"\xff\x00\xc3\x28-\xe2\x82"
    );
}

/// The whole store (`/0`, `/1`, `/2`, hidden nodes), as JSON with ttl and U+FFFD normalized.
fn whole(s: &v2::Store) -> String {
    let o = GetOptions {
        recursive: true,
        include_hidden: true,
        now_ns: 0,
    };
    mask_ttl(s.node_at_store_path(b"/").unwrap().to_json(&o).as_bytes())
}

#[test]
fn replay_from_scratch_equals_every_snapshot_etcd_wrote() {
    let f = fixture("snap-full");
    // With the newest snapshot, and with the WAL alone: both equal the live answers.
    let data = f.load().unwrap();
    check_against_live(&f, &data);
    let used = data.report.snapshot.as_ref().unwrap();
    assert_eq!(
        &used.file,
        f.snap
            .as_ref()
            .unwrap()
            .iter()
            .map(|(n, _)| n)
            .max()
            .unwrap()
    );
    let mut g = f.clone();
    g.snap = None;
    let alone = g.load().unwrap();
    check_against_live(&g, &alone);
    assert_eq!(whole(&alone.store), whole(&data.store));
    // Replaying from entry 1 up to each snapshot's index gives exactly the store etcd saved
    // there: every node, membership JSON and hidden nodes included.
    let snaps = f.snap.clone().unwrap();
    assert!(snaps.len() >= 3);
    for (name, bytes) in &snaps {
        let src = Shared(bytes.clone());
        let s = etcd::snap::read(name, &src).unwrap();
        let (saved, info) = v2::snapjson::load_from(&src, s.json_range()).unwrap();
        let (in_memory, _) = v2::snapjson::load(&s.read_json(&src).unwrap()).unwrap();
        assert_eq!(whole(&in_memory), whole(&saved));
        assert_eq!(info.path_mismatch_count, 0);
        let replay = v2::load(
            g.files(),
            &LoadOptions {
                stop_at: Some(s.index),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(replay.report.applied_index, s.index);
        assert_eq!(replay.store.current_index(), info.current_index, "{name}");
        assert_eq!(whole(&replay.store), whole(&saved), "{name}");
        // With the snapshots available, stop_at picks the one at that index.
        let at = v2::load(
            f.files(),
            &LoadOptions {
                stop_at: Some(s.index),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(&at.report.snapshot.as_ref().unwrap().file, name);
        assert_eq!(whole(&at.store), whole(&saved), "{name}");
    }
}

#[test]
fn every_wal_entry_decodes() {
    for variant in ["wal-only", "snapped", "snap-full"] {
        let f = fixture(variant);
        let mut segs: Vec<SegmentFile<Shared>> = f
            .wal
            .iter()
            .map(|(n, b)| SegmentFile {
                name: n.clone(),
                src: Shared(b.clone()),
            })
            .collect();
        let scan = wal::scan(&mut segs, None).unwrap();
        let (mut v2n, mut v3n, mut conf) = (0, 0, 0);
        for loc in &scan.entries {
            let e = wal::read_entry(&segs, loc).unwrap();
            match decode_entry(&e).unwrap_or_else(|err| panic!("{variant} {}: {err}", loc.index)) {
                Payload::V2 { wrapped, .. } => {
                    assert!(!wrapped, "3.4 proposes raw v2 requests");
                    v2n += 1
                }
                Payload::V3(_) => v3n += 1,
                Payload::ConfChange { cc, context } => {
                    // RemoveNode carries no member JSON; the others carry the member (ids
                    // above 2^53 kept exactly).
                    if let Some(m) = context {
                        assert_eq!(m.unwrap().id, cc.node_id);
                    }
                    if loc.index == 1 {
                        assert_eq!(
                            format!("{:x}", cc.node_id),
                            f.facts["member_id_hex"].as_str().unwrap()
                        );
                    }
                    conf += 1
                }
                Payload::Empty => {}
                p => panic!("{p:?}"),
            }
            // Summaries never fail.
            let _ = decode_entry(&e).unwrap().summary();
        }
        assert!(v2n > 20 && v3n > 3, "{variant}: {v2n} {v3n}");
        if variant == "wal-only" {
            assert_eq!(conf, 4);
        }
    }
}

#[test]
fn replay_outcomes_reach_the_hook() {
    let f = fixture("wal-only");
    let mut failed = Vec::new();
    let mut post_names = Vec::new();
    let mut hook = |_: &wal::EntryLoc, p: &Payload, o: &Outcome| {
        if let (Payload::V2 { req, .. }, Outcome::Failed(c)) = (p, o) {
            failed.push((req.method_str().to_string(), *c));
        }
        if let (Payload::V2 { req, .. }, Outcome::Applied { index }) = (p, o) {
            if req.method == b"POST" {
                post_names.push(*index);
            }
        }
    };
    let data = v2::load_with(f.files(), &LoadOptions::default(), Some(&mut hook)).unwrap();
    assert!(failed.contains(&("PUT".to_string(), Code::TestFailed)));
    assert!(failed.contains(&("PUT".to_string(), Code::NodeExist)));
    assert!(failed.contains(&("DELETE".to_string(), Code::DirNotEmpty)));
    assert!(failed.contains(&("PUT".to_string(), Code::NotDir)));
    for i in post_names {
        let key = format!("/queue/{i:020}");
        assert!(data.store.node_at(key.as_bytes()).is_ok(), "{key}");
    }
    // stop_at gives the store as it was at an earlier raft index.
    let early = v2::load(
        f.files(),
        &LoadOptions {
            stop_at: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(early.report.applied_index, 5);
    assert!(early.store.current_index() < 10);
}

#[test]
fn full_size_zero_filled_tail_segment() {
    let mut f = fixture("wal-only");
    f.last_segment().resize(wal::SEGMENT_SIZE as usize, 0);
    let data = f.load().unwrap();
    check_against_live(&f, &data);
    assert!(matches!(
        data.report.segments.last().unwrap().end,
        wal::SegmentEnd::ZeroTail { .. }
    ));
}

/// Where the entry carrying `PUT <path>` is: (segment name, frame offset, entry index).
fn find_put(f: &Fixture, path: &[u8]) -> (String, usize, usize, u64) {
    let mut segs: Vec<SegmentFile<Shared>> = f
        .wal
        .iter()
        .filter(|(n, _)| n.ends_with(".wal"))
        .map(|(n, b)| SegmentFile {
            name: n.clone(),
            src: Shared(b.clone()),
        })
        .collect();
    let scan = wal::scan(&mut segs, None).unwrap();
    for loc in &scan.entries {
        let e = wal::read_entry(&segs, loc).unwrap();
        if let Ok(Payload::V2 { req, .. }) = decode_entry(&e) {
            if req.method == b"PUT" && req.path == path {
                let name = segs[loc.segment as usize].name.clone();
                return (name, loc.offset as usize - 8, loc.len as usize, loc.index);
            }
        }
    }
    panic!("no PUT {}", String::from_utf8_lossy(path));
}

#[test]
fn flipped_byte_in_a_wal_record_names_file_offset_and_entry() {
    for variant in ["wal-only", "snapped"] {
        let mut f = fixture(variant);
        let (seg, frame, len, index) = find_put(&f, b"/1/binary/after-snap");
        f.segment(&seg)[frame + 8 + len - 2] ^= 0x20;
        let err = f.load().unwrap_err();
        let LoadError::Wal(e) = &err else {
            panic!("{variant}: {err}")
        };
        assert!(
            matches!(e.kind, WalErrorKind::Crc { .. }),
            "{variant}: {err}"
        );
        assert_eq!(e.file, seg);
        assert_eq!(e.offset, frame as u64);
        assert_eq!(e.entry_index, Some(index));
        let msg = err.to_string();
        assert!(
            msg.contains(&seg)
                && msg.contains(&format!("byte offset {frame}"))
                && msg.contains(&format!("entry index {index}")),
            "{msg}"
        );
    }
}

#[test]
fn truncated_last_record_is_a_torn_tail_with_a_partial_store() {
    let mut f = fixture("wal-only");
    let (seg, frame, _, index) = find_put(&f, b"/1/last");
    f.segment(&seg).truncate(frame + 13);
    let data = f.load().unwrap();
    let (file, offset, _) = data.report.torn.clone().unwrap();
    assert_eq!((file, offset), (seg, frame as u64));
    assert!(data.report.applied_index < index);
    assert_eq!(
        data.store.get(b"/last", &GetOptions::default()),
        Err(Code::KeyNotFound)
    );
    // Everything before it is there.
    assert!(data
        .store
        .get(b"/dir1/key3", &GetOptions::default())
        .is_ok());
    assert!(data
        .store
        .get(b"/binary/after-snap", &GetOptions::default())
        .is_ok());
}

#[test]
fn truncated_or_flipped_snap_falls_back_to_an_older_one() {
    let f = fixture("snapped");
    let newest = f
        .snap
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .max()
        .unwrap();
    for damage in ["truncate", "flip"] {
        let mut g = f.clone();
        let s = Arc::make_mut(
            &mut g
                .snap
                .as_mut()
                .unwrap()
                .iter_mut()
                .find(|(n, _)| *n == newest)
                .unwrap()
                .1,
        );
        if damage == "truncate" {
            let half = s.len() / 2;
            s.truncate(half);
        } else {
            let at = s.len() / 2;
            s[at] ^= 1;
        }
        let data = g.load().unwrap();
        let r = &data.report;
        assert_eq!(r.snap_rejected.len(), 1, "{damage}");
        assert_eq!(r.snap_rejected[0].file, newest);
        let want_crc = damage == "flip";
        assert_eq!(
            matches!(r.snap_rejected[0].kind, SnapErrorKind::Crc { .. }),
            want_crc,
            "{damage}: {}",
            r.snap_rejected[0]
        );
        assert!(r.snapshot.as_ref().unwrap().file < newest);
        // The older snapshot plus more WAL gives the same store.
        check_against_live(&g, &data);
    }
    // All of them broken: the WAL alone does not reach back to index 1.
    let mut g = f.clone();
    for (_, b) in g.snap.as_mut().unwrap().iter_mut() {
        Arc::make_mut(b).truncate(10);
    }
    let err = g.load().unwrap_err();
    assert!(matches!(err, LoadError::NoUsableSnapshot { .. }), "{err}");
    assert!(err.to_string().contains(&newest), "{err}");
    // No snap dir at all: same.
    let mut g = f.clone();
    g.snap = None;
    assert!(matches!(
        g.load().unwrap_err(),
        LoadError::NoUsableSnapshot { .. }
    ));
}

#[test]
fn stray_files_are_ignored() {
    for variant in ["wal-only", "snapped"] {
        let mut f = fixture(variant);
        let b = |v: Vec<u8>| Arc::new(v);
        f.wal.push(("0.tmp".into(), b(vec![0; 4096])));
        f.wal.push(("notes.txt".into(), b(b"hello".to_vec())));
        f.wal.push((
            "0000000000000000-0000000000000000.wal.broken".into(),
            b(vec![1; 100]),
        ));
        let snap = f.snap.get_or_insert_with(Vec::new);
        snap.push(("db".into(), b(vec![0; 4096])));
        snap.push(("00000000000000ff.snap.db".into(), b(vec![0; 10])));
        snap.push((
            "0000000000000009-00000000000000ff.snap.broken".into(),
            b(vec![1; 10]),
        ));
        snap.push(("README".into(), b(b"x".to_vec())));
        let data = f.load().unwrap();
        check_against_live(&f, &data);
        let r = &data.report;
        assert_eq!(r.wal_ignored.len(), 3);
        assert!(r.has_db);
        assert_eq!(r.snap_dbs, vec!["00000000000000ff.snap.db".to_string()]);
        assert_eq!(r.snap_ignored.len(), 2);
    }
}

#[test]
fn missing_wal_dir_or_segments() {
    let mut f = fixture("wal-only");
    let mut files = f.files();
    files.wal = None;
    let err = v2::load(files, &LoadOptions::default()).unwrap_err();
    assert_eq!(err, LoadError::NoWalDir);
    assert!(err.to_string().contains("no wal directory"));
    f.wal = vec![("0.tmp".into(), Arc::new(vec![0; 16]))];
    let err = f.load().unwrap_err();
    assert!(matches!(err, LoadError::NoWalSegments { .. }), "{err}");
    assert!(err.to_string().contains("0.tmp"));
    // A missing middle segment.
    let mut f = fixture("wal-only");
    for (n, _) in f.wal.iter_mut() {
        if n.starts_with("0000000000000001-") {
            *n = "0000000000000002-0000000000000074.wal".into();
        }
    }
    let err = f.load().unwrap_err();
    assert!(
        matches!(&err, LoadError::Wal(e) if matches!(e.kind, WalErrorKind::SequenceGap { .. })),
        "{err}"
    );
}

#[test]
fn native_member_dir() {
    let f = fixture("snapped");
    let tmp = std::env::temp_dir().join(format!("etcdscope-v2-native-{}", std::process::id()));
    let member = tmp.join("member");
    std::fs::create_dir_all(member.join("wal")).unwrap();
    std::fs::create_dir_all(member.join("snap")).unwrap();
    for (n, b) in &f.wal {
        std::fs::write(member.join("wal").join(n), b.as_slice()).unwrap();
    }
    for (n, b) in f.snap.as_ref().unwrap() {
        std::fs::write(member.join("snap").join(n), b.as_slice()).unwrap();
    }
    let files = v2::open_member_dir(&member).unwrap();
    let data = v2::load(files, &LoadOptions::default()).unwrap();
    check_against_live(&f, &data);
    std::fs::remove_dir_all(member.join("wal")).unwrap();
    let files = v2::open_member_dir(&member).unwrap();
    assert_eq!(
        v2::load(files, &LoadOptions::default()).unwrap_err(),
        LoadError::NoWalDir
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn byte_flips_in_the_wal_never_panic() {
    let base = fixture("snapped");
    let seg = base
        .wal
        .iter()
        .find(|(n, _)| n.ends_with(".wal"))
        .unwrap()
        .1
        .len();
    let mut errors = 0;
    let mut oks = 0;
    // Every 211th byte of the first 40 KB (records of every kind), plus a few far ones.
    let positions: Vec<usize> = (0..40_000.min(seg))
        .step_by(211)
        .chain([seg - 1, seg / 2])
        .collect();
    for at in positions {
        let mut f = base.clone();
        f.last_segment()[at] ^= 0x5a;
        match f.load() {
            Ok(d) => {
                oks += 1;
                for p in &d.report.problems {
                    assert!(p.to_string().contains("byte offset"));
                }
            }
            Err(e) => {
                errors += 1;
                let m = e.to_string();
                assert!(m.contains("offset") || m.contains("missing"), "{m}");
            }
        }
    }
    assert!(errors > 0, "no flip was detected ({oks} ok)");
}

/// `migrate`'s load keeps the snapshot's values in spill files: the store reads and the
/// migrated snapshot are the same, byte for byte, as with the values in memory.
#[test]
fn spilled_values_give_the_same_store_and_snapshot() {
    use etcd::migrate::{MigrateOptions, Migration, TtlMode};
    let spill_dir =
        std::env::temp_dir().join(format!("etcdscope-spill-test-{}", std::process::id()));
    std::fs::create_dir_all(&spill_dir).unwrap();
    for variant in ["snapped", "snap-full"] {
        let f = fixture(variant);
        let plain = v2::load_parallel(f.files(), &LoadOptions::default()).unwrap();
        let spilled =
            v2::load_parallel_spilling(f.files(), &LoadOptions::default(), Some(&spill_dir))
                .unwrap();
        assert_eq!(plain.store.spilled_bytes(), 0);
        assert!(
            spilled.store.spilled_bytes() > 100,
            "{variant}: nothing spilled"
        );
        assert_eq!(whole(&spilled.store), whole(&plain.store), "{variant}");
        let snapshot = |d: &V2Data| {
            let opts = MigrateOptions {
                ttl: TtlMode::Lease,
                include_hidden: true,
                prefix_map: Vec::new(),
                now_ns: d.report.last_sync_time_ns.unwrap_or(0),
                first_lease_id: 1,
            };
            let m = Migration::plan::<Shared>(&d.store, opts, None).unwrap();
            let content = m.content::<Shared>(None, d.report.applied_index).unwrap();
            let mut out = Vec::new();
            etcd::v3::write::write_backend(&content, &mut out, true).unwrap();
            out
        };
        let (a, b) = (snapshot(&plain), snapshot(&spilled));
        assert!(a.len() > 4096);
        assert!(a == b, "{variant}: the snapshots differ");
    }
    // The spill files were unlinked when created.
    assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), 0);
    std::fs::remove_dir(&spill_dir).unwrap();
}
