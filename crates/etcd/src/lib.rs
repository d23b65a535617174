//! etcd's on-disk formats.
//!
//! * [`v3`]: the v3 backend inside bbolt (`key`, `meta`, `lease`, `auth*`, `members*`,
//!   `cluster`, `alarm` buckets): status, reads at any revision, history, leases, members, auth.
//! * [`snapshot`]: `etcdctl snapshot save` files and their SHA-256 trailer.
//! * [`proto`]: the protobuf messages, declared by hand with `prost` derive.
//! * [`snap`], [`v2`], [`v2req`]: `.snap` files, the v2 store rebuilt from snapshot + WAL, and
//!   the requests inside raft entries.

pub mod check;
pub mod error;
pub mod hash;
pub mod json;
pub mod migrate;
pub mod proto;
pub mod raftpb;
pub mod revision;
pub mod snap;
pub mod snapshot;
pub mod timeline;
pub mod v2;
pub mod v2req;
pub mod v3;
pub mod wal;

pub use error::{Error, Result};
pub use revision::{RevKey, Revision};
