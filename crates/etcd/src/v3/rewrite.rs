//! A new backend from an existing one: a subset of keys and/or only the latest revisions (an
//! offline compaction and defragmentation). Leases, auth, members, cluster and alarms are copied
//! as they are; `key` entries are streamed from the source for each writer pass.

use std::collections::HashMap;

use storage::ReadAt;

use crate::error::{Error, Result};
use crate::proto::KvRef;
use crate::revision::Revision;

use super::write::NewBackend;
use super::{Backend, BUCKET_KEY};

/// Which keys and revisions to keep.
#[derive(Debug, Clone, Default)]
pub struct RewriteOptions {
    /// Keep keys starting with one of these (empty: every key).
    pub prefixes: Vec<Vec<u8>>,
    /// Drop keys starting with one of these (wins over `prefixes`).
    pub exclude: Vec<Vec<u8>>,
    /// Keep only each key's latest revision at `at_rev` (dropping deleted keys), and mark the
    /// db compacted at `at_rev`.
    pub latest_only: bool,
    /// Drop every revision above this one (0: the current revision).
    pub at_rev: i64,
}

impl RewriteOptions {
    pub fn selects(&self, key: &[u8]) -> bool {
        (self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p)))
            && !self.exclude.iter().any(|p| key.starts_with(p))
    }
}

/// What the rewrite keeps.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewriteReport {
    pub source_revision: i64,
    pub at_revision: i64,
    pub source_entries: u64,
    pub kept_entries: u64,
    pub kept_keys: u64,
    /// Revision etcd will report after restoring the new file.
    pub new_revision: i64,
    pub compacted_at: Option<i64>,
}

/// Values replaced while they are copied (e.g. `--redact`): `f(key, value)` gives the new
/// value, or `None` to keep it. It must give the same answer every time (the writer reads the
/// content twice).
pub struct ValueMap<'a> {
    pub f: &'a (dyn Fn(&[u8], &[u8]) -> Option<Vec<u8>> + Sync),
    /// Values replaced, counted in the writer's last pass.
    pub replaced: std::sync::atomic::AtomicU64,
}

impl<'a> ValueMap<'a> {
    pub fn new(f: &'a (dyn Fn(&[u8], &[u8]) -> Option<Vec<u8>> + Sync)) -> Self {
        ValueMap {
            f,
            replaced: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// Puts one `key` bucket entry (`rev_key` → the KeyValue `raw`, parsed as `kv`), its value
/// passed through `map` first: a replaced value is re-encoded, and counted in the writer's last
/// pass. Tombstones are put as they are.
pub(crate) fn put_mapped(
    sink: &mut dyn bbolt::Sink,
    rev_key: &[u8],
    raw: &[u8],
    kv: &KvRef<'_>,
    tombstone: bool,
    map: Option<&ValueMap<'_>>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    match map.and_then(|m| (m.f)(kv.key, kv.value).map(|v| (m, v))) {
        Some((m, value)) if !tombstone => {
            crate::proto::encode_key_value(
                buf,
                kv.key,
                kv.create_revision,
                kv.mod_revision,
                kv.version,
                &value,
                kv.lease,
            );
            sink.put(rev_key, buf).map_err(Error::from)?;
            if sink.needs_values() {
                m.replaced
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        _ => sink.put(rev_key, raw).map_err(Error::from)?,
    }
    Ok(())
}

/// Every entry of `src`'s `key` bucket into `sink`, values passed through `map`.
pub(crate) fn copy_key_bucket_mapped<S: ReadAt>(
    src: &Backend<S>,
    sink: &mut dyn bbolt::Sink,
    map: Option<&ValueMap<'_>>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    src.scan_revisions(Revision::new(0, 0), |rk, e| {
        let kv = KvRef::parse(e.value).ok_or_else(|| super::range::bad_kv(rk, e))?;
        put_mapped(sink, e.key, e.value, &kv, rk.tombstone, map, buf)?;
        Ok(std::ops::ControlFlow::Continue(()))
    })
}

/// Plans a rewrite: checks the revision like etcd (compacted / future), counts what is kept,
/// and returns the new backend's content.
pub fn rewrite<'a, S: ReadAt>(
    src: &'a Backend<S>,
    opts: &'a RewriteOptions,
) -> Result<(NewBackend<'a>, RewriteReport)> {
    rewrite_mapped(src, opts, None)
}

/// [`rewrite`] with the values of kept revisions passed through `map`.
pub fn rewrite_mapped<'a, S: ReadAt>(
    src: &'a Backend<S>,
    opts: &'a RewriteOptions,
    map: Option<&'a ValueMap<'a>>,
) -> Result<(NewBackend<'a>, RewriteReport)> {
    let (at, current) = src.resolve_revision(opts.at_rev)?;
    let meta = src.meta_info()?;
    // Latest revision at `at` of every selected key (exact keys; only with latest_only).
    let mut latest: HashMap<Vec<u8>, (Revision, bool)> = HashMap::new();
    let mut report = RewriteReport {
        source_revision: current,
        at_revision: at,
        ..Default::default()
    };
    let mut keys: HashMap<Vec<u8>, ()> = HashMap::new();
    let mut max_kept = 0i64;
    src.for_each_revision(|rk, kv| {
        report.source_entries += 1;
        if rk.rev.main > at || !opts.selects(kv.key) {
            return Ok(());
        }
        if opts.latest_only {
            latest.insert(kv.key.to_vec(), (rk.rev, rk.tombstone));
        } else {
            report.kept_entries += 1;
            max_kept = max_kept.max(rk.rev.main);
            if !keys.contains_key(kv.key) {
                keys.insert(kv.key.to_vec(), ());
            }
        }
        Ok(())
    })?;
    if opts.latest_only {
        latest.retain(|_, (_, tombstone)| !*tombstone);
        report.kept_entries = latest.len() as u64;
        report.kept_keys = latest.len() as u64;
    } else {
        report.kept_keys = keys.len() as u64;
    }
    drop(keys);

    let mut nb = NewBackend::new();
    src.copy_small_buckets(&mut nb)?;
    if opts.latest_only {
        nb.set_compacted(at);
        report.compacted_at = Some(at);
        report.new_revision = at;
    } else {
        let compacted = meta.effective_compact_revision();
        report.compacted_at = compacted;
        report.new_revision = max_kept.max(compacted.unwrap_or(0));
    }
    let keep: Option<HashMap<Vec<u8>, (Revision, bool)>> = opts.latest_only.then_some(latest);
    nb.stream(
        BUCKET_KEY,
        Box::new(move |sink| {
            let mut buf = Vec::new();
            src.scan_revisions(Revision::new(0, 0), |rk, e| {
                if rk.rev.main > at {
                    return Ok(std::ops::ControlFlow::Break(()));
                }
                let kv = KvRef::parse(e.value).ok_or_else(|| super::range::bad_kv(rk, e))?;
                let wanted = match &keep {
                    Some(latest) => latest.get(kv.key).is_some_and(|(r, _)| *r == rk.rev),
                    None => opts.selects(kv.key),
                };
                if !wanted {
                    return Ok(std::ops::ControlFlow::Continue(()));
                }
                put_mapped(sink, e.key, e.value, &kv, rk.tombstone, map, &mut buf)?;
                Ok(std::ops::ControlFlow::Continue(()))
            })
        }),
    );
    Ok((nb, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::{write::write_backend, RangeRequest};
    use storage::MemSource;

    fn fixture() -> Backend<MemSource> {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/v3/basic/snapshot.db"
        ))
        .unwrap();
        Backend::open(MemSource::new(bytes)).unwrap()
    }

    fn reopen(nb: &NewBackend<'_>) -> Backend<MemSource> {
        let mut out = Vec::new();
        write_backend(nb, &mut out, true).unwrap();
        Backend::open(MemSource::new(out)).unwrap()
    }

    #[test]
    fn full_copy_keeps_every_answer() {
        let src = fixture();
        let opts = RewriteOptions::default();
        let (nb, report) = rewrite(&src, &opts).unwrap();
        let copy = reopen(&nb);
        assert_eq!(report.kept_entries, report.source_entries);
        let a = src.status(Default::default()).unwrap();
        let b = copy.status(Default::default()).unwrap();
        // Same data, so etcdctl's hash, revision and key count agree; the layout differs.
        assert_eq!(
            (a.hash, a.revision, a.total_key),
            (b.hash, b.revision, b.total_key)
        );
        for rev in [341, 350, 359] {
            let req = RangeRequest {
                revision: rev,
                ..RangeRequest::prefix(b"")
            };
            assert_eq!(src.range(&req).unwrap().kvs, copy.range(&req).unwrap().kvs);
        }
        assert_eq!(src.leases().unwrap().len(), copy.leases().unwrap().len());
    }

    #[test]
    fn latest_only_is_a_compaction() {
        let src = fixture();
        let opts = RewriteOptions {
            latest_only: true,
            at_rev: 355,
            ..Default::default()
        };
        let (nb, report) = rewrite(&src, &opts).unwrap();
        let copy = reopen(&nb);
        let at = |b: &Backend<MemSource>| {
            b.range(&RangeRequest {
                revision: 355,
                ..RangeRequest::prefix(b"")
            })
            .unwrap()
            .kvs
        };
        assert_eq!(at(&src), at(&copy));
        assert_eq!(copy.current_revision().unwrap(), 355);
        assert_eq!(report.kept_keys as usize, at(&src).len());
        let old = copy.range(&RangeRequest {
            revision: 354,
            ..RangeRequest::prefix(b"")
        });
        assert!(matches!(old, Err(Error::Compacted { .. })), "{old:?}");
    }

    #[test]
    fn prefix_subset() {
        let src = fixture();
        let opts = RewriteOptions {
            prefixes: vec![b"/app/".to_vec()],
            exclude: vec![b"/app/txn/".to_vec()],
            ..Default::default()
        };
        let (nb, _) = rewrite(&src, &opts).unwrap();
        let copy = reopen(&nb);
        let all = copy.range(&RangeRequest::prefix(b"")).unwrap().kvs;
        assert!(!all.is_empty());
        assert!(all
            .iter()
            .all(|kv| kv.key.starts_with(b"/app/") && !kv.key.starts_with(b"/app/txn/")));
        let want: Vec<_> = src
            .range(&RangeRequest::prefix(b"/app/"))
            .unwrap()
            .kvs
            .into_iter()
            .filter(|kv| !kv.key.starts_with(b"/app/txn/"))
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn compacted_revision_is_refused() {
        let src = fixture();
        let opts = RewriteOptions {
            at_rev: 100,
            ..Default::default()
        };
        assert!(matches!(rewrite(&src, &opts), Err(Error::Compacted { .. })));
    }
}
