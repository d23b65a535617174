//! The writer against the crate's own reader (cursors and the checked walk), and against the
//! real `etcdctl snapshot status` / `snapshot restore` when they are installed.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bbolt::{
    write, Bucket, Content, Db, Sink, Visitor, WalkEntry, WalkReport, WriteError, WriteOptions,
    WriteSummary,
};
use sha2::{Digest, Sha256};
use storage::MemSource;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Val(Vec<u8>),
    Bucket(Model),
}

type Model = BTreeMap<Vec<u8>, Item>;

fn emit_model(m: &Model, sink: &mut dyn Sink) -> Result<(), WriteError> {
    for (k, item) in m {
        match item {
            Item::Val(v) => sink.put(k, v)?,
            Item::Bucket(b) => {
                sink.begin_bucket(k)?;
                emit_model(b, sink)?;
                sink.end_bucket()?;
            }
        }
    }
    Ok(())
}

struct ModelContent<'a>(&'a Model);

impl Content for ModelContent<'_> {
    type Error = WriteError;
    fn emit(&self, sink: &mut dyn Sink) -> Result<(), WriteError> {
        emit_model(self.0, sink)
    }
}

fn write_model(m: &Model, opts: &WriteOptions) -> (Vec<u8>, WriteSummary) {
    let mut out = Vec::new();
    let summary = write(&ModelContent(m), &mut out, opts).expect("write");
    assert_eq!(summary.bytes, out.len() as u64);
    (out, summary)
}

fn read_bucket(db: &Db<MemSource>, b: &Bucket) -> Model {
    let mut m = Model::new();
    let mut c = db.cursor(b);
    let own = |e: bbolt::LeafElem<'_>| (e.key.to_vec(), e.value.to_vec(), e.is_bucket());
    let mut cur = c.first().expect("first").map(own);
    while let Some((k, v, is_bucket)) = cur {
        if is_bucket {
            let sub = c.current_bucket().expect("bucket");
            m.insert(k, Item::Bucket(read_bucket(db, &sub)));
        } else {
            m.insert(k, Item::Val(v));
        }
        cur = c.next().expect("next").map(own);
    }
    m
}

struct Count {
    buckets: u64,
    entries: u64,
}

impl Visitor for Count {
    fn bucket(&mut self, _name: &[u8]) -> ControlFlow<()> {
        self.buckets += 1;
        ControlFlow::Continue(())
    }
    fn entry(&mut self, _e: WalkEntry<'_>) -> ControlFlow<()> {
        self.entries += 1;
        ControlFlow::Continue(())
    }
}

/// Opens the file, runs the checked walk (must be clean, every page accounted for) and reads
/// the whole tree back through cursors.
fn check(bytes: &[u8], s: &WriteSummary, opts: &WriteOptions) -> (Model, WalkReport) {
    let data_len = s.pages * opts.page_size as u64;
    let expect_len = data_len + if opts.trailer { 32 } else { 0 };
    assert_eq!(bytes.len() as u64, expect_len);
    let db = Db::open(MemSource::new(bytes.to_vec())).expect("open");
    assert!(!db.meta_choice().fell_back);
    assert_eq!(db.meta_choice().index, 0);
    assert_eq!(db.meta_choice().other.expect("meta 1").txid, 1);
    assert_eq!(db.meta().pgid, s.pages);
    assert_eq!(db.meta().root, s.root);
    assert_eq!(db.page_size(), opts.page_size as u64);
    let mut count = Count {
        buckets: 0,
        entries: 0,
    };
    let report = db.walk(&mut count).expect("walk");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.unaccounted, 0, "pages neither reachable nor free");
    assert_eq!(report.reachable_pages, s.pages);
    assert_eq!(report.has_freelist, opts.freelist);
    assert_eq!(report.free_listed, 0);
    let model = read_bucket(&db, &db.root_bucket());
    let top_entries: u64 = model
        .values()
        .map(|i| match i {
            Item::Bucket(b) => b.len() as u64,
            Item::Val(_) => 0,
        })
        .sum();
    assert_eq!(count.buckets, model.len() as u64);
    assert_eq!(count.entries, top_entries);
    (model, report)
}

fn round_trip(m: &Model, opts: &WriteOptions) -> (Vec<u8>, WriteSummary, WalkReport) {
    let (bytes, s) = write_model(m, opts);
    let (back, report) = check(&bytes, &s, opts);
    assert!(back == *m, "read-back differs from what was written");
    let (buckets, entries) = counts(m);
    assert_eq!((s.buckets, s.entries), (buckets, entries));
    (bytes, s, report)
}

fn counts(m: &Model) -> (u64, u64) {
    let (mut b, mut e) = (0, 0);
    for item in m.values() {
        match item {
            Item::Val(_) => e += 1,
            Item::Bucket(sub) => {
                let (sb, se) = counts(sub);
                b += 1 + sb;
                e += se;
            }
        }
    }
    (b, e)
}

fn bucket(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Item {
    Item::Bucket(pairs.into_iter().map(|(k, v)| (k, Item::Val(v))).collect())
}

fn opts() -> WriteOptions {
    WriteOptions::default()
}

fn open(bytes: &[u8]) -> Db<MemSource> {
    Db::open(MemSource::new(bytes.to_vec())).expect("open")
}

#[test]
fn empty_db_is_bbolts_fresh_layout() {
    let (bytes, s, _) = round_trip(&Model::new(), &opts());
    // meta, meta, freelist, empty root leaf: exactly what bbolt's Open creates.
    assert_eq!(s.pages, 4);
    assert_eq!(s.root, 3);
    assert_eq!(bytes.len(), 4 * 4096);
    assert_eq!(
        &bytes[3 * 4096..3 * 4096 + 16],
        &[3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&bytes[2 * 4096 + 8..2 * 4096 + 10], &[0x10, 0]);
    // Without a freelist the tree starts at page 2.
    let o = WriteOptions {
        freelist: false,
        ..opts()
    };
    let (_, s, _) = round_trip(&Model::new(), &o);
    assert_eq!((s.pages, s.root), (3, 2));
}

#[test]
fn one_inline_bucket() {
    let mut m = Model::new();
    m.insert(
        b"b".to_vec(),
        bucket([
            (b"k1".to_vec(), b"v1".to_vec()),
            (b"k2".to_vec(), b"v2".to_vec()),
        ]),
    );
    let (bytes, s, report) = round_trip(&m, &opts());
    assert_eq!(s.pages, 4, "an inline bucket owns no pages");
    assert!(report.buckets[0].inline);
    let db = open(&bytes);
    let b = db.bucket(b"b").unwrap().unwrap();
    assert!(b.is_inline());
    assert_eq!(db.get(&b, b"k2").unwrap().as_deref(), Some(&b"v2"[..]));
    // An empty bucket is a 32-byte inline value, as bbolt writes it.
    let mut m = Model::new();
    m.insert(b"alarm".to_vec(), Item::Bucket(Model::new()));
    let (bytes, _, _) = round_trip(&m, &opts());
    let db = open(&bytes);
    let root = db.root_bucket();
    let mut c = db.cursor(&root);
    let e = c.first().unwrap().unwrap();
    assert_eq!(e.value.len(), 32);
    assert!(e.is_bucket());
}

#[test]
fn inline_boundary_matches_bbolt() {
    // Inline iff 16 + Σ(16 + k + v) <= page_size / 4 (and no nested buckets).
    for (vlen, inline) in [(991usize, true), (992, false)] {
        let mut m = Model::new();
        m.insert(b"b".to_vec(), bucket([(b"a".to_vec(), vec![7u8; vlen])]));
        let (bytes, _, _) = round_trip(&m, &opts());
        let db = open(&bytes);
        assert_eq!(
            db.bucket(b"b").unwrap().unwrap().is_inline(),
            inline,
            "{vlen}"
        );
    }
}

#[test]
fn many_buckets() {
    for page_size in [512u32, 4096] {
        let mut m = Model::new();
        for i in 0..3000u32 {
            m.insert(
                format!("bucket-{i:06}").into_bytes(),
                bucket([(b"k".to_vec(), i.to_be_bytes().to_vec())]),
            );
        }
        let o = WriteOptions {
            page_size,
            ..opts()
        };
        let (bytes, _, report) = round_trip(&m, &o);
        assert_eq!(report.buckets.len(), 3000);
        assert!(report.root_pages > 1, "the root bucket needs a branch");
        let db = open(&bytes);
        let b = db.bucket(b"bucket-002999").unwrap().unwrap();
        assert_eq!(
            db.get(&b, b"k").unwrap(),
            Some(2999u32.to_be_bytes().to_vec())
        );
    }
}

#[test]
fn nested_buckets_three_levels() {
    let mut inner = Model::new(); // level 3, small: inline
    inner.insert(b"x".to_vec(), Item::Val(b"1".to_vec()));
    let mut big = Model::new(); // level 3, large: page-backed
    for i in 0..500u32 {
        big.insert(
            format!("big{i:04}").into_bytes(),
            Item::Val(vec![i as u8; 20]),
        );
    }
    let mut mid = Model::new(); // level 2: has nested buckets, so never inline
    mid.insert(b"a-val".to_vec(), Item::Val(b"v".to_vec()));
    mid.insert(b"big".to_vec(), Item::Bucket(big));
    mid.insert(b"inner".to_vec(), Item::Bucket(inner));
    mid.insert(b"z-val".to_vec(), Item::Val(b"".to_vec()));
    let mut top = Model::new();
    top.insert(b"mid".to_vec(), Item::Bucket(mid));
    top.insert(b"plain".to_vec(), Item::Val(b"p".to_vec()));
    let mut m = Model::new();
    m.insert(b"top".to_vec(), Item::Bucket(top));
    m.insert(b"zz".to_vec(), bucket([(b"k".to_vec(), b"v".to_vec())]));
    let (bytes, _, report) = round_trip(&m, &opts());
    assert!(!report.buckets[0].inline);
    assert!(report.buckets[1].inline);
    let db = open(&bytes);
    let top = db.bucket(b"top").unwrap().unwrap();
    let mid = db.sub_bucket(&top, b"mid").unwrap().unwrap();
    assert!(!top.is_inline() && !mid.is_inline());
    let inner = db.sub_bucket(&mid, b"inner").unwrap().unwrap();
    assert!(inner.is_inline());
    let big = db.sub_bucket(&mid, b"big").unwrap().unwrap();
    assert!(!big.is_inline());
    assert_eq!(
        db.get(&big, b"big0499").unwrap(),
        Some(vec![499u32 as u8; 20])
    );
}

#[test]
fn hundred_thousand_keys_several_branch_levels() {
    let mut kv = Model::new();
    for i in 0..100_000u64 {
        kv.insert(
            format!("key-{i:08}").into_bytes(),
            Item::Val(i.to_be_bytes().to_vec()),
        );
    }
    let mut m = Model::new();
    m.insert(b"key".to_vec(), Item::Bucket(kv));
    for (page_size, min_depth) in [(4096u32, 3u32), (512, 5)] {
        let o = WriteOptions {
            page_size,
            ..opts()
        };
        let (bytes, s, report) = round_trip(&m, &o);
        let st = &report.buckets[0];
        assert_eq!(st.entries, 100_000);
        assert!(
            st.depth >= min_depth,
            "depth {} at page size {page_size}",
            st.depth
        );
        // Dense: leaves are nearly full.
        let leaf_bytes = st.leaf_pages * page_size as u64;
        let used = st.entries * 16 + st.key_bytes + st.value_bytes;
        assert!(used * 100 / leaf_bytes > 90, "fill {used}/{leaf_bytes}");
        let db = open(&bytes);
        let b = db.bucket(b"key").unwrap().unwrap();
        let mut c = db.cursor(&b);
        assert_eq!(c.last().unwrap().unwrap().key, b"key-00099999");
        assert_eq!(
            c.seek(b"key-00054321").unwrap().unwrap().value,
            54321u64.to_be_bytes()
        );
        assert!(s.pages > 100);
    }
    // A lower fill percent leaves room in every page.
    let o = WriteOptions {
        fill_percent: 0.5,
        ..opts()
    };
    let (_, _, report) = round_trip(&m, &o);
    let st = &report.buckets[0];
    let used = st.entries * 16 + st.key_bytes + st.value_bytes;
    let fill = used * 100 / (st.leaf_pages * 4096);
    assert!((40..=50).contains(&fill), "fill {fill}%");
}

#[test]
fn value_sizes_and_overflow() {
    let sizes = [0usize, 1, 4063, 4064, 4065, 4095, 4096, 4097, 10 << 20, 3];
    let mut b = Model::new();
    for (i, &n) in sizes.iter().enumerate() {
        let v: Vec<u8> = (0..n).map(|j| (j * 31 + i) as u8).collect();
        b.insert(format!("v{i:02}").into_bytes(), Item::Val(v));
        b.insert(
            format!("v{i:02}-small").into_bytes(),
            Item::Val(vec![1, 2, 3]),
        );
    }
    let mut m = Model::new();
    m.insert(b"values".to_vec(), Item::Bucket(b.clone()));
    // A bucket holding only one giant value: the overflow leaf is the bucket's root.
    m.insert(
        b"x-one".to_vec(),
        bucket([(b"big".to_vec(), vec![9u8; 10 << 20])]),
    );
    for page_size in [4096u32, 512] {
        let o = WriteOptions {
            page_size,
            ..opts()
        };
        let (bytes, _, report) = round_trip(&m, &o);
        assert!(report.buckets[0].overflow_pages > 2560);
        assert_eq!(report.buckets[1].depth, 1);
        assert_eq!(report.buckets[1].leaf_pages, 1);
        let db = open(&bytes);
        let bk = db.bucket(b"values").unwrap().unwrap();
        assert_eq!(db.get(&bk, b"v00").unwrap(), Some(Vec::new()));
    }
}

#[test]
fn binary_keys_and_max_size_keys() {
    let mut b = Model::new();
    for k in [
        vec![0u8],
        vec![0, 0],
        vec![0, 1],
        vec![0, 0xff],
        vec![1],
        vec![0x7f, 0],
        vec![0xff],
        vec![0xff, 0],
        vec![0xff, 0xff],
        vec![0xff; 100],
    ] {
        b.insert(k.clone(), Item::Val(k));
    }
    let mut m = Model::new();
    m.insert(vec![0u8], Item::Bucket(b.clone()));
    m.insert(vec![0xffu8, 0], Item::Bucket(b));
    round_trip(&m, &opts());

    // Keys of bbolt's maximum size: every leaf and branch page overflows.
    let mut big = Model::new();
    for i in 0..40u8 {
        let mut k = vec![b'k'; 32768];
        k[0] = i;
        k[32767] = i;
        big.insert(k, Item::Val(vec![i; 10]));
    }
    let mut m = Model::new();
    m.insert(b"big-keys".to_vec(), Item::Bucket(big));
    let mut name = vec![b'n'; 32768];
    name[0] = b'z';
    m.insert(name, bucket([(vec![b'q'; 32768], vec![])]));
    let (_, _, report) = round_trip(&m, &opts());
    assert!(report.buckets[0].depth >= 3);
}

#[test]
fn deterministic_output() {
    let mut m = Model::new();
    for i in 0..50u32 {
        let mut b = Model::new();
        for j in 0..(i * 37) {
            b.insert(
                format!("{j:05}").into_bytes(),
                Item::Val(vec![j as u8; (j % 300) as usize]),
            );
        }
        m.insert(format!("b{i:03}").into_bytes(), Item::Bucket(b));
    }
    for trailer in [false, true] {
        let o = WriteOptions { trailer, ..opts() };
        let (a, sa) = write_model(&m, &o);
        let (b, sb) = write_model(&m, &o);
        assert!(a == b);
        assert_eq!(sa, sb);
    }
}

#[test]
fn sha256_trailer() {
    let mut m = Model::new();
    m.insert(
        b"key".to_vec(),
        bucket((0..1000u32).map(|i| (i.to_be_bytes().to_vec(), vec![1; 50]))),
    );
    let o = WriteOptions {
        trailer: true,
        ..opts()
    };
    let (bytes, s, _) = round_trip(&m, &o);
    assert_eq!(bytes.len() % 512, 32);
    assert_eq!(bytes.len() as u64, s.pages * 4096 + 32);
    let (data, tail) = bytes.split_at(bytes.len() - 32);
    let digest: [u8; 32] = Sha256::digest(data).into();
    assert_eq!(tail, digest);
    assert_eq!(s.sha256, Some(digest));
    // Without the trailer the data bytes are identical.
    let (plain, s2) = write_model(&m, &opts());
    assert_eq!(plain, data);
    assert_eq!(s2.sha256, None);
}

/// Content given as a closure; counts its calls.
struct FnContent<F> {
    f: F,
    calls: Cell<u32>,
}

impl<F: Fn(u32, &mut dyn Sink) -> Result<(), WriteError>> Content for FnContent<F> {
    type Error = WriteError;
    fn emit(&self, sink: &mut dyn Sink) -> Result<(), WriteError> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        (self.f)(n, sink)
    }
}

fn run<F: Fn(u32, &mut dyn Sink) -> Result<(), WriteError>>(
    f: F,
) -> (Result<WriteSummary, WriteError>, Vec<u8>) {
    let c = FnContent {
        f,
        calls: Cell::new(0),
    };
    let mut out = Vec::new();
    let r = write(&c, &mut out, &opts());
    (r, out)
}

#[test]
fn order_errors_are_typed_and_nothing_is_written() {
    let (r, out) = run(|_, s| {
        s.begin_bucket(b"b")?;
        s.put(b"k2", b"")?;
        s.put(b"k1", b"")?;
        s.end_bucket()
    });
    let e = r.unwrap_err();
    assert_eq!(
        e,
        WriteError::KeyOrder {
            bucket: vec![b"b".to_vec()],
            key: b"k1".to_vec(),
            previous: b"k2".to_vec()
        }
    );
    assert!(e.to_string().contains("bucket \"b\""), "{e}");
    assert!(out.is_empty(), "layout errors come before any byte");

    // Duplicate key, and a bucket name equal to a key.
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"b")?;
        s.put(b"k", b"")?;
        s.put(b"k", b"")?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::KeyOrder { .. })));
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"b")?;
        s.put(b"k", b"")?;
        s.begin_bucket(b"k")?;
        s.end_bucket()?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::KeyOrder { .. })));
    // Top-level buckets out of order.
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"b")?;
        s.end_bucket()?;
        s.begin_bucket(b"a")?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::KeyOrder { bucket, .. }) if bucket.is_empty()));
}

#[test]
fn structure_errors() {
    let (r, _) = run(|_, s| s.put(b"k", b"v"));
    assert_eq!(
        r.unwrap_err(),
        WriteError::BucketNotOpen { key: b"k".to_vec() }
    );
    let (r, _) = run(|_, s| s.end_bucket());
    assert_eq!(
        r.unwrap_err(),
        WriteError::UnbalancedBuckets { open: vec![] }
    );
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"a")?;
        s.begin_bucket(b"b")
    });
    assert_eq!(
        r.unwrap_err(),
        WriteError::UnbalancedBuckets {
            open: vec![b"a".to_vec(), b"b".to_vec()]
        }
    );
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"a")?;
        s.put(b"", b"v")?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::EmptyKey { .. })));
    let (r, _) = run(|_, s| s.begin_bucket(b""));
    assert!(matches!(r, Err(WriteError::EmptyKey { .. })));
    let (r, _) = run(|_, s| {
        s.begin_bucket(b"a")?;
        s.put(&vec![1u8; 32769], b"v")?;
        s.end_bucket()
    });
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::TooLarge {
                what: "key",
                size: 32769,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().is_empty());
}

#[test]
fn an_ignored_error_still_fails_the_write() {
    let (r, out) = run(|_, s| {
        s.begin_bucket(b"a")?;
        let _ = s.put(b"z", b"");
        let _ = s.put(b"b", b""); // out of order, ignored
        let _ = s.put(b"zz", b""); // refused too: the first error sticks
        s.end_bucket().ok();
        Ok(())
    });
    assert!(matches!(r, Err(WriteError::KeyOrder { .. })));
    assert!(out.is_empty());
}

#[test]
fn content_that_changes_between_passes() {
    // An extra key the second time, in the first of two buckets: noticed at that bucket's end.
    let (r, _) = run(|call, s| {
        s.begin_bucket(b"a")?;
        s.put(b"k1", b"v")?;
        if call > 0 {
            s.put(b"k2", b"v")?;
        }
        s.end_bucket()?;
        s.begin_bucket(b"b")?;
        s.end_bucket()
    });
    match r.unwrap_err() {
        WriteError::ContentChanged { bucket, .. } => assert_eq!(bucket, b"a"),
        e => panic!("{e:?}"),
    }
    // Same number of events, different key.
    let (r, _) = run(|call, s| {
        s.begin_bucket(b"a")?;
        s.put(if call == 0 { b"k1" } else { b"k2" }, b"v")?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::ContentChanged { .. })));
    // A value of another size.
    let (r, _) = run(|call, s| {
        s.begin_bucket(b"a")?;
        s.put(b"k", &vec![0; 100 + call as usize])?;
        s.end_bucket()
    });
    assert!(matches!(r, Err(WriteError::ContentChanged { .. })));
    // An extra bucket at the end.
    let (r, _) = run(|call, s| {
        s.begin_bucket(b"a")?;
        s.end_bucket()?;
        if call > 0 {
            s.begin_bucket(b"b")?;
            s.end_bucket()?;
        }
        Ok(())
    });
    let e = r.unwrap_err();
    assert!(matches!(e, WriteError::ContentChanged { .. }), "{e:?}");
    assert!(e.to_string().contains("changed"));
    // Fewer buckets the second time.
    let (r, _) = run(|call, s| {
        if call == 0 {
            s.begin_bucket(b"a")?;
            s.end_bucket()?;
        }
        Ok(())
    });
    assert!(matches!(r, Err(WriteError::ContentChanged { .. })));
}

#[test]
fn bad_options_and_failing_output() {
    let m = Model::new();
    for o in [
        WriteOptions {
            page_size: 1000,
            ..opts()
        },
        WriteOptions {
            page_size: 256,
            ..opts()
        },
        WriteOptions {
            fill_percent: 0.0,
            ..opts()
        },
        WriteOptions {
            fill_percent: f64::NAN,
            ..opts()
        },
    ] {
        let r = write(&ModelContent(&m), Vec::new(), &o);
        assert!(matches!(r, Err(WriteError::InvalidOptions(_))), "{o:?}");
    }

    struct Failing(usize);
    impl std::io::Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "disk full",
                ));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut m = Model::new();
    m.insert(
        b"b".to_vec(),
        bucket((0..20_000u32).map(|i| (i.to_be_bytes().to_vec(), vec![0; 30]))),
    );
    let r = write(&ModelContent(&m), Failing(100_000), &opts());
    match r {
        Err(WriteError::Io { kind, .. }) => assert_eq!(kind, std::io::ErrorKind::StorageFull),
        other => panic!("{other:?}"),
    }
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_key(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 1,
        1..=7 => 1 + rng.below(12) as usize,
        8 => 1 + rng.below(300) as usize,
        _ => 1 + rng.below(2000) as usize,
    };
    // A small alphabet with the extremes makes shared prefixes and 0x00/0xff common.
    const ALPHABET: [u8; 5] = [0x00, 0x01, b'a', 0x7f, 0xff];
    (0..len).map(|_| ALPHABET[rng.below(5) as usize]).collect()
}

fn random_value(rng: &mut Rng, page_size: u64) -> Vec<u8> {
    let len = match rng.below(40) {
        0..=3 => 0,
        4..=31 => rng.below(40),
        32..=36 => rng.below(page_size / 3),
        37..=38 => page_size - 40 + rng.below(80),
        _ => rng.below(page_size * 3),
    } as usize;
    let seed = rng.next() as u8;
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn random_bucket(rng: &mut Rng, depth: u32, page_size: u64) -> Model {
    let mut m = Model::new();
    let n = match rng.below(6) {
        0 => 0,
        1..=3 => rng.below(20),
        4 => rng.below(300),
        _ => rng.below(1500),
    };
    for _ in 0..n {
        let k = random_key(rng);
        let item = if depth < 3 && rng.below(40) == 0 {
            Item::Bucket(random_bucket(rng, depth + 1, page_size))
        } else {
            Item::Val(random_value(rng, page_size))
        };
        m.insert(k, item);
    }
    m
}

#[test]
fn random_databases_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..30 {
        let page_size = [512u32, 1024, 4096, 16384][rng.below(4) as usize];
        let o = WriteOptions {
            page_size,
            fill_percent: [1.0, 1.0, 0.5, 0.1, 0.9][rng.below(5) as usize],
            trailer: rng.below(2) == 0,
            freelist: rng.below(3) != 0,
        };
        let mut m = Model::new();
        for _ in 0..rng.below(8) {
            m.insert(
                random_key(&mut rng),
                Item::Bucket(random_bucket(&mut rng, 1, page_size as u64)),
            );
        }
        let (bytes, s) = write_model(&m, &o);
        let (back, _) = check(&bytes, &s, &o);
        assert!(back == m, "round {round}: read-back differs ({o:?})");
        let (again, _) = write_model(&m, &o);
        assert!(again == bytes, "round {round}: not deterministic");
    }
}

// ---- the real etcdctl --------------------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// mvccpb.KeyValue {1 key, 2 create_revision, 3 mod_revision, 4 version, 5 value}.
fn key_value(key: &[u8], create: i64, modr: i64, version: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(0x0a);
    varint(&mut out, key.len() as u64);
    out.extend_from_slice(key);
    for (tag, n) in [(0x10u8, create), (0x18, modr), (0x20, version)] {
        if n != 0 {
            out.push(tag);
            varint(&mut out, n as u64);
        }
    }
    if !value.is_empty() {
        out.push(0x2a);
        varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

fn rev_key(main: i64, sub: i64, tombstone: bool) -> Vec<u8> {
    let mut k = main.to_be_bytes().to_vec();
    k.push(b'_');
    k.extend_from_slice(&sub.to_be_bytes());
    if tombstone {
        k.push(b't');
    }
    k
}

fn json_number(json: &str, field: &str) -> Option<u64> {
    let at = json.find(&format!("\"{field}\":"))? + field.len() + 3;
    let digits: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// CRC-32C (Castagnoli), as `etcdctl snapshot status` hashes.
struct Crc32c([u32; 256], u32);

impl Crc32c {
    fn new() -> Crc32c {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        Crc32c(t, 0)
    }
    fn update(&mut self, data: &[u8]) {
        let mut c = !self.1;
        for &b in data {
            c = self.0[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.1 = !c;
    }
}

/// etcdctl's `hash`: every top-level bucket name, then its keys and values in order (a nested
/// bucket contributes its key only).
fn status_hash(m: &Model) -> u64 {
    let mut h = Crc32c::new();
    for (name, item) in m {
        h.update(name);
        if let Item::Bucket(b) = item {
            for (k, v) in b {
                h.update(k);
                if let Item::Val(v) = v {
                    h.update(v);
                }
            }
        }
    }
    h.1 as u64
}

#[test]
fn etcdctl_snapshot_status_and_restore_accept_the_file() {
    let etcdctl = std::path::Path::new("/usr/bin/etcdctl");
    if !etcdctl.exists() {
        eprintln!("note: /usr/bin/etcdctl not installed; skipping the real-etcd check");
        return;
    }
    // `key`: 600 puts at revisions 2..=601 (one with a 10 KB value), then a delete at 602.
    let mut keys = Model::new();
    for rev in 2..=601i64 {
        let user = format!("/registry/item-{:04}", rev % 450);
        let value = if rev == 300 {
            vec![b'x'; 10_000]
        } else {
            format!("value of revision {rev}").into_bytes()
        };
        let create = if rev % 450 == rev { rev } else { rev - 450 };
        let version = if create == rev { 1 } else { 2 };
        keys.insert(
            rev_key(rev, 0, false),
            Item::Val(key_value(user.as_bytes(), create, rev, version, &value)),
        );
    }
    keys.insert(
        rev_key(602, 0, true),
        Item::Val(key_value(b"/registry/item-0010", 0, 0, 0, b"")),
    );
    let mut m = Model::new();
    m.insert(b"alarm".to_vec(), Item::Bucket(Model::new()));
    m.insert(
        b"cluster".to_vec(),
        bucket([(b"clusterVersion".to_vec(), b"3.4.0".to_vec())]),
    );
    m.insert(b"key".to_vec(), Item::Bucket(keys));
    m.insert(b"lease".to_vec(), Item::Bucket(Model::new()));
    m.insert(
        b"meta".to_vec(),
        bucket([(b"consistent_index".to_vec(), 7u64.to_be_bytes().to_vec())]),
    );
    let o = WriteOptions {
        trailer: true,
        ..opts()
    };
    let (bytes, s, _) = round_trip(&m, &o);
    let total_key = 1 + 601 + 1;

    let dir = std::env::temp_dir().join(format!("etcdscope-bbolt-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("snapshot.db");
    std::fs::write(&file, &bytes).unwrap();

    let status = std::process::Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "status", "-w", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        status.status.success(),
        "etcdctl snapshot status failed: {stdout} {}",
        String::from_utf8_lossy(&status.stderr)
    );
    eprintln!("etcdctl snapshot status: {stdout}");
    assert_eq!(json_number(&stdout, "revision"), Some(602), "{stdout}");
    assert_eq!(
        json_number(&stdout, "hash"),
        Some(status_hash(&m)),
        "{stdout}"
    );
    assert_eq!(
        json_number(&stdout, "totalKey"),
        Some(total_key),
        "{stdout}"
    );
    assert_eq!(
        json_number(&stdout, "totalSize"),
        Some(s.pages * 4096),
        "{stdout}"
    );

    // Restore checks the SHA-256 trailer and opens the db as an mvcc store.
    let restore = std::process::Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .current_dir(&dir)
        .args(["snapshot", "restore"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.join("restored"))
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "etcdctl snapshot restore failed: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(dir.join("restored/member/snap/db").exists());

    // bbolt's own tx.Check (run by `snapshot status`) on the shapes etcd never makes: deep
    // trees, nested buckets, maximum-size keys, multi-megabyte values. No `key` bucket, since
    // etcdctl decodes its keys as revisions.
    let mut deep = Model::new();
    for i in 0..60_000u32 {
        deep.insert(
            format!("k{i:07}").into_bytes(),
            Item::Val(vec![i as u8; (i % 97) as usize]),
        );
    }
    let mut inner = Model::new();
    inner.insert(b"x".to_vec(), Item::Val(b"y".to_vec()));
    let mut mid = Model::new();
    mid.insert(b"deep".to_vec(), Item::Bucket(deep.clone()));
    mid.insert(b"inner".to_vec(), Item::Bucket(inner));
    mid.insert(b"v".to_vec(), Item::Val(vec![5; 5000]));
    let mut nested = Model::new();
    nested.insert(b"mid".to_vec(), Item::Bucket(mid));
    nested.insert(b"z".to_vec(), Item::Val(Vec::new()));
    let mut big_keys = Model::new();
    for i in 0..20u8 {
        big_keys.insert(vec![i; 32768], Item::Val(vec![i; 3]));
    }
    let mut m = Model::new();
    m.insert(b"a-deep".to_vec(), Item::Bucket(deep));
    m.insert(b"b-nested".to_vec(), Item::Bucket(nested));
    m.insert(b"c-big-keys".to_vec(), Item::Bucket(big_keys));
    m.insert(
        b"d-big-values".to_vec(),
        bucket([
            (b"ten-mb".to_vec(), vec![7; 10 << 20]),
            (b"zero".to_vec(), vec![]),
        ]),
    );
    m.insert(b"e-empty".to_vec(), Item::Bucket(Model::new()));
    for freelist in [true, false] {
        let o = WriteOptions {
            freelist,
            ..o.clone()
        };
        let (bytes, s, _) = round_trip(&m, &o);
        let file = dir.join(format!("stress-{freelist}.db"));
        std::fs::write(&file, &bytes).unwrap();
        let status = std::process::Command::new(etcdctl)
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", "-w", "json"])
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&status.stdout).to_string();
        assert!(
            status.status.success(),
            "etcdctl snapshot status failed: {stdout} {}",
            String::from_utf8_lossy(&status.stderr)
        );
        eprintln!("etcdctl snapshot status (stress, freelist {freelist}): {stdout}");
        assert_eq!(
            json_number(&stdout, "totalKey"),
            Some(60_000 + 2 + 20 + 2),
            "{stdout}"
        );
        assert_eq!(
            json_number(&stdout, "totalSize"),
            Some(s.pages * 4096),
            "{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
