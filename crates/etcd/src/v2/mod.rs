//! The v2 store (FORMATS.md §2.3–2.5, §3.5): etcd ≤ 3.5 keeps it in `.snap` files and
//! rebuilds it from the WAL; v2 API clusters keep all their data there.
//!
//! * [`load`] / [`load_with`]: a data directory's store = the `.snap` etcd would load + the
//!   WAL entries after it, applied with etcd 3.4's semantics (store index counter, failed
//!   requests, membership writes under `/0`, SYNC expiry, TTLs, in-order keys, …).
//! * [`Store::get`] / [`Store::node_at`]: nodes as `GET /v2/keys/<key>` shows them;
//!   [`NodeRef::write_json`] streams etcd's exact JSON.
//! * [`Store::content`]: what besides membership the store holds — the check etcd 3.6 runs
//!   before it agrees to start.

pub mod apply;
pub mod load;
pub mod snapjson;
pub mod spill;
pub mod store;
pub mod time;
pub mod view;

pub use apply::{MemberInfo, Membership, Outcome};
pub use load::{
    load, load_with, Counts, DataDirFiles, EntryProblem, LoadError, LoadOptions, LoadReport,
    SnapshotUsed, V2Data,
};
#[cfg(not(target_arch = "wasm32"))]
pub use load::{load_parallel, load_parallel_spilling, open_member_dir};
pub use store::{Code, Store};
pub use view::{go_json_string, go_lossy, GetOptions, NodeRef, NodeView};

use store::{NodeId, ROOT};

/// A node outside the membership area.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContentKey {
    /// Store path (`/1/...` for v2 API keys, `/2/...` for v2 auth).
    #[serde(serialize_with = "crate::json::text_or_b64")]
    pub path: Vec<u8>,
    pub dir: bool,
    /// The path has a component starting with `_` (never listed by etcd).
    pub hidden: bool,
}

/// What the store holds besides membership, and etcd 3.6's verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Content {
    /// Every node outside `/0`, files and directories, hidden ones included — except the
    /// namespace directories `/1`, `/2`, `/2/users`, `/2/roles` and the `/2/enabled` flag.
    /// Depth-first, siblings in byte order. Empty from [`Store::content_summary`].
    pub keys: Vec<ContentKey>,
    /// How many such nodes there are (also filled by [`Store::content_summary`]).
    pub key_count: u64,
    /// How many of them are hidden or under a hidden directory.
    pub hidden_count: u64,
    /// etcd 3.6.3+ `IsMetaStoreOnly`: starts only when this is true.
    pub meta_only: bool,
    /// etcd 3.6.0–3.6.2 (stricter about `/2`: any auth node blocks).
    pub meta_only_3_6_0: bool,
    /// The top-level nodes that make 3.6.3+ refuse (e.g. `/1`).
    #[serde(serialize_with = "paths_text")]
    pub blocking: Vec<Vec<u8>>,
}

fn paths_text<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|p| crate::json::text_or_b64_string(p)))
}

fn visible_children(store: &Store, id: NodeId) -> usize {
    store
        .node(id)
        .children
        .as_ref()
        .map_or(0, |c| c.keys().filter(|n| n.first() != Some(&b'_')).count())
}

impl Store {
    /// Non-membership store paths (see [`Content::keys`]).
    pub fn non_membership_keys(&self) -> Vec<Vec<u8>> {
        self.content().keys.into_iter().map(|k| k.path).collect()
    }

    /// What the store holds outside `/0`, and whether etcd 3.6 would accept it.
    pub fn content(&self) -> Content {
        self.content_impl(true)
    }

    /// [`Store::content`] without the list of keys (counts and verdicts only).
    pub fn content_summary(&self) -> Content {
        self.content_impl(false)
    }

    fn content_impl(&self, collect: bool) -> Content {
        let mut keys = Vec::new();
        let (mut key_count, mut hidden_count) = (0u64, 0u64);
        // Iterative walk: (node, path, hidden).
        let mut stack: Vec<(NodeId, Vec<u8>, bool)> = Vec::new();
        if let Some(c) = &self.node(ROOT).children {
            for (name, &id) in c.iter().rev() {
                if &name[..] != b"0" {
                    let mut p = b"/".to_vec();
                    p.extend_from_slice(name);
                    stack.push((id, p, name.first() == Some(&b'_')));
                }
            }
        }
        while let Some((id, path, hidden)) = stack.pop() {
            let n = self.node(id);
            let skip = matches!(
                &path[..],
                b"/1" | b"/2" | b"/2/users" | b"/2/roles" | b"/2/enabled"
            );
            if !skip {
                key_count += 1;
                hidden_count += hidden as u64;
                if collect {
                    keys.push(ContentKey {
                        path: path.clone(),
                        dir: n.is_dir(),
                        hidden,
                    });
                }
            }
            if let Some(c) = &n.children {
                for (name, &cid) in c.iter().rev() {
                    let mut p = path.clone();
                    p.push(b'/');
                    p.extend_from_slice(name);
                    stack.push((cid, p, hidden || name.first() == Some(&b'_')));
                }
            }
        }

        // IsMetaStoreOnly: Get("/", recursive) skips hidden nodes.
        let mut blocking = Vec::new();
        let mut strict_ok = true;
        if let Some(c) = &self.node(ROOT).children {
            for (name, &id) in c.iter() {
                if &name[..] == b"0" || name.first() == Some(&b'_') {
                    continue;
                }
                let has_nodes = visible_children(self, id) > 0;
                if has_nodes {
                    strict_ok = false;
                }
                let blocks = if &name[..] == b"2" {
                    self.node(id).children.as_ref().is_some_and(|c2| {
                        c2.iter().any(|(n2, &id2)| {
                            n2.first() != Some(&b'_') && visible_children(self, id2) > 0
                        })
                    })
                } else {
                    has_nodes
                };
                if blocks {
                    let mut p = b"/".to_vec();
                    p.extend_from_slice(name);
                    blocking.push(p);
                }
            }
        }
        Content {
            keys,
            key_count,
            hidden_count,
            meta_only: blocking.is_empty(),
            meta_only_3_6_0: strict_ok,
            blocking,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_and_36_verdicts() {
        let mut s = Store::new();
        s.create(b"/0/members/1/raftAttributes", false, b"{}", false, None)
            .unwrap();
        let c = s.content();
        assert!(c.keys.is_empty() && c.meta_only && c.meta_only_3_6_0);
        // Only hidden keys under /1: 3.6 does not see them.
        s.set(b"/1/_h", false, b"x", None, false).unwrap();
        let c = s.content();
        assert_eq!(c.keys.len(), 1);
        assert!(c.keys[0].hidden);
        assert!(c.meta_only);
        // v2 auth skeleton: 3.6.3+ accepts, 3.6.0 does not.
        s.create(b"/2/users", true, b"", false, None).unwrap();
        s.create(b"/2/roles", true, b"", false, None).unwrap();
        s.set(b"/2/enabled", false, b"false", None, false).unwrap();
        let c = s.content();
        assert!(c.meta_only && !c.meta_only_3_6_0);
        assert_eq!(c.keys.len(), 1);
        s.set(b"/2/users/root", false, b"{}", None, false).unwrap();
        let c = s.content();
        assert!(!c.meta_only);
        assert_eq!(c.blocking, vec![b"/2".to_vec()]);
        // An empty dir under /1 blocks.
        s.create(b"/1/d", true, b"", false, None).unwrap();
        let c = s.content();
        assert_eq!(c.blocking, vec![b"/1".to_vec(), b"/2".to_vec()]);
        let sum = s.content_summary();
        assert_eq!((sum.key_count, sum.hidden_count), (3, 1));
        assert!(sum.keys.is_empty() && !sum.meta_only);
        assert_eq!(
            s.non_membership_keys(),
            vec![
                b"/1/_h".to_vec(),
                b"/1/d".to_vec(),
                b"/2/users/root".to_vec()
            ]
        );
    }
}
