//! Reading keys at a revision (etcd's `Range`) and a key's held history.
//!
//! The `key` bucket is ordered by revision, not by user key, so every read is one pass over the
//! bucket up to the requested revision, keeping only the keys inside the requested range: memory
//! grows with the answer, not with the database.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::ControlFlow;

use storage::ReadAt;

use super::Backend;
use crate::error::{Error, Result};
use crate::hash::KeyHasher;
use crate::proto::{KeyValue, KvRef};
use crate::revision::{RevKey, Revision};

/// The same fields and meaning as etcd's `RangeRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    /// Empty: only `key`. `[0]`: every key >= `key`. Otherwise the half-open `[key, range_end)`.
    pub range_end: Vec<u8>,
    /// 0 (or negative): the current revision.
    pub revision: i64,
    /// 0: no limit.
    pub limit: i64,
    pub keys_only: bool,
    pub count_only: bool,
}

impl RangeRequest {
    /// All keys starting with `prefix` (an empty prefix means every key), as `etcdctl --prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        if prefix.is_empty() {
            return RangeRequest {
                key: vec![0],
                range_end: vec![0],
                ..Default::default()
            };
        }
        RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            ..Default::default()
        }
    }

    pub fn contains(&self, k: &[u8]) -> bool {
        if self.range_end.is_empty() {
            k == self.key.as_slice()
        } else if self.range_end == [0] {
            k >= self.key.as_slice()
        } else {
            k >= self.key.as_slice() && k < self.range_end.as_slice()
        }
    }
}

/// The smallest key greater than every key with this prefix (`[0]` = no end), as clientv3.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            // ok: the vector is non-empty here.
            if let Some(l) = end.last_mut() {
                *l += 1;
            }
            return end;
        }
        end.pop();
    }
    vec![0]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResult {
    /// The store's current revision (what etcd puts in `header.revision`).
    pub header_revision: i64,
    pub kvs: Vec<KeyValue>,
    /// Number of keys in the range (before the limit).
    pub count: i64,
    pub more: bool,
}

/// One held revision of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub revision: Revision,
    pub tombstone: bool,
    /// For a tombstone only `key` is set, as etcd stores it.
    pub kv: KeyValue,
}

pub(crate) fn bad_kv(rk: RevKey, e: &bbolt::LeafElem<'_>) -> Error {
    Error::BadKeyValue {
        page: e.page,
        offset: e.offset,
        revision: rk.rev.to_string(),
        reason: "malformed protobuf".into(),
    }
}

impl<S: ReadAt> Backend<S> {
    /// Checks a requested revision against the store like etcd does; returns the revision to read.
    pub fn resolve_revision(&self, requested: i64) -> Result<(i64, i64)> {
        let current = self.current_revision()?;
        let rev = if requested <= 0 { current } else { requested };
        if rev > current {
            return Err(Error::FutureRevision {
                requested: rev,
                current,
            });
        }
        if let Some(c) = self.meta_info()?.effective_compact_revision() {
            if rev < c {
                return Err(Error::Compacted {
                    requested: rev,
                    compacted: c,
                });
            }
        }
        Ok((rev, current))
    }

    pub fn range(&self, req: &RangeRequest) -> Result<RangeResult> {
        self.range_matching(req, |_| true)
    }

    /// [`Backend::range`] of the keys in the range that `keep` accepts (memory grows with those
    /// only).
    pub fn range_matching(
        &self,
        req: &RangeRequest,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<RangeResult> {
        let (rev, current) = self.resolve_revision(req.revision)?;
        // Latest change per key inside the range; None = deleted at `rev`. Hashing (one pass per
        // key) beats an ordered map here; the survivors are sorted once at the end.
        let mut found: HashMap<Vec<u8>, Option<KeyValue>, BuildHasherDefault<KeyHasher>> =
            HashMap::default();
        self.scan_revisions(Revision::new(1, 0), |rk, e| {
            if rk.rev.main > rev {
                return Ok(ControlFlow::Break(()));
            }
            let kv = KvRef::parse(e.value).ok_or_else(|| bad_kv(rk, e))?;
            if !req.contains(kv.key) || !keep(kv.key) {
                return Ok(ControlFlow::Continue(()));
            }
            let slot = if rk.tombstone {
                None
            } else {
                // The key lives in the map; the stored KeyValue gets it back at the end.
                Some(KeyValue {
                    key: Vec::new(),
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                    version: kv.version,
                    value: if req.keys_only || req.count_only {
                        Vec::new()
                    } else {
                        kv.value.to_vec()
                    },
                    lease: kv.lease,
                })
            };
            match found.get_mut(kv.key) {
                Some(s) => *s = slot,
                None => {
                    found.insert(kv.key.to_vec(), slot);
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let mut live: Vec<KeyValue> = found
            .into_iter()
            .filter_map(|(key, slot)| slot.map(|kv| KeyValue { key, ..kv }))
            .collect();
        let count = live.len() as i64;
        if !req.count_only {
            live.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        }
        let kvs = if req.count_only {
            Vec::new()
        } else {
            if req.limit > 0 && live.len() as i64 > req.limit {
                live.truncate(req.limit as usize);
            }
            live
        };
        let more = !req.count_only && (kvs.len() as i64) < count;
        Ok(RangeResult {
            header_revision: current,
            kvs,
            count,
            more,
        })
    }

    /// Every held revision of `key`, oldest first, deletes included.
    pub fn history(&self, key: &[u8]) -> Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        self.scan_revisions(Revision::new(1, 0), |rk, e| {
            let kv = KvRef::parse(e.value).ok_or_else(|| bad_kv(rk, e))?;
            if kv.key == key {
                out.push(HistoryEntry {
                    revision: rk.rev,
                    tombstone: rk.tombstone,
                    kv: kv.to_owned(),
                });
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_like_clientv3() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"ab\xff"), b"ac");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        let all = RangeRequest::prefix(b"");
        assert!(all.contains(b"\x00"));
        assert!(all.contains(b"zzz"));
        let p = RangeRequest::prefix(b"/a/");
        assert!(p.contains(b"/a/x"));
        assert!(!p.contains(b"/a0"));
        let single = RangeRequest {
            key: b"k".to_vec(),
            ..Default::default()
        };
        assert!(single.contains(b"k"));
        assert!(!single.contains(b"k2"));
    }
}
