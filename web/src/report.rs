//! What the worker sends back for an opened input: JSON text made here, in Rust, so that 64-bit
//! numbers stay exact on their way to the page.

use serde::Serialize;
use storage::ReadAt;

use etcd::v3::{Backend, RangeRequest, Status, StatusOptions};

/// Keys listed in the summary (the key browser comes with the full app).
pub const FIRST_KEYS: i64 = 50;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// File name as the user gave it.
    pub name: String,
    /// "v3 snapshot" (SHA-256 trailer present) or "v3 db".
    pub kind: &'static str,
    pub status: Status,
    /// The first keys of the current revision in etcd's order, as text (invalid UTF-8 and
    /// control bytes escaped as `\xNN`).
    pub first_keys: Vec<String>,
}

/// Opens `src` as a v3 backend and summarizes it. The error names the file and, through the
/// reader's typed errors, the page and byte offset.
pub fn summarize<S: ReadAt>(name: &str, src: S) -> Result<Summary, String> {
    let fail = |e: etcd::Error| format!("{name}: {e}");
    let backend = Backend::open(src).map_err(fail)?;
    let status = backend
        .status(StatusOptions {
            verify_trailer: true,
        })
        .map_err(fail)?;
    let mut req = RangeRequest::prefix(b"");
    req.limit = FIRST_KEYS;
    req.keys_only = true;
    let first_keys = backend
        .range(&req)
        .map_err(fail)?
        .kvs
        .iter()
        .map(|kv| escape(&kv.key))
        .collect();
    Ok(Summary {
        name: name.to_string(),
        kind: if backend.stored_trailer().is_some() {
            "v3 snapshot"
        } else {
            "v3 db"
        },
        status,
        first_keys,
    })
}

/// Text for display: valid UTF-8 as is, anything else and control bytes as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    for b in c.to_string().bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_text_and_marks_bytes() {
        assert_eq!(escape(b"/a/b"), "/a/b");
        assert_eq!(escape(b"a\0b\xffc\\"), "a\\x00b\\xffc\\\\");
        assert_eq!(escape("é".as_bytes()), "é");
    }

    #[test]
    fn sample_summary_matches_etcdctl() {
        let bytes = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        let s = summarize("s.db", storage::MemSource::new(bytes.to_vec())).unwrap();
        // etcdctl snapshot status -w json: {"hash":1237376902,"revision":359,"totalKey":338,...}
        assert_eq!(s.status.hash, 1237376902);
        assert_eq!(s.status.revision, 359);
        assert_eq!(s.kind, "v3 snapshot");
        assert_eq!(s.first_keys.len(), FIRST_KEYS as usize);
    }
}
