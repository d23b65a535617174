//! Opening a file and reading pages, buckets and cursors on demand.

use storage::ReadAt;

use crate::error::{Error, MetaProblem, Result};
use crate::meta::{valid_page_size, Meta, FIRST_DATA_PAGE, META_SIZE};
use crate::page::{Kind, LeafElem, Page, PAGE_HEADER_SIZE};

/// Limits that protect against hostile files.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest page span (page plus its overflow pages) we will load, in bytes.
    pub max_page_span: u64,
    /// The deepest tree we will descend.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // bbolt values are < 2 GiB, but etcd requests are limited to a few MiB by default; 256 MiB
        // leaves room for unusual configurations without letting one corrupt header ask for GiBs.
        Limits {
            max_page_span: 256 << 20,
            max_depth: 64,
        }
    }
}

/// Which meta page is in use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaChoice {
    /// 0 or 1.
    pub index: u8,
    pub meta: Meta,
    /// The other meta page's problem, if it was unusable.
    pub other_problem: Option<MetaProblem>,
    /// The other meta page, if valid.
    pub other: Option<Meta>,
    /// True when the newer meta (by txid) was unusable and we fell back to the older one.
    pub fell_back: bool,
}

/// An open bbolt file.
#[derive(Debug)]
pub struct Db<S> {
    src: S,
    page_size: u64,
    choice: MetaChoice,
    limits: Limits,
}

/// Where a bucket's tree lives.
#[derive(Debug, Clone)]
enum Root {
    Page(u64),
    Inline(Page),
}

/// A bucket: the root bucket, a top-level bucket or a nested one.
#[derive(Debug, Clone)]
pub struct Bucket {
    root: Root,
    pub sequence: u64,
    /// Page id and absolute offset of the element that defines this bucket (for messages).
    pub defined_at: (u64, u64),
}

impl Bucket {
    /// True for a bucket stored inline in its parent's leaf.
    pub fn is_inline(&self) -> bool {
        matches!(self.root, Root::Inline(_))
    }

    /// The embedded page of an inline bucket.
    pub fn inline_page(&self) -> Option<&Page> {
        match &self.root {
            Root::Inline(p) => Some(p),
            Root::Page(_) => None,
        }
    }

    /// Root page id (None for inline buckets).
    pub fn root_page(&self) -> Option<u64> {
        match self.root {
            Root::Page(id) => Some(id),
            Root::Inline(_) => None,
        }
    }
}

fn read_meta_page<S: ReadAt>(src: &S, offset: u64) -> std::result::Result<Meta, MetaProblem> {
    let mut buf = [0u8; PAGE_HEADER_SIZE + META_SIZE];
    if src.read_exact_at(offset, &mut buf).is_err() {
        return Err(MetaProblem::Missing);
    }
    Meta::parse(&buf)
}

impl<S: ReadAt> Db<S> {
    /// Opens a bbolt file with default limits.
    pub fn open(src: S) -> Result<Db<S>> {
        Self::open_with(src, Limits::default())
    }

    pub fn open_with(src: S, limits: Limits) -> Result<Db<S>> {
        let size = src.size();
        if size < (PAGE_HEADER_SIZE + META_SIZE) as u64 {
            return Err(Error::TooSmall { size });
        }
        let m0 = read_meta_page(&src, 0);
        // Meta 1 sits one page after meta 0. Take the page size from meta 0 when it is valid,
        // otherwise probe the sizes bbolt itself probes (1 KiB * 2^k) for a meta whose own
        // page size matches its position.
        let m1 = match &m0 {
            Ok(m) => read_meta_page(&src, m.page_size as u64),
            Err(_) => {
                let mut found = Err(MetaProblem::Missing);
                for k in 0..=14u32 {
                    let ps = 1024u64 << k;
                    let r = read_meta_page(&src, ps);
                    match r {
                        Ok(m) if m.page_size as u64 == ps => {
                            found = Ok(m);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if ps == 4096 {
                                found = Err(e);
                            }
                        }
                    }
                }
                found
            }
        };
        let choice = match (m0, m1) {
            (Ok(a), Ok(b)) => {
                if a.page_size != b.page_size {
                    // Cannot both be right; trust the newer.
                    let (index, meta, other) = if a.txid >= b.txid {
                        (0, a, b)
                    } else {
                        (1, b, a)
                    };
                    MetaChoice {
                        index,
                        meta,
                        other_problem: Some(MetaProblem::BadPageSize(other.page_size)),
                        other: None,
                        fell_back: false,
                    }
                } else if a.txid >= b.txid {
                    MetaChoice {
                        index: 0,
                        meta: a,
                        other_problem: None,
                        other: Some(b),
                        fell_back: false,
                    }
                } else {
                    MetaChoice {
                        index: 1,
                        meta: b,
                        other_problem: None,
                        other: Some(a),
                        fell_back: false,
                    }
                }
            }
            // With only one valid meta we cannot know whether the broken one was newer; bbolt
            // counts it as a fall-back whenever meta 0 (the first tried) is unusable, and so do we
            // for either page: the user must hear that one copy is damaged.
            (Ok(a), Err(e)) => MetaChoice {
                index: 0,
                meta: a,
                other_problem: Some(e),
                other: None,
                fell_back: true,
            },
            (Err(e), Ok(b)) => MetaChoice {
                index: 1,
                meta: b,
                other_problem: Some(e),
                other: None,
                fell_back: true,
            },
            (Err(meta0), Err(meta1)) => return Err(Error::NoValidMeta { meta0, meta1 }),
        };
        debug_assert!(valid_page_size(choice.meta.page_size));
        Ok(Db {
            src,
            page_size: choice.meta.page_size as u64,
            choice,
            limits,
        })
    }

    pub fn source(&self) -> &S {
        &self.src
    }

    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    pub fn meta(&self) -> &Meta {
        &self.choice.meta
    }

    pub fn meta_choice(&self) -> &MetaChoice {
        &self.choice
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `pgid * page_size`: the size bbolt and `etcdctl snapshot status` report.
    pub fn size_in_use(&self) -> u64 {
        self.choice.meta.pgid.saturating_mul(self.page_size)
    }

    /// True when the source is shorter than the pages the meta claims.
    pub fn is_truncated(&self) -> bool {
        self.src.size() < self.size_in_use()
    }

    /// Reads raw bytes of page `id` and its overflow pages, checking only bounds and the id.
    /// `from` is the referencing page (id, offset of the reference) for messages.
    pub fn read_raw_page(&self, id: u64, from: (u64, u64)) -> Result<(u16, Vec<u8>)> {
        let high_water = self.choice.meta.pgid;
        if id >= high_water || id < FIRST_DATA_PAGE {
            return Err(Error::PageOutOfBounds {
                page: id,
                high_water,
                from_page: from.0,
                offset: from.1,
            });
        }
        // id < high_water <= u64::MAX and page_size <= 1 MiB: the product can still overflow
        // for a hostile high-water mark, so check it.
        let offset = id
            .checked_mul(self.page_size)
            .ok_or(Error::PageOutOfBounds {
                page: id,
                high_water,
                from_page: from.0,
                offset: from.1,
            })?;
        let mut first = vec![0u8; self.page_size as usize];
        self.src
            .read_exact_at(offset, &mut first)
            .map_err(|source| Error::Read {
                page: id,
                offset,
                source,
            })?;
        let found = crate::page::u64_at(&first, 0);
        if found != id {
            return Err(Error::PageIdMismatch {
                page: id,
                offset,
                found,
            });
        }
        let flags = crate::page::u16_at(&first, 8);
        let overflow = crate::page::u32_at(&first, 12);
        if overflow > 0 {
            let pages = overflow as u64 + 1;
            if id + pages > high_water {
                return Err(Error::PageSpan {
                    page: id,
                    offset,
                    overflow,
                    reason: "runs past the high-water mark",
                });
            }
            let span = pages * self.page_size;
            if span > self.limits.max_page_span {
                return Err(Error::PageSpan {
                    page: id,
                    offset,
                    overflow,
                    reason: "larger than the page-span limit",
                });
            }
            self.src
                .check_range(offset, span)
                .map_err(|source| Error::Read {
                    page: id,
                    offset,
                    source,
                })?;
            first.resize(span as usize, 0);
            let rest_off = offset + self.page_size;
            self.src
                .read_exact_at(rest_off, &mut first[self.page_size as usize..])
                .map_err(|source| Error::Read {
                    page: id,
                    offset: rest_off,
                    source,
                })?;
        }
        Ok((flags, first))
    }

    /// Reads and validates a branch or leaf page.
    pub fn read_page(&self, id: u64, from: (u64, u64)) -> Result<Page> {
        let (_, data) = self.read_raw_page(id, from)?;
        Page::parse(id, id * self.page_size, data, false)
    }

    /// The root bucket (whose entries are the top-level buckets).
    pub fn root_bucket(&self) -> Bucket {
        Bucket {
            root: Root::Page(self.choice.meta.root),
            sequence: self.choice.meta.root_sequence,
            defined_at: (self.choice.index as u64, 0),
        }
    }

    /// Interprets a leaf element flagged as a bucket, found on `page`.
    pub fn bucket_from_elem(&self, page: &Page, index: usize, e: &LeafElem<'_>) -> Result<Bucket> {
        let at = (page.id, page.elem_offset(index));
        if !e.is_bucket() {
            return Err(Error::BadBucket {
                page: at.0,
                offset: at.1,
                reason: "element is not a bucket",
            });
        }
        if e.value.len() < 16 {
            return Err(Error::BadBucket {
                page: at.0,
                offset: at.1,
                reason: "bucket header shorter than 16 bytes",
            });
        }
        let root = crate::page::u64_at(e.value, 0);
        let sequence = crate::page::u64_at(e.value, 8);
        if root != 0 {
            return Ok(Bucket {
                root: Root::Page(root),
                sequence,
                defined_at: at,
            });
        }
        let inline_off = page.offset + e.value_pos as u64 + 16;
        let data = e.value[16..].to_vec();
        let inline = Page::parse(page.id, inline_off, data, true).map_err(|err| match err {
            Error::PageType { .. } => Error::BadBucket {
                page: at.0,
                offset: at.1,
                reason: "inline bucket page is not a leaf",
            },
            other => other,
        })?;
        Ok(Bucket {
            root: Root::Inline(inline),
            sequence,
            defined_at: at,
        })
    }

    /// A cursor over `bucket`.
    pub fn cursor<'a>(&'a self, bucket: &'a Bucket) -> Cursor<'a, S> {
        Cursor {
            db: self,
            bucket,
            stack: Vec::new(),
        }
    }

    /// Looks up a top-level bucket by name.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<Bucket>> {
        let root = self.root_bucket();
        self.sub_bucket(&root, name)
    }

    /// Looks up a bucket nested in `parent`.
    pub fn sub_bucket(&self, parent: &Bucket, name: &[u8]) -> Result<Option<Bucket>> {
        let mut c = self.cursor(parent);
        let found = matches!(c.seek(name)?, Some(e) if e.key == name && e.is_bucket());
        if !found {
            return Ok(None);
        }
        c.current_bucket().map(Some)
    }

    /// Value of `key` in `bucket` (None if absent or if it is a nested bucket).
    pub fn get(&self, bucket: &Bucket, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut c = self.cursor(bucket);
        match c.seek(key)? {
            Some(e) if e.key == key && !e.is_bucket() => Ok(Some(e.value.to_vec())),
            _ => Ok(None),
        }
    }
}

/// A position in a bucket's tree; reads pages as it moves.
pub struct Cursor<'a, S> {
    db: &'a Db<S>,
    bucket: &'a Bucket,
    /// Path from the root: (page, element index). The last page is a leaf when positioned.
    stack: Vec<(Page, usize)>,
}

impl<'a, S: ReadAt> Cursor<'a, S> {
    fn load(&self, id: u64, from: (u64, u64)) -> Result<Page> {
        if self.stack.len() >= self.db.limits.max_depth {
            return Err(Error::TooDeep {
                page: from.0,
                offset: from.1,
                depth: self.db.limits.max_depth,
            });
        }
        if self.stack.iter().any(|(p, _)| !p.inline && p.id == id) {
            return Err(Error::Cycle {
                page: id,
                offset: from.1,
                from_page: from.0,
            });
        }
        let page = self.db.read_page(id, from)?;
        page.check_order()?;
        Ok(page)
    }

    fn root_page(&self) -> Result<Page> {
        match &self.bucket.root {
            Root::Inline(p) => {
                p.check_order()?;
                Ok(p.clone())
            }
            Root::Page(id) => self.load(*id, self.bucket.defined_at),
        }
    }

    /// Descends from the top of the stack to a leaf, always taking element `pick(page)`.
    fn descend(&mut self, leftmost: bool, key: &[u8]) -> Result<()> {
        loop {
            let Some((page, idx)) = self.stack.last() else {
                return Ok(());
            };
            if page.kind() == Kind::Leaf {
                return Ok(());
            }
            let (_, child) = page.branch(*idx)?;
            let from = (page.id, page.elem_offset(*idx));
            let child_page = self.load(child, from)?;
            let cidx = match child_page.kind() {
                Kind::Branch if leftmost => 0,
                Kind::Branch => child_page.branch_search(key)?,
                Kind::Leaf if leftmost => 0,
                Kind::Leaf => child_page.leaf_search(key)?,
            };
            self.stack.push((child_page, cidx));
        }
    }

    /// Moves to the first leaf element at or after the current position (skipping exhausted and
    /// empty leaves). Returns false at the end of the bucket.
    fn settle(&mut self) -> Result<bool> {
        loop {
            let Some((page, idx)) = self.stack.last() else {
                return Ok(false);
            };
            if page.kind() == Kind::Leaf && *idx < page.count() {
                return Ok(true);
            }
            // Exhausted: pop to the nearest branch with a next child.
            self.stack.pop();
            loop {
                let Some((page, idx)) = self.stack.last_mut() else {
                    return Ok(false);
                };
                if *idx + 1 < page.count() {
                    *idx += 1;
                    break;
                }
                self.stack.pop();
            }
            self.descend(true, &[])?;
        }
    }

    fn entry(&self) -> Result<Option<LeafElem<'_>>> {
        match self.stack.last() {
            Some((page, idx)) if page.kind() == Kind::Leaf && *idx < page.count() => {
                page.leaf(*idx).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Positions at the first entry.
    pub fn first(&mut self) -> Result<Option<LeafElem<'_>>> {
        self.stack.clear();
        let root = self.root_page()?;
        self.stack.push((root, 0));
        self.descend(true, &[])?;
        if !self.settle()? {
            return Ok(None);
        }
        self.entry()
    }

    /// Positions at the last entry.
    pub fn last(&mut self) -> Result<Option<LeafElem<'_>>> {
        self.stack.clear();
        let root = self.root_page()?;
        let last = root.count().saturating_sub(1);
        self.stack.push((root, last));
        loop {
            let Some((page, idx)) = self.stack.last() else {
                return Ok(None);
            };
            if page.kind() == Kind::Leaf {
                break;
            }
            let (_, child) = page.branch(*idx)?;
            let from = (page.id, page.elem_offset(*idx));
            let child_page = self.load(child, from)?;
            let cidx = child_page.count().saturating_sub(1);
            self.stack.push((child_page, cidx));
        }
        // An empty last leaf (possible only in damaged trees) is treated as an empty bucket.
        self.entry()
    }

    /// Positions at the first entry whose key is >= `key`.
    pub fn seek(&mut self, key: &[u8]) -> Result<Option<LeafElem<'_>>> {
        self.stack.clear();
        let root = self.root_page()?;
        let idx = match root.kind() {
            Kind::Branch => root.branch_search(key)?,
            Kind::Leaf => root.leaf_search(key)?,
        };
        self.stack.push((root, idx));
        self.descend(false, key)?;
        if !self.settle()? {
            return Ok(None);
        }
        self.entry()
    }

    /// Moves to the next entry. Call after `first` or `seek`.
    pub fn next(&mut self) -> Result<Option<LeafElem<'_>>> {
        match self.stack.last_mut() {
            Some((_, idx)) => *idx += 1,
            None => return Ok(None),
        }
        if !self.settle()? {
            return Ok(None);
        }
        self.entry()
    }

    /// The current entry again.
    pub fn current(&self) -> Result<Option<LeafElem<'_>>> {
        self.entry()
    }

    /// The leaf page the cursor is on and the element index (for messages and bucket lookups).
    pub fn position(&self) -> Option<(&Page, usize)> {
        self.stack.last().map(|(p, i)| (p, *i))
    }

    /// The bucket defined by the current element.
    pub fn current_bucket(&self) -> Result<Bucket> {
        let Some((page, idx)) = self.stack.last() else {
            return Err(Error::BadBucket {
                page: 0,
                offset: 0,
                reason: "cursor is not positioned",
            });
        };
        let e = page.leaf(*idx)?;
        self.db.bucket_from_elem(page, *idx, &e)
    }
}
