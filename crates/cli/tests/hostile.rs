//! Hostile input, in-process: seeded mutations of the real etcd 3.4.23 fixtures (bit flips, bytes
//! set to 0x00/0xFF/random, random 64-bit words where lengths and page ids live, truncations,
//! zeroed 4 KiB spans, copied ranges) fed to every reader. Passes when no reader panics (each
//! case runs under `catch_unwind`; failures are listed with their seeds) and every case ends (a
//! watchdog aborts the run naming the case after 30 s). An allocation from an unchecked length
//! would abort the process: that fails the run too.
//!
//! `ETCDSCOPE_HOSTILE_CASES` (default 60 per target) and `ETCDSCOPE_HOSTILE_SEED` choose the
//! run; `cargo xtask fuzz` runs many more in release mode. Replay one case with the seed printed
//! on failure and `ETCDSCOPE_HOSTILE_CASES=1`.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd::v2::{GetOptions, LoadOptions};
use etcd::v3::{Backend, RangeRequest, StatusOptions};
use etcd::wal::SegmentFile;
use storage::MemSource;

/// xorshift64*: small, seedable, good enough to pick positions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four mutations of `data`.
fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            break;
        }
        let at = rng.below(d.len());
        match rng.below(7) {
            0 => d[at] ^= 1 << rng.below(8),
            1 => d[at] = 0,
            2 => d[at] = 0xff,
            3 => {
                let w = rng.next().to_le_bytes();
                let n = w.len().min(d.len() - at);
                d[at..at + n].copy_from_slice(&w[..n]);
            }
            4 => d.truncate(at),
            5 => {
                let start = at / 4096 * 4096;
                let end = (start + 4096).min(d.len());
                d[start..end].fill(0);
            }
            _ => {
                let from = rng.below(d.len());
                let n = rng.below(64).min(d.len() - from).min(d.len() - at);
                let piece = d[from..from + n].to_vec();
                d[at..at + n].copy_from_slice(&piece);
            }
        }
    }
    d
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Every v3 reader over a (damaged) db.
fn v3(bytes: &[u8]) {
    let Ok(be) = Backend::open(MemSource::new(bytes.to_vec())) else {
        return;
    };
    let _ = be.status(StatusOptions {
        verify_trailer: true,
    });
    let _ = be.range(&RangeRequest::prefix(b""));
    let _ = be.for_each_revision(|_, _| Ok(()));
    let _ = be.history(b"/registry/pods/default/web-0");
    let _ = be.leases();
    let _ = be.members();
    let _ = be.auth(true);
    let _ = be.alarms();
    let _ = be.current_revision();
}

/// The WAL scan and every entry decoded.
fn wal(name: &str, bytes: &[u8]) {
    let mut segs = vec![SegmentFile {
        name: name.to_string(),
        src: MemSource::new(bytes.to_vec()),
    }];
    let Ok(scan) = etcd::wal::scan(&mut segs, None) else {
        return;
    };
    for loc in &scan.entries {
        if let Ok(e) = etcd::wal::read_entry(&segs, loc) {
            let _ = etcd::v2req::decode_entry(&e);
        }
    }
}

/// A whole v2 data dir: WAL + snapshots, store rebuilt and printed.
fn v2_dir(wal_name: &str, wal_bytes: &[u8], snaps: &[(String, Vec<u8>)]) {
    let files = etcd::v2::DataDirFiles {
        wal: Some(vec![(
            wal_name.to_string(),
            MemSource::new(wal_bytes.to_vec()),
        )]),
        snap: Some(
            snaps
                .iter()
                .map(|(n, b)| (n.clone(), MemSource::new(b.clone())))
                .collect(),
        ),
    };
    if let Ok(d) = etcd::v2::load(files, &LoadOptions::default()) {
        if let Ok(root) = d.store.node_at_store_path(b"/") {
            let _ = root.to_json(&GetOptions {
                recursive: true,
                include_hidden: true,
                now_ns: 0,
            });
        }
    }
}

/// The v2 store JSON parser (behind the snapshot's CRC otherwise).
fn snap_json(json: &[u8]) {
    if let Ok((store, _)) = etcd::v2::snapjson::load(json) {
        if let Ok(root) = store.node_at_store_path(b"/") {
            let _ = root.to_json(&GetOptions {
                recursive: true,
                include_hidden: true,
                now_ns: 0,
            });
        }
    }
}

/// Entry payload decoders (behind the WAL's CRC otherwise).
fn entry_data(data: &[u8]) {
    let _ = etcd::v2req::decode_normal(data);
}

/// Kubernetes values and keys: schema-less and typed decoding, decryption, masking, redaction.
fn kube_value(value: &[u8], enc: &kube::encryption::EncryptionConfig) {
    let limits = kube::raw::Limits::default();
    let _ = kube::raw::decode(value, limits);
    let _ = kube::raw::view(value, limits);
    let _ = kube::raw::describe_envelope(value);
    let _ = kube::keys::parse(value, kube::keys::DEFAULT_PREFIX);
    let _ = kube::typed::decode(value, Default::default());
    let key = b"/registry/secrets/default/s1";
    let o = kube::object::decode(
        key,
        value,
        &kube::object::Options {
            encryption: Some(enc),
            reveal_secrets: false,
            mask_prefixes: &[],
        },
    );
    if let Some(v) = &o.json {
        let _ = kube::yaml::to_yaml(v);
    }
    let _ = kube::redact::redact_secret(value);
    let _ = enc.decrypt(key, value);
}

/// The Kubernetes views over a (damaged) db: what `k8s analyze`, `deleted` and `get all` read.
fn kube_db(bytes: &[u8]) {
    let Ok(be) = Backend::open(MemSource::new(bytes.to_vec())) else {
        return;
    };
    let mut a = kube::analyze::Analyzer::new(b"/registry", 5);
    let mut d = kube::deleted::DeletedFinder::new();
    let _ = be.for_each_revision(|rk, kv| {
        a.observe(kv.key, kv.value.len(), rk.tombstone);
        d.observe(kv.key, (rk.rev.main, rk.rev.sub), rk.tombstone);
        Ok(())
    });
    a.end_first_pass();
    let _ = a.finish().to_json();
    let mut req = RangeRequest::prefix(b"/registry/");
    req.keys_only = true;
    if let Ok(res) = be.range(&req) {
        for k in res.kvs.iter().take(50) {
            if let Ok(Some(kv)) = be.put_at(&k.key, k.mod_revision) {
                let o = kube::object::decode(&kv.key, &kv.value, &Default::default());
                if let Some(v) = &o.json {
                    let _ = kube::yaml::to_yaml(v);
                }
            }
        }
    }
}

/// Aborts the run when one case takes more than 30 s (a hang), naming the case.
struct Watchdog {
    epoch: Instant,
    /// Milliseconds since `epoch` when the running case started, + 1 (0: none running).
    started: Arc<AtomicU64>,
    case: Arc<Mutex<String>>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let dog = Watchdog {
            epoch: Instant::now(),
            started: Arc::new(AtomicU64::new(0)),
            case: Arc::new(Mutex::new(String::new())),
        };
        let (epoch, started, case) = (dog.epoch, dog.started.clone(), dog.case.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let at = started.load(Ordering::SeqCst);
            if at > 0 && epoch.elapsed().as_millis() as u64 > at + 30_000 {
                let c = case.lock().map(|c| c.clone()).unwrap_or_default();
                eprintln!("hostile: case {c} has run for 30 s: a hang");
                std::process::abort();
            }
        });
        dog
    }

    fn enter(&self, case: String) {
        if let Ok(mut c) = self.case.lock() {
            *c = case;
        }
        self.started.store(
            self.epoch.elapsed().as_millis() as u64 + 1,
            Ordering::SeqCst,
        );
    }

    fn leave(&self) {
        self.started.store(0, Ordering::SeqCst);
    }
}

#[test]
fn mutated_fixtures_never_panic_or_hang() {
    let cases: u64 = std::env::var("ETCDSCOPE_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed0: u64 = std::env::var("ETCDSCOPE_HOSTILE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);

    let fx = fixtures();
    let db = std::fs::read(fx.join("v3/basic/snapshot.db")).unwrap();
    let snap_dir = fx.join("v2/snapped/member/snap");
    let wal_dir = fx.join("v2/snapped/member/wal");
    let wal_gz = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".wal.gz"))
        .unwrap();
    let wal_name = wal_gz
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".gz")
        .to_string();
    let wal_bytes = gunzip(&wal_gz);
    let mut snaps: Vec<(String, Vec<u8>)> = std::fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    snaps.sort();
    let (newest_name, newest) = snaps.last().cloned().unwrap();
    let json = etcd::snap::read(&newest_name, &MemSource::new(newest.clone()))
        .unwrap()
        .read_json(&MemSource::new(newest.clone()))
        .unwrap();
    // Payloads of the real entries.
    let mut payloads = Vec::new();
    {
        let mut segs = vec![SegmentFile {
            name: wal_name.clone(),
            src: MemSource::new(wal_bytes.clone()),
        }];
        let scan = etcd::wal::scan(&mut segs, None).unwrap();
        for loc in &scan.entries {
            let e = etcd::wal::read_entry(&segs, loc).unwrap();
            if let Some(d) = e.data.filter(|d| !d.is_empty()) {
                payloads.push(d);
            }
        }
    }
    assert!(payloads.len() > 20);
    let pbs: Vec<Vec<u8>> = [
        "core.v1.Pod.pb",
        "apps.v1.Deployment.pb",
        "core.v1.Secret.pb",
        "encryption/secret-gcm256.bin",
        "encryption/configmap-box1.bin",
        "encryption/secret-cbc256.bin",
        "encryption/secret-kms-v2.bin",
    ]
    .iter()
    .map(|n| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../kube/tests/data")
                .join(n),
        )
        .unwrap()
    })
    .collect();

    let kdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kube/tests/data");
    let enc = kube::encryption::EncryptionConfig::parse(
        &std::fs::read_to_string(kdata.join("encryption/config.yaml")).unwrap(),
    )
    .unwrap();
    let k8s_db = std::fs::read(kdata.join("k8s-snapshot.db")).unwrap();

    let dog = Watchdog::start();
    let mut failures: Vec<String> = Vec::new();
    let mut run = |target: &str, i: u64, f: &dyn Fn(&mut Rng)| {
        let seed = seed0.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        dog.enter(format!("{target} ETCDSCOPE_HOSTILE_SEED={seed}"));
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut Rng(seed))));
        dog.leave();
        if r.is_err() {
            failures.push(format!("{target}: ETCDSCOPE_HOSTILE_SEED={seed}"));
        }
    };
    for i in 0..cases {
        run("v3 db", i, &|r| v3(&mutate(&db, r)));
        run("wal segment", i, &|r| {
            wal(&wal_name, &mutate(&wal_bytes, r))
        });
        run("v2 data dir", i, &|r| {
            let mut s = snaps.clone();
            let k = r.below(s.len() + 1);
            let w = if k == s.len() {
                mutate(&wal_bytes, r)
            } else {
                s[k].1 = mutate(&s[k].1, r);
                wal_bytes.clone()
            };
            v2_dir(&wal_name, &w, &s)
        });
        run("snapshot json", i, &|r| snap_json(&mutate(&json, r)));
        run("entry payload", i, &|r| {
            let p = &payloads[r.below(payloads.len())];
            entry_data(&mutate(p, r))
        });
        run("kubernetes value", i, &|r| {
            let p = &pbs[r.below(pbs.len())];
            kube_value(&mutate(p, r), &enc)
        });
        run("kubernetes db", i, &|r| kube_db(&mutate(&k8s_db, r)));
    }
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}
