//! Writing a bbolt file from scratch: sorted input in, a valid file out, bounded memory.
//!
//! The caller describes the database through [`Content::emit`], which calls a [`Sink`]
//! (`begin_bucket` / `put` / `end_bucket`) in key order. [`write`] calls it **twice**:
//!
//! 1. **Layout pass.** The same page builder runs without output and without copying values:
//!    it assigns every page its id and learns the root page id and the high-water mark, which
//!    the meta pages at the start of the file need. Order and size errors surface here, before
//!    a byte is written.
//! 2. **Write pass.** Meta pages, the (empty) freelist page, then every branch/leaf page in id
//!    order, straight to the `std::io::Write` sink (no seeking).
//!
//! Pages get ids in the order they are *completed*: a leaf is completed when the next pair no
//! longer fits, a branch page when the next child no longer fits, and at the end of a bucket its
//! pending pages are completed bottom-up (the last one is the bucket's root). A page is written
//! the moment it is completed, so file order = id order. What is held in memory is one pending
//! leaf and one pending branch page per tree level, for each bucket currently open (plus the
//! last key of each open bucket): memory ∝ nesting depth × tree height × page size. A pair too
//! big for a page is written straight from the caller's slices into its own multi-page leaf and
//! never buffered.
//!
//! Layout decisions (FORMATS.md §4.9):
//! * Leaves are packed while `16 + Σ(16 + |k| + |v|) ≤ page_size × fill_percent` (default 1.0:
//!   dense, as for a freshly compacted file). A pair whose leaf would exceed one page gets a leaf
//!   of its own with `overflow` pages. Branch pages pack the same way but always take at least
//!   two children (so huge keys cannot make the tree grow without bound).
//! * A bucket is **inline** exactly when bbolt would inline it: no nested buckets, a single leaf,
//!   and `16 + Σ(16 + |k| + |v|) ≤ page_size / 4`. The root bucket is never inline.
//! * The freelist is an explicit empty page 2 (`WriteOptions::freelist`, default) — every page
//!   below the high-water mark is then reachable, which bbolt's `tx.Check` (run by `etcdctl
//!   snapshot status`) demands; or no freelist (`meta.freelist = u64::MAX`, as etcd on Linux).
//! * Meta page 0 has txid 2 and meta page 1 txid 1 (page = txid mod 2), same root and pgid.
//! * Bucket sequences are 0. The output is a pure function of the content and the options.
//!
//! Changes of the content between the passes are detected by a hash of every event (kind, key
//! bytes, value length) checked at the end of each top-level bucket and at the end: a changed
//! value of the same length is not noticed, but cannot make the file invalid either.

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

use crate::meta::{valid_page_size, Meta, FIRST_DATA_PAGE, META_SIZE, NO_FREELIST};
use crate::page::{
    ELEMENT_SIZE, FLAG_BRANCH, FLAG_FREELIST, FLAG_LEAF, FLAG_META, LEAF_FLAG_BUCKET,
    PAGE_HEADER_SIZE,
};

/// bbolt's largest key (and bucket name).
pub const MAX_KEY_SIZE: usize = 32768;
/// bbolt's largest value.
pub const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
/// Most elements we put in one page (the header's count is a u16).
pub const MAX_ELEMENTS: usize = 0xFFFE;
/// Bytes of a bucket header `{root pgid u64, sequence u64}`.
pub const BUCKET_HEADER_SIZE: usize = 16;
/// txid of meta page 0; meta page 1 gets one less.
pub const META0_TXID: u64 = 2;
/// Per top-level bucket, the layout pass records a 24-byte checkpoint for early detection of
/// changed content; beyond this many top-level buckets only the final check remains.
const MAX_CHECKPOINTS: usize = 1 << 16;

/// The database, emitted in order. [`write`] calls `emit` twice and both calls must produce the
/// same sequence.
pub trait Content {
    type Error: From<WriteError>;
    /// Emit the whole database: the same sequence every time it is called.
    fn emit(&self, sink: &mut dyn Sink) -> Result<(), Self::Error>;
}

/// Receives the database in order.
pub trait Sink {
    /// Opens a bucket (top-level, or nested inside the currently open bucket). Names strictly
    /// increasing among siblings, and ordered with the sibling keys as bbolt orders them (bytes).
    fn begin_bucket(&mut self, name: &[u8]) -> Result<(), WriteError>;
    /// Closes the innermost open bucket.
    fn end_bucket(&mut self) -> Result<(), WriteError>;
    /// A key/value in the open bucket; keys strictly increasing (byte order), interleaved
    /// correctly with nested bucket names.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError>;
    /// Whether this pass needs the bytes of values. The layout pass of [`write`] needs only
    /// their lengths: content that knows a value's length without producing the value may then
    /// call [`Sink::put_sized`] instead of [`Sink::put`].
    fn needs_values(&self) -> bool {
        true
    }
    /// [`Sink::put`] of a value given by its length only (allowed when
    /// [`Sink::needs_values`] is false; an error otherwise).
    fn put_sized(&mut self, key: &[u8], len: usize) -> Result<(), WriteError> {
        let _ = (key, len);
        Err(WriteError::InvalidOptions(
            "a value given by its length where its bytes are needed".into(),
        ))
    }
}

/// How to write.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Page size (a power of two, 512 ..= 1 MiB). Default 4096, the page size of x86-64 Linux.
    pub page_size: u32,
    /// Fraction of a page filled before the next one is started, 0.1 ..= 1.0 (bbolt's bounds).
    /// Default 1.0: a fresh file is packed densely (bbolt's own default 0.5 only matters when
    /// it splits a page during an update).
    pub fill_percent: f64,
    /// Append the SHA-256 of all preceding bytes, as `etcdctl snapshot save` does. Default off.
    pub trailer: bool,
    /// Write an explicit empty freelist at page 2 (default), or none (`meta.freelist =
    /// u64::MAX`, like etcd on Linux; bbolt then rebuilds the free list by walking the tree).
    pub freelist: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            page_size: 4096,
            fill_percent: 1.0,
            trailer: false,
            freelist: true,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// High-water mark: pages in the file (meta, freelist and tree pages).
    pub pages: u64,
    /// Bytes written, trailer included.
    pub bytes: u64,
    /// The trailer, when one was written.
    pub sha256: Option<[u8; 32]>,
    /// Buckets of every level (the root bucket not counted).
    pub buckets: u64,
    /// Key/value pairs (`put` calls) of every level.
    pub entries: u64,
    /// Page id of the root bucket's root page (meta.root).
    pub root: u64,
    pub page_size: u32,
}

/// Why a write failed. Bucket paths are the names of the open buckets, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The options are unusable.
    InvalidOptions(String),
    /// A key or bucket name is not strictly greater than the previous one in its bucket.
    KeyOrder {
        bucket: Vec<Vec<u8>>,
        key: Vec<u8>,
        previous: Vec<u8>,
    },
    /// Zero-length key or bucket name (bbolt rejects them).
    EmptyKey { bucket: Vec<Vec<u8>> },
    /// `put` with no bucket open (the root bucket holds only buckets).
    BucketNotOpen { key: Vec<u8> },
    /// `end_bucket` with no bucket open (`open` empty), or `emit` returned with buckets still
    /// open (`open` = their names).
    UnbalancedBuckets { open: Vec<Vec<u8>> },
    /// The second `emit` differs from the first. `bucket`: the top-level bucket where it was
    /// noticed (empty: at the end).
    ContentChanged { bucket: Vec<u8>, detail: String },
    /// A key, bucket name or value beyond bbolt's limits. `key` is at most its first 64 bytes.
    TooLarge {
        bucket: Vec<Vec<u8>>,
        key: Vec<u8>,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// The output failed.
    Io {
        kind: io::ErrorKind,
        message: String,
    },
}

/// Bytes for messages: printable ASCII as is, the rest as `\xNN`, long ones cut.
fn show(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(64) {
        if (0x20..0x7f).contains(&c) && c != b'\\' && c != b'"' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    if b.len() > 64 {
        s.push_str(&format!("…({} bytes)", b.len()));
    }
    s
}

fn show_path(p: &[Vec<u8>]) -> String {
    if p.is_empty() {
        return "the root bucket".to_string();
    }
    let names: Vec<String> = p.iter().map(|n| format!("\"{}\"", show(n))).collect();
    format!("bucket {}", names.join("/"))
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::InvalidOptions(m) => write!(f, "invalid write options: {m}"),
            WriteError::KeyOrder {
                bucket,
                key,
                previous,
            } => write!(
                f,
                "{}: key \"{}\" is not after the previous key \"{}\" (keys must be strictly increasing)",
                show_path(bucket),
                show(key),
                show(previous)
            ),
            WriteError::EmptyKey { bucket } => {
                write!(f, "{}: empty key or bucket name", show_path(bucket))
            }
            WriteError::BucketNotOpen { key } => write!(
                f,
                "put of key \"{}\" with no bucket open (the root bucket holds only buckets)",
                show(key)
            ),
            WriteError::UnbalancedBuckets { open } if open.is_empty() => {
                write!(f, "end_bucket with no bucket open")
            }
            WriteError::UnbalancedBuckets { open } => {
                write!(f, "the content ended with {} still open", show_path(open))
            }
            WriteError::ContentChanged { bucket, detail } if bucket.is_empty() => {
                write!(f, "the content changed between the two passes: {detail}")
            }
            WriteError::ContentChanged { bucket, detail } => write!(
                f,
                "the content changed between the two passes (noticed at the end of bucket \"{}\"): {detail}",
                show(bucket)
            ),
            WriteError::TooLarge {
                bucket,
                key,
                what,
                size,
                limit,
            } => write!(
                f,
                "{}: {what} of key \"{}\" is {size} bytes (limit {limit})",
                show_path(bucket),
                show(key)
            ),
            WriteError::Io { kind, message } => write!(f, "write failed ({kind:?}): {message}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// Writes the database emitted by `content` to `out` (see the module docs). Calls
/// `content.emit` twice. On error, `out` may hold a partial file.
pub fn write<C: Content, W: Write>(
    content: &C,
    out: W,
    opts: &WriteOptions,
) -> Result<WriteSummary, C::Error> {
    let cfg = Config::new(opts)?;

    // Pass 1: layout only.
    let mut layout = Engine::new(&cfg, None, Vec::new());
    content.emit(&mut layout)?;
    let plan = layout.finish()?;

    // Pass 2: write. The SHA-256 of the trailer is computed on a second thread where there is
    // one (it costs about as much as building the pages).
    #[cfg(not(target_arch = "wasm32"))]
    let (done, bytes, sha256) = std::thread::scope(|sc| {
        let hasher = if opts.trailer {
            Hasher::thread(sc)
        } else {
            Hasher::Off
        };
        write_pass(content, &cfg, &plan, out, hasher)
    })?;
    #[cfg(target_arch = "wasm32")]
    let (done, bytes, sha256) = write_pass(
        content,
        &cfg,
        &plan,
        out,
        if opts.trailer {
            Hasher::Inline(Sha256::new())
        } else {
            Hasher::Off
        },
    )?;
    Ok(WriteSummary {
        pages: done.pgid,
        bytes,
        sha256,
        buckets: done.buckets,
        entries: done.entries,
        root: done.root,
        page_size: cfg.page_size as u32,
    })
}

fn compare(plan: &Finished, done: &Finished) -> Result<(), WriteError> {
    let detail = if plan.events != done.events {
        Some(format!(
            "{} events the first time, {} the second",
            plan.events, done.events
        ))
    } else if plan.hash != done.hash {
        Some("different keys or value sizes".to_string())
    } else if plan.pgid != done.pgid || plan.root != done.root {
        Some(format!(
            "layout differs (pages {} vs {}, root {} vs {})",
            plan.pgid, done.pgid, plan.root, done.root
        ))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(WriteError::ContentChanged {
            bucket: Vec::new(),
            detail,
        }),
        None => Ok(()),
    }
}

/// Validated options.
struct Config {
    page_size: usize,
    /// Bytes a page is filled to before the next one starts.
    threshold: usize,
    /// Largest inline bucket page (bbolt: page_size / 4).
    max_inline: usize,
    first_data_page: u64,
    freelist: bool,
}

impl Config {
    fn new(opts: &WriteOptions) -> Result<Config, WriteError> {
        if !valid_page_size(opts.page_size) {
            return Err(WriteError::InvalidOptions(format!(
                "page size {} is not a power of two between 512 and 1 MiB",
                opts.page_size
            )));
        }
        if !(0.1..=1.0).contains(&opts.fill_percent) {
            return Err(WriteError::InvalidOptions(format!(
                "fill_percent {} is not between 0.1 and 1.0",
                opts.fill_percent
            )));
        }
        let page_size = opts.page_size as usize;
        let threshold = ((page_size as f64 * opts.fill_percent) as usize).clamp(64, page_size);
        Ok(Config {
            page_size,
            threshold,
            max_inline: page_size / 4,
            first_data_page: if opts.freelist {
                FIRST_DATA_PAGE + 1
            } else {
                FIRST_DATA_PAGE
            },
            freelist: opts.freelist,
        })
    }
}

/// What the second pass made: the pass's totals, the bytes written and the trailer.
type Written = (Finished, u64, Option<[u8; 32]>);

/// The second pass: header pages, every tree page, then the trailer.
fn write_pass<C: Content, W: Write>(
    content: &C,
    cfg: &Config,
    plan: &Finished,
    out: W,
    hasher: Hasher<'_>,
) -> Result<Written, C::Error> {
    let mut o = Out {
        w: out,
        buf: Vec::with_capacity(CHUNK),
        hasher,
        bytes: 0,
    };
    write_header_pages(&mut o, cfg, plan.root, plan.pgid).map_err(WriteError::from)?;
    let done = {
        let mut writer = Engine::new(cfg, Some(&mut o), plan.checkpoints.clone());
        content.emit(&mut writer)?;
        writer.finish()?
    };
    compare(plan, &done)?;
    if o.bytes != done.pgid * cfg.page_size as u64 {
        return Err(WriteError::ContentChanged {
            bucket: Vec::new(),
            detail: format!("{} bytes written for {} pages", o.bytes, done.pgid),
        }
        .into());
    }
    let sha256 = o.finish().map_err(WriteError::from)?;
    Ok((done, o.bytes, sha256))
}

/// Output chunk: what is written at once and hashed at once.
const CHUNK: usize = 1 << 20;

/// Who computes the trailer's SHA-256.
enum Hasher<'s> {
    Off,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    Inline(Sha256),
    /// A thread fed with full chunks (and handing them back for reuse).
    #[cfg(not(target_arch = "wasm32"))]
    Thread {
        tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
        back: std::sync::mpsc::Receiver<Vec<u8>>,
        job: Option<std::thread::ScopedJoinHandle<'s, [u8; 32]>>,
    },
    #[cfg(target_arch = "wasm32")]
    #[allow(dead_code)]
    Never(std::marker::PhantomData<&'s ()>),
}

impl<'s> Hasher<'s> {
    #[cfg(not(target_arch = "wasm32"))]
    fn thread<'e>(sc: &'s std::thread::Scope<'s, 'e>) -> Hasher<'s> {
        use std::sync::mpsc::{channel, sync_channel};
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let (back_tx, back) = channel::<Vec<u8>>();
        let job = sc.spawn(move || {
            let mut h = Sha256::new();
            for mut chunk in rx {
                h.update(&chunk);
                chunk.clear();
                let _ = back_tx.send(chunk);
            }
            h.finalize().into()
        });
        Hasher::Thread {
            tx: Some(tx),
            back,
            job: Some(job),
        }
    }

    /// Hashes `chunk` (taking it) and returns an empty buffer to fill next.
    fn feed(&mut self, chunk: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Hasher::Off => chunk.clear(),
            Hasher::Inline(h) => {
                h.update(&chunk[..]);
                chunk.clear();
            }
            #[cfg(not(target_arch = "wasm32"))]
            Hasher::Thread { tx, back, .. } => {
                let next = back
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                let full = std::mem::replace(chunk, next);
                let sent = tx.as_ref().map(|tx| tx.send(full));
                if !matches!(sent, Some(Ok(()))) {
                    return Err(io::Error::other("the hashing thread stopped"));
                }
            }
            #[cfg(target_arch = "wasm32")]
            Hasher::Never(_) => chunk.clear(),
        }
        Ok(())
    }

    fn digest(&mut self) -> io::Result<Option<[u8; 32]>> {
        match std::mem::replace(self, Hasher::Off) {
            Hasher::Off => Ok(None),
            Hasher::Inline(h) => Ok(Some(h.finalize().into())),
            #[cfg(not(target_arch = "wasm32"))]
            Hasher::Thread { mut tx, job, .. } => {
                tx.take();
                match job.map(|j| j.join()) {
                    Some(Ok(d)) => Ok(Some(d)),
                    _ => Err(io::Error::other("the hashing thread failed")),
                }
            }
            #[cfg(target_arch = "wasm32")]
            Hasher::Never(_) => Ok(None),
        }
    }
}

/// The output: buffers chunks, counts bytes and feeds the trailer hash.
struct Out<'s, W: Write> {
    w: W,
    buf: Vec<u8>,
    hasher: Hasher<'s>,
    bytes: u64,
}

impl<W: Write> Out<'_, W> {
    fn write_chunk(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.w.write_all(&self.buf)?;
            self.hasher.feed(&mut self.buf)?;
        }
        Ok(())
    }

    /// Writes what is buffered, then the trailer (when hashing); returns the trailer.
    fn finish(&mut self) -> io::Result<Option<[u8; 32]>> {
        self.write_chunk()?;
        let digest = self.hasher.digest()?;
        if let Some(d) = &digest {
            self.w.write_all(d)?;
            self.bytes += 32;
        }
        self.w.flush()?;
        Ok(digest)
    }
}

impl<W: Write> Write for Out<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buf.len() + buf.len() > CHUNK && !self.buf.is_empty() {
            self.write_chunk()?;
        }
        if buf.len() >= CHUNK {
            // Big pieces (overflow pages) go out directly, hashed in order.
            self.w.write_all(buf)?;
            let mut piece = buf.to_vec();
            self.hasher.feed(&mut piece)?;
        } else {
            self.buf.extend_from_slice(buf);
        }
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Meta pages 0 and 1 and, if chosen, the empty freelist page 2.
fn write_header_pages(o: &mut dyn Write, cfg: &Config, root: u64, pgid: u64) -> io::Result<()> {
    let mut page = vec![0u8; cfg.page_size];
    for index in 0..2u64 {
        page.fill(0);
        put_header(&mut page, index, FLAG_META, 0, 0);
        let meta = Meta {
            page_size: cfg.page_size as u32,
            flags: 0,
            root,
            root_sequence: 0,
            freelist: if cfg.freelist {
                FIRST_DATA_PAGE
            } else {
                NO_FREELIST
            },
            pgid,
            txid: META0_TXID - index,
            checksum: 0,
        };
        page[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + META_SIZE].copy_from_slice(&meta.encode());
        o.write_all(&page)?;
    }
    if cfg.freelist {
        page.fill(0);
        put_header(&mut page, FIRST_DATA_PAGE, FLAG_FREELIST, 0, 0);
        o.write_all(&page)?;
    }
    Ok(())
}

fn put_header(buf: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    buf[0..8].copy_from_slice(&id.to_le_bytes());
    buf[8..10].copy_from_slice(&flags.to_le_bytes());
    buf[10..12].copy_from_slice(&count.to_le_bytes());
    buf[12..16].copy_from_slice(&overflow.to_le_bytes());
}

/// One element of a pending page.
#[derive(Debug, Clone, Copy)]
struct Elem {
    flags: u32,
    /// Offset of the key in the node's data.
    off: usize,
    ksize: usize,
    vsize: usize,
    child: u64,
}

/// A page being filled. In the layout pass `data` stays empty (sizes only).
#[derive(Debug)]
struct Node {
    /// Header + element headers + key/value bytes.
    size: usize,
    first_key: Vec<u8>,
    elems: Vec<Elem>,
    data: Vec<u8>,
}

impl Node {
    fn new() -> Node {
        Node {
            size: PAGE_HEADER_SIZE,
            first_key: Vec::new(),
            elems: Vec::new(),
            data: Vec::new(),
        }
    }

    fn count(&self) -> usize {
        self.elems.len()
    }

    fn clear(&mut self) {
        self.size = PAGE_HEADER_SIZE;
        self.elems.clear();
        self.data.clear();
    }

    fn push(&mut self, wet: bool, flags: u32, key: &[u8], value: &[u8], child: u64) {
        if self.elems.is_empty() {
            self.first_key.clear();
            self.first_key.extend_from_slice(key);
        }
        self.elems.push(Elem {
            flags,
            off: self.data.len(),
            ksize: key.len(),
            vsize: value.len(),
            child,
        });
        self.size += ELEMENT_SIZE + key.len() + value.len();
        if wet {
            self.data.extend_from_slice(key);
            self.data.extend_from_slice(value);
        }
    }

    /// Serializes the page (header id `id`) into `buf`, without padding.
    fn encode(&self, kind: u16, id: u64, overflow: u32, buf: &mut Vec<u8>) {
        let n = self.elems.len();
        buf.clear();
        buf.resize(PAGE_HEADER_SIZE + n * ELEMENT_SIZE, 0);
        put_header(buf, id, kind, n as u16, overflow);
        for (i, e) in self.elems.iter().enumerate() {
            let at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
            // pos is relative to the element header: distance to the data area plus offset.
            let pos = ((n - i) * ELEMENT_SIZE + e.off) as u32;
            let el = &mut buf[at..at + ELEMENT_SIZE];
            if kind == FLAG_LEAF {
                el[0..4].copy_from_slice(&e.flags.to_le_bytes());
                el[4..8].copy_from_slice(&pos.to_le_bytes());
                el[8..12].copy_from_slice(&(e.ksize as u32).to_le_bytes());
                el[12..16].copy_from_slice(&(e.vsize as u32).to_le_bytes());
            } else {
                el[0..4].copy_from_slice(&pos.to_le_bytes());
                el[4..8].copy_from_slice(&(e.ksize as u32).to_le_bytes());
                el[8..16].copy_from_slice(&e.child.to_le_bytes());
            }
        }
        buf.extend_from_slice(&self.data);
    }
}

/// Assigns page ids and (in the write pass) writes pages.
struct Pager<'a> {
    page_size: usize,
    threshold: usize,
    max_inline: usize,
    out: Option<&'a mut dyn Write>,
    next_id: u64,
    zeros: Vec<u8>,
    scratch: Vec<u8>,
}

impl Pager<'_> {
    fn wet(&self) -> bool {
        self.out.is_some()
    }

    /// Pages (1 + overflow) for a node of `size` bytes.
    fn span(&self, size: usize) -> Result<(u64, u32), WriteError> {
        let pages = size.div_ceil(self.page_size).max(1) as u64;
        let overflow = u32::try_from(pages - 1).map_err(|_| WriteError::TooLarge {
            bucket: Vec::new(),
            key: Vec::new(),
            what: "page span",
            size: size as u64,
            limit: u32::MAX as u64 * self.page_size as u64,
        })?;
        Ok((pages, overflow))
    }

    fn pad(&mut self, size: usize, pages: u64) -> Result<(), WriteError> {
        let total = pages as usize * self.page_size;
        let mut left = total - size;
        if let Some(o) = self.out.as_mut() {
            while left > 0 {
                let n = left.min(self.zeros.len());
                o.write_all(&self.zeros[..n])?;
                left -= n;
            }
        }
        Ok(())
    }

    /// Completes `node`: gives it the next id and writes it.
    fn write_node(&mut self, kind: u16, node: &Node) -> Result<u64, WriteError> {
        let id = self.next_id;
        let (pages, overflow) = self.span(node.size)?;
        self.next_id += pages;
        if let Some(o) = self.out.as_mut() {
            node.encode(kind, id, overflow, &mut self.scratch);
            debug_assert_eq!(self.scratch.len(), node.size);
            o.write_all(&self.scratch)?;
        }
        self.pad(node.size, pages)?;
        Ok(id)
    }

    /// Writes a leaf holding the single pair (key, value) straight from the caller's slices.
    fn write_big_leaf(&mut self, flags: u32, key: &[u8], value: &[u8]) -> Result<u64, WriteError> {
        let size = PAGE_HEADER_SIZE + ELEMENT_SIZE + key.len() + value.len();
        let id = self.next_id;
        let (pages, overflow) = self.span(size)?;
        self.next_id += pages;
        if let Some(o) = self.out.as_mut() {
            let mut head = [0u8; PAGE_HEADER_SIZE + ELEMENT_SIZE];
            put_header(&mut head, id, FLAG_LEAF, 1, overflow);
            head[16..20].copy_from_slice(&flags.to_le_bytes());
            head[20..24].copy_from_slice(&(ELEMENT_SIZE as u32).to_le_bytes());
            head[24..28].copy_from_slice(&(key.len() as u32).to_le_bytes());
            head[28..32].copy_from_slice(&(value.len() as u32).to_le_bytes());
            o.write_all(&head)?;
            o.write_all(key)?;
            o.write_all(value)?;
        }
        self.pad(size, pages)?;
        Ok(id)
    }
}

/// A bucket being written.
struct Open {
    name: Vec<u8>,
    last: Option<Vec<u8>>,
    has_nested: bool,
    leaf: Node,
    /// Pending branch pages; `levels[0]` holds the parents of leaves.
    levels: Vec<Node>,
    /// Completed pages per level (`[0]`: leaves).
    done: Vec<u64>,
}

impl Open {
    fn new(name: &[u8]) -> Open {
        Open {
            name: name.to_vec(),
            last: None,
            has_nested: false,
            leaf: Node::new(),
            levels: Vec::new(),
            done: Vec::new(),
        }
    }

    fn done_at(&self, level: usize) -> u64 {
        self.done.get(level).copied().unwrap_or(0)
    }

    fn bump(&mut self, level: usize) {
        if self.done.len() <= level {
            self.done.resize(level + 1, 0);
        }
        self.done[level] += 1;
    }
}

/// Where a finished bucket lives.
enum Placement {
    Inline(Vec<u8>),
    Page(u64),
}

/// Adds (key, child) to the branch level `level` (1 = parents of leaves) of `b`, completing
/// that level's pending page first when the element does not fit.
fn add_branch(
    p: &mut Pager<'_>,
    b: &mut Open,
    level: usize,
    key: &[u8],
    child: u64,
) -> Result<(), WriteError> {
    while b.levels.len() < level {
        b.levels.push(Node::new());
    }
    let esz = ELEMENT_SIZE + key.len();
    let node = &b.levels[level - 1];
    let full = node.count() >= 2 && (node.size + esz > p.threshold || node.count() >= MAX_ELEMENTS);
    if full {
        let id = p.write_node(FLAG_BRANCH, &b.levels[level - 1])?;
        b.bump(level);
        let first = std::mem::take(&mut b.levels[level - 1].first_key);
        b.levels[level - 1].clear();
        add_branch(p, b, level + 1, &first, id)?;
        b.levels[level - 1].first_key = first;
    }
    let wet = p.wet();
    b.levels[level - 1].push(wet, 0, key, &[], child);
    Ok(())
}

/// Completes the pending leaf of `b`.
fn complete_leaf(p: &mut Pager<'_>, b: &mut Open) -> Result<(), WriteError> {
    let id = p.write_node(FLAG_LEAF, &b.leaf)?;
    b.bump(0);
    let first = std::mem::take(&mut b.leaf.first_key);
    b.leaf.clear();
    add_branch(p, b, 1, &first, id)?;
    b.leaf.first_key = first;
    Ok(())
}

/// Adds a leaf element to `b`.
fn add_leaf(
    p: &mut Pager<'_>,
    b: &mut Open,
    flags: u32,
    key: &[u8],
    value: &[u8],
) -> Result<(), WriteError> {
    let esz = ELEMENT_SIZE + key.len() + value.len();
    if PAGE_HEADER_SIZE + esz > p.page_size {
        // Its own multi-page leaf, written now without buffering the value.
        if b.leaf.count() > 0 {
            complete_leaf(p, b)?;
        }
        let id = p.write_big_leaf(flags, key, value)?;
        b.bump(0);
        return add_branch(p, b, 1, key, id);
    }
    if b.leaf.count() > 0 && (b.leaf.size + esz > p.threshold || b.leaf.count() >= MAX_ELEMENTS) {
        complete_leaf(p, b)?;
    }
    let wet = p.wet();
    b.leaf.push(wet, flags, key, value, 0);
    Ok(())
}

/// Completes every pending page of `b` bottom-up; returns where the bucket lives.
fn finish_bucket(
    p: &mut Pager<'_>,
    b: &mut Open,
    may_inline: bool,
) -> Result<Placement, WriteError> {
    if b.done_at(0) == 0 {
        if may_inline && !b.has_nested && b.leaf.size <= p.max_inline {
            let mut v = Vec::with_capacity(BUCKET_HEADER_SIZE + b.leaf.size);
            v.resize(BUCKET_HEADER_SIZE, 0);
            if p.wet() {
                let mut page = Vec::new();
                b.leaf.encode(FLAG_LEAF, 0, 0, &mut page);
                v.extend_from_slice(&page);
            } else {
                v.resize(BUCKET_HEADER_SIZE + b.leaf.size, 0);
            }
            return Ok(Placement::Inline(v));
        }
        // A single leaf (possibly empty) is the root.
        return p.write_node(FLAG_LEAF, &b.leaf).map(Placement::Page);
    }
    if b.leaf.count() > 0 {
        complete_leaf(p, b)?;
    }
    let mut level = 1;
    loop {
        if level > b.levels.len() {
            // Cannot happen: a completed page always has a parent level.
            return Err(WriteError::InvalidOptions(
                "internal: missing branch level".to_string(),
            ));
        }
        if b.done_at(level) == 0 {
            let node = &b.levels[level - 1];
            if node.count() == 1 {
                // A lone child (a big leaf) is its own root.
                return Ok(Placement::Page(node.elems[0].child));
            }
            return p.write_node(FLAG_BRANCH, node).map(Placement::Page);
        }
        let id = p.write_node(FLAG_BRANCH, &b.levels[level - 1])?;
        b.bump(level);
        let first = std::mem::take(&mut b.levels[level - 1].first_key);
        b.levels[level - 1].clear();
        add_branch(p, b, level + 1, &first, id)?;
        level += 1;
    }
}

/// Checkpoint at the end of a top-level bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    events: u64,
    hash: u64,
    next_id: u64,
}

/// Result of one pass.
#[derive(Debug, Clone)]
struct Finished {
    root: u64,
    pgid: u64,
    events: u64,
    hash: u64,
    buckets: u64,
    entries: u64,
    checkpoints: Vec<Checkpoint>,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One pass over the content.
struct Engine<'a> {
    pager: Pager<'a>,
    /// `stack[0]` is the root bucket.
    stack: Vec<Open>,
    error: Option<WriteError>,
    buckets: u64,
    entries: u64,
    events: u64,
    hash: u64,
    /// Layout pass: recorded; write pass: expected.
    checkpoints: Vec<Checkpoint>,
    tops: usize,
    /// Layout pass: bytes standing in for values given by length ([`Sink::put_sized`]).
    stand_in: Vec<u8>,
}

impl<'a> Engine<'a> {
    fn new(cfg: &Config, out: Option<&'a mut dyn Write>, expect: Vec<Checkpoint>) -> Engine<'a> {
        let wet = out.is_some();
        Engine {
            pager: Pager {
                page_size: cfg.page_size,
                threshold: cfg.threshold,
                max_inline: cfg.max_inline,
                out,
                next_id: cfg.first_data_page,
                zeros: if wet {
                    vec![0; cfg.page_size]
                } else {
                    Vec::new()
                },
                scratch: Vec::new(),
            },
            stack: vec![Open::new(b"")],
            error: None,
            buckets: 0,
            entries: 0,
            events: 0,
            hash: 0xcbf2_9ce4_8422_2325,
            checkpoints: expect,
            tops: 0,
            stand_in: Vec::new(),
        }
    }

    fn trace(&mut self, tag: u8, key: &[u8], vlen: usize) {
        self.events += 1;
        let mut h = self.hash;
        for &b in std::iter::once(&tag)
            .chain(key)
            .chain(&(vlen as u64).to_le_bytes())
        {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.hash = h;
    }

    fn path(&self) -> Vec<Vec<u8>> {
        self.stack.iter().skip(1).map(|b| b.name.clone()).collect()
    }

    /// Checks a key (or bucket name) against the limits and the previous key of the open bucket
    /// and records it as the previous key.
    fn accept_key(&mut self, key: &[u8]) -> Result<(), WriteError> {
        if key.is_empty() {
            return Err(WriteError::EmptyKey {
                bucket: self.path(),
            });
        }
        if key.len() > MAX_KEY_SIZE {
            return Err(WriteError::TooLarge {
                bucket: self.path(),
                key: key[..64].to_vec(),
                what: "key",
                size: key.len() as u64,
                limit: MAX_KEY_SIZE as u64,
            });
        }
        let path = self.path();
        let Some(b) = self.stack.last_mut() else {
            return Err(WriteError::BucketNotOpen { key: key.to_vec() });
        };
        match &mut b.last {
            Some(prev) if key <= prev.as_slice() => Err(WriteError::KeyOrder {
                bucket: path,
                key: key.to_vec(),
                previous: prev.clone(),
            }),
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(key);
                Ok(())
            }
            None => {
                b.last = Some(key.to_vec());
                Ok(())
            }
        }
    }

    fn begin(&mut self, name: &[u8]) -> Result<(), WriteError> {
        self.accept_key(name)?;
        self.trace(1, name, 0);
        if let Some(parent) = self.stack.last_mut() {
            parent.has_nested = true;
        }
        self.stack.push(Open::new(name));
        self.buckets += 1;
        Ok(())
    }

    fn end(&mut self) -> Result<(), WriteError> {
        if self.stack.len() <= 1 {
            return Err(WriteError::UnbalancedBuckets { open: Vec::new() });
        }
        self.trace(2, b"", 0);
        let Some(mut b) = self.stack.pop() else {
            return Err(WriteError::UnbalancedBuckets { open: Vec::new() });
        };
        let value = match finish_bucket(&mut self.pager, &mut b, true)? {
            Placement::Inline(v) => v,
            Placement::Page(id) => {
                let mut v = vec![0u8; BUCKET_HEADER_SIZE];
                v[0..8].copy_from_slice(&id.to_le_bytes());
                v
            }
        };
        let Some(parent) = self.stack.last_mut() else {
            return Err(WriteError::UnbalancedBuckets { open: Vec::new() });
        };
        add_leaf(&mut self.pager, parent, LEAF_FLAG_BUCKET, &b.name, &value)?;
        if self.stack.len() == 1 {
            self.top_done(&b.name)?;
        }
        Ok(())
    }

    /// A top-level bucket ended: record (layout pass) or check (write pass) a checkpoint.
    fn top_done(&mut self, name: &[u8]) -> Result<(), WriteError> {
        let here = Checkpoint {
            events: self.events,
            hash: self.hash,
            next_id: self.pager.next_id,
        };
        let i = self.tops;
        self.tops += 1;
        if !self.pager.wet() {
            if self.checkpoints.len() < MAX_CHECKPOINTS {
                self.checkpoints.push(here);
            }
            return Ok(());
        }
        let detail = match self.checkpoints.get(i) {
            Some(c) if *c == here => return Ok(()),
            Some(c) if c.events != here.events => format!(
                "{} events up to here the first time, {} the second",
                c.events, here.events
            ),
            Some(_) => "different keys, value sizes or bucket names".to_string(),
            None if self.checkpoints.len() < MAX_CHECKPOINTS => format!(
                "{} top-level buckets the first time, more the second",
                self.checkpoints.len()
            ),
            None => return Ok(()),
        };
        Err(WriteError::ContentChanged {
            bucket: name.to_vec(),
            detail,
        })
    }

    fn put_pair(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError> {
        if self.stack.len() <= 1 {
            return Err(WriteError::BucketNotOpen { key: key.to_vec() });
        }
        if value.len() > MAX_VALUE_SIZE {
            return Err(WriteError::TooLarge {
                bucket: self.path(),
                key: key[..key.len().min(64)].to_vec(),
                what: "value",
                size: value.len() as u64,
                limit: MAX_VALUE_SIZE as u64,
            });
        }
        self.accept_key(key)?;
        self.trace(3, key, value.len());
        self.entries += 1;
        let Some(b) = self.stack.last_mut() else {
            return Err(WriteError::BucketNotOpen { key: key.to_vec() });
        };
        add_leaf(&mut self.pager, b, 0, key, value)
    }

    /// Ends the pass: closes the root bucket.
    fn finish(mut self) -> Result<Finished, WriteError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.stack.len() != 1 {
            return Err(WriteError::UnbalancedBuckets { open: self.path() });
        }
        let Some(mut root) = self.stack.pop() else {
            return Err(WriteError::UnbalancedBuckets { open: Vec::new() });
        };
        let root_id = match finish_bucket(&mut self.pager, &mut root, false)? {
            Placement::Page(id) => id,
            Placement::Inline(_) => {
                return Err(WriteError::InvalidOptions(
                    "internal: inline root bucket".to_string(),
                ))
            }
        };
        Ok(Finished {
            root: root_id,
            pgid: self.pager.next_id,
            events: self.events,
            hash: self.hash,
            buckets: self.buckets,
            entries: self.entries,
            checkpoints: self.checkpoints,
        })
    }

    /// Runs `f` unless an earlier call failed; remembers a failure for every later call, so a
    /// content that ignores an error still cannot produce a file.
    fn guarded(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = f(self);
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }
}

impl Sink for Engine<'_> {
    fn begin_bucket(&mut self, name: &[u8]) -> Result<(), WriteError> {
        self.guarded(|e| e.begin(name))
    }

    fn end_bucket(&mut self) -> Result<(), WriteError> {
        self.guarded(|e| e.end())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError> {
        self.guarded(|e| e.put_pair(key, value))
    }

    fn needs_values(&self) -> bool {
        self.pager.wet()
    }

    fn put_sized(&mut self, key: &[u8], len: usize) -> Result<(), WriteError> {
        if self.pager.wet() {
            return self.guarded(|_| {
                Err(WriteError::InvalidOptions(
                    "a value given by its length in the write pass".into(),
                ))
            });
        }
        if len > MAX_VALUE_SIZE {
            let path = self.path();
            return self.guarded(|_| {
                Err(WriteError::TooLarge {
                    bucket: path,
                    key: key[..key.len().min(64)].to_vec(),
                    what: "value",
                    size: len as u64,
                    limit: MAX_VALUE_SIZE as u64,
                })
            });
        }
        // The layout pass reads only the length of a value: stand-in bytes (kept for reuse;
        // as large as the largest value, which the write pass holds anyway).
        let mut stand_in = std::mem::take(&mut self.stand_in);
        if stand_in.len() < len {
            stand_in.resize(len, 0);
        }
        let r = self.guarded(|e| e.put_pair(key, &stand_in[..len]));
        self.stand_in = stand_in;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{Kind, Page};

    #[test]
    fn leaf_and_branch_pages_encode_as_bbolt_lays_them_out() {
        let mut n = Node::new();
        n.push(true, 0, b"ab", b"xyz", 0);
        n.push(true, LEAF_FLAG_BUCKET, b"c", &[7; 16], 0);
        assert_eq!(n.size, 16 + 2 * 16 + 2 + 3 + 1 + 16);
        let mut buf = Vec::new();
        n.encode(FLAG_LEAF, 9, 0, &mut buf);
        assert_eq!(buf.len(), n.size);
        // Header, then element 0: flags 0, pos 32 (two element headers to skip), ksize 2, vsize 3.
        assert_eq!(
            &buf[0..16],
            &[9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            &buf[16..32],
            &[0, 0, 0, 0, 32, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]
        );
        // Element 1: pos = 16 (one header) + 5 (k0 v0).
        assert_eq!(
            &buf[32..48],
            &[1, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0]
        );
        assert_eq!(&buf[48..53], b"abxyz");
        let page = Page::parse(9, 0, buf.clone(), false).unwrap();
        assert_eq!(page.kind(), Kind::Leaf);
        let e = page.leaf(1).unwrap();
        assert_eq!(
            (e.key, e.value, e.is_bucket()),
            (&b"c"[..], &[7u8; 16][..], true)
        );

        let mut b = Node::new();
        b.push(true, 0, b"k1", &[], 5);
        b.push(true, 0, b"k22", &[], 6);
        b.encode(FLAG_BRANCH, 10, 0, &mut buf);
        assert_eq!(
            &buf[16..32],
            &[32, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
        );
        let page = Page::parse(10, 0, buf, false).unwrap();
        assert_eq!(page.branch(1).unwrap(), (&b"k22"[..], 6));
        page.check_order().unwrap();
    }

    #[test]
    fn options_are_checked() {
        let c = Config::new(&WriteOptions::default()).unwrap();
        assert_eq!((c.page_size, c.threshold, c.max_inline), (4096, 4096, 1024));
        assert_eq!(c.first_data_page, 3);
        let c = Config::new(&WriteOptions {
            fill_percent: 0.5,
            freelist: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((c.threshold, c.first_data_page), (2048, 2));
        for bad in [0.05, 1.01, f64::INFINITY, f64::NAN] {
            assert!(Config::new(&WriteOptions {
                fill_percent: bad,
                ..Default::default()
            })
            .is_err());
        }
    }

    #[test]
    fn messages_escape_bytes() {
        assert_eq!(show(b"a\x00\xff\"z"), "a\\x00\\xff\\x22z");
        assert!(show(&[b'k'; 100]).ends_with("…(100 bytes)"));
        let e = WriteError::KeyOrder {
            bucket: vec![b"key".to_vec(), vec![0]],
            key: b"a".to_vec(),
            previous: b"b".to_vec(),
        };
        assert_eq!(
            e.to_string(),
            "bucket \"key\"/\"\\x00\": key \"a\" is not after the previous key \"b\" (keys must be strictly increasing)"
        );
    }

    impl Engine<'_> {
        /// Bytes held in pending pages and previous keys of the open buckets.
        fn buffered(&self) -> usize {
            let node = |n: &Node| {
                n.data.capacity()
                    + n.first_key.capacity()
                    + n.elems.capacity() * std::mem::size_of::<Elem>()
            };
            self.stack
                .iter()
                .map(|b| {
                    node(&b.leaf)
                        + b.levels.iter().map(node).sum::<usize>()
                        + b.last.as_ref().map_or(0, |l| l.capacity())
                })
                .sum()
        }
    }

    #[test]
    fn memory_stays_bounded_by_tree_height_not_by_size() {
        let cfg = Config::new(&WriteOptions::default()).unwrap();
        let value = vec![0xabu8; 100];
        let big = vec![1u8; 1 << 20];
        let drive = |e: &mut Engine<'_>| {
            let mut peak = 0;
            e.begin(b"outer").unwrap();
            e.begin(b"key").unwrap();
            for i in 0..300_000u64 {
                let key = format!("{i:012}");
                if i % 50_000 == 7 {
                    e.put_pair(key.as_bytes(), &big).unwrap(); // streamed, never buffered
                } else {
                    e.put_pair(key.as_bytes(), &value).unwrap();
                }
                peak = peak.max(e.buffered());
            }
            e.end().unwrap();
            e.end().unwrap();
            peak
        };
        let mut layout = Engine::new(&cfg, None, Vec::new());
        let dry_peak = drive(&mut layout);
        let plan = layout.finish().unwrap();
        let mut sink = io::sink();
        let mut e = Engine::new(&cfg, Some(&mut sink), plan.checkpoints.clone());
        let peak = drive(&mut e);
        let done = e.finish().unwrap();
        assert_eq!((done.pgid, done.root), (plan.pgid, plan.root));
        assert!(done.pgid > 10_000);
        // Element tables (40 bytes per element in memory) and first keys in the layout pass;
        // the write pass adds the key/value bytes of one pending page per level.
        assert!(dry_peak < 32 << 10, "layout pass peak {dry_peak} bytes");
        assert!(peak < 64 << 10, "write pass peak {peak} bytes");
        eprintln!("buffered at most {dry_peak} bytes (layout), {peak} bytes (write)");
    }
}
