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
    /// A parallel walk hands this visitor the rest of a bucket that another visitor began
    /// (`bucket` was called on that one). Entries follow as usual.
    fn resume(&mut self, _name: &[u8]) -> ControlFlow<()> {
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
    /// Sets bit `i`; returns whether it was already set. Bits past the end are ignored (the
    /// walk only marks pages it could read, which lie inside the tracked range).
    fn set(&mut self, i: u64) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        let Some(word) = self.bits.get_mut(w) else {
            return false;
        };
        let was = *word & (1 << b) != 0;
        *word |= 1 << b;
        was
    }
    fn get(&self, i: u64) -> bool {
        self.bits
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// ORs `other` in; returns the first bit set in both, if any.
    fn merge(&mut self, other: &Bitmap) -> Option<u64> {
        let mut clash = None;
        for (i, (a, b)) in self.bits.iter_mut().zip(&other.bits).enumerate() {
            if clash.is_none() && *a & *b != 0 {
                clash = Some(i as u64 * 64 + (*a & *b).trailing_zeros() as u64);
            }
            *a |= *b;
        }
        clash
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

/// A piece of a walk: one top-level bucket, or one subtree under a bucket's root branch.
struct Unit {
    /// Index into the plan's buckets.
    bucket: usize,
    /// The first unit of its bucket: the visitor hears `bucket(name)` before it.
    first: bool,
    /// `None`: the whole bucket. `Some(i)`: the subtree under element `i` of the bucket's root
    /// branch page (already read and marked by the plan).
    child: Option<usize>,
}

/// Everything decided before the buckets are walked.
struct Plan {
    tops: Vec<(Vec<u8>, Bucket)>,
    /// Root branch pages of buckets split into subtrees.
    roots: Vec<Option<Page>>,
    units: Vec<Unit>,
    /// Meta, freelist, root-tree and split-root pages.
    reachable: Bitmap,
    tracked: u64,
    free: Vec<u64>,
    report: WalkReport,
    /// Page stats of the split roots, per bucket.
    root_stats: Vec<BucketStats>,
}

/// What one worker found.
struct ChunkResult {
    reachable: Bitmap,
    stats: Vec<BucketStats>,
    stopped: bool,
}

impl<S: ReadAt> Db<S> {
    /// Walks every top-level bucket in name order, calling `visitor` for each of their entries
    /// in key order, while checking the tree like bbolt's `Check` (page ids in bounds and
    /// self-identifying, page kinds, no page reachable twice, keys strictly ordered within
    /// pages and across branch boundaries). Stops at the first structural error.
    pub fn walk<V: Visitor>(&self, visitor: &mut V) -> Result<WalkReport> {
        let mut plan = self.plan()?;
        let units = std::mem::take(&mut plan.units);
        let chunk = self.run_units(&plan, &units, visitor)?;
        self.finish(plan, vec![chunk])
    }

    /// As [`Db::walk`], split over up to `threads` threads. Each thread gets its own visitor
    /// from `make` and a contiguous run of the buckets' subtrees, in order: the visitors are
    /// returned in walk order, so their results can be combined as if one visitor had seen
    /// everything (the first call a visitor gets is `bucket` or `resume`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn walk_parallel<V, F>(&self, threads: usize, make: F) -> Result<(Vec<V>, WalkReport)>
    where
        S: Sync,
        V: Visitor + Send,
        F: Fn() -> V + Sync,
    {
        let mut plan = self.plan()?;
        let units = std::mem::take(&mut plan.units);
        let chunks = split_units(&units, threads.max(1));
        let plan_ref = &plan;
        let results: Vec<Result<(V, ChunkResult)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|range| {
                    let part = &units[range];
                    let make = &make;
                    scope.spawn(move || {
                        let mut v = make();
                        let r = self.run_units(plan_ref, part, &mut v)?;
                        Ok((v, r))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or(Err(Error::BadBucket {
                        page: 0,
                        offset: 0,
                        reason: "a walk thread failed",
                    }))
                })
                .collect()
        });
        let mut visitors = Vec::new();
        let mut chunk_results = Vec::new();
        for r in results {
            let (v, c) = r?;
            visitors.push(v);
            chunk_results.push(c);
        }
        let report = self.finish(plan, chunk_results)?;
        Ok((visitors, report))
    }

    fn plan(&self) -> Result<Plan> {
        let meta = *self.meta();
        // Pages past the end of the source are errors when touched; size the bitmap by what can
        // exist, so a hostile high-water mark cannot make us allocate.
        let pages_in_file = self.source().size() / self.page_size();
        let tracked = meta.pgid.min(pages_in_file.saturating_add(1)).max(2);
        let mut dummy = NoVisitor;
        let mut w = Walker {
            db: self,
            reachable: Bitmap::new(tracked),
            visitor: &mut dummy,
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
        let mut root_tree_stats = BucketStats::default();
        let mut tops: Vec<(Vec<u8>, Bucket)> = Vec::new();
        {
            let mut prev: Option<Vec<u8>> = None;
            collect_root(
                self,
                &mut w,
                &root_page,
                1,
                &mut prev,
                &mut root_tree_stats,
                &mut tops,
            )?;
        }
        report.root_pages = root_tree_stats.branch_pages
            + root_tree_stats.leaf_pages
            + root_tree_stats.overflow_pages;

        // Units: a bucket whose root is a branch is split into its root's subtrees.
        let mut units = Vec::new();
        let mut roots = Vec::new();
        let mut root_stats = Vec::new();
        for (i, (_, b)) in tops.iter().enumerate() {
            let mut st = BucketStats::default();
            let mut split_root = None;
            if let Some(id) = b.root_page() {
                let p = self.read_page(id, b.defined_at)?;
                if p.kind() == Kind::Branch {
                    w.mark(&p, b.defined_at)?;
                    st.branch_pages = 1;
                    st.overflow_pages = p.overflow() as u64;
                    st.depth = 1;
                    for c in 0..p.count() {
                        units.push(Unit {
                            bucket: i,
                            first: c == 0,
                            child: Some(c),
                        });
                    }
                    split_root = Some(p);
                }
            }
            if split_root.is_none() {
                units.push(Unit {
                    bucket: i,
                    first: true,
                    child: None,
                });
            }
            roots.push(split_root);
            root_stats.push(st);
        }
        Ok(Plan {
            tops,
            roots,
            units,
            reachable: w.reachable,
            tracked,
            free,
            report,
            root_stats,
        })
    }

    fn run_units<V: Visitor>(
        &self,
        plan: &Plan,
        units: &[Unit],
        visitor: &mut V,
    ) -> Result<ChunkResult> {
        let mut w = Walker {
            db: self,
            reachable: Bitmap::new(plan.tracked),
            visitor,
            stopped: false,
            path: Vec::new(),
        };
        let mut stats = vec![BucketStats::default(); plan.tops.len()];
        let mut prev: Option<Vec<u8>> = None;
        let mut current = usize::MAX;
        for u in units {
            let (name, bucket) = &plan.tops[u.bucket];
            if u.bucket != current {
                current = u.bucket;
                prev = None;
                let flow = if u.first {
                    w.visitor.bucket(name)
                } else {
                    w.visitor.resume(name)
                };
                if flow.is_break() {
                    w.stopped = true;
                }
            }
            if w.stopped {
                break;
            }
            let st = &mut stats[u.bucket];
            match (u.child, &plan.roots[u.bucket]) {
                (Some(i), Some(root)) => {
                    let (key, child) = root.branch(i)?;
                    let next_key = if i + 1 < root.count() {
                        Some(root.branch(i + 1)?.0)
                    } else {
                        None
                    };
                    if next_key.is_some_and(|n| n <= key) {
                        return Err(Error::KeyOrder {
                            page: root.id,
                            offset: root.elem_offset(i + 1),
                            index: i + 1,
                        });
                    }
                    let from = (root.id, root.elem_offset(i));
                    if child == root.id {
                        return Err(Error::Cycle {
                            page: child,
                            offset: from.1,
                            from_page: from.0,
                        });
                    }
                    let page = self.read_page(child, from)?;
                    w.mark(&page, from)?;
                    w.path.clear();
                    w.path.push(root.id);
                    w.path.push(child);
                    let bounds = Bounds {
                        lo: Some(key),
                        hi: next_key,
                    };
                    let r = w.walk_page(&page, 2, bounds, &mut prev, st, true);
                    w.path.clear();
                    r?;
                }
                _ => {
                    st.inline = bucket.is_inline();
                    let root = w.root_of(bucket)?;
                    w.path.clear();
                    if !root.inline {
                        w.path.push(root.id);
                    }
                    let r =
                        w.walk_page(&root, 1, Bounds { lo: None, hi: None }, &mut prev, st, true);
                    w.path.clear();
                    r?;
                }
            }
            if w.stopped {
                break;
            }
        }
        Ok(ChunkResult {
            reachable: w.reachable,
            stats,
            stopped: w.stopped,
        })
    }

    fn finish(&self, plan: Plan, chunks: Vec<ChunkResult>) -> Result<WalkReport> {
        let meta = *self.meta();
        let Plan {
            tops,
            mut reachable,
            tracked,
            free,
            mut report,
            root_stats,
            ..
        } = plan;
        let mut buckets: Vec<BucketStats> = tops
            .iter()
            .zip(root_stats)
            .map(|((name, b), st)| BucketStats {
                name: name.clone(),
                inline: b.is_inline(),
                ..st
            })
            .collect();
        for c in &chunks {
            if let Some(p) = reachable.merge(&c.reachable) {
                return Err(Error::MultipleReferences {
                    page: p,
                    offset: p * self.page_size(),
                    from_page: p,
                });
            }
            report.stopped |= c.stopped;
            for (acc, st) in buckets.iter_mut().zip(&c.stats) {
                acc.entries += st.entries;
                acc.key_bytes += st.key_bytes;
                acc.value_bytes += st.value_bytes;
                acc.branch_pages += st.branch_pages;
                acc.leaf_pages += st.leaf_pages;
                acc.overflow_pages += st.overflow_pages;
                acc.nested_buckets += st.nested_buckets;
                acc.depth = acc.depth.max(st.depth);
            }
        }
        report.buckets = buckets;
        if report.stopped {
            return Ok(report);
        }

        // Accounting.
        let mut reachable_count = 0u64;
        for p in 0..tracked {
            if reachable.get(p) {
                reachable_count += 1;
            }
        }
        report.reachable_pages = reachable_count;
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
            if reachable.get(p) {
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
        report.unaccounted = meta.pgid.saturating_sub(reachable_count + free_listed);
        if report.has_freelist && report.unaccounted > 0 {
            report.problems.push(format!(
                "{} pages are unreachable and not listed free",
                report.unaccounted
            ));
        }
        Ok(report)
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Splits units into at most `n` contiguous runs of roughly equal weight (a subtree weighs 1,
/// a whole bucket 1).
fn split_units(units: &[Unit], n: usize) -> Vec<std::ops::Range<usize>> {
    let total = units.len();
    if total == 0 {
        #[allow(clippy::single_range_in_vec_init)] // one empty part, not a range of parts
        return vec![0..0];
    }
    let n = n.min(total);
    (0..n)
        .map(|k| (k * total / n)..((k + 1) * total / n))
        .collect()
}

struct NoVisitor;

impl Visitor for NoVisitor {
    fn entry(&mut self, _: WalkEntry<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
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
