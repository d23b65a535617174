//! Shared by the UI (`app`) and the worker (`worker`) binaries: the message protocol between them
//! and the browser `Blob` byte source.
//!
//! The UI never parses anything: it posts a [`Request`] (with the `File` itself, which the browser
//! passes by reference, not by copy) and renders the [`Reply`] the worker sends back. Replies carry
//! JSON text made by serde_json in Rust, so 64-bit numbers reach the page exactly (JavaScript's
//! `JSON.parse` would round them).

pub mod archive;
#[cfg(target_arch = "wasm32")]
pub mod blob;
#[cfg(target_arch = "wasm32")]
pub mod io;
pub mod k8s;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod sqljs;

/// The small real-etcd snapshot behind the "Try a sample" button (etcd 3.4.23, made by
/// `tests/fixtures/make-v3.sh`; 62 keys, current revision 359, compacted at 341).
pub const SAMPLE_NAME: &str = "sample-etcd-3.4.23.db";
