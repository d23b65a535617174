//! Values of a v2 store kept in temporary files instead of memory (an external distribution
//! sort): while a `.snap` is parsed, each value goes to one of [`PARTS`] files chosen by its
//! node's `modifiedIndex`, so a reader that wants values in revision order (the v3 `key`
//! bucket of `etcdscope migrate`) reads each file once, in order, and holds one in memory at a
//! time ([`SpillCursor`]).
//!
//! The files are created next to the output and unlinked at once where the OS allows it (they
//! disappear when the process ends, whatever happens); elsewhere they are removed on drop.
//! A failed write only keeps that value in memory; a failed read is remembered
//! ([`Spill::read_failed`]) so the caller can refuse to use what it produced.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Number of partition files.
pub const PARTS: usize = 64;
/// Values shorter than this stay in memory (a spilled value costs as much as a short one).
const MIN_LEN: usize = 24;
/// Bytes buffered per partition before they are written.
const PENDING: usize = 128 * 1024;

/// Where a spilled value is: partition, offset in its file, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpillRef {
    pub(crate) off: u64,
    pub(crate) len: u32,
    pub(crate) part: u32,
}

struct Part {
    file: File,
    path: Option<PathBuf>,
    pending: Vec<u8>,
    /// Bytes in the file plus pending.
    len: u64,
}

impl Part {
    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.file.seek(SeekFrom::End(0))?;
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// The partition files of one load.
pub struct Spill {
    parts: Vec<Mutex<Part>>,
    /// Index range per partition.
    width: u64,
    /// Shorter values stay in memory.
    pub(crate) min_len: usize,
    spilled: AtomicU64,
    write_failed: AtomicBool,
    read_failed: AtomicBool,
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("width", &self.width)
            .field("spilled", &self.bytes_spilled())
            .finish()
    }
}

impl Spill {
    /// Creates the partition files in `dir` for values of nodes modified at indices up to
    /// about `max_index` (higher ones go to the last partition).
    pub fn create(dir: &Path, max_index: u64) -> io::Result<Spill> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut parts = Vec::with_capacity(PARTS);
        for k in 0..PARTS {
            let path = dir.join(format!(
                ".etcdscope-spill-{}-{stamp}-{k}",
                std::process::id()
            ));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            // Unlinked now where possible: nothing is left behind, even after a kill.
            let path = match std::fs::remove_file(&path) {
                Ok(()) => None,
                Err(_) => Some(path),
            };
            parts.push(Mutex::new(Part {
                file,
                path,
                pending: Vec::new(),
                len: 0,
            }));
        }
        Ok(Spill {
            parts,
            width: (max_index / PARTS as u64).saturating_add(1),
            min_len: MIN_LEN,
            spilled: AtomicU64::new(0),
            write_failed: AtomicBool::new(false),
            read_failed: AtomicBool::new(false),
        })
    }

    /// Stores `bytes` (the value of a node modified at `index`); `None` when it could not be
    /// written (the caller keeps it in memory).
    pub(crate) fn put(&self, index: u64, bytes: &[u8]) -> Option<SpillRef> {
        let len = u32::try_from(bytes.len()).ok()?;
        if self.write_failed.load(Ordering::Relaxed) {
            return None;
        }
        let k = usize::try_from(index / self.width)
            .unwrap_or(PARTS - 1)
            .min(PARTS - 1);
        let mut part = self.parts[k].lock().ok()?;
        let off = part.len;
        part.pending.extend_from_slice(bytes);
        part.len += bytes.len() as u64;
        if part.pending.len() >= PENDING && part.flush().is_err() {
            // Keep this one in memory and stop spilling; the values pending before it are
            // written (or their read fails, which is remembered) when they are read.
            self.write_failed.store(true, Ordering::Relaxed);
            let keep = part.pending.len() - bytes.len();
            part.pending.truncate(keep);
            part.len = off;
            return None;
        }
        self.spilled
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Some(SpillRef {
            off,
            len,
            part: k as u32,
        })
    }

    /// Partition `k`, its pending bytes written (so the file holds all of it).
    fn flushed(&self, k: u32) -> io::Result<std::sync::MutexGuard<'_, Part>> {
        let mut part = self
            .parts
            .get(k as usize)
            .ok_or_else(|| io::Error::other("no such spill partition"))?
            .lock()
            .map_err(|_| io::Error::other("spill partition lock poisoned"))?;
        part.flush()?;
        Ok(part)
    }

    /// Reads one value back (one seek and read; for the odd value, not for a scan).
    pub(crate) fn read(&self, r: SpillRef) -> io::Result<Vec<u8>> {
        let res = (|| {
            let mut part = self.flushed(r.part)?;
            let mut v = vec![0; r.len as usize];
            part.file.seek(SeekFrom::Start(r.off))?;
            part.file.read_exact(&mut v)?;
            Ok(v)
        })();
        if res.is_err() {
            self.read_failed.store(true, Ordering::Relaxed);
        }
        res
    }

    /// Bytes of values written to the partition files.
    pub fn bytes_spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    /// Whether a read failed (a value was then taken as empty by a reader that cannot fail).
    pub fn read_failed(&self) -> bool {
        self.read_failed.load(Ordering::Relaxed)
    }

    pub(crate) fn cursor(&self) -> SpillCursor<'_> {
        SpillCursor {
            spill: self,
            part: None,
            buf: Vec::new(),
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        for p in &self.parts {
            if let Ok(p) = p.lock() {
                if let Some(path) = &p.path {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

/// Reads spilled values a partition at a time: cheap when they are asked for in index order.
pub(crate) struct SpillCursor<'a> {
    spill: &'a Spill,
    part: Option<u32>,
    buf: Vec<u8>,
}

impl SpillCursor<'_> {
    pub(crate) fn get(&mut self, r: SpillRef) -> io::Result<&[u8]> {
        if self.part != Some(r.part) {
            self.part = None;
            let res = (|| {
                let mut part = self.spill.flushed(r.part)?;
                self.buf.clear();
                part.file.seek(SeekFrom::Start(0))?;
                let len = part.len;
                (&mut part.file).take(len).read_to_end(&mut self.buf)
            })();
            if let Err(e) = res {
                self.spill.read_failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
            self.part = Some(r.part);
        }
        let end = r.off.checked_add(u64::from(r.len));
        match end {
            Some(end) if end <= self.buf.len() as u64 => {
                Ok(&self.buf[r.off as usize..end as usize])
            }
            _ => {
                self.spill.read_failed.store(true, Ordering::Relaxed);
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "spilled value at {}+{} beyond partition {} ({} bytes)",
                        r.off,
                        r.len,
                        r.part,
                        self.buf.len()
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_by_read_and_by_cursor() {
        let dir = std::env::temp_dir();
        let s = Spill::create(&dir, 6400).unwrap();
        let mut refs = Vec::new();
        for i in 0..3000u64 {
            let v = format!("value of {i} {}", "x".repeat((i % 97) as usize)).into_bytes();
            let r = s.put(i * 3 % 7000, &v).unwrap();
            refs.push((i * 3 % 7000, r, v));
        }
        // 101 indices per partition; an index beyond max_index goes to the last one.
        assert_eq!(refs.last().unwrap().1.part as usize, (8997 % 7000) / 101);
        let big = s.put(u64::MAX, b"far beyond").unwrap();
        assert_eq!(big.part as usize, PARTS - 1);
        for (_, r, v) in refs.iter().step_by(101) {
            assert_eq!(&s.read(*r).unwrap(), v);
        }
        refs.sort_by_key(|(i, _, _)| *i);
        let mut c = s.cursor();
        for (_, r, v) in &refs {
            assert_eq!(c.get(*r).unwrap(), &v[..]);
        }
        assert_eq!(c.get(big).unwrap(), b"far beyond");
        let bad = SpillRef {
            off: 1 << 40,
            len: 3,
            part: 0,
        };
        assert!(c.get(bad).is_err());
        assert!(s.read_failed());
        // Nothing left in the directory.
        let left = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!(".etcdscope-spill-{}-", std::process::id()))
            })
            .count();
        assert_eq!(left, 0);
    }
}
