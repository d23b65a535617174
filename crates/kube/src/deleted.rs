//! Objects deleted but still held in the history (not compacted away yet): the last revision
//! that held each of them, so it can be read, exported and put back (etcd #14365).
//!
//! Two passes over the `key` bucket in revision order, like [`crate::analyze`]: the first finds,
//! per distinct key (a 64-bit hash and 24 bytes, never the key), whether its latest revision is a
//! delete and which put came before it; the second names those keys.

use std::collections::HashMap;

use crate::analyze::fingerprint;

#[derive(Clone, Copy)]
struct State {
    /// Main and sub revision of the last put (0 = none seen).
    last_put: (i64, i64),
    /// Main revision of the delete after it, if the key is deleted now.
    deleted_at: Option<i64>,
}

/// See the module docs.
#[derive(Default)]
pub struct DeletedFinder {
    keys: HashMap<u64, State>,
}

impl DeletedFinder {
    pub fn new() -> DeletedFinder {
        DeletedFinder::default()
    }

    /// First pass: every entry (`rev` = main, sub), in revision order.
    pub fn observe(&mut self, key: &[u8], rev: (i64, i64), tombstone: bool) {
        let s = self.keys.entry(fingerprint(key)).or_insert(State {
            last_put: (0, 0),
            deleted_at: None,
        });
        if tombstone {
            s.deleted_at = Some(rev.0);
        } else {
            s.last_put = rev;
            s.deleted_at = None;
        }
    }

    /// Second pass: `Some(deleted_at)` when this entry is the last put of a key that is deleted
    /// now (and a put is held: a delete whose put was compacted away has nothing to show).
    pub fn last_put_before_delete(
        &self,
        key: &[u8],
        rev: (i64, i64),
        tombstone: bool,
    ) -> Option<i64> {
        if tombstone {
            return None;
        }
        let s = self.keys.get(&fingerprint(key))?;
        match s.deleted_at {
            Some(at) if s.last_put == rev => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_put_of_deleted_keys_only() {
        let revs: &[(&str, i64, bool)] = &[
            ("/a", 2, false),
            ("/a", 3, false),
            ("/a", 4, true),
            ("/b", 5, false),
            ("/c", 6, false),
            ("/c", 7, true),
            ("/c", 8, false), // re-created: not deleted
            ("/d", 9, true),  // its put was compacted away
        ];
        let mut f = DeletedFinder::new();
        for &(k, r, t) in revs {
            f.observe(k.as_bytes(), (r, 0), t);
        }
        let found: Vec<(&str, i64, i64)> = revs
            .iter()
            .filter_map(|&(k, r, t)| {
                f.last_put_before_delete(k.as_bytes(), (r, 0), t)
                    .map(|at| (k, r, at))
            })
            .collect();
        assert_eq!(found, [("/a", 3, 4)]);
    }
}
