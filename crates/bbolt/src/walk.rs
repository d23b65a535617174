//! A full, checked traversal: every bucket, every page, every entry — the work of bbolt's
//! `tx.Check()` and of etcd's `snapshot status` hash in one pass over the file.

use std::ops::ControlFlow;

use storage::ReadAt;

use crate::db::{Bucket, Db};
use crate::error::{Error, Result};
use crate::meta::NO_FREELIST;
use crate::page::{u64_at, Kind, Page, FLAG_FREELIST, PAGE_HEADER_SIZE};

/// Per-bucket numbers gathered by a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketStats {
    pub name: Vec<u8>,
    /// Direct entries (nested buckets count as one entry each).
    pub entries: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
    pub branch_pages: u64,
    pub leaf_pages: u64,
    /// Extra pages of multi-page branch/leaf nodes.
    pub overflow_pages: u64,
    pub inline: bool,
    pub nested_buckets: u64,
    /// Depth of the tree (1 = a single leaf).
    pub depth: u32,
}

/// What a walk found about the file as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkReport {
    /// Top-level buckets in name order.
    pub buckets: Vec<BucketStats>,
    /// Pages of the root bucket's own tree (the list of top-level buckets).
    pub root_pages: u64,
    /// Page counts below the high-water mark.
    pub high_water: u64,
    pub reachable_pages: u64,
    /// Pages listed in the freelist page (0 when there is none).
    pub freelist_pages: u64,
    pub free_listed: u64,
    /// Pages neither reachable nor listed free. With no freelist on disk (etcd on Linux) these
    /// are simply the free pages; with a freelist they are an inconsistency ("unreachable unfreed").
    pub unaccounted: u64,
    pub has_freelist: bool,
    /// Non-fatal problems (e.g. unreachable unfreed pages in a file with a freelist).
    pub problems: Vec<String>,
    /// The visitor asked to stop; the numbers cover only what was walked.
    pub stopped: bool,
}

impl WalkReport {
    /// Free pages: listed free, or (without a freelist) unreachable.
    pub fn free_pages(&self) -> u64 {
        if self.has_freelist {
            self.free_listed
        } else {
            self.unaccounted
        }
    }
}

/// Receives what a walk sees, in bucket and key order.
pub trait Visitor {
    /// A top-level bucket begins (called even for an empty bucket).
    fn bucket(&mut self, _name: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// An entry of the current top-level bucket.
    fn entry(&mut self, e: WalkEntry<'_>) -> ControlFlow<()>;
}

/// One entry seen by a walk, in bucket and key order.
pub struct WalkEntry<'a> {
    /// Page holding the entry and the absolute offset of its element header.
    pub page: u64,
    pub offset: u64,
    pub key: &'a [u8],
    /// Empty for nested buckets (as bbolt's `ForEach` gives them).
    pub value: &'a [u8],
    pub is_bucket: bool,
}

struct Bitmap {
    bits: Vec<u64>,
}

impl Bitmap {
    fn new(n: u64) -> Self {
        Bitmap {
            bits: vec![0; n.div_ceil(64) as usize],
        }
    }
    /// Sets bit `i`; returns whether it was already set.
    fn set(&mut self, i: u64) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        let was = self.bits[w] & (1 << b) != 0;
        self.bits[w] |= 1 << b;
        was
    }
    fn get(&self, i: u64) -> bool {
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
}

struct Walker<'d, S, V> {
    db: &'d Db<S>,
    reachable: Bitmap,
    visitor: &'d mut V,
    stopped: bool,
    /// Pages on the path from the current bucket's root.
    path: Vec<u64>,
}

struct Bounds<'k> {
    lo: Option<&'k [u8]>,
    hi: Option<&'k [u8]>,
}

impl<S: ReadAt, V: Visitor> Walker<'_, S, V> {
    /// Marks pages `id..=id+overflow` reachable.
    fn mark(&mut self, page: &Page, from: (u64, u64)) -> Result<()> {
        if self.path.contains(&page.id) {
            return Err(Error::Cycle {
                page: page.id,
                offset: from.1,
                from_page: from.0,
            });
        }
        for p in page.id..=page.id + page.overflow() as u64 {
            if self.reachable.set(p) {
                return Err(Error::MultipleReferences {
                    page: p,
                    offset: from.1,
                    from_page: from.0,
                });
            }
        }
        Ok(())
    }

    /// Walks the tree rooted at `page`. `top` = true when the entries are those of a top-level
    /// bucket (reported to `on_entry`); `stats` collects page counts.
    fn walk_page(
        &mut self,
        page: &Page,
        depth: usize,
        bounds: Bounds<'_>,
        prev: &mut Option<Vec<u8>>,
        stats: &mut BucketStats,
        report_entries: bool,
    ) -> Result<()> {
        if depth > self.db.limits().max_depth {
            return Err(Error::TooDeep {
                page: page.id,
                offset: page.offset,
                depth: self.db.limits().max_depth,
            });
        }
        stats.depth = stats.depth.max(depth as u32);
        if !page.inline {
            match page.kind() {
                Kind::Branch => stats.branch_pages += 1,
                Kind::Leaf => stats.leaf_pages += 1,
            }
            stats.overflow_pages += page.overflow() as u64;
        }
        match page.kind() {
            Kind::Branch => {
                for i in 0..page.count() {
                    let (key, child) = page.branch(i)?;
                    let next_key = if i + 1 < page.count() {
                        Some(page.branch(i + 1)?.0)
                    } else {
                        bounds.hi
                    };
                    if let Some(lo) = bounds.lo {
                        if key < lo && i > 0 {
                            return Err(Error::KeyOrder {
                                page: page.id,
                                offset: page.elem_offset(i),
                                index: i,
                            });
                        }
                    }
                    if let Some(n) = next_key {
                        if i + 1 < page.count() && n <= key {
                            return Err(Error::KeyOrder {
                                page: page.id,
                                offset: page.elem_offset(i + 1),
                                index: i + 1,
                            });
                        }
                    }
                    let from = (page.id, page.elem_offset(i));
                    if self.path.contains(&child) {
                        return Err(Error::Cycle {
                            page: child,
                            offset: from.1,
                            from_page: from.0,
                        });
                    }
                    let child_page = self.db.read_page(child, from)?;
                    self.mark(&child_page, from)?;
                    self.path.push(child);
                    let r = self.walk_page(
                        &child_page,
                        depth + 1,
                        Bounds {
                            lo: Some(key),
                            hi: next_key,
                        },
                        prev,
                        stats,
                        report_entries,
                    );
                    self.path.pop();
                    r?;
                }
            }
            Kind::Leaf => {
                for i in 0..page.count() {
                    let e = page.leaf(i)?;
                    let out_of_bounds = bounds.lo.is_some_and(|lo| e.key < lo)
                        || bounds.hi.is_some_and(|hi| e.key >= hi);
                    let unordered = prev.as_deref().is_some_and(|p| e.key <= p);
                    if out_of_bounds || unordered {
                        return Err(Error::KeyOrder {
                            page: page.id,
                            offset: page.elem_offset(i),
                            index: i,
                        });
                    }
                    match prev {
                        Some(p) => {
                            p.clear();
                            p.extend_from_slice(e.key);
                        }
                        None => *prev = Some(e.key.to_vec()),
                    }
                    stats.entries += 1;
                    stats.key_bytes += e.key.len() as u64;
                    stats.value_bytes += e.value.len() as u64;
                    if e.is_bucket() {
                        stats.nested_buckets += 1;
                        let b = self.db.bucket_from_elem(page, i, &e)?;
                        // Nested contents are walked for page accounting; their entries are not
                        // entries of this bucket.
                        let mut nested = BucketStats::default();
                        self.walk_bucket(&b, &mut nested, false, depth + 1)?;
                        stats.branch_pages += nested.branch_pages;
                        stats.leaf_pages += nested.leaf_pages;
                        stats.overflow_pages += nested.overflow_pages;
                    }
                    if report_entries && !self.stopped {
                        let value: &[u8] = if e.is_bucket() { &[] } else { e.value };
                        let entry = WalkEntry {
                            page: page.id,
                            offset: page.elem_offset(i),
                            key: e.key,
                            value,
                            is_bucket: e.is_bucket(),
                        };
                        if self.visitor.entry(entry).is_break() {
                            self.stopped = true;
                        }
                    }
                    if self.stopped {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn walk_bucket(
        &mut self,
        b: &Bucket,
        stats: &mut BucketStats,
        report: bool,
        depth: usize,
    ) -> Result<()> {
        let mut prev = None;
        stats.inline = b.is_inline();
        let root = self.root_of(b)?;
        // A nested bucket's tree is a new path.
        let saved = std::mem::take(&mut self.path);
        if !root.inline {
            self.path.push(root.id);
        }
        let r = self.walk_page(
            &root,
            depth.max(1),
            Bounds { lo: None, hi: None },
            &mut prev,
            stats,
            report,
        );
        self.path = saved;
        r
    }

    fn root_of(&mut self, b: &Bucket) -> Result<Page> {
        match b.root_page() {
            Some(id) => {
                let p = self.db.read_page(id, b.defined_at)?;
                self.mark(&p, b.defined_at)?;
                Ok(p)
            }
            None => inline_page(b),
        }
    }
}

fn inline_page(b: &Bucket) -> Result<Page> {
    b.inline_page().cloned().ok_or(Error::BadBucket {
        page: b.defined_at.0,
        offset: b.defined_at.1,
        reason: "not inline",
    })
}

impl<S: ReadAt> Db<S> {
    /// Walks every top-level bucket in name order, calling `on_entry` for each of their entries
    /// in key order, while checking the tree like bbolt's `Check` (page ids in bounds and
    /// self-identifying, page kinds, no page reachable twice, keys strictly ordered within
    /// pages and across branch boundaries). Stops at the first structural error.
    pub fn walk<V: Visitor>(&self, visitor: &mut V) -> Result<WalkReport> {
        let meta = *self.meta();
        // Pages past the end of the source are errors when touched; size the bitmap by what can
        // exist, so a hostile high-water mark cannot make us allocate.
        let pages_in_file = self.source().size() / self.page_size();
        let tracked = meta.pgid.min(pages_in_file.saturating_add(1));
        let mut w = Walker {
            db: self,
            reachable: Bitmap::new(tracked.max(2)),
            visitor,
            stopped: false,
            path: Vec::new(),
        };
        w.reachable.set(0);
        w.reachable.set(1);
        let mut report = WalkReport {
            high_water: meta.pgid,
            ..Default::default()
        };

        // Freelist.
        let mut free = Vec::new();
        if meta.freelist != NO_FREELIST {
            report.has_freelist = true;
            let from = (self.meta_choice().index as u64, 0);
            let (flags, data) = self.read_raw_page(meta.freelist, from)?;
            let offset = meta.freelist * self.page_size();
            if flags != FLAG_FREELIST {
                return Err(Error::PageType {
                    page: meta.freelist,
                    offset,
                    flags,
                    expected: "freelist",
                });
            }
            let overflow = crate::page::u32_at(&data, 12) as u64;
            for p in meta.freelist..=meta.freelist + overflow {
                w.reachable.set(p);
            }
            report.freelist_pages = overflow + 1;
            let count = crate::page::u16_at(&data, 10) as usize;
            let (n, start) = if count == 0xFFFF {
                if data.len() < PAGE_HEADER_SIZE + 8 {
                    return Err(Error::Element {
                        page: meta.freelist,
                        offset,
                        index: 0,
                        reason: "freelist count missing",
                    });
                }
                (
                    u64_at(&data, PAGE_HEADER_SIZE) as usize,
                    PAGE_HEADER_SIZE + 8,
                )
            } else {
                (count, PAGE_HEADER_SIZE)
            };
            if n > (data.len() - start) / 8 {
                return Err(Error::Element {
                    page: meta.freelist,
                    offset,
                    index: n,
                    reason: "freelist ids run past the page",
                });
            }
            for i in 0..n {
                free.push(u64_at(&data, start + 8 * i));
            }
        }

        // The root bucket's own tree holds the top-level buckets.
        let root = self.root_bucket();
        let root_page = self.read_page(meta.root, root.defined_at)?;
        w.mark(&root_page, root.defined_at)?;
        let mut root_stats = BucketStats::default();
        // Walk the root tree page by page; for each bucket element, walk that bucket.
        let mut tops: Vec<(Vec<u8>, Bucket)> = Vec::new();
        {
            let mut prev: Option<Vec<u8>> = None;
            collect_root(
                self,
                &mut w,
                &root_page,
                1,
                &mut prev,
                &mut root_stats,
                &mut tops,
            )?;
        }
        report.root_pages =
            root_stats.branch_pages + root_stats.leaf_pages + root_stats.overflow_pages;
        for (name, b) in tops {
            if w.visitor.bucket(&name).is_break() {
                w.stopped = true;
            }
            if w.stopped {
                report.stopped = true;
                return Ok(report);
            }
            let mut stats = BucketStats {
                name,
                ..Default::default()
            };
            w.walk_bucket(&b, &mut stats, true, 1)?;
            report.buckets.push(stats);
            if w.stopped {
                report.stopped = true;
                return Ok(report);
            }
        }

        // Accounting.
        let mut reachable = 0u64;
        for p in 0..tracked {
            if w.reachable.get(p) {
                reachable += 1;
            }
        }
        report.reachable_pages = reachable;
        let mut free_listed = 0u64;
        let mut reachable_freed = 0u64;
        let mut sorted = free;
        sorted.sort_unstable();
        let before = sorted.len();
        sorted.dedup();
        if sorted.len() != before {
            report.problems.push(format!(
                "{} page ids appear more than once in the freelist",
                before - sorted.len()
            ));
        }
        for &p in &sorted {
            if p >= meta.pgid {
                report.problems.push(format!(
                    "freelist lists page {p}, past the high-water mark {}",
                    meta.pgid
                ));
                continue;
            }
            if p < tracked && w.reachable.get(p) {
                reachable_freed += 1;
            } else {
                free_listed += 1;
            }
        }
        if reachable_freed > 0 {
            report.problems.push(format!(
                "{reachable_freed} pages are both reachable and listed free"
            ));
        }
        report.free_listed = free_listed;
        // `reachable` includes the meta and freelist pages.
        report.unaccounted = meta.pgid.saturating_sub(reachable + free_listed);
        if report.has_freelist {
            if report.unaccounted > 0 {
                report.problems.push(format!(
                    "{} pages are unreachable and not listed free",
                    report.unaccounted
                ));
            }
        }
        Ok(report)
    }
}

#[allow(clippy::too_many_arguments)]
fn collect_root<S: ReadAt, V: Visitor>(
    db: &Db<S>,
    w: &mut Walker<'_, S, V>,
    page: &Page,
    depth: usize,
    prev: &mut Option<Vec<u8>>,
    stats: &mut BucketStats,
    tops: &mut Vec<(Vec<u8>, Bucket)>,
) -> Result<()> {
    if depth > db.limits().max_depth {
        return Err(Error::TooDeep {
            page: page.id,
            offset: page.offset,
            depth: db.limits().max_depth,
        });
    }
    match page.kind() {
        Kind::Branch => {
            stats.branch_pages += 1;
            stats.overflow_pages += page.overflow() as u64;
            for i in 0..page.count() {
                let (_, child) = page.branch(i)?;
                let from = (page.id, page.elem_offset(i));
                let cp = db.read_page(child, from)?;
                w.mark(&cp, from)?;
                collect_root(db, w, &cp, depth + 1, prev, stats, tops)?;
            }
        }
        Kind::Leaf => {
            stats.leaf_pages += 1;
            stats.overflow_pages += page.overflow() as u64;
            for i in 0..page.count() {
                let e = page.leaf(i)?;
                if prev.as_deref().is_some_and(|p| e.key <= p) {
                    return Err(Error::KeyOrder {
                        page: page.id,
                        offset: page.elem_offset(i),
                        index: i,
                    });
                }
                *prev = Some(e.key.to_vec());
                if e.is_bucket() {
                    tops.push((e.key.to_vec(), db.bucket_from_elem(page, i, &e)?));
                }
            }
        }
    }
    Ok(())
}
