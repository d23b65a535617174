//! "What fills my db": the `key` bucket of a Kubernetes etcd grouped by resource type and
//! namespace — objects, deleted objects still held, revisions, live and history bytes — plus the
//! largest objects and the keys with the most revisions.
//!
//! Two passes over the revisions (in revision order, as the bucket holds them): [`Analyzer::observe`]
//! for every entry, then [`Analyzer::observe_again`] for every entry to name the keys of the top
//! lists. Per distinct key it keeps 24 bytes and a 64-bit hash, never the key itself, so a dump of
//! millions of keys fits; "bytes" are key + value bytes of the stored revision.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};

use crate::keys::{self, KeyKind};

/// One group's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Keys whose latest revision is a put.
    pub objects: u64,
    /// Keys whose latest revision is a delete (the object is gone, its history still held).
    pub deleted: u64,
    /// Revisions held (puts and deletes).
    pub revisions: u64,
    /// Key + value bytes of the latest revision of live objects.
    pub live_bytes: u64,
    /// Key + value bytes of every other revision held.
    pub history_bytes: u64,
}

impl Totals {
    pub fn bytes(&self) -> u64 {
        self.live_bytes + self.history_bytes
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "objects": self.objects, "deleted": self.deleted, "revisions": self.revisions,
            "live_bytes": self.live_bytes, "history_bytes": self.history_bytes,
        })
    }
}

impl TopKey {
    fn json(&self) -> serde_json::Value {
        // Keys as text when they are UTF-8, else as hex.
        let key = match std::str::from_utf8(&self.key) {
            Ok(s) => serde_json::json!(s),
            Err(_) => {
                let hex: String = self.key.iter().map(|b| format!("{b:02x}")).collect();
                serde_json::json!({ "hex": hex })
            }
        };
        serde_json::json!({
            "key": key, "type": self.type_name, "bytes": self.bytes, "revisions": self.revisions,
        })
    }
}

impl Report {
    /// The report as JSON (the CLI's `-w json` and the page): `all`, `by_type`, `by_namespace`,
    /// `largest`, `most_revisions`.
    pub fn to_json(&self) -> serde_json::Value {
        let group = |what: &str, rows: &[(String, Totals)]| -> Vec<serde_json::Value> {
            rows.iter()
                .map(|(n, t)| {
                    let mut v = t.json();
                    v[what] = serde_json::json!(n);
                    v
                })
                .collect()
        };
        serde_json::json!({
            "all": self.all.json(),
            "by_type": group("type", &self.by_type),
            "by_namespace": group("namespace", &self.by_namespace),
            "largest": self.largest.iter().map(TopKey::json).collect::<Vec<_>>(),
            "most_revisions": self.most_revisions.iter().map(TopKey::json).collect::<Vec<_>>(),
        })
    }
}

/// A key named in a top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopKey {
    pub key: Vec<u8>,
    /// Resource type (`pods`, `widgets.example.com`; empty for keys outside the registry).
    pub type_name: String,
    /// Key + value bytes of the latest revision.
    pub bytes: u64,
    pub revisions: u64,
}

/// The result.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// By resource type, largest first. Keys outside the registry are the type `(other)`,
    /// malformed registry keys `(unrecognized)`, `compact_rev_key` `(compact_rev_key)`.
    pub by_type: Vec<(String, Totals)>,
    /// By namespace, largest first (cluster-scoped objects and other keys: `(cluster)`).
    pub by_namespace: Vec<(String, Totals)>,
    pub all: Totals,
    /// Live objects, largest first.
    pub largest: Vec<TopKey>,
    /// Keys with the most revisions held, most first.
    pub most_revisions: Vec<TopKey>,
}

#[derive(Clone, Copy)]
struct KeyState {
    revisions: u32,
    last_bytes: u32,
    type_idx: u32,
    ns_idx: u32,
    last_deleted: bool,
    /// Revisions seen in the second pass.
    seen_again: u32,
}

/// See the module docs.
pub struct Analyzer {
    prefix: Vec<u8>,
    top: usize,
    keys: HashMap<u64, KeyState>,
    types: Vec<String>,
    type_idx: HashMap<String, u32>,
    namespaces: Vec<String>,
    ns_idx: HashMap<Vec<u8>, u32>,
    /// Per (type, namespace): revisions and bytes of all revisions.
    cells: HashMap<(u32, u32), (u64, u64)>,
    /// After the first pass: hashes of the most-revisions keys.
    wanted: HashMap<u64, usize>,
    most: Vec<Option<TopKey>>,
    /// Min-heap of the largest live objects: (bytes, key).
    largest: BinaryHeap<std::cmp::Reverse<(u64, Vec<u8>, u32)>>,
}

/// A 64-bit hash of a key (per-key tables keep this, never the key).
pub(crate) fn fingerprint(key: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

const CLUSTER: &str = "(cluster)";

impl Analyzer {
    /// Keys under `prefix` (normally [`keys::DEFAULT_PREFIX`]); top lists of `top` entries.
    pub fn new(prefix: &[u8], top: usize) -> Analyzer {
        Analyzer {
            prefix: prefix.to_vec(),
            top,
            keys: HashMap::new(),
            types: Vec::new(),
            type_idx: HashMap::new(),
            namespaces: Vec::new(),
            ns_idx: HashMap::new(),
            cells: HashMap::new(),
            wanted: HashMap::new(),
            most: Vec::new(),
            largest: BinaryHeap::new(),
        }
    }

    fn intern_type(&mut self, name: String) -> u32 {
        if let Some(&i) = self.type_idx.get(&name) {
            return i;
        }
        let i = self.types.len() as u32;
        self.types.push(name.clone());
        self.type_idx.insert(name, i);
        i
    }

    fn intern_ns(&mut self, ns: Option<&[u8]>) -> u32 {
        let key = ns.unwrap_or(CLUSTER.as_bytes());
        if let Some(&i) = self.ns_idx.get(key) {
            return i;
        }
        let i = self.namespaces.len() as u32;
        let shown = match ns {
            Some(n) => String::from_utf8_lossy(n).into_owned(),
            None => CLUSTER.to_string(),
        };
        self.namespaces.push(shown);
        self.ns_idx.insert(key.to_vec(), i);
        i
    }

    fn classify(&mut self, key: &[u8]) -> (u32, u32) {
        let (t, ns) = match keys::parse(key, &self.prefix) {
            KeyKind::Object(o) => (o.type_name(), o.namespace),
            KeyKind::CompactRevKey => ("(compact_rev_key)".to_string(), None),
            KeyKind::OtherRegistry => ("(unrecognized)".to_string(), None),
            KeyKind::Other => ("(other)".to_string(), None),
        };
        let ns = ns.map(<[u8]>::to_vec);
        (self.intern_type(t), self.intern_ns(ns.as_deref()))
    }

    /// First pass: every `key` bucket entry, in revision order.
    pub fn observe(&mut self, key: &[u8], value_len: usize, tombstone: bool) {
        let fp = fingerprint(key);
        let bytes = (key.len() + value_len) as u64;
        let (t, ns) = match self.keys.get(&fp) {
            Some(s) => (s.type_idx, s.ns_idx),
            None => self.classify(key),
        };
        let s = self.keys.entry(fp).or_insert(KeyState {
            revisions: 0,
            last_bytes: 0,
            type_idx: t,
            ns_idx: ns,
            last_deleted: false,
            seen_again: 0,
        });
        s.revisions = s.revisions.saturating_add(1);
        s.last_bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        s.last_deleted = tombstone;
        let c = self.cells.entry((t, ns)).or_default();
        c.0 += 1;
        c.1 += bytes;
    }

    /// Ends the first pass: picks the keys of the most-revisions list.
    pub fn end_first_pass(&mut self) {
        let mut by_count: Vec<(u32, u64)> =
            self.keys.iter().map(|(&fp, s)| (s.revisions, fp)).collect();
        by_count.sort_unstable_by(|a, b| b.cmp(a));
        by_count.truncate(self.top);
        self.most = vec![None; by_count.len()];
        self.wanted = by_count
            .into_iter()
            .enumerate()
            .map(|(i, (_, fp))| (fp, i))
            .collect();
    }

    /// Second pass: the same entries again, in the same order.
    pub fn observe_again(&mut self, key: &[u8], tombstone: bool) {
        let fp = fingerprint(key);
        let Some(s) = self.keys.get_mut(&fp) else {
            return;
        };
        s.seen_again = s.seen_again.saturating_add(1);
        let latest = s.seen_again == s.revisions;
        let (state, type_name) = (*s, self.types[s.type_idx as usize].clone());
        if let Some(&i) = self.wanted.get(&fp) {
            if let Some(slot) = self.most.get_mut(i) {
                if slot.is_none() {
                    *slot = Some(TopKey {
                        key: key.to_vec(),
                        type_name: type_name.clone(),
                        bytes: state.last_bytes as u64,
                        revisions: state.revisions as u64,
                    });
                }
            }
        }
        if latest && !tombstone && self.top > 0 {
            let bytes = state.last_bytes as u64;
            let fits = self.largest.len() < self.top
                || self.largest.peek().is_some_and(|m| m.0 .0 < bytes);
            if fits {
                self.largest
                    .push(std::cmp::Reverse((bytes, key.to_vec(), state.type_idx)));
                if self.largest.len() > self.top {
                    self.largest.pop();
                }
            }
        }
    }

    /// The report.
    pub fn finish(self) -> Report {
        let mut by_type: HashMap<u32, Totals> = HashMap::new();
        let mut by_ns: HashMap<u32, Totals> = HashMap::new();
        let mut all = Totals::default();
        for (&(t, ns), &(revisions, bytes)) in &self.cells {
            for tot in [
                by_type.entry(t).or_default(),
                by_ns.entry(ns).or_default(),
                &mut all,
            ] {
                tot.revisions += revisions;
                tot.history_bytes += bytes; // live bytes are moved out below
            }
        }
        for s in self.keys.values() {
            for tot in [
                by_type.entry(s.type_idx).or_default(),
                by_ns.entry(s.ns_idx).or_default(),
                &mut all,
            ] {
                if s.last_deleted {
                    tot.deleted += 1;
                } else {
                    tot.objects += 1;
                    tot.live_bytes += s.last_bytes as u64;
                    tot.history_bytes = tot.history_bytes.saturating_sub(s.last_bytes as u64);
                }
            }
        }
        let sorted = |m: HashMap<u32, Totals>, names: &[String]| {
            let mut v: Vec<(String, Totals)> = m
                .into_iter()
                .map(|(i, t)| (names.get(i as usize).cloned().unwrap_or_default(), t))
                .collect();
            v.sort_by(|a, b| b.1.bytes().cmp(&a.1.bytes()).then(a.0.cmp(&b.0)));
            v
        };
        let mut largest: Vec<TopKey> = self
            .largest
            .into_iter()
            .map(|std::cmp::Reverse((bytes, key, t))| TopKey {
                revisions: self
                    .keys
                    .get(&fingerprint(&key))
                    .map_or(0, |s| s.revisions as u64),
                type_name: self.types.get(t as usize).cloned().unwrap_or_default(),
                key,
                bytes,
            })
            .collect();
        largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key)));
        let mut most: Vec<TopKey> = self.most.into_iter().flatten().collect();
        most.sort_by(|a, b| b.revisions.cmp(&a.revisions).then(a.key.cmp(&b.key)));
        Report {
            by_type: sorted(by_type, &self.types),
            by_namespace: sorted(by_ns, &self.namespaces),
            all,
            largest,
            most_revisions: most,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_live_history_deleted_and_top_lists() {
        // (key, value length, tombstone) in revision order.
        let revs: &[(&str, usize, bool)] = &[
            ("/registry/pods/a/p1", 100, false),
            ("/registry/pods/a/p1", 120, false),
            ("/registry/pods/b/p2", 50, false),
            ("/registry/events/a/e1", 10, false),
            ("/registry/events/a/e1", 0, true),
            ("/registry/minions/n1", 300, false),
            ("compact_rev_key", 1, false),
            ("/elsewhere", 5, false),
        ];
        let mut a = Analyzer::new(keys::DEFAULT_PREFIX, 2);
        for &(k, n, t) in revs {
            a.observe(k.as_bytes(), n, t);
        }
        a.end_first_pass();
        for &(k, _, t) in revs {
            a.observe_again(k.as_bytes(), t);
        }
        let r = a.finish();
        let get = |v: &[(String, Totals)], n: &str| v.iter().find(|x| x.0 == n).unwrap().1.clone();
        let pods = get(&r.by_type, "pods");
        let p1 = "/registry/pods/a/p1".len() as u64;
        let p2 = "/registry/pods/b/p2".len() as u64;
        assert_eq!(pods.objects, 2);
        assert_eq!(pods.revisions, 3);
        assert_eq!(pods.live_bytes, p1 + 120 + p2 + 50);
        assert_eq!(pods.history_bytes, p1 + 100);
        let events = get(&r.by_type, "events");
        assert_eq!(
            (events.objects, events.deleted, events.revisions),
            (0, 1, 2)
        );
        assert_eq!(events.live_bytes, 0);
        assert_eq!(get(&r.by_type, "nodes").objects, 1);
        assert_eq!(get(&r.by_type, "(compact_rev_key)").objects, 1);
        assert_eq!(get(&r.by_type, "(other)").objects, 1);
        let ns_a = get(&r.by_namespace, "a");
        assert_eq!((ns_a.objects, ns_a.deleted, ns_a.revisions), (1, 1, 4));
        assert_eq!(get(&r.by_namespace, "(cluster)").objects, 3);
        assert_eq!(r.all.revisions, revs.len() as u64);
        assert_eq!(r.all.objects + r.all.deleted, 6);
        // Largest first; deleted objects are never "largest".
        assert_eq!(r.largest.len(), 2);
        assert_eq!(r.largest[0].key, b"/registry/minions/n1");
        assert_eq!(r.largest[1].key, b"/registry/pods/a/p1");
        assert_eq!(r.largest[1].revisions, 2);
        // Most revisions: the two keys with 2.
        let most: Vec<&[u8]> = r.most_revisions.iter().map(|t| t.key.as_slice()).collect();
        assert_eq!(
            most,
            [&b"/registry/events/a/e1"[..], b"/registry/pods/a/p1"]
        );
        assert_eq!(r.most_revisions[0].type_name, "events");
    }
}
