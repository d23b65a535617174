//! A lazy, panic-free reader of bbolt files (the storage engine under etcd's v3 backend), and a
//! streaming writer of new ones ([`write`]: two passes over sorted content, bounded memory).
//!
//! * Pages are read on demand through [`storage::ReadAt`]; nothing maps or loads the whole file.
//! * Both meta pages are validated (magic, version, FNV-1a checksum); the newest valid one is
//!   used, and [`MetaChoice`] says when we had to fall back.
//! * Every structural problem is a typed [`Error`] naming the page id and byte offset: page ids
//!   past the high-water mark, a page whose header names another id, wrong page kinds, element
//!   offsets outside the page, cycles, keys out of order, absurd overflow spans.
//!
//! Byte layouts: `ARCHITECTURE.md` and `../shared/docs/FORMATS.md` §4.

pub mod db;
pub mod error;
pub mod meta;
pub mod page;
pub mod walk;
pub mod write;

pub use db::{Bucket, Cursor, Db, Limits, MetaChoice};
pub use error::{Error, MetaProblem, Result};
pub use meta::Meta;
pub use page::{LeafElem, Page};
pub use walk::{BucketStats, Visitor, WalkEntry, WalkReport};
pub use write::{write, Content, Sink, WriteError, WriteOptions, WriteSummary};
