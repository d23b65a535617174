//! `--to sqlite-db`: the SQLite schema and rows written straight into a database file through
//! the bundled SQLite (feature `sqlite-db`, native builds only). The same schema writers as the
//! scripts: our own statements (DDL, the `etcd_kv` fill, kine's `old_value` update, indexes,
//! the id sequence) run as they are, rows go through one prepared `INSERT` per table with bound
//! values — the same values the script's literals hold, so the database equals the script
//! loaded into `sqlite3`, without printing and parsing hex. Streaming: one row at a time.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement};

use crate::emit::{text_ok, Sink, Val};
use crate::{etcd_schema, kine, Dialect, Error, Options, Result, Schema, Source, Summary};

fn db_err(e: rusqlite::Error) -> Error {
    Error::Database(e.to_string())
}

struct DbSink<'c> {
    conn: &'c Connection,
    stmt: Option<Statement<'c>>,
    rows: u64,
}

fn bound<'a>(v: &Val<'a>) -> ToSqlOutput<'a> {
    ToSqlOutput::Borrowed(match *v {
        Val::Null => ValueRef::Null,
        Val::Int(i) => ValueRef::Integer(i),
        Val::Bool(b) => ValueRef::Integer(b as i64),
        Val::Blob(b) => ValueRef::Blob(b),
        // As the script: text when valid (else NULL); key text is any bytes stored as TEXT
        // (`CAST(X'..' AS TEXT)` keeps them as they are, and so does binding them).
        Val::CheckedText(t) => ValueRef::Text(t),
        Val::Text(t) if text_ok(t) => ValueRef::Text(t),
        Val::Text(_) => ValueRef::Null,
        Val::KeyText(t) => ValueRef::Text(t),
    })
}

impl Sink for DbSink<'_> {
    fn sql(&mut self, s: &str) -> Result<()> {
        self.stmt = None;
        self.conn.execute_batch(s).map_err(db_err)
    }

    fn begin(&mut self, table: &str, columns: &[&str]) -> Result<()> {
        self.stmt = None;
        let params: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let q = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            params.join(",")
        );
        self.stmt = Some(self.conn.prepare(&q).map_err(db_err)?);
        Ok(())
    }

    fn row(&mut self, vals: &[Val<'_>]) -> Result<()> {
        let Some(st) = self.stmt.as_mut() else {
            return Err(Error::Database("a row outside a table".into()));
        };
        for (i, v) in vals.iter().enumerate() {
            st.raw_bind_parameter(i + 1, bound(v)).map_err(db_err)?;
        }
        st.raw_execute().map_err(db_err)?;
        self.rows += 1;
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        self.stmt = None;
        Ok(())
    }
}

/// Writes the SQLite database of `src` to `path` (a new file: the caller names a temp file and
/// renames it when this returns Ok, or removes it). `opts.dialect` is taken as SQLite.
/// Summary: `bytes` is the database file size.
pub fn export_sqlite_db(src: &dyn Source, path: &Path, opts: &Options) -> Result<Summary> {
    let opts = Options {
        dialect: Dialect::Sqlite,
        inserts: true,
        ..opts.clone()
    };
    let conn = Connection::open(path).map_err(db_err)?;
    // A private new file renamed into place when complete: no rollback journal and no syncs
    // while it is built (the caller fsyncs the finished file). Journal mode OFF is not stored
    // in the file; the database opens as any other. An 8 MiB page cache (which also bounds the
    // sorter's memory for the index builds) measured as fast as 16 or 32 MiB on a million keys.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;\nPRAGMA synchronous = OFF;\nPRAGMA locking_mode = EXCLUSIVE;\n\
         PRAGMA cache_size = -8192;\n",
    )
    .map_err(db_err)?;
    let mut summary = Summary::default();
    let mut sink = DbSink {
        conn: &conn,
        stmt: None,
        rows: 0,
    };
    match opts.schema {
        Schema::Etcd => etcd_schema::write(src, &mut sink, &opts, &mut summary)?,
        Schema::Kine => kine::write(src, &mut sink, &opts, &mut summary)?,
    }
    summary.rows = sink.rows;
    drop(sink);
    conn.close().map_err(|(_, e)| db_err(e))?;
    summary.bytes = std::fs::metadata(path)?.len();
    Ok(summary)
}
