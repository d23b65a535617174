//! `etcdscope v2`: a node of the rebuilt v2 store, as the v2 API shows it.

use std::io::Write;
use std::path::Path;

use etcd::v2::{GetOptions, LoadOptions};

use crate::datadir;
use crate::input::fail;
use crate::output::io_fail;
use crate::{Failure, SimpleOrJson};

pub struct Options {
    pub recursive: bool,
    pub hidden: bool,
    pub store_path: bool,
    pub now: Option<String>,
    pub write_out: SimpleOrJson,
}

/// `--now`: RFC 3339 to Unix nanoseconds.
pub fn parse_now(s: &str) -> Result<i64, Failure> {
    match etcd::v2::time::parse_rfc3339(s) {
        Ok(Some(ns)) => Ok(ns),
        Ok(None) => Err(Failure::Usage(format!(
            "etcdscope: --now {s:?} is Go's zero time"
        ))),
        Err(e) => Err(Failure::Usage(format!(
            "etcdscope: --now {s:?} is not an RFC 3339 time: {e}"
        ))),
    }
}

pub fn system_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub fn run(out: &mut dyn Write, input: &Path, key: &[u8], o: &Options) -> Result<(), Failure> {
    // Usage errors before any work.
    let now = o.now.as_deref().map(parse_now).transpose()?;
    let member = datadir::member_dir(input)?;
    let d = datadir::load(&member, &LoadOptions::default())?;
    datadir::print_warnings(&member, &d.report);
    let opts = GetOptions {
        recursive: o.recursive,
        include_hidden: o.hidden,
        now_ns: now
            .or(d.report.last_sync_time_ns)
            .unwrap_or_else(system_now),
    };
    let node = if o.store_path {
        d.store.node_at_store_path(key)
    } else {
        d.store.node_at(key)
    };
    let node = node.map_err(|c| {
        fail(
            &member,
            &format!(
                "{}: {} (errorCode {}, store index {})",
                datadir::show(key),
                c.message(),
                c.number(),
                d.store.current_index()
            ),
        )
    })?;
    let r = print(out, &node, &opts, o.write_out);
    // Freeing a million small buffers one by one takes longer than printing them; the process
    // ends right after this.
    std::mem::forget(d);
    r
}

fn print(
    out: &mut dyn Write,
    node: &etcd::v2::NodeRef<'_>,
    opts: &GetOptions,
    write_out: SimpleOrJson,
) -> Result<(), Failure> {
    let opts = *opts;
    match write_out {
        SimpleOrJson::Json => {
            // etcd's exact bytes, streamed.
            out.write_all(br#"{"action":"get","node":"#)
                .map_err(io_fail)?;
            let mut w = &mut *out;
            node.write_json_parallel(&mut w, &opts).map_err(io_fail)?;
            out.write_all(b"}\n").map_err(io_fail)
        }
        SimpleOrJson::Simple => node.walk(&opts, |v, _depth| {
            // Directories as `KEY/`, files as `KEY` and the value on the next line, bytes as
            // they are.
            let key: &[u8] = if v.key.is_empty() { b"/" } else { &v.key };
            if v.dir {
                out.write_all(key).map_err(io_fail)?;
                if key.last() != Some(&b'/') {
                    out.write_all(b"/").map_err(io_fail)?;
                }
                out.write_all(b"\n").map_err(io_fail)
            } else {
                out.write_all(key).map_err(io_fail)?;
                out.write_all(b"\n").map_err(io_fail)?;
                out.write_all(v.value.as_deref().unwrap_or(&[]))
                    .map_err(io_fail)?;
                out.write_all(b"\n").map_err(io_fail)
            }
        }),
    }
}
