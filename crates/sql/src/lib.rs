//! SQL export of etcd data: SQLite or PostgreSQL scripts in an `etcd` schema (current keys,
//! full held history, leases, members, meta facts, auth) or in the k3s `kine` schema.
//!
//! Streamed: changes are written as they are read from the source, so memory does not grow with
//! the values. The `etcd` schema needs no per-key memory at all (the current keys are derived
//! from the history table by SQL inside the same transaction); the `kine` schema keeps, per
//! distinct key, a 128-bit fingerprint and two revisions (about 40 bytes a key) to build
//! kine's `prev_revision` chain. No UI, no file system: the output is any `std::io::Write`.

mod emit;
mod etcd_schema;
mod kine;
mod source;
#[cfg(feature = "sqlite-db")]
mod sqlite_db;

use std::fmt;

pub use emit::{text_ok, Mode};
pub use kine::{KineSummary, KINE_VERSION};
pub use source::{
    Change, ChangeFn, MigrationSource, RedactFn, Redacting, Source, WithV2Membership,
};
#[cfg(feature = "sqlite-db")]
pub use sqlite_db::export_sqlite_db;

/// The database the script is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The tables written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Etcd,
    Kine,
}

/// Export settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub dialect: Dialect,
    pub schema: Schema,
    /// PostgreSQL: INSERT statements instead of COPY (SQLite always uses INSERT).
    pub inserts: bool,
    /// `etcd` schema: include bcrypt password hashes of auth users.
    pub with_secrets: bool,
    /// `kine` schema, SQLite: declare `name INTEGER` as kine before v0.16.3 did.
    pub sqlite_name_integer: bool,
    /// `kine` schema: refuse input where a revision holds more than one change, instead of
    /// renumbering.
    pub strict_revisions: bool,
    /// The exporter's name and version for the `exported_by` fact.
    pub exported_by: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dialect: Dialect::Sqlite,
            schema: Schema::Etcd,
            inserts: false,
            with_secrets: false,
            sqlite_name_integer: false,
            strict_revisions: false,
            exported_by: format!("etcdscope {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl Options {
    fn mode(&self) -> Mode {
        match (self.dialect, self.inserts) {
            (Dialect::Postgres, false) => Mode::Copy,
            _ => Mode::Insert,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// SQL bytes written.
    pub bytes: u64,
    /// Data rows written (all tables).
    pub rows: u64,
    /// Changes (`key` bucket entries) read.
    pub changes: u64,
    /// `kine`: changes that got an id other than their main revision (renumbered, see the
    /// README), and the revision mapping facts.
    pub kine: Option<kine::KineSummary>,
}

/// An export failure.
#[derive(Debug)]
pub enum Error {
    /// The input is damaged or unreadable.
    Source(etcd::Error),
    /// Writing the output failed.
    Io(std::io::Error),
    /// The input cannot be represented as asked (e.g. `--strict-revisions` and a txn with several
    /// changes).
    Refused(String),
    /// The SQLite database being written (`--to sqlite-db`) failed.
    Database(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Source(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "writing the SQL: {e}"),
            Error::Refused(m) => write!(f, "{m}"),
            Error::Database(m) => write!(f, "writing the SQLite database: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<etcd::Error> for Error {
    fn from(e: etcd::Error) -> Self {
        Error::Source(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Reads every change once without writing anything: damaged input fails here, before any output
/// (for callers that stream to a pipe and cannot remove a partial file).
pub fn check(src: &dyn Source, opts: &Options) -> Result<u64> {
    let mut n = 0u64;
    let mut last: Option<(etcd::Revision, bool)> = None;
    each_change(src, |c| {
        n += 1;
        if let Some(e) = order_error(last, c) {
            return Err(e);
        }
        if opts.schema == Schema::Kine && opts.strict_revisions && c.rev.sub > 0 {
            return Err(kine::strict_error(c));
        }
        last = Some((c.rev, c.tombstone));
        Ok(())
    })?;
    src.leases()?;
    src.meta()?;
    src.members()?;
    src.auth(false)?;
    src.alarms()?;
    Ok(n)
}

/// Two changes at one revision (a put and a tombstone with the same revision, which etcd never
/// writes) or revisions going backwards (a v2 mapping bug) would break the primary keys.
fn order_error(last: Option<(etcd::Revision, bool)>, c: &Change<'_>) -> Option<Error> {
    match last {
        Some((r, _)) if r >= c.rev => Some(Error::Refused(format!(
            "revision {} appears after revision {r} (two entries at one revision?): refusing to write \
             a table whose primary key would be violated",
            c.rev
        ))),
        _ => None,
    }
}

/// Writes the whole script to `out`.
pub fn export<W: std::io::Write>(src: &dyn Source, out: W, opts: &Options) -> Result<Summary> {
    let mut em = emit::Emitter::new(out, opts.dialect, opts.mode());
    let mut summary = Summary::default();
    match opts.schema {
        Schema::Etcd => etcd_schema::write(src, &mut em, opts, &mut summary)?,
        Schema::Kine => kine::write(src, &mut em, opts, &mut summary)?,
    }
    em.flush()?;
    summary.bytes = em.bytes;
    summary.rows = em.rows;
    Ok(summary)
}

/// Runs `changes` and turns an error raised inside the callback back into ours.
pub(crate) fn each_change(
    src: &dyn Source,
    mut f: impl FnMut(&Change<'_>) -> Result<()>,
) -> Result<()> {
    let mut err: Option<Error> = None;
    let r = src.changes(&mut |c| match f(c) {
        Ok(()) => Ok(()),
        Err(e) => {
            err = Some(e);
            Err(etcd::Error::Write("stopped".into()))
        }
    });
    match (r, err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(Error::Source(e)),
        (Ok(()), None) => Ok(()),
    }
}
