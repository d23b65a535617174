//! Typed errors. Every variant that concerns a page names the page id and the absolute byte
//! offset in the file, so a message can point a person at the damage.

use std::fmt;

use storage::ReadError;

/// Why one meta page could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaProblem {
    /// The bytes where the meta should be are not there (file too short).
    Missing,
    BadMagic(u32),
    BadVersion(u32),
    BadChecksum {
        stored: u64,
        computed: u64,
    },
    BadPageSize(u32),
    /// The meta's root or freelist page id is not below its own high-water mark.
    BadPointers {
        root: u64,
        freelist: u64,
        high_water: u64,
    },
    /// The page header does not say "meta".
    NotMeta {
        flags: u16,
    },
}

impl fmt::Display for MetaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaProblem::Missing => write!(f, "not present (file too short)"),
            MetaProblem::BadMagic(m) => write!(f, "bad magic {m:#010x} (want 0xed0cdaed)"),
            MetaProblem::BadVersion(v) => write!(f, "unsupported version {v} (want 2)"),
            MetaProblem::BadChecksum { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#018x}, computed {computed:#018x})")
            }
            MetaProblem::BadPageSize(s) => write!(f, "implausible page size {s}"),
            MetaProblem::BadPointers { root, freelist, high_water } => write!(
                f,
                "root page {root} or freelist page {freelist:#x} not below high-water mark {high_water}"
            ),
            MetaProblem::NotMeta { flags } => write!(f, "page flags {flags:#06x} are not 'meta'"),
        }
    }
}

/// Everything that can go wrong while reading a bbolt file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Smaller than the first meta page.
    TooSmall { size: u64 },
    /// Neither meta page can be used.
    NoValidMeta {
        meta0: MetaProblem,
        meta1: MetaProblem,
    },
    /// A read of the underlying source failed (also: a page lies past the end of the file).
    Read {
        page: u64,
        offset: u64,
        source: ReadError,
    },
    /// A page id at or above the meta's high-water mark was referenced.
    PageOutOfBounds {
        page: u64,
        high_water: u64,
        from_page: u64,
        offset: u64,
    },
    /// The page header's id differs from its position.
    PageIdMismatch { page: u64, offset: u64, found: u64 },
    /// The page is not of the kind its reference requires.
    PageType {
        page: u64,
        offset: u64,
        flags: u16,
        expected: &'static str,
    },
    /// The page claims more overflow pages than the file or our limit allows.
    PageSpan {
        page: u64,
        offset: u64,
        overflow: u32,
        reason: &'static str,
    },
    /// An element header or its key/value bytes lie outside the page.
    Element {
        page: u64,
        offset: u64,
        index: usize,
        reason: &'static str,
    },
    /// A page was reached twice in one descent (a cycle in the tree).
    Cycle {
        page: u64,
        offset: u64,
        from_page: u64,
    },
    /// A page is referenced from two places.
    MultipleReferences {
        page: u64,
        offset: u64,
        from_page: u64,
    },
    /// The tree is deeper than any real bbolt tree can be.
    TooDeep {
        page: u64,
        offset: u64,
        depth: usize,
    },
    /// A bucket value is malformed (too short, or its inline page is bad).
    BadBucket {
        page: u64,
        offset: u64,
        reason: &'static str,
    },
    /// Keys are not in strictly increasing order.
    KeyOrder {
        page: u64,
        offset: u64,
        index: usize,
    },
}

impl Error {
    /// The page the problem was found on, when there is one.
    pub fn page(&self) -> Option<u64> {
        match self {
            Error::TooSmall { .. } | Error::NoValidMeta { .. } => None,
            Error::Read { page, .. }
            | Error::PageOutOfBounds { page, .. }
            | Error::PageIdMismatch { page, .. }
            | Error::PageType { page, .. }
            | Error::PageSpan { page, .. }
            | Error::Element { page, .. }
            | Error::Cycle { page, .. }
            | Error::MultipleReferences { page, .. }
            | Error::TooDeep { page, .. }
            | Error::BadBucket { page, .. }
            | Error::KeyOrder { page, .. } => Some(*page),
        }
    }

    /// The absolute byte offset in the file closest to the problem.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::TooSmall { .. } => Some(0),
            Error::NoValidMeta { .. } => Some(0),
            Error::Read { offset, .. }
            | Error::PageOutOfBounds { offset, .. }
            | Error::PageIdMismatch { offset, .. }
            | Error::PageType { offset, .. }
            | Error::PageSpan { offset, .. }
            | Error::Element { offset, .. }
            | Error::Cycle { offset, .. }
            | Error::MultipleReferences { offset, .. }
            | Error::TooDeep { offset, .. }
            | Error::BadBucket { offset, .. }
            | Error::KeyOrder { offset, .. } => Some(*offset),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooSmall { size } => {
                write!(f, "not a bbolt file: {size} bytes is too small to hold a meta page")
            }
            Error::NoValidMeta { meta0, meta1 } => write!(
                f,
                "not a usable bbolt file: meta page 0 (offset 0): {meta0}; meta page 1: {meta1}"
            ),
            Error::Read { page, offset, source } => {
                write!(f, "page {page} at byte offset {offset}: cannot be read: {source}")
            }
            Error::PageOutOfBounds { page, high_water, from_page, offset } => write!(
                f,
                "page {from_page} at byte offset {offset}: refers to page {page}, past the high-water mark {high_water}"
            ),
            Error::PageIdMismatch { page, offset, found } => write!(
                f,
                "page {page} at byte offset {offset}: header says it is page {found}"
            ),
            Error::PageType { page, offset, flags, expected } => write!(
                f,
                "page {page} at byte offset {offset}: flags {flags:#06x}, expected a {expected} page"
            ),
            Error::PageSpan { page, offset, overflow, reason } => write!(
                f,
                "page {page} at byte offset {offset}: overflow count {overflow}: {reason}"
            ),
            Error::Element { page, offset, index, reason } => write!(
                f,
                "page {page} at byte offset {offset}: element {index}: {reason}"
            ),
            Error::Cycle { page, offset, from_page } => write!(
                f,
                "page {from_page} at byte offset {offset}: refers to page {page}, which is already on the path from the root (cycle)"
            ),
            Error::MultipleReferences { page, offset, from_page } => write!(
                f,
                "page {from_page} at byte offset {offset}: refers to page {page}, which is already used elsewhere in the tree"
            ),
            Error::TooDeep { page, offset, depth } => write!(
                f,
                "page {page} at byte offset {offset}: tree deeper than {depth} levels"
            ),
            Error::BadBucket { page, offset, reason } => write!(
                f,
                "page {page} at byte offset {offset}: bad bucket value: {reason}"
            ),
            Error::KeyOrder { page, offset, index } => write!(
                f,
                "page {page} at byte offset {offset}: element {index}: key out of order"
            ),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
