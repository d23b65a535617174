use std::fmt;

use storage::ReadError;

/// Errors reading etcd's v3 backend. Entry-level variants name the page and byte offset of the
/// bbolt element holding the bad entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The source could not be read (e.g. the snapshot trailer).
    Read(ReadError),
    /// The bbolt structure is damaged.
    Bolt(bbolt::Error),
    /// A valid bbolt file that is not an etcd backend.
    NotEtcd { reason: String },
    /// A `key` bucket key that is not a 17/18-byte revision.
    BadRevisionKey { page: u64, offset: u64, len: usize },
    /// A `key` bucket value that does not parse as `mvccpb.KeyValue`.
    BadKeyValue {
        page: u64,
        offset: u64,
        revision: String,
        reason: String,
    },
    /// Another bucket's entry does not parse.
    BadEntry {
        bucket: &'static str,
        page: u64,
        offset: u64,
        reason: String,
    },
    /// The requested revision was compacted away (etcd: "required revision has been compacted").
    Compacted { requested: i64, compacted: i64 },
    /// The requested revision is newer than the store (etcd: "required revision is a future revision").
    FutureRevision { requested: i64, current: i64 },
    /// Writing a new backend failed (bad content order, or the output could not be written).
    Write(String),
}

impl Error {
    /// True for errors that describe damaged input (exit code 1 in the CLI), as opposed to a
    /// request the data cannot answer.
    pub fn is_damage(&self) -> bool {
        !matches!(self, Error::Compacted { .. } | Error::FutureRevision { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(e) => write!(f, "{e}"),
            Error::Bolt(e) => write!(f, "{e}"),
            Error::NotEtcd { reason } => write!(f, "not an etcd v3 backend: {reason}"),
            Error::BadRevisionKey { page, offset, len } => write!(
                f,
                "page {page} at byte offset {offset}: 'key' bucket key of {len} bytes is not a revision"
            ),
            Error::BadKeyValue { page, offset, revision, reason } => write!(
                f,
                "page {page} at byte offset {offset}: revision {revision}: value is not an mvccpb.KeyValue: {reason}"
            ),
            Error::BadEntry { bucket, page, offset, reason } => {
                write!(f, "page {page} at byte offset {offset}: bad '{bucket}' entry: {reason}")
            }
            Error::Compacted { requested, compacted } => write!(
                f,
                "mvcc: required revision has been compacted (requested {requested}, compacted at {compacted})"
            ),
            Error::FutureRevision { requested, current } => write!(
                f,
                "mvcc: required revision is a future revision (requested {requested}, current {current})"
            ),
            Error::Write(reason) => write!(f, "writing the new db: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<bbolt::Error> for Error {
    fn from(e: bbolt::Error) -> Self {
        Error::Bolt(e)
    }
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        Error::Read(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
