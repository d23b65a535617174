//! `etcdscope`: read etcd data offline. Flags and glue only; the formats live in the library
//! crates.
//!
//! Exit codes: 0 ok, 1 input damaged or unreadable (or a request the data cannot answer, such
//! as a compacted revision, as etcdctl does), 2 usage error.

mod datadir;
mod export;
mod input;
mod k8s;
mod output;
mod produce;
mod v2cmd;
mod walcmd;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use etcd::v3::{RangeRequest, StatusOptions};

#[derive(Parser)]
#[command(
    name = "etcdscope",
    version,
    about = "Read etcd snapshots, db files and data directories offline"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum TableOrJson {
    Table,
    Json,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum TtlArg {
    Keep,
    Drop,
    Lease,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum SimpleOrJson {
    Simple,
    Json,
}

/// Entry kinds for `wal --type`.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum EntryKind {
    V2,
    V3,
    Conf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Summary of a v3 db: etcdctl's hash/revision/totalKey/totalSize, plus keys, history,
    /// leases, buckets, pages and integrity. For a data dir with member/wal: cluster, members,
    /// raft state, snapshot, v2 store and WAL, then the v3 db when there is one.
    Status {
        /// Snapshot file, raw db file, or a data dir (or its member dir).
        input: PathBuf,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
        /// Do not hash the file to check the SHA-256 trailer.
        #[arg(long)]
        no_verify: bool,
    },
    /// Keys and values at a revision, with etcdctl get's semantics and output.
    Get {
        input: PathBuf,
        /// The key (or prefix with --prefix). Empty with --prefix: every key.
        key: Option<std::ffi::OsString>,
        /// End of the range [key, range_end).
        range_end: Option<std::ffi::OsString>,
        #[arg(long)]
        prefix: bool,
        /// Every key >= KEY.
        #[arg(long)]
        from_key: bool,
        /// Read at this revision (0 = current).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        #[arg(long)]
        keys_only: bool,
        #[arg(long)]
        count_only: bool,
        #[arg(long)]
        print_value_only: bool,
        /// At most this many keys (0 = no limit).
        #[arg(long, default_value_t = 0)]
        limit: i64,
        /// KEY and RANGE_END are hex (for keys with NUL or other bytes a shell cannot pass).
        #[arg(long)]
        hex: bool,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
        write_out: SimpleOrJson,
    },
    /// Every held revision of a key, deletes included.
    History {
        input: PathBuf,
        key: std::ffi::OsString,
        /// KEY is hex.
        #[arg(long)]
        hex: bool,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// Leases and the keys attached to them.
    Leases {
        input: PathBuf,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// Kubernetes: `etcdscope k8s INPUT analyze` (what fills the db, by resource type and
    /// namespace, largest objects, keys with the most revisions).
    K8s {
        /// Snapshot file, raw db file, or a data dir.
        input: PathBuf,
        #[command(subcommand)]
        cmd: K8sCmd,
    },
    /// Members recorded in the backend (members, members_removed, cluster version).
    Members {
        input: PathBuf,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// The v2 store of a data dir (snapshot + WAL replay), as `GET /v2/keys/PATH?sorted=true`
    /// answers.
    V2 {
        /// Data dir, its member dir, or a dir holding member/.
        input: PathBuf,
        /// The v2 key (default `/`).
        path: Option<std::ffi::OsString>,
        /// List the whole subtree.
        #[arg(long)]
        recursive: bool,
        /// Also list hidden nodes (names starting with `_`).
        #[arg(long)]
        hidden: bool,
        /// PATH is a raw store path (`/0/members`, `/2/users`, `/`), not a v2 API key.
        #[arg(long)]
        store_path: bool,
        /// PATH is hex.
        #[arg(long)]
        hex: bool,
        /// "Now" for ttl (RFC 3339). Default: the time of the last SYNC in the WAL, else
        /// the system clock.
        #[arg(long)]
        now: Option<String>,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
        write_out: SimpleOrJson,
    },
    /// The decoded WAL timeline: one row per entry.
    Wal {
        input: PathBuf,
        /// Start at this raft index.
        #[arg(long)]
        from: Option<u64>,
        /// Only entries of this kind.
        #[arg(long = "type", value_enum)]
        kind: Option<EntryKind>,
        /// table, or json (one JSON object per line).
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// Verifies a data dir: every WAL frame and CRC, every .snap, the v3 db; exits 1 when
    /// anything is damaged or when the v2 store holds data besides membership (etcd 3.6
    /// refuses to start on such a store).
    Check {
        input: PathBuf,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// v2 → v3: a snapshot file of the v2 keys of a data dir that `etcdctl snapshot restore`
    /// accepts. Default = what `etcdctl migrate` (3.4) gives, with values byte-exact.
    Migrate {
        /// Data dir (holding member/wal), or its member dir.
        input: PathBuf,
        /// The snapshot file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Leave out keys that still have a TTL (etcdctl migrate --no-ttl).
        #[arg(long, conflicts_with = "ttl")]
        no_ttl: bool,
        /// Keys with a TTL: keep (permanent, as etcdctl), drop, or lease (a real lease with the
        /// seconds left at --now attached to the key).
        #[arg(long, value_enum)]
        ttl: Option<TtlArg>,
        /// Also migrate hidden nodes (names starting with `_`).
        #[arg(long)]
        include_hidden: bool,
        /// OLD=NEW: keys starting with OLD start with NEW instead (repeatable; first match wins).
        #[arg(long = "prefix-map")]
        prefix_map: Vec<std::ffi::OsString>,
        /// "Now" for TTLs (RFC 3339). Default: the last SYNC in the WAL, else the clock.
        #[arg(long)]
        now: Option<String>,
        /// Also write the verification report (every key and what it became) as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Replace the data of Kubernetes Secrets (JSON or protobuf) with "<redacted>" in the
        /// output (for sharing it).
        #[arg(long)]
        redact: bool,
        /// Replace the whole value of keys under this prefix (the v3 key) with "<redacted>"
        /// (repeatable).
        #[arg(long, value_name = "PREFIX")]
        redact_prefix: Vec<std::ffi::OsString>,
    },
    /// A new snapshot from a v3 snapshot/db: a subset of keys and/or only the latest revisions
    /// (offline compaction and defragmentation).
    Rewrite {
        input: PathBuf,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Keep only keys starting with this (repeatable).
        #[arg(long)]
        prefix: Vec<std::ffi::OsString>,
        /// Drop keys starting with this (repeatable; wins over --prefix).
        #[arg(long)]
        exclude: Vec<std::ffi::OsString>,
        /// Keep only each key's latest revision (deleted keys dropped); the result is compacted
        /// at --at-rev.
        #[arg(long)]
        latest_only: bool,
        /// Drop revisions above this one (default: the current revision).
        #[arg(long, default_value_t = 0)]
        at_rev: i64,
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long)]
        force: bool,
        /// Replace the data of Kubernetes Secrets with "<redacted>" (for sharing a dump; the
        /// result still decodes and restores).
        #[arg(long)]
        redact: bool,
        /// Replace the whole value of keys under this prefix with "<redacted>" (repeatable).
        #[arg(long, value_name = "PREFIX")]
        redact_prefix: Vec<std::ffi::OsString>,
    },
    /// SQL for SQLite or PostgreSQL: the etcd schema (current keys, history, leases, members,
    /// meta, auth) or kine's (k3s). A data dir with member/wal goes through the migrate mapping.
    Export {
        /// Snapshot file, raw db file, or a data dir (with member/wal: its v2 keys too).
        input: PathBuf,
        /// The database the script is for; sqlite-db: a ready SQLite database file (needs -o).
        #[arg(long = "to", value_enum)]
        to: export::SqlTarget,
        #[arg(long, value_enum, default_value = "etcd")]
        schema: export::SqlSchema,
        /// Write here (temp file + rename) instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// PostgreSQL: INSERT statements instead of COPY FROM stdin.
        #[arg(long)]
        inserts: bool,
        /// etcd schema: include the bcrypt password hashes of auth users.
        #[arg(long)]
        with_secrets: bool,
        /// kine schema, SQLite: declare `name INTEGER` as kine before v0.16.3 did.
        #[arg(long)]
        sqlite_name_integer: bool,
        /// kine schema: refuse a revision with several changes instead of renumbering ids.
        #[arg(long)]
        strict_revisions: bool,
        /// v2 data dirs: leave out keys that still have a TTL (as migrate --no-ttl).
        #[arg(long, conflicts_with = "ttl")]
        no_ttl: bool,
        /// v2 data dirs: keys with a TTL: keep, drop, or lease (as migrate).
        #[arg(long, value_enum)]
        ttl: Option<TtlArg>,
        /// v2 data dirs: also hidden nodes.
        #[arg(long)]
        include_hidden: bool,
        /// v2 data dirs: OLD=NEW key prefix renames (as migrate).
        #[arg(long = "prefix-map")]
        prefix_map: Vec<std::ffi::OsString>,
        /// v2 data dirs: "now" for TTLs (RFC 3339).
        #[arg(long)]
        now: Option<String>,
        /// Replace the data of Kubernetes Secrets with "<redacted>" (for sharing a dump; the
        /// result still decodes and restores).
        #[arg(long)]
        redact: bool,
        /// Replace the whole value of keys under this prefix with "<redacted>" (repeatable).
        #[arg(long, value_name = "PREFIX")]
        redact_prefix: Vec<std::ffi::OsString>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Auth state: enabled, revision, users and roles (no password hashes unless asked).
    Auth {
        input: PathBuf,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
        /// Include bcrypt password hashes.
        #[arg(long)]
        with_secrets: bool,
    },
}

/// A failure to report. The message already names the file.
#[derive(Debug)]
pub enum Failure {
    /// Damaged or unreadable input, or a request the data cannot answer: exit 1.
    Input(String),
    /// Wrong arguments: exit 2.
    Usage(String),
    /// stdout closed (e.g. `| head`): exit quietly.
    BrokenPipe,
}

fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// A key argument: its bytes as given, or decoded from hex.
fn key_arg(s: &std::ffi::OsStr, hex: bool) -> Result<Vec<u8>, Failure> {
    let raw = os_bytes(s);
    if !hex {
        return Ok(raw);
    }
    let bad = || Failure::Usage(format!("etcdscope: {:?} is not hex", s));
    if raw.len() % 2 != 0 {
        return Err(bad());
    }
    raw.chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            match (d(p[0]), d(p[1])) {
                (Some(a), Some(b)) => Ok((a * 16 + b) as u8),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// `--no-ttl` / `--ttl keep|drop|lease` (migrate and export).
fn ttl_mode(no_ttl: bool, ttl: Option<TtlArg>) -> etcd::migrate::TtlMode {
    match (no_ttl, ttl) {
        (true, _) | (_, Some(TtlArg::Drop)) => etcd::migrate::TtlMode::Drop,
        (_, Some(TtlArg::Lease)) => etcd::migrate::TtlMode::Lease,
        _ => etcd::migrate::TtlMode::Keep,
    }
}

/// `--prefix-map OLD=NEW` arguments as byte pairs.
fn prefix_map_arg(maps: &[std::ffi::OsString]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, Failure> {
    maps.iter()
        .map(|m| {
            let b = os_bytes(m);
            match b.iter().position(|&c| c == b'=') {
                Some(i) => Ok((b[..i].to_vec(), b[i + 1..].to_vec())),
                None => Err(Failure::Usage(format!(
                    "etcdscope: --prefix-map {m:?} is not OLD=NEW"
                ))),
            }
        })
        .collect()
}

/// Standard output without the line buffering of `std::io::Stdout` (which searches every
/// write for a newline): the same descriptor as a file, behind our own buffer.
fn stdout_writer() -> Box<dyn Write> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(std::io::stdout().lock())
}

#[derive(Subcommand)]
enum K8sCmd {
    /// What fills the db: objects, deleted objects still held, revisions, live and history bytes
    /// by resource type and by namespace; the largest objects; the keys with the most revisions;
    /// free pages.
    Analyze {
        /// Rows per table and entries per top list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// The apiserver's --etcd-prefix.
        #[arg(long, default_value = "/registry")]
        prefix: std::ffi::OsString,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
    },
    /// Objects deleted but still held in the history (not compacted yet): the last revision of
    /// each, optionally written to files that `etcdctl put KEY < FILE` puts back.
    Deleted {
        /// Only this resource type (pods, nodes, widgets.example.com, or a key prefix such as
        /// minions).
        resource: Option<String>,
        #[arg(short = 'n', long)]
        namespace: Option<std::ffi::OsString>,
        /// Write each object's last held value to DIR/TYPE/NAMESPACE/NAME@REVISION.EXT.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// raw: as stored (k8s protobuf, JSON or encrypted; `etcdctl put KEY < FILE` puts it
        /// back); yaml or json: decoded, as kubectl shows it.
        #[arg(long, value_enum, default_value = "raw")]
        export_format: k8s::ExportFormat,
        /// The apiserver's --etcd-prefix.
        #[arg(long, default_value = "/registry")]
        prefix: std::ffi::OsString,
        #[arg(short = 'w', long = "write-out", value_enum, default_value = "table")]
        write_out: TableOrJson,
        /// With --export-format raw: Secret data replaced by "<redacted>" (for sharing).
        #[arg(long)]
        redact: bool,
        /// With --export-format raw: whole values under this prefix replaced (repeatable).
        #[arg(long, value_name = "PREFIX")]
        redact_prefix: Vec<std::ffi::OsString>,
        #[command(flatten)]
        decode: DecodeFlags,
    },
    /// Objects as kubectl shows them: `get pods`, `get deploy -n kube-system`,
    /// `get secret mysecret -n default -o yaml`. Secret data is masked unless --reveal-secrets.
    Get {
        /// Resource type: plural, singular or short name (pods, pod, po), with a group for
        /// custom resources (widgets.example.com), a key prefix (minions, services/specs), or
        /// `all` for every object.
        resource: String,
        /// Only the object of this name.
        name: Option<std::ffi::OsString>,
        /// Only this namespace (default: all namespaces).
        #[arg(short = 'n', long)]
        namespace: Option<std::ffi::OsString>,
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: k8s::GetFormat,
        /// Read at this revision (0 = current).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// The apiserver's --etcd-prefix.
        #[arg(long, default_value = "/registry")]
        prefix: std::ffi::OsString,
        #[command(flatten)]
        decode: DecodeFlags,
    },
}

/// Decryption and masking, for the commands that show Kubernetes objects.
#[derive(clap::Args)]
struct DecodeFlags {
    /// The cluster's EncryptionConfiguration (YAML or JSON), to decrypt values encrypted at rest
    /// with aescbc, aesgcm or secretbox. Read into memory only.
    #[arg(long, value_name = "FILE")]
    encryption_config: Option<PathBuf>,
    /// Show Secret data (masked by default).
    #[arg(long)]
    reveal_secrets: bool,
    /// Mask the whole value of keys under this prefix too (repeatable).
    #[arg(long, value_name = "PREFIX")]
    mask_prefix: Vec<std::ffi::OsString>,
}

/// `--redact` / `--redact-prefix`: what an export takes out (None: nothing).
fn redactor(secrets: bool, prefixes: &[std::ffi::OsString]) -> Option<kube::redact::Redactor> {
    (secrets || !prefixes.is_empty()).then(|| kube::redact::Redactor {
        secrets,
        prefixes: prefixes.iter().map(|p| os_bytes(p)).collect(),
    })
}

impl DecodeFlags {
    fn args(self) -> Result<k8s::DecodeArgs, Failure> {
        k8s::DecodeArgs::new(
            self.encryption_config.as_deref(),
            self.reveal_secrets,
            self.mask_prefix.iter().map(|p| os_bytes(p)).collect(),
        )
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout_writer());
    match cli.cmd {
        Cmd::Status {
            input,
            write_out,
            no_verify,
        } => {
            if let Some(member) = datadir::find_member(&input) {
                return datadir::status(&mut out, &member, write_out, !no_verify)
                    .and_then(|()| out.flush().map_err(output::io_fail));
            }
            let (path, be) = input::open_v3(&input)?;
            let st = be
                .status_threaded(StatusOptions {
                    verify_trailer: !no_verify,
                })
                .map_err(|e| input::fail(&path, &e))?;
            output::status(&mut out, &st, write_out)
        }
        Cmd::Get {
            input,
            key,
            range_end,
            prefix,
            from_key,
            rev,
            keys_only,
            count_only,
            print_value_only,
            limit,
            hex,
            write_out,
        } => {
            let key = match key {
                Some(k) => key_arg(&k, hex)?,
                None => Vec::new(),
            };
            let mut req = if prefix {
                RangeRequest::prefix(&key)
            } else if from_key {
                let k = if key.is_empty() { vec![0] } else { key };
                RangeRequest {
                    key: k,
                    range_end: vec![0],
                    ..Default::default()
                }
            } else {
                if key.is_empty() {
                    return Err(Failure::Usage(
                        "etcdscope get: a KEY is required (or --prefix / --from-key)".into(),
                    ));
                }
                let end = match range_end {
                    Some(e) => key_arg(&e, hex)?,
                    None => Vec::new(),
                };
                RangeRequest {
                    key,
                    range_end: end,
                    ..Default::default()
                }
            };
            req.revision = rev;
            req.limit = limit;
            req.keys_only = keys_only;
            req.count_only = count_only;
            let (path, be) = input::open_v3(&input)?;
            let res = be.range(&req).map_err(|e| input::fail(&path, &e))?;
            let r = output::get(&mut out, &res, write_out, print_value_only);
            // Freeing a million small buffers one by one takes longer than printing them; the
            // process ends right after this.
            std::mem::forget(res);
            r
        }
        Cmd::History {
            input,
            key,
            hex,
            write_out,
        } => {
            let key = key_arg(&key, hex)?;
            let (path, be) = input::open_v3(&input)?;
            let h = be.history(&key).map_err(|e| input::fail(&path, &e))?;
            output::history(&mut out, &h, write_out)
        }
        Cmd::Leases { input, write_out } => {
            let (path, be) = input::open_v3(&input)?;
            let l = be.leases().map_err(|e| input::fail(&path, &e))?;
            output::leases(&mut out, &l, write_out)
        }
        Cmd::K8s {
            input,
            cmd:
                K8sCmd::Analyze {
                    top,
                    prefix,
                    write_out,
                },
        } => k8s::analyze(
            &mut out,
            &input,
            &k8s::AnalyzeOptions {
                top,
                prefix: os_bytes(&prefix),
                write_out,
            },
        )
        .and_then(|()| out.flush().map_err(output::io_fail)),
        Cmd::K8s {
            input,
            cmd:
                K8sCmd::Deleted {
                    resource,
                    namespace,
                    export,
                    export_format,
                    prefix,
                    write_out,
                    decode,
                    redact,
                    redact_prefix,
                },
        } => k8s::deleted(
            &mut out,
            &input,
            &k8s::DeletedOptions {
                resource,
                namespace: namespace.as_deref().map(os_bytes),
                export,
                export_format,
                prefix: os_bytes(&prefix),
                write_out,
                decode: decode.args()?,
                redact: redactor(redact, &redact_prefix),
            },
        )
        .and_then(|()| out.flush().map_err(output::io_fail)),
        Cmd::K8s {
            input,
            cmd:
                K8sCmd::Get {
                    resource,
                    name,
                    namespace,
                    output,
                    rev,
                    prefix,
                    decode,
                },
        } => k8s::get(
            &mut out,
            &input,
            &k8s::GetOptions {
                resource,
                name: name.as_deref().map(os_bytes),
                namespace: namespace.as_deref().map(os_bytes),
                output,
                rev,
                prefix: os_bytes(&prefix),
                decode: decode.args()?,
            },
        )
        .and_then(|()| out.flush().map_err(output::io_fail)),
        Cmd::Members { input, write_out } => {
            let (path, be) = input::open_v3(&input)?;
            let m = be.members().map_err(|e| input::fail(&path, &e))?;
            output::members(&mut out, &m, write_out)
        }
        Cmd::V2 {
            input,
            path,
            recursive,
            hidden,
            store_path,
            hex,
            now,
            write_out,
        } => {
            let key = match path {
                Some(p) => key_arg(&p, hex)?,
                None => b"/".to_vec(),
            };
            let opts = v2cmd::Options {
                recursive,
                hidden,
                store_path,
                now,
                write_out,
            };
            v2cmd::run(&mut out, &input, &key, &opts)
        }
        Cmd::Wal {
            input,
            from,
            kind,
            write_out,
        } => walcmd::run(&mut out, &input, from, kind, write_out),
        Cmd::Check { input, write_out } => datadir::check(&mut out, &input, write_out),
        Cmd::Migrate {
            input,
            output,
            no_ttl,
            ttl,
            include_hidden,
            prefix_map,
            now,
            report,
            force,
            redact,
            redact_prefix,
        } => {
            let ttl = ttl_mode(no_ttl, ttl);
            let prefix_map = prefix_map_arg(&prefix_map)?;
            let args = produce::MigrateArgs {
                ttl,
                include_hidden,
                prefix_map,
                now,
                redact: redactor(redact, &redact_prefix),
            };
            let o = produce::OutputOptions {
                out: output,
                force,
                report,
            };
            produce::migrate(&mut out, &input, args, &o)
        }
        Cmd::Rewrite {
            input,
            output,
            prefix,
            exclude,
            latest_only,
            at_rev,
            report,
            force,
            redact,
            redact_prefix,
        } => {
            let opts = etcd::v3::rewrite::RewriteOptions {
                prefixes: prefix.iter().map(|p| os_bytes(p)).collect(),
                exclude: exclude.iter().map(|p| os_bytes(p)).collect(),
                latest_only,
                at_rev,
            };
            let o = produce::OutputOptions {
                out: output,
                force,
                report,
            };
            let redactor = redactor(redact, &redact_prefix);
            produce::rewrite_cmd(&mut out, &input, &opts, &o, redactor.as_ref())
        }
        Cmd::Export {
            input,
            to,
            schema,
            output,
            inserts,
            with_secrets,
            sqlite_name_integer,
            strict_revisions,
            no_ttl,
            ttl,
            include_hidden,
            prefix_map,
            now,
            force,
            redact,
            redact_prefix,
        } => {
            let ttl = ttl_mode(no_ttl, ttl);
            let prefix_map = prefix_map_arg(&prefix_map)?;
            let a = export::ExportArgs {
                to,
                schema,
                output,
                force,
                inserts,
                with_secrets,
                sqlite_name_integer,
                strict_revisions,
                ttl,
                include_hidden,
                prefix_map,
                now,
                redact: redactor(redact, &redact_prefix),
            };
            export::run(&mut out, &input, a)
        }
        Cmd::Auth {
            input,
            write_out,
            with_secrets,
        } => {
            let (path, be) = input::open_v3(&input)?;
            let a = be.auth(with_secrets).map_err(|e| input::fail(&path, &e))?;
            output::auth(&mut out, &a, write_out)
        }
    }
    .and_then(|()| out.flush().map_err(output::io_fail))
}

fn main() -> ExitCode {
    // clap exits with 2 on usage errors by itself.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
    }
}
