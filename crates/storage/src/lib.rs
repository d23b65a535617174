//! Random-access byte sources.
//!
//! Every reader in etcdscope (bbolt pages, WAL segments, snap files) reads its input through
//! [`ReadAt`]: "give me these bytes at this offset". Nothing ever needs a whole file in memory,
//! which is what lets a 20 GB snapshot open inside a browser tab whose wasm32 heap is at most
//! 4 GiB. Implementations:
//!
//! * [`MemSource`]: bytes already in memory (tests, small embedded samples);
//! * [`FileSource`]: a native file read with positioned reads (not on wasm32);
//! * the browser `Blob` source lives in the web worker crate (it needs web-sys).

use std::fmt;
use std::sync::Arc;

/// Why a read failed. Carries the offset and length asked for, so callers can name the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub offset: u64,
    pub len: u64,
    pub kind: ReadErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The range ends past the end of the source (`size` bytes).
    PastEnd { size: u64 },
    /// The platform read failed (message of the underlying error).
    Io(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ReadErrorKind::PastEnd { size } => write!(
                f,
                "read of {} bytes at offset {} runs past the end of the data ({} bytes)",
                self.len, self.offset, size
            ),
            ReadErrorKind::Io(msg) => {
                write!(
                    f,
                    "read of {} bytes at offset {} failed: {}",
                    self.len, self.offset, msg
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// A source of bytes that can be read at any offset.
///
/// Implementations must be cheap to call many times with small ranges (one bbolt page is
/// typically 4 KiB); they should not buffer the whole source.
pub trait ReadAt {
    /// Total size in bytes.
    fn size(&self) -> u64;

    /// Fill `buf` with the bytes at `offset..offset + buf.len()`.
    /// A range that is not entirely inside the source is an error ([`ReadErrorKind::PastEnd`]).
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError>;

    /// Checks that `offset..offset+len` lies inside the source, without reading.
    fn check_range(&self, offset: u64, len: u64) -> Result<(), ReadError> {
        let size = self.size();
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(()),
            _ => Err(ReadError {
                offset,
                len,
                kind: ReadErrorKind::PastEnd { size },
            }),
        }
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read_exact_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read_exact_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read_exact_at(offset, buf)
    }
}

/// Bytes held in memory.
#[derive(Clone, Debug)]
pub struct MemSource {
    data: Arc<[u8]>,
}

impl MemSource {
    pub fn new(data: impl Into<Arc<[u8]>>) -> Self {
        MemSource { data: data.into() }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl ReadAt for MemSource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.check_range(offset, buf.len() as u64)?;
        // check_range proved offset + len <= data.len(), which is a usize.
        let start = offset as usize;
        buf.copy_from_slice(&self.data[start..start + buf.len()]);
        Ok(())
    }
}

/// Borrowed bytes (an embedded sample, a test vector): `&[u8]` is a source through `&T`.
impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.check_range(offset, buf.len() as u64)?;
        // check_range proved offset + len <= self.len(), which is a usize.
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

/// A view of part of another source: `inner[start..start + len]`.
/// Used to hide a snapshot file's SHA-256 trailer from the bbolt reader.
#[derive(Clone, Debug)]
pub struct SliceSource<S> {
    inner: S,
    start: u64,
    len: u64,
}

impl<S: ReadAt> SliceSource<S> {
    /// Returns `None` when the window does not lie inside `inner`.
    pub fn new(inner: S, start: u64, len: u64) -> Option<Self> {
        inner.check_range(start, len).ok()?;
        Some(SliceSource { inner, start, len })
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: ReadAt> ReadAt for SliceSource<S> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.check_range(offset, buf.len() as u64)?;
        self.inner
            .read_exact_at(self.start + offset, buf)
            .map_err(|e| ReadError {
                offset,
                len: buf.len() as u64,
                kind: e.kind,
            })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod file {
    use super::{ReadAt, ReadError, ReadErrorKind};
    use std::fs::File;
    use std::path::Path;

    /// A native file read with positioned reads; the file is never mapped or loaded whole.
    #[derive(Debug)]
    pub struct FileSource {
        file: File,
        size: u64,
    }

    impl FileSource {
        pub fn open(path: &Path) -> std::io::Result<Self> {
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            Ok(FileSource { file, size })
        }
    }

    impl ReadAt for FileSource {
        fn size(&self) -> u64 {
            self.size
        }

        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            self.check_range(offset, buf.len() as u64)?;
            let len = buf.len() as u64;
            let io_err = |e: std::io::Error| ReadError {
                offset,
                len,
                kind: ReadErrorKind::Io(e.to_string()),
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::FileExt;
                self.file.read_exact_at(buf, offset).map_err(io_err)
            }
            #[cfg(windows)]
            {
                use std::os::windows::fs::FileExt;
                let mut done = 0usize;
                while done < buf.len() {
                    let n = self
                        .file
                        .seek_read(&mut buf[done..], offset + done as u64)
                        .map_err(io_err)?;
                    if n == 0 {
                        return Err(io_err(std::io::ErrorKind::UnexpectedEof.into()));
                    }
                    done += n;
                }
                Ok(())
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use file::FileSource;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_source_reads_and_refuses_past_end() {
        let src = MemSource::new(vec![1u8, 2, 3, 4, 5]);
        let mut buf = [0u8; 2];
        src.read_exact_at(3, &mut buf).unwrap();
        assert_eq!(buf, [4, 5]);
        let err = src.read_exact_at(4, &mut buf).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::PastEnd { size: 5 });
        // An offset near u64::MAX must not overflow.
        assert!(src.read_exact_at(u64::MAX, &mut buf).is_err());
    }

    #[test]
    fn slice_source_hides_the_rest() {
        let src = SliceSource::new(MemSource::new(vec![0u8, 1, 2, 3, 4, 5]), 1, 3).unwrap();
        assert_eq!(src.size(), 3);
        let mut buf = [0u8; 3];
        src.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        assert!(src.read_exact_at(1, &mut buf).is_err());
        assert!(SliceSource::new(MemSource::new(vec![0u8; 4]), 2, 3).is_none());
    }

    #[test]
    fn file_source_reads_by_offset() {
        let dir = std::env::temp_dir().join(format!("storage-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"hello world").unwrap();
        let src = FileSource::open(&path).unwrap();
        let mut buf = [0u8; 5];
        src.read_exact_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        assert!(src.read_exact_at(7, &mut buf).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
