//! `etcdscope export`: SQL scripts for SQLite and PostgreSQL (crate `sql`).
//!
//! INPUT is a v3 snapshot / db file / data dir without a WAL (read as a v3 backend), or a data
//! dir with `member/wal` (its v2 store through the `migrate` mapping, on top of the v3 db beside
//! it, as `etcdscope migrate` does). With `-o`, the script goes to a temp file beside OUT that is
//! renamed when complete (removed on failure); to stdout, the input is read once first so that
//! damaged input is refused before a byte is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use etcd::migrate::{MigrateOptions, Migration, TtlMode};
use etcd::v2::LoadOptions;

use crate::input::fail;
use crate::output::io_fail;
use crate::{datadir, input, v2cmd, Failure};

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum SqlTarget {
    Sqlite,
    Postgres,
    /// A ready SQLite database file (`-o` required).
    SqliteDb,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum SqlSchema {
    Etcd,
    Kine,
}

pub struct ExportArgs {
    pub to: SqlTarget,
    pub schema: SqlSchema,
    pub output: Option<PathBuf>,
    pub force: bool,
    pub inserts: bool,
    pub with_secrets: bool,
    pub sqlite_name_integer: bool,
    pub strict_revisions: bool,
    /// v2 data dirs: the `migrate` options.
    pub ttl: TtlMode,
    pub include_hidden: bool,
    pub prefix_map: Vec<(Vec<u8>, Vec<u8>)>,
    pub now: Option<String>,
    /// `--redact`: values passed through this first.
    pub redact: Option<kube::redact::Redactor>,
}

fn refuse_output(input: &Path, out: &Path, force: bool) -> Result<(), Failure> {
    if out.is_dir() {
        return Err(Failure::Usage(format!(
            "etcdscope: {} is a directory; -o names the file to write",
            out.display()
        )));
    }
    if out.exists() && !force {
        return Err(Failure::Usage(format!(
            "etcdscope: {} exists (use --force to replace it)",
            out.display()
        )));
    }
    if input.is_dir() {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let (Ok(p), Ok(i)) = (parent.canonicalize(), input.canonicalize()) {
            if p.starts_with(&i) {
                return Err(Failure::Usage(format!(
                    "etcdscope: {} is inside the input {}; write the SQL elsewhere",
                    out.display(),
                    input.display()
                )));
            }
        }
    }
    Ok(())
}

/// A file written on a thread of its own: the export fills buffers of about 1 MiB and hands
/// them over (at most 4 in flight), so copying them into the page cache (system time about as
/// large as the export's own) runs beside producing the next ones; and the disk writes start
/// while the export runs (see `SYNC_EVERY`).
struct ThreadedWriter {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<std::fs::File>>>,
}

const CHUNK: usize = 1 << 20;
const SYNC_EVERY: usize = 64 << 20;

impl ThreadedWriter {
    fn new(mut file: std::fs::File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (spare_tx, spare) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // A third thread starts the disk writes early (fdatasync after every SYNC_EVERY
            // bytes, while this one goes on filling the page cache), so the final sync_all
            // waits for the tail only instead of the whole file.
            let syncer = file.try_clone().ok().map(|f| {
                let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
                let t = std::thread::spawn(move || {
                    for () in kicks {
                        f.sync_data()?;
                    }
                    Ok::<(), std::io::Error>(())
                });
                (kick, t)
            });
            let (mut written, mut kicked) = (0usize, 0usize);
            let mut result = Ok(());
            for mut b in rx {
                if let Err(e) = file.write_all(&b) {
                    result = Err(e);
                    break;
                }
                written += b.len();
                if written - kicked >= SYNC_EVERY {
                    kicked = written;
                    if let Some((kick, _)) = &syncer {
                        let _ = kick.try_send(());
                    }
                }
                b.clear();
                let _ = spare_tx.send(b);
            }
            if let Some((kick, t)) = syncer {
                drop(kick);
                match t.join() {
                    Ok(r) => result = result.and(r),
                    Err(_) => {
                        result = result.and(Err(std::io::Error::other("the sync thread failed")))
                    }
                }
            }
            result.map(|()| file)
        });
        ThreadedWriter {
            buf: Vec::with_capacity(2 * CHUNK),
            tx: Some(tx),
            spare,
            thread: Some(thread),
        }
    }

    /// The writer thread's result once it has ended (its error, if it failed).
    fn join(&mut self) -> std::io::Result<std::fs::File> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the writer thread failed")),
            None => Err(std::io::Error::other("the writer thread has ended")),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(2 * CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(full).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.join().map(|_| ())?;
        Err(std::io::Error::other("the writer thread has ended"))
    }

    /// Everything written; the file back.
    fn finish(mut self) -> std::io::Result<std::fs::File> {
        self.send()?;
        self.join()
    }
}

impl Write for ThreadedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ThreadedWriter {
    fn drop(&mut self) {
        // Wait for the thread so that nothing writes to the file after a failure returns.
        if self.thread.is_some() {
            let _ = self.join();
        }
    }
}

/// Runs the export of `src`; `path` names the input in messages.
fn export_from(
    out: &mut dyn Write,
    src: &dyn sql::Source,
    path: &Path,
    opts: &sql::Options,
    a: &ExportArgs,
) -> Result<(), Failure> {
    // `--redact`: values pass through the redactor (sql::Redacting).
    let redact_fn;
    let redacting;
    let src = match &a.redact {
        Some(r) => {
            redact_fn = move |k: &[u8], v: &[u8]| r.redact(k, v).map(|(v, _)| v);
            redacting = sql::Redacting {
                inner: src,
                redact: &redact_fn,
            };
            &redacting as &dyn sql::Source
        }
        None => src,
    };
    let err = |e: sql::Error| match e {
        sql::Error::Io(io) => io_fail(io),
        other => fail(path, &other),
    };
    let summary = match &a.output {
        Some(o) if a.to == SqlTarget::SqliteDb => write_db(src, path, o, opts)?,
        None => {
            sql::check(src, opts).map_err(err)?;
            sql::export(src, &mut *out, opts).map_err(err)?
        }
        Some(o) => {
            let name = o
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "export.sql".into());
            let tmp = o.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
            let result = (|| {
                let file = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, &e))?;
                let mut w = ThreadedWriter::new(file);
                let s = sql::export(src, &mut w, opts).map_err(|e| match e {
                    sql::Error::Io(io) => fail(&tmp, &io),
                    other => fail(path, &other),
                })?;
                let file = w.finish().map_err(|e| fail(&tmp, &e))?;
                file.sync_all().map_err(|e| fail(&tmp, &e))?;
                std::fs::rename(&tmp, o).map_err(|e| fail(o, &e))?;
                Ok(s)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?
        }
    };
    let mut lines = vec![format!(
        "wrote {} bytes of {}, {} rows ({} changes) to {}",
        summary.bytes,
        if a.to == SqlTarget::SqliteDb {
            "SQLite database"
        } else {
            "SQL"
        },
        summary.rows,
        summary.changes,
        a.output
            .as_ref()
            .map(|o| o.display().to_string())
            .unwrap_or_else(|| "stdout".into())
    )];
    if let Some(k) = &summary.kine {
        lines.push(format!(
            "kine {}: current revision {} (MAX(id)), compaction {} (compact_rev_key id {}), {} changes at sub-revisions > 0 renumbered{}",
            sql::KINE_VERSION,
            k.current_revision,
            k.compact_revision,
            k.compact_key_id,
            k.renumbered,
            if k.base > 0 { ", ids shifted by 1 (a change at revision 1)" } else { "" }
        ));
        if k.unrepresentable > 0 {
            lines.push(format!(
                "warning: {} changes of keys that are not UTF-8 text (or hold NUL) cannot be a kine name in PostgreSQL; written as gap rows: {}",
                k.unrepresentable,
                k.unrepresentable_keys.join(", ")
            ));
        }
        if k.missing_leases > 0 {
            lines.push(format!(
                "warning: {} puts name a lease that is not in the lease bucket (lease 0 written)",
                k.missing_leases
            ));
        }
        if k.skipped_nonpositive > 0 {
            lines.push(format!(
                "warning: {} changes at revision <= 0 left out (etcd ignores them too)",
                k.skipped_nonpositive
            ));
        }
    }
    let to_stdout = a.output.is_some();
    for l in lines {
        if to_stdout {
            writeln!(out, "{l}").map_err(io_fail)?;
        } else {
            eprintln!("{l}");
        }
    }
    Ok(())
}

/// `--to sqlite-db`: the database built in a temp file beside OUT (no journal, no syncs while
/// it is built), fsync'd and renamed when complete; removed on any failure.
fn write_db(
    src: &dyn sql::Source,
    path: &Path,
    o: &Path,
    opts: &sql::Options,
) -> Result<sql::Summary, Failure> {
    let name = o
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export.sqlite".into());
    let tmp = o.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let journal = o.with_file_name(format!(".{name}.tmp-{}-journal", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let s = sql::export_sqlite_db(src, &tmp, opts).map_err(|e| match e {
            sql::Error::Io(io) => fail(&tmp, &io),
            e @ sql::Error::Database(_) => fail(o, &e),
            other => fail(path, &other),
        })?;
        let file = std::fs::File::open(&tmp).map_err(|e| fail(&tmp, &e))?;
        file.sync_all().map_err(|e| fail(&tmp, &e))?;
        std::fs::rename(&tmp, o).map_err(|e| fail(o, &e))?;
        Ok(s)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&journal);
    }
    result
}

pub fn run(out: &mut dyn Write, input_path: &Path, a: ExportArgs) -> Result<(), Failure> {
    if a.to == SqlTarget::SqliteDb && a.output.is_none() {
        return Err(Failure::Usage(
            "etcdscope: --to sqlite-db writes a database file: name it with -o OUT.sqlite".into(),
        ));
    }
    if let Some(o) = &a.output {
        refuse_output(input_path, o, a.force)?;
    }
    let opts = sql::Options {
        dialect: match a.to {
            SqlTarget::Sqlite | SqlTarget::SqliteDb => sql::Dialect::Sqlite,
            SqlTarget::Postgres => sql::Dialect::Postgres,
        },
        schema: match a.schema {
            SqlSchema::Etcd => sql::Schema::Etcd,
            SqlSchema::Kine => sql::Schema::Kine,
        },
        inserts: a.inserts,
        with_secrets: a.with_secrets,
        sqlite_name_integer: a.sqlite_name_integer,
        strict_revisions: a.strict_revisions,
        exported_by: format!("etcdscope {}", env!("CARGO_PKG_VERSION")),
    };
    let Some(member) = datadir::find_member(input_path) else {
        let (path, be) = input::open_v3(input_path)?;
        return export_from(out, &be, &path, &opts, &a);
    };
    // A data dir with a WAL: its v2 keys through the migrate mapping.
    let now = a.now.as_deref().map(v2cmd::parse_now).transpose()?;
    let d = datadir::load(&member, &LoadOptions::default())?;
    datadir::print_warnings(&member, &d.report);
    let now_ns = now
        .or(d.report.last_sync_time_ns)
        .unwrap_or_else(v2cmd::system_now);
    let mopts = MigrateOptions {
        ttl: a.ttl,
        include_hidden: a.include_hidden,
        prefix_map: a.prefix_map.clone(),
        now_ns,
        first_lease_id: 1,
    };
    let v3 = crate::produce::db_beside(&member)?;
    let m = Migration::plan(&d.store, mopts, v3.as_ref()).map_err(|e| fail(&member, &e))?;
    let src = sql::MigrationSource {
        migration: &m,
        v3: v3.as_ref(),
        applied_index: d.report.applied_index,
    };
    // Members: the v2 store's /0 (the only record without a v3 db), merged with the v3 db's.
    let membership = d.store.membership();
    let src = sql::WithV2Membership {
        inner: &src,
        membership: &membership,
    };
    export_from(out, &src, &member, &opts, &a)
}
