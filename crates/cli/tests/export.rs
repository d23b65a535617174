//! `etcdscope export` checked in the real databases: every fixture (the etcd 3.4.23 v3
//! snapshot, the three v2 data dirs through the migrate mapping, and a synthetic db whose keys
//! look like SQL, hold quotes, backslashes, NUL and invalid UTF-8) exported in both schemas,
//! loaded into `sqlite3` and into a throwaway PostgreSQL 15 started by the test, and read back
//! byte by byte (hex) against the source. For the kine schema, kine's own queries (v0.16.4
//! `pkg/drivers/generic`) are run and compared with etcd's answers (etcdctl's recorded outputs
//! for the v3 fixture; our reader, itself checked against etcdctl, for the others).

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use etcd::proto::KeyValue;
use etcd::v3::{Backend, RangeRequest};
use storage::FileSource;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_etcdscope")
}

fn v3_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/v3/basic")
}

fn tmp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "export-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// `etcdscope export INPUT ARGS -o OUT`; panics unless it succeeds.
fn export(input: &Path, args: &[&str], out: &Path) {
    let mut a: Vec<&std::ffi::OsStr> = vec!["export".as_ref(), input.as_os_str()];
    a.extend(args.iter().map(|s| std::ffi::OsStr::new(*s)));
    a.extend(["-o".as_ref(), out.as_os_str(), "--force".as_ref()]);
    let o = run(&a);
    assert!(
        o.status.success(),
        "export {args:?} of {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text_ok(b: &[u8]) -> bool {
    !b.contains(&0) && std::str::from_utf8(b).is_ok()
}

// ------------------------------------------------------------------------------------------
// Databases

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum D {
    Sqlite,
    Pg,
}

trait Db {
    fn d(&self) -> D;
    /// Rows of a query, columns split on tabs; NULL as "NULL". Every byte string is selected
    /// as hex, so no value holds a tab or newline.
    fn q(&self, sql: &str) -> Vec<Vec<String>>;

    fn hexb(&self, col: &str) -> String {
        match self.d() {
            D::Sqlite => format!("CASE WHEN {col} IS NULL THEN NULL ELSE lower(hex({col})) END"),
            D::Pg => format!("encode({col}, 'hex')"),
        }
    }
    fn hext(&self, col: &str) -> String {
        match self.d() {
            D::Sqlite => {
                format!(
                    "CASE WHEN {col} IS NULL THEN NULL ELSE lower(hex(CAST({col} AS BLOB))) END"
                )
            }
            D::Pg => format!("encode(convert_to({col}, 'UTF8'), 'hex')"),
        }
    }
    fn text_lit(&self, b: &[u8]) -> String {
        match self.d() {
            D::Sqlite => format!("CAST(X'{}' AS TEXT)", hex(b)),
            D::Pg => format!("convert_from('\\x{}'::bytea, 'UTF8')", hex(b)),
        }
    }
    fn falsy(&self) -> &'static str {
        match self.d() {
            D::Sqlite => "0",
            D::Pg => "false",
        }
    }
    fn one(&self, sql: &str) -> String {
        let r = self.q(sql);
        assert_eq!(r.len(), 1, "{sql}: {r:?}");
        r[0][0].clone()
    }
}

fn split_rows(out: &[u8]) -> Vec<Vec<String>> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(|s| normalize(s).to_string()).collect())
        .collect()
}

fn normalize(s: &str) -> &str {
    match s {
        "t" => "1",
        "f" => "0",
        other => other,
    }
}

struct Sqlite {
    path: PathBuf,
}

impl Sqlite {
    fn load(sql: &Path) -> Sqlite {
        let path = sql.with_extension("sqlite");
        let _ = std::fs::remove_file(&path);
        let o = Command::new("sqlite3")
            .arg("-bail")
            .arg(&path)
            .stdin(std::fs::File::open(sql).unwrap())
            .output()
            .expect("the sqlite3 CLI (apt package sqlite3)");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "sqlite3 < {}: {}",
            sql.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        Sqlite { path }
    }
}

impl Db for Sqlite {
    fn d(&self) -> D {
        D::Sqlite
    }
    fn q(&self, sql: &str) -> Vec<Vec<String>> {
        let o = Command::new("sqlite3")
            .args([
                "-bail",
                "-noheader",
                "-separator",
                "\t",
                "-nullvalue",
                "NULL",
            ])
            .arg(&self.path)
            .arg(sql)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "sqlite3 {sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        split_rows(&o.stdout)
    }
}

/// A throwaway PostgreSQL: initdb into a temp dir, a Unix socket in that dir (no TCP), stopped
/// and removed on drop (also when a check panics). As root, the server runs as the `postgres`
/// user (initdb refuses root); psql connects as the `postgres` role (trust auth, local only).
struct Pg {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").is_file());
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    // Prefer 15 (Debian 12), else the newest installed.
    let fifteen = Path::new("/usr/lib/postgresql/15/bin");
    if fifteen.join("initdb").is_file() {
        return fifteen.to_path_buf();
    }
    dirs.pop().expect(
        "PostgreSQL server binaries (apt package postgresql; cargo xtask setup installs it)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Pg {
    fn start() -> Pg {
        let bin = pg_bin();
        let as_postgres = is_root();
        // /tmp, not the target dir: the postgres user must be able to reach it.
        let dir = std::env::temp_dir().join(format!("etcdscope-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            let o = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(o.status.success(), "chown: {:?}", o);
        }
        let pg = Pg {
            dir,
            bin,
            as_postgres,
        };
        let data = pg.dir.join("data");
        let o = pg.tool(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
            ],
        );
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let opts = format!(
            "-k {} -c listen_addresses='' -c fsync=off",
            pg.dir.display()
        );
        let log = pg.dir.join("log");
        let o = pg.tool(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        );
        assert!(
            o.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        pg
    }

    fn tool(&self, name: &str, args: &[&std::ffi::OsStr]) -> Output {
        let exe = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).current_dir(&self.dir).output().unwrap()
    }

    fn psql(&self, db: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.arg("-h").arg(&self.dir).args([
            "-U",
            "postgres",
            "-d",
            db,
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ]);
        c
    }

    fn create(&self, db: &str) {
        let o = self
            .psql("postgres")
            .arg("-c")
            .arg(format!("CREATE DATABASE {db}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn load(&self, db: &str, sql: &Path) -> PgDb<'_> {
        self.create(db);
        let o = self.psql(db).arg("-f").arg(sql).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && !err.contains("ERROR"),
            "psql -f {}: {err}",
            sql.display()
        );
        PgDb {
            pg: self,
            db: db.to_string(),
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.tool(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct PgDb<'a> {
    pg: &'a Pg,
    db: String,
}

impl Db for PgDb<'_> {
    fn d(&self) -> D {
        D::Pg
    }
    fn q(&self, sql: &str) -> Vec<Vec<String>> {
        let o = self
            .pg
            .psql(&self.db)
            .args(["-A", "-t", "-F", "\t", "-P", "null=NULL", "-c", sql])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        split_rows(&o.stdout)
    }
}

// ------------------------------------------------------------------------------------------
// Sources

/// A source as the exporter should see it: a v3 db (the fixture, a synthetic db, or the
/// `etcdscope migrate` result of a v2 data dir, which is what the migrate mapping produces).
struct Src {
    name: String,
    /// What to give `etcdscope export`.
    input: PathBuf,
    /// The v3 db with the same content.
    db: PathBuf,
    /// etcd's answers: (revision, every key at it) — etcdctl's for the v3 fixture.
    answers: Vec<(i64, Vec<KeyValue>)>,
    /// `etcd_members` rows expected (id_hex, id, name, peer_urls, client_urls, is_learner,
    /// removed), ordered by removed, id_hex: the v3 db's members bucket, or for a v2 data dir
    /// (no v3 db) its v2 store's `/0/members` as etcd answered `GET /v2/members`.
    members: Vec<Vec<String>>,
}

fn member_row(
    id: u64,
    name: &str,
    peers: &[String],
    clients: &[String],
    learner: bool,
) -> Vec<String> {
    vec![
        format!("{id:x}"),
        id.to_string(),
        name.to_string(),
        serde_json::to_string(peers).unwrap(),
        serde_json::to_string(clients).unwrap(),
        (learner as u8).to_string(),
        "0".into(),
    ]
}

fn removed_row(id_hex: &str) -> Vec<String> {
    let id = u64::from_str_radix(id_hex, 16)
        .map(|i| i.to_string())
        .unwrap_or_else(|_| "NULL".into());
    let mut r = vec![id_hex.to_string(), id];
    r.extend(["NULL", "NULL", "NULL", "NULL", "1"].map(String::from));
    r
}

/// The members rows of a v3 db.
fn v3_members(db: &Path) -> Vec<Vec<String>> {
    let be = Backend::open(FileSource::open(db).unwrap()).unwrap();
    let m = be.members().unwrap();
    let mut rows: Vec<Vec<String>> = m
        .members
        .iter()
        .map(|x| member_row(x.id, &x.name, &x.peer_urls, &x.client_urls, x.is_learner))
        .collect();
    rows.extend(m.removed.iter().map(|r| removed_row(r)));
    rows.sort_by(|a, b| (&a[6], &a[0]).cmp(&(&b[6], &b[0])));
    rows.dedup_by(|a, b| a[0] == b[0]);
    rows
}

/// The members of a v2 fixture: etcd's `GET /v2/members`, and the learner it removed.
fn v2_members(variant: &str) -> Vec<Vec<String>> {
    let exp = common::fixture_dir(variant).join("expected");
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exp.join("members.json")).unwrap()).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut rows: Vec<Vec<String>> = j["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let id = u64::from_str_radix(m["id"].as_str().unwrap(), 16).unwrap();
            member_row(
                id,
                m["name"].as_str().unwrap(),
                &strings(&m["peerURLs"]),
                &strings(&m["clientURLs"]),
                false,
            )
        })
        .collect();
    let ops = std::fs::read_to_string(exp.join("ops.log")).unwrap();
    let learner = ops
        .lines()
        .find_map(|l| l.strip_prefix("member add learner1 --learner -> "))
        .unwrap()
        .trim()
        .to_string();
    rows.push(removed_row(&learner));
    rows
}

struct Change {
    main: i64,
    sub: i64,
    tomb: bool,
    kv: KeyValue,
}

impl Src {
    fn backend(&self) -> Backend<FileSource> {
        Backend::open(FileSource::open(&self.db).unwrap()).unwrap()
    }

    fn changes(&self) -> Vec<Change> {
        let mut v = Vec::new();
        self.backend()
            .for_each_revision(|rk, kv| {
                v.push(Change {
                    main: rk.rev.main,
                    sub: rk.rev.sub,
                    tomb: rk.tombstone,
                    kv: kv.to_owned(),
                });
                Ok(())
            })
            .unwrap();
        v
    }
}

fn range_at(be: &Backend<FileSource>, rev: i64) -> Vec<KeyValue> {
    let mut r = RangeRequest::prefix(b"");
    r.revision = rev;
    be.range(&r).unwrap().kvs
}

/// Answers from our reader at every revision from the compaction (or the first) to the
/// current one, at most 25 of them spread evenly.
fn reader_answers(db: &Path) -> Vec<(i64, Vec<KeyValue>)> {
    let be = Backend::open(FileSource::open(db).unwrap()).unwrap();
    let cur = be.current_revision().unwrap();
    let low = be
        .meta_info()
        .unwrap()
        .effective_compact_revision()
        .unwrap_or(1)
        .max(1);
    let step = ((cur - low) / 24).max(1);
    let mut revs: Vec<i64> = (low..=cur).step_by(step as usize).collect();
    if revs.last() != Some(&cur) {
        revs.push(cur);
    }
    revs.into_iter().map(|r| (r, range_at(&be, r))).collect()
}

fn gunzip(p: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// etcdctl `get -w json` output → key-values.
fn etcdctl_kvs(json: &[u8]) -> Vec<KeyValue> {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let b64 = |x: Option<&serde_json::Value>| {
        x.and_then(|s| s.as_str())
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
            .unwrap_or_default()
    };
    let int = |x: Option<&serde_json::Value>| x.and_then(|n| n.as_i64()).unwrap_or(0);
    v["kvs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| KeyValue {
                    key: b64(kv.get("key")),
                    value: b64(kv.get("value")),
                    create_revision: int(kv.get("create_revision")),
                    mod_revision: int(kv.get("mod_revision")),
                    version: int(kv.get("version")),
                    lease: int(kv.get("lease")),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn v3_source() -> Src {
    let dir = v3_fixture();
    let facts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected/facts.json")).unwrap()).unwrap();
    let _ = facts;
    let mut answers = Vec::new();
    for rev in 341..=359 {
        let j = gunzip(&dir.join(format!("expected/get-rev-{rev}.json.gz")));
        answers.push((rev, etcdctl_kvs(&j)));
    }
    Src {
        name: "v3-basic".into(),
        input: dir.join("snapshot.db"),
        db: dir.join("snapshot.db"),
        answers,
        members: v3_members(&dir.join("snapshot.db")),
    }
}

fn v2_source(variant: &str) -> Src {
    let dd = common::data_dir(variant);
    let out = tmp_dir(&format!("migrated-{variant}")).join("m.db");
    let o = run(&[
        "migrate".as_ref(),
        dd.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // These data dirs have no v3 db: their members are in the v2 store only.
    assert!(!dd.join("member/snap/db").exists());
    Src {
        name: format!("v2-{variant}"),
        input: dd,
        answers: reader_answers(&out),
        db: out,
        members: v2_members(variant),
    }
}

/// Keys made to break SQL literals and text handling.
const NASTY: &[&[u8]] = &[
    b"'); DROP TABLE kine;--",
    b"'); DROP TABLE etcd_history;--",
    b"a'b\"c",
    b"back\\slash\\",
    b"\\x41\\\\",
    b"tab\there\nnewline\r",
    b"\\.",
    b"$$ dollar $tag$",
    b"/sql/; SELECT 1; --",
    b"/unicode/\xc3\xa9\xe2\x82\xac",
    b"nul\0inside",
    b"\0",
    b"/invalid/\xc3\x28",
    b"\xff\xff\xff",
    b"compact_rev_key",
    b"12345",
    b"/x/copy-end\n\\.\n",
];

/// A snapshot written with our bbolt writer: the nasty keys with nasty values, a txn of three
/// changes, deletes, a re-creation, a lease, a 100 KB value, an empty value, a compaction.
fn synthetic_source() -> Src {
    use etcd::v3::write::{put_revision, write_backend, NewBackend};
    let mut changes: Vec<(i64, i64, bool, KeyValue)> = Vec::new();
    let mut rev = 1;
    let mut state: HashMap<Vec<u8>, (i64, i64)> = HashMap::new(); // key -> (create, version)
    let st = &mut state;
    type State = HashMap<Vec<u8>, (i64, i64)>;
    type Changes = Vec<(i64, i64, bool, KeyValue)>;
    fn put(
        state: &mut State,
        changes: &mut Changes,
        rev: i64,
        sub: i64,
        key: &[u8],
        value: Vec<u8>,
        lease: i64,
    ) {
        let (create, version) = match state.get(key) {
            Some(&(c, v)) => (c, v + 1),
            None => (rev, 1),
        };
        state.insert(key.to_vec(), (create, version));
        changes.push((
            rev,
            sub,
            false,
            KeyValue {
                key: key.to_vec(),
                create_revision: create,
                mod_revision: rev,
                version,
                value,
                lease,
            },
        ));
    }
    for (i, k) in NASTY.iter().enumerate() {
        rev += 1;
        let mut v = k.to_vec();
        v.extend_from_slice(format!("|value {i}|'\\\0\u{1}").as_bytes());
        put(st, &mut changes, rev, 0, k, v, 0);
    }
    rev += 1;
    put(st, &mut changes, rev, 0, b"/big", vec![0x5c; 100_000], 0);
    rev += 1;
    put(st, &mut changes, rev, 0, b"/empty", Vec::new(), 0);
    rev += 1;
    put(st, &mut changes, rev, 0, b"/leased", b"x".to_vec(), 0x1234);
    // A txn: three changes at one revision (two puts and a delete).
    rev += 1;
    put(
        st,
        &mut changes,
        rev,
        0,
        NASTY[0],
        b"updated in a txn".to_vec(),
        0,
    );
    put(st, &mut changes, rev, 1, b"/txn/new", b"new".to_vec(), 0);
    st.remove(NASTY[2]);
    changes.push((
        rev,
        2,
        true,
        KeyValue {
            key: NASTY[2].to_vec(),
            ..Default::default()
        },
    ));
    // Re-create the deleted key, update the apiserver's compact key, delete a binary key.
    rev += 1;
    put(st, &mut changes, rev, 0, NASTY[2], b"again".to_vec(), 0);
    rev += 1;
    put(
        st,
        &mut changes,
        rev,
        0,
        b"compact_rev_key",
        b"99".to_vec(),
        0,
    );
    rev += 1;
    st.remove(NASTY[10]);
    changes.push((
        rev,
        0,
        true,
        KeyValue {
            key: NASTY[10].to_vec(),
            ..Default::default()
        },
    ));
    rev += 1;
    put(st, &mut changes, rev, 0, NASTY[3], b"last".to_vec(), 0x1234);

    let mut nb = NewBackend::new();
    nb.put_lease(0x1234, 77);
    nb.set_consistent_index(rev as u64 + 5);
    nb.set_compacted(3);
    let ch = changes.clone();
    nb.stream(
        etcd::v3::BUCKET_KEY,
        Box::new(move |sink| {
            let mut buf = Vec::new();
            for (main, sub, tomb, kv) in &ch {
                put_revision(sink, etcd::Revision::new(*main, *sub), *tomb, kv, &mut buf)?;
            }
            Ok(())
        }),
    );
    let db = tmp_dir("synthetic").join("synthetic.db");
    let f = std::fs::File::create(&db).unwrap();
    write_backend(&nb, f, true).unwrap();
    Src {
        name: "synthetic".into(),
        input: db.clone(),
        answers: reader_answers(&db),
        members: v3_members(&db),
        db,
    }
}

fn all_sources() -> Vec<Src> {
    let mut v = vec![v3_source(), synthetic_source()];
    for variant in ["snap-full", "snapped", "wal-only"] {
        v.push(v2_source(variant));
    }
    v
}

// ------------------------------------------------------------------------------------------
// Checks: etcd schema

fn check_etcd_schema(db: &dyn Db, src: &Src, secrets: bool) -> usize {
    let be = src.backend();
    let changes = src.changes();
    let mut checked = 0;
    // History, row by row, byte by byte.
    let rows = db.q(&format!(
        "SELECT main_revision, sub_revision, tombstone, {}, {}, create_revision, mod_revision, \
         version, lease, {}, value_utf8 FROM etcd_history ORDER BY main_revision, sub_revision",
        db.hexb("key"),
        db.hext("key_text"),
        db.hexb("value")
    ));
    assert_eq!(rows.len(), changes.len(), "{}: history rows", src.name);
    for (r, c) in rows.iter().zip(&changes) {
        let want = vec![
            c.main.to_string(),
            c.sub.to_string(),
            (c.tomb as i32).to_string(),
            hex(&c.kv.key),
            if text_ok(&c.kv.key) {
                hex(&c.kv.key)
            } else {
                "NULL".into()
            },
            c.kv.create_revision.to_string(),
            c.kv.mod_revision.to_string(),
            c.kv.version.to_string(),
            c.kv.lease.to_string(),
            hex(&c.kv.value),
            (text_ok(&c.kv.value) as i32).to_string(),
        ];
        assert_eq!(r, &want, "{}: history row", src.name);
        checked += 1;
    }
    // Current keys = etcd's answer at the current revision.
    let cur = be.current_revision().unwrap();
    let answer = src
        .answers
        .iter()
        .find(|(r, _)| *r == cur)
        .map(|(_, kvs)| kvs.clone())
        .unwrap_or_else(|| range_at(&be, cur));
    let rows = db.q(&format!(
        "SELECT {}, create_revision, mod_revision, version, lease, {} FROM etcd_kv ORDER BY key",
        db.hexb("key"),
        db.hexb("value")
    ));
    let want: Vec<Vec<String>> = answer
        .iter()
        .map(|kv| {
            vec![
                hex(&kv.key),
                kv.create_revision.to_string(),
                kv.mod_revision.to_string(),
                kv.version.to_string(),
                kv.lease.to_string(),
                hex(&kv.value),
            ]
        })
        .collect();
    assert_eq!(
        rows, want,
        "{}: etcd_kv vs etcd's answer at {cur}",
        src.name
    );
    checked += rows.len();
    // The text view: text exactly where the bytes are UTF-8 without NUL.
    let rows = db.q(&format!(
        "SELECT {}, {} FROM etcd_kv_text ORDER BY mod_revision, key",
        db.hext("key"),
        db.hext("value")
    ));
    let mut want: Vec<&KeyValue> = answer.iter().collect();
    want.sort_by(|a, b| (a.mod_revision, &a.key).cmp(&(b.mod_revision, &b.key)));
    assert_eq!(rows.len(), want.len());
    for (r, kv) in rows.iter().zip(want) {
        let t = |b: &[u8]| if text_ok(b) { hex(b) } else { "NULL".into() };
        if text_ok(&kv.key) {
            assert_eq!(
                r,
                &vec![t(&kv.key), t(&kv.value)],
                "{}: text view",
                src.name
            );
        }
    }
    // A prefix query through the index.
    let n = db.one(&format!(
        "SELECT COUNT(*) FROM etcd_kv WHERE key_text >= {} AND key_text < {}",
        db.text_lit(b"/"),
        db.text_lit(b"0")
    ));
    let want = answer
        .iter()
        .filter(|kv| kv.key.as_slice() >= b"/".as_slice() && kv.key.as_slice() < b"0".as_slice())
        .filter(|kv| text_ok(&kv.key))
        .count();
    assert_eq!(n, want.to_string(), "{}: prefix count", src.name);
    // Leases, meta facts, auth.
    let leases = be.lease_list().unwrap();
    let rows = db.q("SELECT id, ttl, remaining_ttl FROM etcd_leases ORDER BY id");
    let mut want: Vec<Vec<String>> = leases
        .iter()
        .map(|l| {
            vec![
                l.id.to_string(),
                l.ttl.to_string(),
                l.remaining_ttl.to_string(),
            ]
        })
        .collect();
    want.sort_by_key(|r| r[0].parse::<i64>().unwrap());
    assert_eq!(rows, want, "{}: leases", src.name);
    let meta = be.meta_info().unwrap();
    let fact = |n: &str| db.q(&format!("SELECT value FROM etcd_meta WHERE name = '{n}'"));
    assert_eq!(fact("revision"), vec![vec![cur.to_string()]]);
    if let Some(c) = meta.effective_compact_revision() {
        assert_eq!(fact("compact_revision"), vec![vec![c.to_string()]]);
    }
    let members = db.q(
        "SELECT id_hex, id, name, peer_urls, client_urls, is_learner, removed FROM etcd_members \
         ORDER BY removed, id_hex",
    );
    assert_eq!(members, src.members, "{}: members", src.name);
    if src.name.starts_with("v2-") {
        assert_eq!(members.len(), 2, "{}: one member, one removed", src.name);
        // The cluster version from the v2 store's /0/version (etcd 3.4 writes 3.4.0).
        assert_eq!(fact("cluster_version"), vec![vec!["3.4.0".to_string()]]);
    }
    let auth = be.auth(true).unwrap();
    let rows = db.q(&format!(
        "SELECT {}, roles, {} FROM etcd_users ORDER BY name",
        db.hexb("name"),
        db.hexb("password_hash")
    ));
    assert_eq!(rows.len(), auth.users.len());
    for (r, u) in rows.iter().zip(&auth.users) {
        assert_eq!(r[0], hex(&u.name));
        assert_eq!(r[1], serde_json::to_string(&u.roles).unwrap());
        let want = match (&u.password_hash, secrets) {
            (Some(h), true) if u.has_password => hex(h),
            _ => "NULL".into(),
        };
        assert_eq!(
            r[2], want,
            "{}: password hash (secrets {secrets})",
            src.name
        );
    }
    let n: usize = auth.roles.iter().map(|r| r.permissions.len()).sum();
    assert_eq!(
        db.one("SELECT COUNT(*) FROM etcd_role_permissions"),
        n.to_string()
    );
    checked
}

// ------------------------------------------------------------------------------------------
// Checks: kine schema

/// kine v0.16.4 `pkg/drivers/generic/generic.go`, verbatim but for the parameters.
const CURRENT_REV_SQL: &str = "SELECT MAX(id) AS current_rev FROM kine";
const COMPACT_REV_SQL: &str =
    "SELECT MAX(prev_revision) AS compact_rev FROM kine WHERE name = 'compact_rev_key'";

/// GetRevisionAfterValSQL: a range at a revision (ListFmt with WithVal and BetweenNameSQL
/// "AND id <= ?").
fn list_sql(start: &str, end: &str, rev: i64, include_deleted: &str) -> String {
    format!(
        "
		SELECT current_rev, compact_rev, id, name, created, deleted, create_revision, prev_revision, lease, value
		FROM ({CURRENT_REV_SQL}) AS current, ({COMPACT_REV_SQL}) AS compact, kine
		INNER JOIN (SELECT MAX(id) AS id FROM kine WHERE name >= {start} AND name < {end} AND id <= {rev} GROUP BY name) AS mkv USING (id)
		WHERE (deleted = 0 OR {include_deleted})
		ORDER BY name ASC
		"
    )
}

/// CountRevisionSQL.
fn count_sql(start: &str, end: &str, rev: i64, include_deleted: &str) -> String {
    format!(
        "
			SELECT ({CURRENT_REV_SQL}), ({COMPACT_REV_SQL}), COUNT(id)
			FROM kine
			INNER JOIN (SELECT MAX(id) AS id FROM kine WHERE name >= {start} AND name < {end} AND id <= {rev} GROUP BY name) AS mkv USING (id)
			WHERE (deleted = 0 OR {include_deleted})"
    )
}

/// ListRevisionStartValSQL: one key at a revision (EqualsNameSQL "AND id <= ?").
fn get_sql(name: &str, rev: i64, include_deleted: &str) -> String {
    format!(
        "
		SELECT current_rev, compact_rev, id, name, created, deleted, create_revision, prev_revision, lease, value
		FROM ({CURRENT_REV_SQL}) AS current, ({COMPACT_REV_SQL}) AS compact, kine
		INNER JOIN (SELECT MAX(id) AS id FROM kine WHERE name = {name} AND id <= {rev}) AS mkv USING (id)
		WHERE (deleted = 0 OR {include_deleted})
		ORDER BY name ASC
		"
    )
}

/// kine's view of an etcd key in this dialect: its name and value (None: not representable).
fn kine_name(d: D, key: &[u8]) -> Option<Vec<u8>> {
    let name = if key == b"compact_rev_key" {
        b"compact_rev_key_apiserver".to_vec()
    } else {
        key.to_vec()
    };
    (d == D::Sqlite || text_ok(&name)).then_some(name)
}

fn kine_value(kv: &KeyValue) -> Vec<u8> {
    if kv.key == b"compact_rev_key" {
        let mut v = format!("{}|", kv.version).into_bytes();
        v.extend_from_slice(&kv.value);
        v
    } else {
        kv.value.clone()
    }
}

/// The documented id mapping, computed independently: id = main + changes at sub > 0 up to
/// and including this one (+1 when a change sits at revision 1).
struct Ids {
    of: HashMap<(Vec<u8>, i64), i64>,
    /// (main, extras up to and including main), every main.
    extras: Vec<(i64, i64)>,
    base: i64,
}

impl Ids {
    fn new(changes: &[Change]) -> Ids {
        let base = if changes.first().is_some_and(|c| c.main <= 1) {
            1
        } else {
            0
        };
        let mut of = HashMap::new();
        let mut extras = Vec::new();
        let mut n = 0;
        for c in changes {
            if c.sub > 0 {
                n += 1;
            }
            of.insert((c.kv.key.clone(), c.main), c.main + n + base);
            match extras.last_mut() {
                Some((m, e)) if *m == c.main => *e = n,
                _ => extras.push((c.main, n)),
            }
        }
        Ids { of, extras, base }
    }
    /// An etcd revision as a kine id.
    fn rev(&self, r: i64) -> i64 {
        let i = self.extras.partition_point(|&(m, _)| m <= r);
        r + if i == 0 { 0 } else { self.extras[i - 1].1 } + self.base
    }
}

fn check_kine_schema(db: &dyn Db, src: &Src) -> usize {
    let be = src.backend();
    let changes = src.changes();
    let ids = Ids::new(&changes);
    let ttl: HashMap<i64, i64> = be
        .lease_list()
        .unwrap()
        .iter()
        .map(|l| (l.id, l.ttl))
        .collect();
    let mut checked = 0;
    // Every change, row by row: name, flags, chain, lease, value, old_value.
    let rows = db.q(&format!(
        "SELECT id, {}, created, deleted, create_revision, prev_revision, lease, {}, {} FROM kine ORDER BY id",
        db.hext("name"),
        db.hexb("value"),
        db.hexb("old_value")
    ));
    let by_id: HashMap<i64, &Vec<String>> =
        rows.iter().map(|r| (r[0].parse().unwrap(), r)).collect();
    assert_eq!(by_id.len(), rows.len());
    // key -> (last id, create id, deleted, last value hex)
    let mut st: HashMap<Vec<u8>, (i64, i64, bool, String)> = HashMap::new();
    for c in &changes {
        let id = ids.of[&(c.kv.key.clone(), c.main)];
        let r = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("{}: no kine row {id}", src.name));
        let Some(name) = kine_name(db.d(), &c.kv.key) else {
            assert_eq!(
                r[1],
                hex(format!("gap-{id}").as_bytes()),
                "{}: gap row",
                src.name
            );
            assert_eq!(&r[2..4], &["0", "1"]);
            continue;
        };
        let prev = st.get(&name).cloned();
        let prev_id = prev.as_ref().map(|p| p.0).unwrap_or(0);
        let old = prev
            .as_ref()
            .map(|p| p.3.clone())
            .unwrap_or_else(|| "NULL".into());
        let want = if c.tomb {
            st.insert(name.clone(), (id, 0, true, "NULL".into()));
            vec![
                id.to_string(),
                hex(&name),
                "0".into(),
                "1".into(),
                "0".into(),
                prev_id.to_string(),
                "0".into(),
                "NULL".into(),
                if prev_id == 0 { "NULL".into() } else { old },
            ]
        } else {
            let created = match &prev {
                None => c.kv.version <= 1 && c.kv.create_revision == c.main,
                Some(p) => p.2,
            };
            let create_id = if created {
                id
            } else {
                match &prev {
                    Some(p) if !p.2 => p.1,
                    _ => ids.rev(c.kv.create_revision - 1) + 1, // created in compacted history
                }
            };
            let value = hex(&kine_value(&c.kv));
            st.insert(name.clone(), (id, create_id, false, value.clone()));
            vec![
                id.to_string(),
                hex(&name),
                (created as i32).to_string(),
                "0".into(),
                if created {
                    "0".into()
                } else {
                    create_id.to_string()
                },
                prev_id.to_string(),
                ttl.get(&c.kv.lease).copied().unwrap_or(0).to_string(),
                value,
                if prev_id == 0 { "NULL".into() } else { old },
            ]
        };
        assert_eq!(r, &&want, "{}: kine row for {}_{}", src.name, c.main, c.sub);
        checked += 1;
    }
    let cur = be.current_revision().unwrap();
    let compact = be
        .meta_info()
        .unwrap()
        .effective_compact_revision()
        .unwrap_or(0);
    // kine's own rows: compact_rev_key at id 1 holding the compaction; nothing else.
    let extra = rows.len() - changes.len();
    assert!(extra == 1 || extra == 2, "{}: {extra} extra rows", src.name);
    assert_eq!(
        by_id[&1][1..7],
        [
            hex(b"compact_rev_key"),
            "1".into(),
            "0".into(),
            "0".into(),
            if compact > 0 { ids.rev(compact) } else { 0 }.to_string(),
            "0".into()
        ]
    );

    // kine's queries against etcd's answers.
    assert_eq!(
        db.one(CURRENT_REV_SQL),
        ids.rev(cur).to_string(),
        "{}: current",
        src.name
    );
    assert_eq!(
        db.one(COMPACT_REV_SQL),
        if compact > 0 { ids.rev(compact) } else { 0 }.to_string()
    );
    let all_start = db.text_lit(b"");
    // Above every key: 0xff bytes in SQLite; in PostgreSQL (UTF-8 text, "C" order) U+10FFFF.
    let all_end = match db.d() {
        D::Sqlite => db.text_lit(&[0xff; 16]),
        D::Pg => db.text_lit("\u{10ffff}\u{10ffff}\u{10ffff}\u{10ffff}".as_bytes()),
    };
    let f = db.falsy();
    for (rev, answer) in &src.answers {
        let krev = ids.rev(*rev);
        let wrapped = format!(
            "SELECT q.current_rev, q.compact_rev, q.id, {}, q.created, q.create_revision, q.lease, {} FROM ({}) AS q ORDER BY q.name",
            db.hext("q.name"),
            db.hexb("q.value"),
            list_sql(&all_start, &all_end, krev, f)
        );
        let got: Vec<Vec<String>> = db
            .q(&wrapped)
            .into_iter()
            .filter(|r| r[3] != hex(b"compact_rev_key"))
            .collect();
        let mut want: Vec<(Vec<u8>, Vec<String>)> = answer
            .iter()
            .filter_map(|kv| {
                let name = kine_name(db.d(), &kv.key)?;
                let mod_id = ids.of[&(kv.key.clone(), kv.mod_revision)];
                let create_id = ids
                    .of
                    .get(&(kv.key.clone(), kv.create_revision))
                    .copied()
                    .unwrap_or_else(|| ids.rev(kv.create_revision - 1) + 1);
                let created = mod_id == create_id;
                Some((
                    name.clone(),
                    vec![
                        ids.rev(cur).to_string(),
                        if compact > 0 { ids.rev(compact) } else { 0 }.to_string(),
                        mod_id.to_string(),
                        hex(&name),
                        (created as i32).to_string(),
                        if created {
                            "0".into()
                        } else {
                            create_id.to_string()
                        },
                        ttl.get(&kv.lease).copied().unwrap_or(0).to_string(),
                        hex(&kine_value(kv)),
                    ],
                ))
            })
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<Vec<String>> = want.into_iter().map(|w| w.1).collect();
        assert_eq!(
            got, want,
            "{}: kine list at etcd revision {rev} (id {krev})",
            src.name
        );
        checked += got.len();
        // Count of a prefix ("/" .. "0"), and single-key gets.
        let in_slash = |k: &[u8]| k >= b"/".as_slice() && k < b"0".as_slice();
        let n = answer
            .iter()
            .filter(|kv| in_slash(&kv.key) && kine_name(db.d(), &kv.key).is_some())
            .count();
        let c = db.q(&count_sql(&db.text_lit(b"/"), &db.text_lit(b"0"), krev, f));
        assert_eq!(c[0][2], n.to_string(), "{}: count at {rev}", src.name);
        for kv in answer.iter().take(5) {
            let Some(name) = kine_name(db.d(), &kv.key) else {
                continue;
            };
            let g = db.q(&format!(
                "SELECT q.id, {} FROM ({}) AS q",
                db.hexb("q.value"),
                get_sql(&db.text_lit(&name), krev, f)
            ));
            assert_eq!(
                g,
                vec![vec![
                    ids.of[&(kv.key.clone(), kv.mod_revision)].to_string(),
                    hex(&kine_value(kv))
                ]],
                "{}: get at {rev}",
                src.name
            );
        }
    }
    checked
}

// ------------------------------------------------------------------------------------------
// Tests

#[test]
fn sqlite_every_fixture_both_schemas() {
    let mut total = 0;
    for src in all_sources() {
        let dir = tmp_dir(&format!("sqlite-{}", src.name));
        let etcd_sql = dir.join("etcd.sql");
        export(&src.input, &["--to", "sqlite"], &etcd_sql);
        total += check_etcd_schema(&Sqlite::load(&etcd_sql), &src, false);
        let secrets = dir.join("etcd-secrets.sql");
        export(&src.input, &["--to", "sqlite", "--with-secrets"], &secrets);
        total += check_etcd_schema(&Sqlite::load(&secrets), &src, true);
        let kine_sql = dir.join("kine.sql");
        export(
            &src.input,
            &["--to", "sqlite", "--schema", "kine"],
            &kine_sql,
        );
        total += check_kine_schema(&Sqlite::load(&kine_sql), &src);
        // No input byte appears raw in the script.
        let text = std::fs::read(&kine_sql).unwrap();
        assert!(
            !text.windows(8).any(|w| w == b"DROP TAB"),
            "{}: a key leaked into the SQL text",
            src.name
        );
    }
    assert!(total > 1000, "{total} checks");
}

/// Everything a SQLite database holds, comparable byte for byte: `sqlite_master` (schema
/// text), then every table's rows in rowid order with the rowid, each value as
/// `typeof:hex(bytes)` (so text and blob, NUL and invalid UTF-8 bytes all show).
fn sqlite_contents(db: &Sqlite) -> Vec<Vec<String>> {
    let mut all = db.q(
        "SELECT type, name, tbl_name, lower(hex(CAST(sql AS BLOB))) FROM sqlite_master ORDER BY type, name",
    );
    let tables = db.q("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    for t in tables {
        let t = &t[0];
        let cols = db.q(&format!(
            "SELECT name FROM pragma_table_info('{t}') ORDER BY cid"
        ));
        let sel: Vec<String> = cols
            .iter()
            .map(|c| format!("typeof({0}) || ':' || lower(hex({0}))", c[0]))
            .collect();
        all.push(vec![format!("table {t}")]);
        all.extend(db.q(&format!(
            "SELECT rowid, {} FROM {t} ORDER BY rowid",
            sel.join(", ")
        )));
    }
    all
}

/// `--to sqlite-db -o X.sqlite`: the same database as the `--to sqlite` script loaded into the
/// real sqlite3 — schema text and every row byte for byte — for every fixture, both schemas
/// and the flag variants; integrity_check is ok; the source checks pass on it as well.
#[test]
fn sqlite_db_equals_the_script_loaded_into_sqlite3() {
    let mut compared = 0;
    for src in all_sources() {
        let dir = tmp_dir(&format!("sqlite-db-{}", src.name));
        let variants: [(&str, &[&str]); 4] = [
            ("etcd", &[]),
            ("etcd-secrets", &["--with-secrets"]),
            ("kine", &["--schema", "kine"]),
            ("kine-int", &["--schema", "kine", "--sqlite-name-integer"]),
        ];
        for (tag, extra) in variants {
            let script = dir.join(format!("{tag}.sql"));
            let mut args = vec!["--to", "sqlite"];
            args.extend_from_slice(extra);
            export(&src.input, &args, &script);
            let from_script = Sqlite::load(&script);
            let file = dir.join(format!("{tag}.direct.sqlite"));
            let mut args = vec!["--to", "sqlite-db"];
            args.extend_from_slice(extra);
            export(&src.input, &args, &file);
            let direct = Sqlite { path: file };
            assert_eq!(
                direct.one("PRAGMA integrity_check"),
                "ok",
                "{} {tag}",
                src.name
            );
            let want = sqlite_contents(&from_script);
            let got = sqlite_contents(&direct);
            assert!(want.len() > 10, "{} {tag}: {want:?}", src.name);
            assert_eq!(got, want, "{} {tag}: sqlite-db vs script", src.name);
            compared += got.len();
            match tag {
                "etcd" => {
                    check_etcd_schema(&direct, &src, false);
                }
                "etcd-secrets" => {
                    check_etcd_schema(&direct, &src, true);
                }
                "kine" => {
                    check_kine_schema(&direct, &src);
                }
                _ => {}
            }
        }
        // No temp files beside the outputs.
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
    assert!(compared > 1000, "{compared} rows compared");
}

#[test]
fn sqlite_db_output_rules() {
    let dir = tmp_dir("sqlite-db-rules");
    let snap = v3_fixture().join("snapshot.db");
    let args = |out: Option<&Path>, force: bool| {
        let mut a: Vec<&std::ffi::OsStr> = vec![
            "export".as_ref(),
            snap.as_os_str(),
            "--to".as_ref(),
            "sqlite-db".as_ref(),
        ];
        if let Some(o) = out {
            a.extend(["-o".as_ref(), o.as_os_str()]);
        }
        if force {
            a.push("--force".as_ref());
        }
        run(&a)
    };
    // A database file cannot go to stdout.
    let o = args(None, false);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("-o"));
    // An existing file is kept without --force, replaced with it.
    let out = dir.join("x.sqlite");
    std::fs::write(&out, b"keep me").unwrap();
    let o = args(Some(&out), false);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = args(Some(&out), true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("SQLite database"));
    assert_eq!(
        Sqlite { path: out.clone() }.one("SELECT value FROM etcd_meta WHERE name = 'schema'"),
        "etcd 1"
    );
    // Never inside a data dir given as input.
    let dd = common::data_dir("snapped");
    let inside = dd.join("member").join("x.sqlite");
    let o = run(&[
        "export".as_ref(),
        dd.as_os_str(),
        "--to".as_ref(),
        "sqlite-db".as_ref(),
        "-o".as_ref(),
        inside.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!inside.exists());
}

#[test]
fn sqlite_old_name_integer_declaration() {
    let src = synthetic_source();
    let out = tmp_dir("name-integer").join("kine.sql");
    export(
        &src.input,
        &[
            "--to",
            "sqlite",
            "--schema",
            "kine",
            "--sqlite-name-integer",
        ],
        &out,
    );
    let db = Sqlite::load(&out);
    let ddl = db.one("SELECT replace(replace(sql, char(10), ' '), char(9), ' ') FROM sqlite_master WHERE name = 'kine'");
    assert!(ddl.contains("name INTEGER"), "{ddl}");
    // As in kine before v0.16.3: a numeric name gets INTEGER affinity.
    assert_eq!(
        db.one("SELECT typeof(name) FROM kine WHERE name = 12345"),
        "integer"
    );
    assert_eq!(
        db.one("SELECT seq FROM sqlite_sequence WHERE name = 'kine'"),
        db.one(CURRENT_REV_SQL)
    );
}

#[test]
fn postgres_every_fixture_both_schemas_copy_and_inserts() {
    let pg = Pg::start();
    let mut total = 0;
    for (i, src) in all_sources().iter().enumerate() {
        let dir = tmp_dir(&format!("pg-{}", src.name));
        for (j, mode) in [&[][..], &["--inserts"][..]].iter().enumerate() {
            let mut args = vec!["--to", "postgres"];
            args.extend_from_slice(mode);
            let etcd_sql = dir.join(format!("etcd-{j}.sql"));
            export(&src.input, &args, &etcd_sql);
            let db = pg.load(&format!("etcd_{i}_{j}"), &etcd_sql);
            total += check_etcd_schema(&db, src, false);
            let mut kargs = args.clone();
            kargs.extend_from_slice(&["--schema", "kine"]);
            let kine_sql = dir.join(format!("kine-{j}.sql"));
            export(&src.input, &kargs, &kine_sql);
            let db = pg.load(&format!("kine_{i}_{j}"), &kine_sql);
            total += check_kine_schema(&db, src);
            // The id sequence continues after the highest id.
            assert_eq!(
                db.one("SELECT last_value FROM kine_id_seq"),
                db.one(CURRENT_REV_SQL)
            );
        }
    }
    let src = synthetic_source();
    let s = tmp_dir("pg-secrets").join("s.sql");
    export(&src.input, &["--to", "postgres", "--with-secrets"], &s);
    total += check_etcd_schema(&pg.load("secrets", &s), &src, true);
    assert!(total > 1000, "{total} checks");
}

#[test]
fn damaged_input_writes_nothing() {
    let dir = tmp_dir("damaged");
    let snap = std::fs::read(v3_fixture().join("snapshot.db")).unwrap();
    let bad = dir.join("truncated.db");
    std::fs::write(&bad, &snap[..snap.len() / 2 + 1000]).unwrap();
    for schema in ["etcd", "kine"] {
        for to in ["sqlite", "postgres", "sqlite-db"] {
            let out = dir.join(format!("{schema}-{to}.sql"));
            let o = run(&[
                "export".as_ref(),
                bad.as_os_str(),
                "--to".as_ref(),
                to.as_ref(),
                "--schema".as_ref(),
                schema.as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
            ]);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(String::from_utf8_lossy(&o.stderr).contains("truncated.db"));
            assert!(!out.exists());
            if to == "sqlite-db" {
                continue; // needs -o
            }
            // To stdout: refused before a byte is written.
            let o = run(&[
                "export".as_ref(),
                bad.as_os_str(),
                "--to".as_ref(),
                to.as_ref(),
                "--schema".as_ref(),
                schema.as_ref(),
            ]);
            assert_eq!(o.status.code(), Some(1));
            assert!(
                o.stdout.is_empty(),
                "{}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    // No temp file left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Damage met in the middle of the rows (the key bucket's last leaf page, read after the
/// schema and most rows were written): `--to sqlite-db` and `--to sqlite|postgres -o` exit 1
/// naming the page, and leave no file behind, neither OUT nor the temp file.
#[test]
fn damage_in_the_middle_of_the_rows_leaves_no_file() {
    let snap = std::fs::read(v3_fixture().join("snapshot.db")).unwrap();
    let bolt = bbolt::Db::open(storage::MemSource::new(snap.clone())).unwrap();
    let b = bolt.bucket(b"key").unwrap().unwrap();
    let root = bolt.read_page(b.root_page().unwrap(), (0, 0)).unwrap();
    assert_eq!(root.kind(), bbolt::page::Kind::Branch);
    let (_, last_leaf) = root.branch(root.count() - 1).unwrap();
    let base = (last_leaf * bolt.page_size()) as usize;
    let mut bad = snap.clone();
    bad[base + 10 + 1] ^= 0x7f; // element count: the element table runs past the page
    let dir = tmp_dir("damaged-mid");
    let input = dir.join("in").join("bad.db");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(&input, &bad).unwrap();
    let outs = dir.join("out");
    std::fs::create_dir_all(&outs).unwrap();
    for schema in ["etcd", "kine"] {
        for to in ["sqlite-db", "sqlite", "postgres"] {
            let out = outs.join(format!("{schema}-{to}"));
            let o = run(&[
                "export".as_ref(),
                input.as_os_str(),
                "--to".as_ref(),
                to.as_ref(),
                "--schema".as_ref(),
                schema.as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
            ]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{schema} {to}: {err}");
            assert!(
                err.contains(&format!("page {last_leaf}")) && err.contains("bad.db"),
                "{schema} {to}: {err}"
            );
        }
    }
    let left: Vec<_> = std::fs::read_dir(&outs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn strict_revisions_refuses_multi_change_revisions() {
    let out = tmp_dir("strict").join("k.sql");
    let o = run(&[
        "export".as_ref(),
        v3_fixture().join("snapshot.db").as_os_str(),
        "--to".as_ref(),
        "sqlite".as_ref(),
        "--schema".as_ref(),
        "kine".as_ref(),
        "--strict-revisions".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("revision 350 holds more than one change"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn stdout_output_equals_file_output() {
    let src = v3_fixture().join("snapshot.db");
    let out = tmp_dir("stdout").join("a.sql");
    export(&src, &["--to", "postgres", "--schema", "kine"], &out);
    let o = run(&[
        "export".as_ref(),
        src.as_os_str(),
        "--to".as_ref(),
        "postgres".as_ref(),
        "--schema".as_ref(),
        "kine".as_ref(),
    ]);
    assert!(o.status.success());
    assert_eq!(o.stdout, std::fs::read(&out).unwrap());
}
