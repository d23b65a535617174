//! The `kine` schema (k3s-io/kine [`KINE_VERSION`]): one table `kine`, an append-only log whose
//! row id is the revision. Rows are written as kine itself writes them (FORMATS.md §7.2,
//! kine `pkg/logstructured`, `pkg/drivers/generic`):
//!
//! * put of an absent or deleted key: `created=1, deleted=0, create_revision=0`, `prev_revision`
//!   = id of the key's previous (delete) row or 0;
//! * put of a live key: `created=0`, `create_revision` = id of the row that created this
//!   generation, `prev_revision` = id of the key's previous row;
//! * delete: `created=0, deleted=1, create_revision=0, lease=0, value NULL`, `prev_revision` =
//!   id of the deleted row;
//! * `lease` = the etcd lease's granted TTL in seconds (kine's lease ids are TTLs), 0 when the
//!   key has none or its lease is not in the `lease` bucket;
//! * `old_value` = the value of the `prev_revision` row, filled by one UPDATE after the rows
//!   (kine fills it with a sub-select at insert time);
//! * `compact_rev_key` (id 1, or the first free id) with `prev_revision` = the compaction;
//! * the etcd key `compact_rev_key` (the apiserver's) becomes `compact_rev_key_apiserver`
//!   with value `"<version>|<value>"`, as kine stores it.
//!
//! Ids: kine has one row per id, etcd several changes per revision (sub-revisions of a txn, a
//! range delete, a lease revoke). Each change gets id = main revision + the number of held
//! changes with sub > 0 up to and including it (+1 if revision 1 is taken, to leave id 1 to
//! `compact_rev_key`). Without multi-change revisions ids equal etcd revisions exactly; after
//! one, they are shifted by the extra changes before them. An etcd revision R reads as kine id
//! `R + extras(≤ R)`; the compaction and the current revision are mapped that way.

use std::collections::HashMap;

use crate::emit::{text_ok, Sink, Val};
use crate::{each_change, order_error, Change, Dialect, Error, Options, Result, Source, Summary};

/// The kine release whose schema and row rules this matches.
pub const KINE_VERSION: &str = "v0.16.4";

const COMPACT_KEY: &[u8] = b"compact_rev_key";
const COMPACT_API_KEY: &[u8] = b"compact_rev_key_apiserver";

/// How etcd revisions became kine ids.
#[derive(Debug, Clone, Default)]
pub struct KineSummary {
    /// Changes at sub > 0 (each shifts the ids after it by one).
    pub renumbered: u64,
    /// Added to every id (1 when a change sits at revision 1).
    pub base: i64,
    /// Id of the `compact_rev_key` row.
    pub compact_key_id: i64,
    /// The compaction as a kine id (`compact_rev_key.prev_revision`).
    pub compact_revision: i64,
    /// The current revision as a kine id (`MAX(id)`).
    pub current_revision: i64,
    /// Changes left out: revision ≤ 0 (etcd ignores them too).
    pub skipped_nonpositive: u64,
    /// PostgreSQL: changes of keys that are not valid UTF-8 or hold NUL (kine's `name` is
    /// text), written as kine's `gap-<id>` filler rows instead; their keys in hex.
    pub unrepresentable: u64,
    pub unrepresentable_keys: Vec<String>,
    /// Keys whose lease id is not in the `lease` bucket (written with lease 0).
    pub missing_leases: u64,
    /// A `gap-<id>` row was added so that `MAX(id)` is the current revision (the compaction is
    /// above the last held change).
    pub gap_for_current: bool,
}

pub(crate) fn strict_error(c: &Change<'_>) -> Error {
    Error::Refused(format!(
        "revision {} holds more than one change (sub-revision {}); kine has one row per revision. \
         Leave out --strict-revisions to renumber (README: SQL export, kine ids)",
        c.rev.main, c.rev.sub
    ))
}

pub(crate) fn preamble(d: Dialect, schema: &str, opts: &Options) -> String {
    let head = format!(
        "-- {} SQL export, schema {schema}{}, {}\n",
        opts.exported_by,
        if schema == "kine" {
            format!(" (k3s-io/kine {KINE_VERSION})")
        } else {
            String::new()
        },
        match d {
            Dialect::Sqlite => "SQLite: sqlite3 DB < FILE",
            Dialect::Postgres => "PostgreSQL: psql -v ON_ERROR_STOP=1 -f FILE",
        }
    );
    match d {
        Dialect::Sqlite => format!("{head}BEGIN TRANSACTION;\n"),
        Dialect::Postgres => format!(
            "{head}SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\
             SET client_min_messages = warning;\nBEGIN;\n"
        ),
    }
}

fn table_sqlite(name_integer: bool) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS kine\n\t\t\t(\n\t\t\t\tid INTEGER PRIMARY KEY AUTOINCREMENT,\n\t\t\t\tname {},\n\
         \t\t\t\tcreated INTEGER,\n\t\t\t\tdeleted INTEGER,\n\t\t\t\tcreate_revision INTEGER,\n\
         \t\t\t\tprev_revision INTEGER,\n\t\t\t\tlease INTEGER,\n\t\t\t\tvalue BLOB,\n\t\t\t\told_value BLOB\n\t\t\t);\n",
        if name_integer { "INTEGER" } else { "TEXT" }
    )
}

const TABLE_PG: &str =
    "CREATE TABLE IF NOT EXISTS kine\n \t\t\t(\n\t\t\t\tid BIGSERIAL PRIMARY KEY,\n\
\t\t\t\tname text COLLATE \"C\",\n\t\t\t\tcreated INTEGER,\n\t\t\t\tdeleted INTEGER,\n\
\t\t\t\tcreate_revision BIGINT,\n\t\t\t\tprev_revision BIGINT,\n \t\t\t\tlease INTEGER,\n\
 \t\t\t\tvalue bytea,\n \t\t\t\told_value bytea\n \t\t\t);\n";

const INDEXES_COMMON: &str = "CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name);\n\
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name,id);\n\
CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id,deleted);\n\
CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision);\n\
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);\n";

const INDEX_SQLITE: &str = "CREATE INDEX IF NOT EXISTS kine_id_compact_rev_key_with_prev_revision_index ON kine(id, name, prev_revision) WHERE name != 'compact_rev_key' AND prev_revision != 0;\n";

const INDEX_PG: &str =
    "CREATE INDEX IF NOT EXISTS kine_list_query_index on kine(name, id DESC, deleted);\n";

/// Per key: the id of its last row, of the row that created its live generation, and whether
/// the last row is a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyState {
    last_id: i64,
    create_id: i64,
    deleted: bool,
}

/// One slot of [`KeyTable`]: 24 bytes. `fp` 0 = empty; `last` holds the last id with the
/// deleted flag in the top bit (ids are positive).
#[derive(Clone, Copy, Default)]
struct Slot {
    fp: u64,
    last: u64,
    create: i64,
}

const DELETED: u64 = 1 << 63;
const SHARDS: usize = 256;

/// The per-key state of an export, compact: 256 open-addressing tables (linear probing) of
/// 24-byte slots, a key's shard chosen by 8 bits of one keyed 64-bit hash of its name and its
/// slot by a second, independent one, which the slot keeps as the fingerprint — 72 bits tell
/// keys apart (two of 10⁶ keys share them with a probability of about 10⁻¹⁰; the hashes are
/// SipHash with per-run random keys, so no input can aim at a collision). Shards grow one at a
/// time to 1/0.6 of their entries when 0.85 full, so memory stays at 28–40 bytes a key with no
/// doubling peak (about 40 MB for a million keys; std's map of 128-bit keys took 150 MB).
struct KeyTable {
    shards: Vec<Vec<Slot>>,
    lens: Vec<usize>,
    h_shard: std::collections::hash_map::RandomState,
    h_fp: std::collections::hash_map::RandomState,
}

impl KeyTable {
    fn new() -> Self {
        KeyTable {
            shards: vec![Vec::new(); SHARDS],
            lens: vec![0; SHARDS],
            h_shard: Default::default(),
            h_fp: Default::default(),
        }
    }

    /// (shard, fingerprint) of a name.
    fn locate(&self, name: &[u8]) -> (usize, u64) {
        use std::hash::BuildHasher;
        let shard = (self.h_shard.hash_one(name) >> 56) as usize;
        let fp = self.h_fp.hash_one(name).max(1);
        (shard, fp)
    }

    /// The slot index where `fp` is or would go in `slots` (not full).
    fn probe(slots: &[Slot], fp: u64) -> usize {
        let n = slots.len();
        let mut i = ((fp as u128 * n as u128) >> 64) as usize;
        loop {
            let s = slots[i].fp;
            if s == fp || s == 0 {
                return i;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    fn get(&self, name: &[u8]) -> (usize, u64, Option<KeyState>) {
        let (shard, fp) = self.locate(name);
        let slots = &self.shards[shard];
        if slots.is_empty() {
            return (shard, fp, None);
        }
        let s = slots[Self::probe(slots, fp)];
        let state = (s.fp == fp).then_some(KeyState {
            last_id: (s.last & !DELETED) as i64,
            create_id: s.create,
            deleted: s.last & DELETED != 0,
        });
        (shard, fp, state)
    }

    /// Sets the state of the name `get` located as (shard, fp).
    fn set(&mut self, shard: usize, fp: u64, st: KeyState) {
        let len = self.lens[shard];
        if (len + 1) * 20 > self.shards[shard].len() * 17 {
            let cap = ((len + 1) * 10 / 6).max(16);
            let old = std::mem::replace(&mut self.shards[shard], vec![Slot::default(); cap]);
            let new = &mut self.shards[shard];
            for s in old.into_iter().filter(|s| s.fp != 0) {
                let i = Self::probe(new, s.fp);
                new[i] = s;
            }
        }
        let slots = &mut self.shards[shard];
        let i = Self::probe(slots, fp);
        if slots[i].fp == 0 {
            self.lens[shard] += 1;
        }
        slots[i] = Slot {
            fp,
            last: st.last_id as u64 | if st.deleted { DELETED } else { 0 },
            create: st.create_id,
        };
    }
}

const COLUMNS: [&str; 9] = [
    "id",
    "name",
    "created",
    "deleted",
    "create_revision",
    "prev_revision",
    "lease",
    "value",
    "old_value",
];

fn gap_row<S: Sink>(em: &mut S, id: i64) -> Result<()> {
    let name = format!("gap-{id}");
    em.row(&[
        Val::Int(id),
        Val::Text(name.as_bytes()),
        Val::Int(0),
        Val::Int(1),
        Val::Int(0),
        Val::Int(0),
        Val::Int(0),
        Val::Null,
        Val::Null,
    ])
}

pub(crate) fn write<S: Sink>(
    src: &dyn Source,
    em: &mut S,
    opts: &Options,
    summary: &mut Summary,
) -> Result<()> {
    let d = opts.dialect;
    let meta = src.meta()?;
    let current = src.current_revision()?;
    let compact = meta.effective_compact_revision().unwrap_or(0);
    let leases: HashMap<i64, i64> = src.leases()?.iter().map(|l| (l.id, l.ttl)).collect();
    let base = match src.first_main()? {
        Some(m) if m <= 1 => 1,
        _ => 0,
    };
    let mut ks = KineSummary {
        base,
        compact_key_id: 1,
        ..Default::default()
    };

    em.sql(&preamble(d, "kine", opts))?;
    em.sql(&match d {
        Dialect::Sqlite => table_sqlite(opts.sqlite_name_integer),
        Dialect::Postgres => TABLE_PG.to_string(),
    })?;
    em.begin("kine", &COLUMNS)?;

    let mut state = KeyTable::new();
    let mut extras = 0i64;
    // (main, extras up to and including main) for mains ≤ the compaction that hold a sub > 0:
    // to map create revisions of compacted generations and the compaction itself.
    let mut low_extras: Vec<(i64, i64)> = Vec::new();
    let mut last = None;
    let mut last_id = ks.compact_key_id;
    let mut api_value = Vec::new();
    let mut n = 0u64;
    each_change(src, |c| {
        if let Some(e) = order_error(last, c) {
            return Err(e);
        }
        last = Some((c.rev, c.tombstone));
        n += 1;
        if c.rev.main < 1 {
            ks.skipped_nonpositive += 1;
            return Ok(());
        }
        if c.rev.sub > 0 {
            if opts.strict_revisions {
                return Err(strict_error(c));
            }
            extras += 1;
            ks.renumbered += 1;
            if c.rev.main <= compact {
                match low_extras.last_mut() {
                    Some(l) if l.0 == c.rev.main => l.1 = extras,
                    _ => low_extras.push((c.rev.main, extras)),
                }
            }
        }
        let id = c.rev.main + extras + base;
        if id <= last_id {
            return Err(Error::Refused(format!(
                "revision {} maps to kine id {id}, not above the previous id {last_id}",
                c.rev
            )));
        }
        last_id = id;
        let (name, value): (&[u8], &[u8]) = if c.key == COMPACT_KEY {
            api_value.clear();
            api_value.extend_from_slice(format!("{}|", c.version).as_bytes());
            api_value.extend_from_slice(c.value);
            (COMPACT_API_KEY, &api_value)
        } else if c.key == COMPACT_API_KEY {
            return Err(Error::Refused(format!(
                "the input holds a key named {:?}, which kine reserves for the apiserver's \
                 compact_rev_key",
                String::from_utf8_lossy(COMPACT_API_KEY)
            )));
        } else {
            (c.key, c.value)
        };
        if d == Dialect::Postgres && !text_ok(name) {
            ks.unrepresentable += 1;
            let h: String = name.iter().map(|b| format!("{b:02x}")).collect();
            if ks.unrepresentable_keys.len() < 20 && !ks.unrepresentable_keys.contains(&h) {
                ks.unrepresentable_keys.push(h);
            }
            gap_row(em, id)?;
            return Ok(());
        }
        // PostgreSQL: checked as text just above, so not checked again while written.
        let name_val = match d {
            Dialect::Postgres => Val::CheckedText(name),
            Dialect::Sqlite => Val::KeyText(name),
        };
        let (shard, fp, prev) = state.get(name);
        let prev_id = prev.map(|s| s.last_id).unwrap_or(0);
        if c.tombstone {
            em.row(&[
                Val::Int(id),
                name_val,
                Val::Int(0),
                Val::Int(1),
                Val::Int(0),
                Val::Int(prev_id),
                Val::Int(0),
                Val::Null,
                Val::Null,
            ])?;
            state.set(
                shard,
                fp,
                KeyState {
                    last_id: id,
                    create_id: 0,
                    deleted: true,
                },
            );
            return Ok(());
        }
        // The first row of a key creates it only when etcd says it was created right there
        // (a v2-migrated key has version 1 but create_revision = its v2 createdIndex, and a
        // compacted history leaves updates without their creation): otherwise it is an update
        // whose creation kine no longer holds, so that kine reports etcd's create_revision.
        let created = match prev {
            None => c.version <= 1 && c.create_revision == c.rev.main,
            Some(s) => s.deleted,
        };
        let create_id = if created {
            id
        } else {
            match prev {
                Some(s) if !s.deleted => s.create_id,
                // The generation was created in compacted history: map its revision.
                _ => map_start(c.create_revision, base, &low_extras),
            }
        };
        let lease = if c.lease == 0 {
            0
        } else if let Some(&ttl) = leases.get(&c.lease) {
            ttl
        } else {
            ks.missing_leases += 1;
            0
        };
        em.row(&[
            Val::Int(id),
            name_val,
            Val::Int(created as i64),
            Val::Int(0),
            Val::Int(if created { 0 } else { create_id }),
            Val::Int(prev_id),
            Val::Int(lease),
            Val::Blob(value),
            Val::Null,
        ])?;
        state.set(
            shard,
            fp,
            KeyState {
                last_id: id,
                create_id,
                deleted: false,
            },
        );
        Ok(())
    })?;
    drop(state);
    summary.changes = n;

    // The current revision as an id: every change ≤ current is held above the compaction, so
    // it is current + all extras (+ base); a compaction above the last change needs a filler.
    ks.current_revision = current + extras + base;
    if ks.current_revision > last_id {
        gap_row(em, ks.current_revision)?;
        ks.gap_for_current = true;
    }
    ks.compact_revision = if compact > 0 {
        compact + extras_upto(compact, &low_extras) + base
    } else {
        0
    };
    // kine's own compact_rev_key row (as compactStart creates it, then UpdateCompactSQL).
    em.row(&[
        Val::Int(ks.compact_key_id),
        Val::Text(COMPACT_KEY),
        Val::Int(1),
        Val::Int(0),
        Val::Int(0),
        Val::Int(ks.compact_revision),
        Val::Int(0),
        Val::Blob(b""),
        Val::Null,
    ])?;
    em.end()?;

    // old_value as kine's insert sub-select would have filled it.
    em.sql(match d {
        Dialect::Sqlite => {
            "UPDATE kine SET old_value = (SELECT p.value FROM kine AS p WHERE p.id = kine.prev_revision)\n  \
             WHERE prev_revision != 0 AND name != 'compact_rev_key';\n"
        }
        Dialect::Postgres => {
            "UPDATE kine SET old_value = p.value FROM kine AS p\n  \
             WHERE p.id = kine.prev_revision AND kine.prev_revision != 0 AND kine.name != 'compact_rev_key';\n"
        }
    })?;
    em.sql(INDEXES_COMMON)?;
    em.sql(match d {
        Dialect::Sqlite => INDEX_SQLITE,
        Dialect::Postgres => INDEX_PG,
    })?;
    // The id generator continues after the highest id.
    em.sql(match d {
        Dialect::Sqlite => {
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'kine', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'kine');\n\
             UPDATE sqlite_sequence SET seq = (SELECT MAX(id) FROM kine) WHERE name = 'kine';\n"
        }
        Dialect::Postgres => {
            "SELECT setval(pg_get_serial_sequence('kine', 'id'), (SELECT MAX(id) FROM kine)) AS kine_id_seq;\n"
        }
    })?;
    em.sql("COMMIT;\n")?;
    summary.kine = Some(ks);
    Ok(())
}

/// Extras (changes at sub > 0) at mains ≤ `main`, from the table kept for mains ≤ the
/// compaction.
fn extras_upto(main: i64, low: &[(i64, i64)]) -> i64 {
    match low.partition_point(|&(m, _)| m <= main) {
        0 => 0,
        i => low[i - 1].1,
    }
}

/// The id a change at (`main`, 0) had: main + extras before main + base.
fn map_start(main: i64, base: i64, low: &[(i64, i64)]) -> i64 {
    main + extras_upto(main - 1, low) + base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_lookup() {
        let low = [(5, 2), (9, 3)];
        assert_eq!(extras_upto(4, &low), 0);
        assert_eq!(extras_upto(5, &low), 2);
        assert_eq!(extras_upto(8, &low), 2);
        assert_eq!(extras_upto(100, &low), 3);
        assert_eq!(map_start(5, 0, &low), 5);
        assert_eq!(map_start(6, 1, &low), 9);
    }

    #[test]
    fn key_table_as_a_map() {
        let mut t = KeyTable::new();
        let mut m: HashMap<Vec<u8>, KeyState> = HashMap::new();
        for round in 0..3i64 {
            for k in 0..20_000i64 {
                let name = format!("/registry/k{}", k * 7919 % 20_011).into_bytes();
                let (shard, fp, prev) = t.get(&name);
                assert_eq!(prev, m.get(&name).copied(), "{k} round {round}");
                let st = KeyState {
                    last_id: round * 100_000 + k + 1,
                    create_id: k,
                    deleted: (k + round) % 3 == 0,
                };
                t.set(shard, fp, st);
                m.insert(name, st);
            }
        }
        assert_eq!(t.lens.iter().sum::<usize>(), m.len());
        assert_eq!(t.get(b"").2, None);
        assert_eq!(t.get(b"\0").2, None);
        // Memory: at most 1/0.5 slots of 24 bytes per key.
        let slots: usize = t.shards.iter().map(Vec::len).sum();
        assert!(slots <= m.len() * 2, "{slots} slots for {} keys", m.len());
    }
}
