//! `etcdscope migrate` and `etcdscope rewrite`: new v3 snapshot files.
//!
//! Both write to `OUT.tmp-<pid>` beside OUT and rename it when complete, so a failure never
//! leaves a partial file under the final name; both refuse an existing OUT unless `--force`,
//! and refuse an OUT inside the input directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use etcd::migrate::{MigrateOptions, Migration, TtlMode};
use etcd::v2::LoadOptions;
use etcd::v3::rewrite::{rewrite_mapped, RewriteOptions, ValueMap};
use etcd::v3::write::{write_backend, NewBackend};
use etcd::v3::Backend;
use storage::FileSource;

use crate::input::fail;
use crate::output::io_fail;
use crate::{datadir, input, v2cmd, Failure};

/// Where and how to write.
pub struct OutputOptions {
    pub out: PathBuf,
    pub force: bool,
    pub report: Option<PathBuf>,
}

/// Refuses an output that exists (without `force`) or lies inside `input`.
fn check_output(input: &Path, o: &OutputOptions) -> Result<(), Failure> {
    if o.out.exists() && !o.force {
        return Err(Failure::Usage(format!(
            "etcdscope: {} exists (use --force to replace it)",
            o.out.display()
        )));
    }
    if o.out.is_dir() {
        return Err(Failure::Usage(format!(
            "etcdscope: {} is a directory; -o names the snapshot file to write",
            o.out.display()
        )));
    }
    let parent = match o.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent.canonicalize().map_err(|e| fail(&parent, &e))?;
    let input_dir = if input.is_dir() {
        input.to_path_buf()
    } else {
        input.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    if input.is_dir() {
        if let Ok(inp) = input_dir.canonicalize() {
            if parent.starts_with(&inp) {
                return Err(Failure::Usage(format!(
                    "etcdscope: {} is inside the input {}; write the snapshot elsewhere",
                    o.out.display(),
                    input.display()
                )));
            }
        }
    }
    Ok(())
}

/// Writes `content` (with the SHA-256 trailer) to a temp file beside OUT, then renames it.
fn write_out(content: &NewBackend<'_>, o: &OutputOptions) -> Result<bbolt::WriteSummary, Failure> {
    let name = o
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot.db".into());
    let tmp = o
        .out
        .with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, &e))?;
        let summary = std::thread::scope(|sc| {
            // (The writer buffers its output itself.)
            let mut w = SyncBehind::new(&file, sc);
            let summary = write_backend(content, &mut w, true).map_err(|e| fail(&o.out, &e))?;
            w.flush().map_err(|e| fail(&tmp, &e))?;
            Ok::<_, Failure>(summary)
        })?;
        file.sync_all().map_err(|e| fail(&tmp, &e))?;
        std::fs::rename(&tmp, &o.out).map_err(|e| fail(&o.out, &e))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A file writer that has the data written so far flushed to disk by a second thread every
/// [`SyncBehind::EVERY`] bytes, so the disk works while the snapshot is being built instead of
/// all at the final `sync_all` (the kernel would otherwise keep hundreds of MB dirty).
struct SyncBehind<'f> {
    file: &'f std::fs::File,
    since_sync: u64,
    tx: Option<std::sync::mpsc::SyncSender<()>>,
}

impl<'f> SyncBehind<'f> {
    const EVERY: u64 = 32 << 20;

    fn new<'s>(file: &'f std::fs::File, sc: &'s std::thread::Scope<'s, '_>) -> Self
    where
        'f: 's,
    {
        // One pending request at most: a sync covers everything written before it.
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        sc.spawn(move || {
            while rx.recv().is_ok() {
                // An error here shows again at the final sync_all, which is checked.
                let _ = file.sync_data();
            }
        });
        SyncBehind {
            file,
            since_sync: 0,
            tx: Some(tx),
        }
    }
}

impl Write for SyncBehind<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&mut &*self.file).write(buf)?;
        self.since_sync += n as u64;
        if self.since_sync >= Self::EVERY {
            self.since_sync = 0;
            if let Some(tx) = &self.tx {
                let _ = tx.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Ends the syncing thread (the scope waits for it).
        self.tx = None;
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_report_file(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let file = std::fs::File::create(path).map_err(|e| fail(path, &e))?;
    let mut w = std::io::BufWriter::new(file);
    f(&mut w).map_err(|e| fail(path, &e))?;
    w.flush().map_err(|e| fail(path, &e))
}

/// The v3 db beside a data dir's WAL (`member/snap/db`), opened, if there is one.
pub fn db_beside(member: &Path) -> Result<Option<Backend<FileSource>>, Failure> {
    let db_path = member.join("snap").join("db");
    if !db_path.is_file() {
        return Ok(None);
    }
    let src = FileSource::open(&db_path).map_err(|e| fail(&db_path, &e))?;
    Ok(Some(Backend::open(src).map_err(|e| fail(&db_path, &e))?))
}

/// `migrate` settings from the command line.
pub struct MigrateArgs {
    pub ttl: TtlMode,
    pub include_hidden: bool,
    pub prefix_map: Vec<(Vec<u8>, Vec<u8>)>,
    pub now: Option<String>,
    /// `--redact`: values passed through this on their way into the snapshot.
    pub redact: Option<kube::redact::Redactor>,
}

pub fn migrate(
    out: &mut dyn Write,
    input: &Path,
    args: MigrateArgs,
    o: &OutputOptions,
) -> Result<(), Failure> {
    let now = args.now.as_deref().map(v2cmd::parse_now).transpose()?;
    check_output(input, o)?;
    let member = datadir::member_dir(input)?;
    // The snapshot's values wait in temporary files beside the output (unlinked at once),
    // not in memory: the writer reads them back in revision order, a file at a time.
    let spill_dir = match o.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let d = datadir::load_spilling(&member, &LoadOptions::default(), Some(spill_dir))?;
    datadir::print_warnings(&member, &d.report);
    let now_ns = now
        .or(d.report.last_sync_time_ns)
        .unwrap_or_else(v2cmd::system_now);
    let opts = MigrateOptions {
        ttl: args.ttl,
        include_hidden: args.include_hidden,
        prefix_map: args.prefix_map,
        now_ns,
        first_lease_id: 1,
    };
    // An existing v3 backend: its buckets are kept; a non-empty keyspace keeps its revisions
    // and the v2 keys go above them.
    let v3 = db_beside(&member)?;
    let m = Migration::plan(&d.store, opts, v3.as_ref()).map_err(|e| fail(&member, &e))?;
    let redact = args.redact.as_ref();
    let f = |k: &[u8], v: &[u8]| redact.and_then(|r| r.redact(k, v)).map(|(v, _)| v);
    let map = ValueMap::new(&f);
    let content = m
        .content_mapped(v3.as_ref(), d.report.applied_index, redact.map(|_| &map))
        .map_err(|e| fail(&member, &e))?;
    let summary = write_out(&content, o)?;
    if let Some(r) = &o.report {
        let input_s = input.display().to_string();
        write_report_file(r, |w| m.write_report(w, &input_s))?;
    }
    let c = &m.counts;
    writeln!(
        out,
        "migrated {} v2 keys to {} ({} bytes, sha256 {})",
        c.migrated,
        o.out.display(),
        summary.bytes,
        summary.sha256.map(|h| hex(&h)).unwrap_or_default()
    )
    .map_err(io_fail)?;
    writeln!(
        out,
        "v2: {} files, {} dirs; skipped: {} hidden, {} with a TTL (--no-ttl), {} expired; {} leases created",
        c.v2_files, c.v2_dirs, c.skipped_hidden, c.skipped_ttl, c.skipped_expired, c.leases
    )
    .map_err(io_fail)?;
    if m.v3_head > 0 {
        writeln!(
            out,
            "v3: kept {} revisions of the existing keyspace (head {}); v2 keys added at revisions {}..{}, {} of them update a live v3 key",
            c.v3_revisions_kept,
            m.v3_head,
            m.v3_head + 1,
            m.v3_head + c.migrated as i64,
            c.v3_keys_updated
        )
        .map_err(io_fail)?;
    }
    if redact.is_some() {
        writeln!(
            out,
            "redacted {} value(s) (Secret data, --redact-prefix)",
            map.replaced.load(std::sync::atomic::Ordering::Relaxed)
        )
        .map_err(io_fail)?;
    }
    writeln!(
        out,
        "restore with: etcdctl snapshot restore {} --data-dir NEW_DIR",
        o.out.display()
    )
    .map_err(io_fail)?;
    // Freeing a million small buffers one by one takes longer than the process exit.
    drop(content);
    drop(m);
    std::mem::forget(d);
    Ok(())
}

pub fn rewrite_cmd(
    out: &mut dyn Write,
    input_path: &Path,
    opts: &RewriteOptions,
    o: &OutputOptions,
    redact: Option<&kube::redact::Redactor>,
) -> Result<(), Failure> {
    check_output(input_path, o)?;
    let (path, be) = input::open_v3(input_path)?;
    let f = |k: &[u8], v: &[u8]| redact.and_then(|r| r.redact(k, v)).map(|(v, _)| v);
    let map = ValueMap::new(&f);
    let (content, report) =
        rewrite_mapped(&be, opts, redact.map(|_| &map)).map_err(|e| fail(&path, &e))?;
    let summary = write_out(&content, o)?;
    if let Some(r) = &o.report {
        write_report_file(r, |w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)
        })?;
    }
    writeln!(
        out,
        "kept {} of {} revisions ({} keys) up to revision {}; wrote {} ({} bytes, sha256 {})",
        report.kept_entries,
        report.source_entries,
        report.kept_keys,
        report.at_revision,
        o.out.display(),
        summary.bytes,
        summary.sha256.map(|h| hex(&h)).unwrap_or_default()
    )
    .map_err(io_fail)?;
    writeln!(
        out,
        "after restore etcd reports revision {}{}",
        report.new_revision,
        report
            .compacted_at
            .map(|c| format!(", compacted at {c}"))
            .unwrap_or_default()
    )
    .map_err(io_fail)?;
    if redact.is_some() {
        writeln!(
            out,
            "redacted {} value(s) (Secret data, --redact-prefix)",
            map.replaced.load(std::sync::atomic::Ordering::Relaxed)
        )
        .map_err(io_fail)?;
    }
    Ok(())
}
