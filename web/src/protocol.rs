//! Messages between the UI thread and the worker.
//!
//! Plain JS objects with a `kind` string, so they survive `postMessage` structured cloning (a
//! `File` inside the object is passed by reference, never copied). Answers carry JSON text made
//! in Rust (64-bit numbers exact; keys and values as base64).

/// UI → worker: open a user-picked file (`file`).
pub const OPEN_FILE: &str = "open-file";
/// UI → worker: open a folder's files (`files`: File[], `paths`: relative paths, `name`).
pub const OPEN_FILES: &str = "open-files";
/// UI → worker: open the embedded sample.
pub const OPEN_SAMPLE: &str = "open-sample";
/// UI → worker: a question about the open input (`what`, `key` base64, `offset`, `limit`,
/// `reveal` Secret data, `ns` base64 namespace or null).
pub const QUERY: &str = "query";
/// UI → worker: build a snapshot file for download (`latestOnly`, `redact`: Secret data
/// replaced by `<redacted>`).
pub const SNAPSHOT: &str = "snapshot";

/// UI → worker: build a SQL file for download (`dialect` sqlite|postgres, `schema` etcd|kine,
/// `redact`).
pub const SQL: &str = "sql";

/// UI → worker: load (`text`) or forget (no `text`) the EncryptionConfiguration; it stays in the
/// worker's memory only. Answered with an ANSWER `encryption` (`describe` or `error`).
pub const ENCRYPTION: &str = "encryption";
/// UI → worker: download a held revision of a key (`key` base64, `main`, `sub`, `format`
/// raw|yaml|json, `reveal`).
pub const K8S_EXPORT: &str = "k8s-export";
/// Page → worker: the keys shown (a tree level: `key` is its prefix, base64; or the search
/// `mode`/`pattern`) with their values, as `etcdctl get -w json` prints them; `redact`.
pub const JSON: &str = "json";

/// UI → worker: build the input's SQLite database (etcd schema) in sql.js and download it.
pub const SQLITE: &str = "sqlite";
/// UI → worker: run SQL (`sql`, `limit` rows) on that database (built first if needed).
pub const SQL_QUERY: &str = "sql-query";

/// Worker → UI: a long job's progress (`label`, `done` and `total` bytes; total 0 = unknown).
pub const PROGRESS: &str = "progress";
/// Worker → UI: the worker has started and is ready for requests.
pub const READY: &str = "ready";
/// Worker → UI: a summary of the opened input (`json` = JSON text, `name`).
pub const SUMMARY: &str = "summary";
/// Worker → UI: the SHA-256 trailer's state, hashed after the summary was sent (`json`).
pub const TRAILER: &str = "trailer";
/// Worker → UI: the answer to a query (`what`, `json`).
pub const ANSWER: &str = "answer";
/// Worker → UI: a file to save (`name`, `blob`, `message`).
pub const DOWNLOAD: &str = "download";
/// Worker → UI: the request failed (`message`, `name`).
pub const FAILED: &str = "failed";
