//! [`storage::ReadAt`] over a browser `Blob` (a `File` is a `Blob`), for the worker.
//!
//! Reads go through `Blob.slice(a, b)` and the synchronous `FileReaderSync` (only available in
//! workers), so a multi-GiB file is never loaded whole: only the slices asked for are read.
//! bbolt asks for one page (usually 4 KiB) at a time, and each `FileReaderSync` call costs far more
//! than copying 4 KiB, so reads are served from a small cache of aligned blocks. Memory stays
//! bounded: at most `max_blocks` blocks of `block_size` bytes.

use std::cell::RefCell;

use storage::{ReadAt, ReadError, ReadErrorKind};
use web_sys::{Blob, FileReaderSync};

/// Block cache sizing.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Bytes per block read from the Blob (a power of two).
    pub block_size: u64,
    /// Blocks kept; the least recently used one is dropped first.
    pub max_blocks: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        // 4 MiB × 6 = 24 MiB at most. Each FileReaderSync call costs about 3 ms in Chromium
        // 156 whatever its size: 256 KiB blocks read a file at 88 MB/s, 4 MiB blocks at 270 MB/s.
        CacheConfig {
            block_size: 4 << 20,
            max_blocks: 6,
        }
    }
}

struct Block {
    index: u64,
    last_used: u64,
    bytes: Vec<u8>,
}

struct Cache {
    blocks: Vec<Block>,
    clock: u64,
}

/// A `Blob` read by offset through a block cache.
pub struct BlobSource {
    blob: Blob,
    size: u64,
    reader: FileReaderSync,
    config: CacheConfig,
    cache: RefCell<Cache>,
}

impl BlobSource {
    /// Wraps `blob`. Fails only when the browser refuses to create a `FileReaderSync`
    /// (that is, outside a worker).
    pub fn new(blob: Blob, config: CacheConfig) -> Result<Self, String> {
        let reader = FileReaderSync::new().map_err(|e| format!("FileReaderSync: {e:?}"))?;
        // Blob sizes are integral doubles below 2^53.
        let size = blob.size() as u64;
        let config = CacheConfig {
            block_size: config.block_size.max(4096).next_power_of_two(),
            max_blocks: config.max_blocks.max(1),
        };
        Ok(BlobSource {
            blob,
            size,
            reader,
            config,
            cache: RefCell::new(Cache {
                blocks: Vec::new(),
                clock: 0,
            }),
        })
    }

    /// Reads block `index` into `bytes` (a buffer reused from an evicted block).
    fn read_block(&self, index: u64, bytes: &mut Vec<u8>) -> Result<(), String> {
        let start = index * self.config.block_size;
        let end = (start + self.config.block_size).min(self.size);
        let len = (end - start) as usize;
        bytes.resize(len, 0);
        // With JSPI: read into this buffer, suspended until the browser has it.
        if let Some(n) = crate::io::suspend(|| {
            crate::io::read_async(
                &self.blob,
                start as f64,
                end as f64,
                crate::io::ptr(bytes.as_mut_ptr()),
            )
        }) {
            if n < 0.0 {
                return Err(format!("reading the file: {}", crate::io::last_error()));
            }
            if n as u64 != end - start {
                return Err(format!(
                    "the browser returned {n} bytes for a slice of {}",
                    end - start
                ));
            }
            crate::progress::add(end - start);
            return Ok(());
        }
        let slice = self
            .blob
            .slice_with_f64_and_f64(start as f64, end as f64)
            .map_err(|e| format!("Blob.slice: {e:?}"))?;
        let buffer = self
            .reader
            .read_as_array_buffer(&slice)
            .map_err(|e| format!("FileReaderSync: {e:?}"))?;
        let array = js_sys::Uint8Array::new(&buffer);
        crate::progress::add(u64::from(array.length()));
        if u64::from(array.length()) != end - start {
            return Err(format!(
                "the browser returned {} bytes for a slice of {}",
                array.length(),
                end - start
            ));
        }
        array.copy_to(bytes);
        Ok(())
    }

    /// Copies the part of block `index` that overlaps `offset..offset+buf.len()` into `buf`.
    fn copy_from_block(&self, index: u64, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let mut cache = self.cache.borrow_mut();
        cache.clock += 1;
        let now = cache.clock;
        let pos = match cache.blocks.iter().position(|b| b.index == index) {
            Some(pos) => pos,
            None => {
                // A full cache gives up its least recently used block, whose buffer is reused.
                let mut bytes = Vec::new();
                if cache.blocks.len() >= self.config.max_blocks {
                    if let Some(oldest) = cache
                        .blocks
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, b)| b.last_used)
                        .map(|(i, _)| i)
                    {
                        bytes = cache.blocks.swap_remove(oldest).bytes;
                    }
                }
                self.read_block(index, &mut bytes)?;
                cache.blocks.push(Block {
                    index,
                    last_used: now,
                    bytes,
                });
                cache.blocks.len() - 1
            }
        };
        let block = &mut cache.blocks[pos];
        block.last_used = now;
        let block_start = index * self.config.block_size;
        let from = offset.max(block_start);
        let to = (offset + buf.len() as u64).min(block_start + block.bytes.len() as u64);
        if from >= to {
            return Err("block does not cover the range".into());
        }
        let src = &block.bytes[(from - block_start) as usize..(to - block_start) as usize];
        buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for BlobSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let len = buf.len() as u64;
        self.check_range(offset, len)?;
        if buf.is_empty() {
            return Ok(());
        }
        let bs = self.config.block_size;
        let first = offset / bs;
        let last = (offset + len - 1) / bs;
        for index in first..=last {
            self.copy_from_block(index, offset, buf)
                .map_err(|msg| ReadError {
                    offset,
                    len,
                    kind: ReadErrorKind::Io(msg),
                })?;
        }
        Ok(())
    }
}

/// Where written bytes go, 4 MiB at a time, so a large output (a download, a decompressed
/// archive) never sits in wasm memory whole: into Blobs, one per chunk, that the browser holds
/// (it moves large blob data out of the tab, to disk when it needs to), or, with JSPI and a
/// file the user chose ([`BlobParts::streaming`]), straight into that file.
pub struct BlobParts {
    parts: js_sys::Array,
    buf: Vec<u8>,
    /// The chosen file's `WritableStreamDefaultWriter`.
    writer: Option<wasm_bindgen::JsValue>,
    written: u64,
    /// The first failed write (later writes are skipped; `finish` reports it).
    error: Option<String>,
}

impl Default for BlobParts {
    fn default() -> Self {
        BlobParts {
            parts: js_sys::Array::new(),
            buf: Vec::new(),
            writer: None,
            written: 0,
            error: None,
        }
    }
}

/// What an export became.
pub enum Written {
    /// A Blob to download (or for the page to write into the chosen file).
    Blob(Blob),
    /// This many bytes, written into the chosen file while they were made.
    Saved(u64),
}

impl BlobParts {
    const CHUNK: usize = 4 << 20;

    /// Writes into the file behind `writer` (see `web/worker_io.js`) when this request may
    /// suspend; into Blob parts otherwise.
    pub fn streaming(writer: wasm_bindgen::JsValue) -> Self {
        let usable = !writer.is_undefined() && crate::io::can_suspend();
        BlobParts {
            writer: usable.then_some(writer),
            ..BlobParts::default()
        }
    }

    fn flush_part(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Some(w) = &self.writer {
            let r = crate::io::suspend(|| {
                crate::io::write_async(w, crate::io::ptr(self.buf.as_ptr()), self.buf.len() as u32)
            });
            if !matches!(r, Some(n) if n >= 0.0) {
                let why = match r {
                    Some(_) => crate::io::last_error(),
                    None => "not possible here".into(),
                };
                let e = format!("writing the chosen file: {why}");
                self.error = Some(e.clone());
                return Err(std::io::Error::other(e));
            }
        } else {
            // A Blob per chunk: its bytes leave wasm memory and this tab's JS heap now.
            let chunk = js_sys::Array::of1(&js_sys::Uint8Array::from(self.buf.as_slice()));
            let blob = Blob::new_with_u8_array_sequence(&chunk)
                .map_err(|e| std::io::Error::other(format!("Blob: {e:?}")))?;
            self.parts.push(&blob);
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The Blob of everything written, or the byte count written into the chosen file
    /// (closed now; aborted, leaving the file as it was, when `ok` is false or a write failed).
    pub fn finish(mut self, mime: &str, ok: bool) -> Result<Written, String> {
        let flushed = if ok { self.flush_part() } else { Ok(()) };
        if let Some(w) = self.writer.take() {
            let ok = ok && flushed.is_ok() && self.error.is_none();
            let r = crate::io::suspend(|| crate::io::close_async(&w, !ok));
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            flushed.map_err(|e| e.to_string())?;
            return match r {
                Some(n) if n >= 0.0 => Ok(Written::Saved(self.written)),
                _ => Err(format!(
                    "closing the chosen file: {}",
                    crate::io::last_error()
                )),
            };
        }
        flushed.map_err(|e| e.to_string())?;
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type(mime);
        Blob::new_with_blob_sequence_and_options(&self.parts, &opts)
            .map(Written::Blob)
            .map_err(|e| format!("Blob: {e:?}"))
    }

    /// The Blob of everything written (never streamed into a file).
    pub fn finish_blob(self, mime: &str) -> Result<Blob, String> {
        match self.finish(mime, true)? {
            Written::Blob(b) => Ok(b),
            Written::Saved(_) => Err("the output went to a file, not a Blob".into()),
        }
    }
}

impl std::io::Write for BlobParts {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(std::io::Error::other(e.clone()));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            self.flush_part()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompressed data spilled into a Blob and read back by offset.
pub struct BlobSpill;

impl crate::archive::Spill for BlobSpill {
    type Src = BlobSource;

    fn spill(
        &mut self,
        fill: &mut dyn FnMut(&mut dyn std::io::Write) -> Result<(), String>,
    ) -> Result<BlobSource, String> {
        let mut parts = BlobParts::default();
        fill(&mut parts)?;
        let blob = parts.finish_blob("application/octet-stream")?;
        BlobSource::new(blob, CacheConfig::default())
    }
}
