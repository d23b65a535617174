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
        // 4 MiB × 12 = 48 MiB at most. Each FileReaderSync call costs about 3 ms in Chromium
        // 156 whatever its size: 256 KiB blocks read a file at 88 MB/s, 4 MiB blocks at 270 MB/s.
        CacheConfig {
            block_size: 4 << 20,
            max_blocks: 12,
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
        bytes.resize((end - start) as usize, 0);
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

/// Collects written bytes into Blob parts of at most 4 MiB, so a large output (a download, a
/// decompressed archive) never sits in wasm memory whole; the browser holds the parts.
pub struct BlobParts {
    parts: js_sys::Array,
    buf: Vec<u8>,
}

impl Default for BlobParts {
    fn default() -> Self {
        BlobParts {
            parts: js_sys::Array::new(),
            buf: Vec::new(),
        }
    }
}

impl BlobParts {
    const CHUNK: usize = 4 << 20;

    fn flush_part(&mut self) {
        if !self.buf.is_empty() {
            self.parts
                .push(&js_sys::Uint8Array::from(self.buf.as_slice()));
            self.buf.clear();
        }
    }

    /// The Blob of everything written.
    pub fn finish(mut self, mime: &str) -> Result<Blob, String> {
        self.flush_part();
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type(mime);
        Blob::new_with_u8_array_sequence_and_options(&self.parts, &opts)
            .map_err(|e| format!("Blob: {e:?}"))
    }
}

impl std::io::Write for BlobParts {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            self.flush_part();
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
        let blob = parts.finish("application/octet-stream")?;
        BlobSource::new(blob, CacheConfig::default())
    }
}
