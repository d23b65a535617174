//! Messages between the UI thread and the worker.
//!
//! Kept as plain JS objects with a `kind` string so they survive `postMessage` structured cloning
//! (a `File` inside the object is passed by reference, never copied).

/// UI → worker: open a user-picked file.
pub const OPEN_FILE: &str = "open-file";
/// UI → worker: open the embedded sample.
pub const OPEN_SAMPLE: &str = "open-sample";

/// Worker → UI: the worker has started and is ready for requests.
pub const READY: &str = "ready";
/// Worker → UI: a summary of the opened input (`json` = JSON text, `name`).
pub const SUMMARY: &str = "summary";
/// Worker → UI: the input could not be read (`message`, `name`).
pub const FAILED: &str = "failed";
