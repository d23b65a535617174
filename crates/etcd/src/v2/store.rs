//! The v2 store tree and its operations, following etcd 3.4's `v2store` (FORMATS.md §3.5):
//! the store index counter (every successful mutation consumes exactly one index, failures
//! none), Create/Set/Update/CompareAndSwap/Delete/CompareAndDelete with their error codes,
//! intermediate directories, TTLs and the expiry of SYNC.
//!
//! Nodes live in an arena; names and values are bytes (Go strings hold any bytes). Children are
//! kept in byte order of their names, which is the order of a sorted v2 listing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use super::spill::{Spill, SpillRef};
use super::time::MIN_EXPIRE_NS;

pub(crate) type NodeId = u32;
pub(crate) const ROOT: NodeId = 0;
const NO_PARENT: NodeId = u32::MAX;

/// A v2 error code (etcd's `v2error` numbers) for a store operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 100 Key not found.
    KeyNotFound,
    /// 101 Compare failed.
    TestFailed,
    /// 102 Not a file.
    NotFile,
    /// 104 Not a directory.
    NotDir,
    /// 105 Key already exists.
    NodeExist,
    /// 107 Root is read only (`/`, `/0`, `/1`).
    RootReadOnly,
    /// 108 Directory not empty.
    DirNotEmpty,
}

impl Code {
    pub fn number(self) -> u32 {
        match self {
            Code::KeyNotFound => 100,
            Code::TestFailed => 101,
            Code::NotFile => 102,
            Code::NotDir => 104,
            Code::NodeExist => 105,
            Code::RootReadOnly => 107,
            Code::DirNotEmpty => 108,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Code::KeyNotFound => "Key not found",
            Code::TestFailed => "Compare failed",
            Code::NotFile => "Not a file",
            Code::NotDir => "Not a directory",
            Code::NodeExist => "Key already exists",
            Code::RootReadOnly => "Root is read only",
            Code::DirNotEmpty => "Directory not empty",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.number())
    }
}

/// A file's value: in memory, or in the store's [`Spill`] files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Mem(Box<[u8]>),
    Spilled(SpillRef),
}

impl Default for Val {
    fn default() -> Self {
        Val::Mem(Box::default())
    }
}

impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Self {
        Val::Mem(v.into())
    }
}

impl Val {
    pub(crate) fn len(&self) -> usize {
        match self {
            Val::Mem(v) => v.len(),
            Val::Spilled(r) => r.len as usize,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) struct Node {
    pub(crate) name: Arc<[u8]>,
    pub(crate) parent: NodeId,
    pub(crate) created: u64,
    pub(crate) modified: u64,
    pub(crate) expire: Option<i64>,
    pub(crate) value: Val,
    /// `Some` for directories (Go: `Children != nil`). Boxed: 8 bytes per file instead of 32.
    #[allow(clippy::box_collection)]
    pub(crate) children: Option<Box<BTreeMap<Arc<[u8]>, NodeId>>>,
}

impl Node {
    pub(crate) fn is_dir(&self) -> bool {
        self.children.is_some()
    }
}

/// The v2 store: a tree of nodes plus the store index (`CurrentIndex`).
pub struct Store {
    pub(crate) nodes: Vec<Node>,
    free: Vec<NodeId>,
    live: usize,
    /// The store's own index counter (`CurrentIndex`, `X-Etcd-Index`).
    pub(crate) current_index: u64,
    /// Nodes with an expiration, by (expiration, id).
    ttl: BTreeSet<(i64, NodeId)>,
    /// Where values go while a `.snap` is parsed, if anywhere but memory.
    pub(crate) spill: Option<Arc<Spill>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("nodes", &self.live)
            .field("current_index", &self.current_index)
            .field("ttl_nodes", &self.ttl.len())
            .finish()
    }
}

/// Go's `path.Clean` on bytes (the input is made absolute first, as `path.Join("/", p)`).
pub(crate) fn clean(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in p.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(p.len() + 1);
    if parts.is_empty() {
        out.push(b'/');
    }
    for c in parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// Components of a cleaned absolute path (none for `/`).
fn components(clean_path: &[u8]) -> impl Iterator<Item = &[u8]> {
    clean_path.split(|&c| c == b'/').filter(|c| !c.is_empty())
}

fn read_only(clean_path: &[u8]) -> bool {
    matches!(clean_path, b"/" | b"/0" | b"/1")
}

/// `(dir, name)` of a cleaned path that is not `/`.
fn split_last(clean_path: &[u8]) -> (&[u8], &[u8]) {
    match clean_path.iter().rposition(|&c| c == b'/') {
        Some(i) => (&clean_path[..i], &clean_path[i + 1..]),
        None => (&[], clean_path),
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// A fresh store as etcd builds it: `/`, `/0` and `/1`, all at index 0.
    pub fn new() -> Store {
        let mut s = Store::empty();
        s.add_child(ROOT, b"0", true, Val::default(), 0, None);
        s.add_child(ROOT, b"1", true, Val::default(), 0, None);
        s
    }

    /// Only the root directory (the JSON loader fills the rest).
    pub(crate) fn empty() -> Store {
        Store {
            nodes: vec![Node {
                name: Arc::from(&b""[..]),
                parent: NO_PARENT,
                created: 0,
                modified: 0,
                expire: None,
                value: Val::default(),
                children: Some(Box::default()),
            }],
            free: Vec::new(),
            live: 1,
            current_index: 0,
            ttl: BTreeSet::new(),
            spill: None,
        }
    }

    /// Bytes of values kept in spill files rather than memory (see [`super::spill`]).
    pub fn spilled_bytes(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.bytes_spilled())
    }

    /// The value of a file node. A spilled value that cannot be read back is empty here, and
    /// [`Spill::read_failed`] says so.
    pub(crate) fn value(&self, id: NodeId) -> std::borrow::Cow<'_, [u8]> {
        match &self.nodes[id as usize].value {
            Val::Mem(v) => std::borrow::Cow::Borrowed(v),
            Val::Spilled(r) => std::borrow::Cow::Owned(
                self.spill
                    .as_ref()
                    .and_then(|s| s.read(*r).ok())
                    .unwrap_or_default(),
            ),
        }
    }

    /// Sets a value read from a `.snap`: spilled when the store spills and the node's
    /// `modifiedIndex` is known already (etcd writes it before the value).
    pub(crate) fn set_loaded_value(&mut self, id: NodeId, v: &[u8]) {
        let n = &mut self.nodes[id as usize];
        n.value = match &self.spill {
            Some(s) if v.len() >= s.min_len && n.modified != 0 => {
                s.put(n.modified, v).map_or_else(|| v.into(), Val::Spilled)
            }
            _ => v.into(),
        };
    }

    /// The store index (`CurrentIndex`): the index of the last successful mutation.
    pub fn current_index(&self) -> u64 {
        self.current_index
    }

    /// Number of nodes, directories included, the root included.
    pub fn node_count(&self) -> usize {
        self.live
    }

    /// Number of nodes with an expiration.
    pub fn ttl_count(&self) -> usize {
        self.ttl.len()
    }

    /// The earliest expiration in the store, if any.
    pub fn next_expiration(&self) -> Option<i64> {
        self.ttl.first().map(|&(t, _)| t)
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The store path of a node below one of the top directories, without that directory
    /// (`/1/a/b` gives `/a/b`), into `out` (cleared first). Empty for the top directories.
    pub(crate) fn key_below_top_into(&self, id: NodeId, out: &mut Vec<u8>) {
        out.clear();
        // The chain up to the top directory, each node visited once (bounded by the node count,
        // so a damaged parent chain cannot loop); its names are then copied root first.
        let mut inline = [NO_PARENT; 16];
        let mut more: Vec<NodeId> = Vec::new();
        let mut depth = 0usize;
        let mut len = 0usize;
        let mut cur = id;
        loop {
            let Some(n) = self.nodes.get(cur as usize) else {
                return;
            };
            if cur == ROOT || n.parent == ROOT || n.parent == NO_PARENT {
                break;
            }
            if depth < inline.len() {
                inline[depth] = cur;
            } else {
                if depth > self.nodes.len() {
                    return;
                }
                more.push(cur);
            }
            depth += 1;
            len += 1 + n.name.len();
            cur = n.parent;
        }
        out.reserve(len);
        for &c in more
            .iter()
            .rev()
            .chain(inline[..depth.min(inline.len())].iter().rev())
        {
            out.push(b'/');
            out.extend_from_slice(&self.nodes[c as usize].name);
        }
    }

    fn alloc(&mut self, n: Node) -> NodeId {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            self.nodes[id as usize] = n;
            id
        } else {
            self.nodes.push(n);
            (self.nodes.len() - 1) as NodeId
        }
    }

    /// Adds a new child; replaces (and frees) an existing child of that name.
    pub(crate) fn add_child(
        &mut self,
        parent: NodeId,
        name: &[u8],
        dir: bool,
        value: Val,
        index: u64,
        expire: Option<i64>,
    ) -> NodeId {
        self.add_child_named(parent, Arc::from(name), dir, value, index, expire)
    }

    /// [`Store::add_child`] with the name shared, not copied.
    pub(crate) fn add_child_named(
        &mut self,
        parent: NodeId,
        name: Arc<[u8]>,
        dir: bool,
        value: Val,
        index: u64,
        expire: Option<i64>,
    ) -> NodeId {
        let id = self.alloc(Node {
            name: name.clone(),
            parent,
            created: index,
            modified: index,
            expire,
            value,
            children: if dir { Some(Box::default()) } else { None },
        });
        if let Some(t) = expire {
            self.ttl.insert((t, id));
        }
        let old = self.nodes[parent as usize]
            .children
            .as_mut()
            .and_then(|c| c.insert(name, id));
        if let Some(old) = old {
            self.free_subtree(old);
        }
        id
    }

    /// Frees a node and everything below it (the caller unlinks it from its parent).
    fn free_subtree(&mut self, id: NodeId) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let n = &mut self.nodes[id as usize];
            if let Some(c) = n.children.take() {
                stack.extend(c.values().copied());
            }
            if let Some(t) = n.expire.take() {
                self.ttl.remove(&(t, id));
            }
            n.value = Val::default();
            n.name = Arc::from(&b""[..]);
            n.parent = NO_PARENT;
            self.free.push(id);
            self.live -= 1;
        }
    }

    /// Unlinks a node from its parent and frees its subtree.
    fn remove(&mut self, id: NodeId) {
        let (parent, name) = {
            let n = &self.nodes[id as usize];
            (n.parent, n.name.clone())
        };
        if parent != NO_PARENT {
            if let Some(c) = self.nodes[parent as usize].children.as_mut() {
                if c.get(&name) == Some(&id) {
                    c.remove(&name);
                }
            }
        }
        self.free_subtree(id);
    }

    pub(crate) fn set_expire(&mut self, id: NodeId, expire: Option<i64>) {
        let n = &mut self.nodes[id as usize];
        if let Some(t) = n.expire {
            self.ttl.remove(&(t, id));
        }
        n.expire = expire;
        if let Some(t) = expire {
            self.ttl.insert((t, id));
        }
    }

    pub(crate) fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        self.nodes[dir as usize]
            .children
            .as_ref()
            .and_then(|c| c.get(name).copied())
    }

    /// `internalGet`: the node at a path (cleaned here).
    pub(crate) fn lookup(&self, path: &[u8]) -> Result<NodeId, Code> {
        let p = clean(path);
        let mut cur = ROOT;
        for comp in components(&p) {
            let n = self.node(cur);
            match &n.children {
                None => return Err(Code::NotDir),
                Some(c) => match c.get(comp) {
                    Some(&id) => cur = id,
                    None => return Err(Code::KeyNotFound),
                },
            }
        }
        Ok(cur)
    }

    /// The full store path of a node.
    pub(crate) fn path_of(&self, id: NodeId) -> Vec<u8> {
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != ROOT && cur != NO_PARENT {
            let n = self.node(cur);
            parts.push(n.name.clone());
            cur = n.parent;
        }
        if parts.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        out
    }

    // --------------------------------------------------------------------------------------
    // Store operations (etcd's v2store API). Each returns the index it consumed.
    // --------------------------------------------------------------------------------------

    /// `internalCreate`: Create (`replace` false) or the creating half of Set (`replace` true).
    /// `unique` appends the next index as a 20-digit name (POST).
    fn internal_create(
        &mut self,
        path: &[u8],
        dir: bool,
        value: &[u8],
        unique: bool,
        replace: bool,
        expire: Option<i64>,
    ) -> Result<u64, Code> {
        let next = self.current_index.wrapping_add(1);
        let mut raw = path.to_vec();
        if unique {
            raw.extend_from_slice(format!("/{next:020}").as_bytes());
        }
        let mut full = b"/".to_vec();
        full.extend_from_slice(&raw);
        let p = clean(&full);
        if read_only(&p) {
            return Err(Code::RootReadOnly);
        }
        let expire = expire.filter(|&t| t >= MIN_EXPIRE_NS);
        let (dir_path, name) = split_last(&p);
        // Walk, creating missing directories with this operation's index. They stay even if
        // the operation then fails (as in etcd).
        let mut d = ROOT;
        for comp in components(dir_path) {
            match self.child(d, comp) {
                Some(c) if self.node(c).is_dir() => d = c,
                Some(_) => return Err(Code::NotDir),
                None => d = self.add_child(d, comp, true, Val::default(), next, None),
            }
        }
        if let Some(existing) = self.child(d, name) {
            if !replace {
                return Err(Code::NodeExist);
            }
            if self.node(existing).is_dir() {
                return Err(Code::NotFile);
            }
            self.remove(existing);
        }
        self.add_child(
            d,
            name,
            dir,
            if dir { Val::default() } else { value.into() },
            next,
            expire,
        );
        self.current_index = next;
        Ok(next)
    }

    /// `Create`: fails if the node exists. `unique` = POST (in-order key).
    pub fn create(
        &mut self,
        path: &[u8],
        dir: bool,
        value: &[u8],
        unique: bool,
        expire: Option<i64>,
    ) -> Result<u64, Code> {
        self.internal_create(path, dir, value, unique, false, expire)
    }

    /// `Set`: creates or replaces a file (a new node: `createdIndex` changes). With `refresh`
    /// the node must exist and keeps its value.
    pub fn set(
        &mut self,
        path: &[u8],
        dir: bool,
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<u64, Code> {
        let prev = match self.lookup(path) {
            Ok(id) => Some(id),
            Err(Code::KeyNotFound) => None,
            Err(e) => return Err(e),
        };
        let kept;
        let value = if refresh {
            let id = prev.ok_or(Code::KeyNotFound)?;
            kept = self.value(id).into_owned();
            &kept[..]
        } else {
            value
        };
        self.internal_create(path, dir, value, false, true, expire)
    }

    /// `Update`: the node must exist; files get the value, directories only the TTL (their
    /// `modifiedIndex` stays although an index is consumed). The TTL is replaced (none =
    /// permanent).
    pub fn update(
        &mut self,
        path: &[u8],
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<u64, Code> {
        let p = clean(&[b"/", path].concat());
        if read_only(&p) {
            return Err(Code::RootReadOnly);
        }
        let id = self.lookup(&p)?;
        let is_dir = self.node(id).is_dir();
        if is_dir && !value.is_empty() {
            return Err(Code::NotFile);
        }
        let next = self.current_index.wrapping_add(1);
        if !is_dir {
            let n = &mut self.nodes[id as usize];
            if !refresh {
                n.value = value.into();
            }
            n.modified = next;
        }
        self.set_expire(id, expire);
        self.current_index = next;
        Ok(next)
    }

    fn compare(&self, id: NodeId, prev_value: &[u8], prev_index: u64) -> bool {
        let n = self.node(id);
        (prev_index == 0 || n.modified == prev_index)
            && (prev_value.is_empty() || *self.value(id) == *prev_value)
    }

    /// `CompareAndSwap` (files only).
    pub fn compare_and_swap(
        &mut self,
        path: &[u8],
        prev_value: &[u8],
        prev_index: u64,
        value: &[u8],
        expire: Option<i64>,
        refresh: bool,
    ) -> Result<u64, Code> {
        let p = clean(&[b"/", path].concat());
        if read_only(&p) {
            return Err(Code::RootReadOnly);
        }
        let id = self.lookup(&p)?;
        if self.node(id).is_dir() {
            return Err(Code::NotFile);
        }
        if !self.compare(id, prev_value, prev_index) {
            return Err(Code::TestFailed);
        }
        let next = self.current_index.wrapping_add(1);
        let n = &mut self.nodes[id as usize];
        if !refresh {
            n.value = value.into();
        }
        n.modified = next;
        self.set_expire(id, expire);
        self.current_index = next;
        Ok(next)
    }

    /// `Delete`: files; directories need `dir`, non-empty ones `recursive` (which implies dir).
    pub fn delete(&mut self, path: &[u8], dir: bool, recursive: bool) -> Result<u64, Code> {
        let p = clean(&[b"/", path].concat());
        if read_only(&p) {
            return Err(Code::RootReadOnly);
        }
        let dir = dir || recursive;
        let id = self.lookup(&p)?;
        if let Some(c) = &self.node(id).children {
            if !dir {
                return Err(Code::NotFile);
            }
            if !c.is_empty() && !recursive {
                return Err(Code::DirNotEmpty);
            }
        }
        self.remove(id);
        self.current_index = self.current_index.wrapping_add(1);
        Ok(self.current_index)
    }

    /// `CompareAndDelete` (files only; no read-only check, as in etcd).
    pub fn compare_and_delete(
        &mut self,
        path: &[u8],
        prev_value: &[u8],
        prev_index: u64,
    ) -> Result<u64, Code> {
        let id = self.lookup(path)?;
        if self.node(id).is_dir() {
            return Err(Code::NotFile);
        }
        if !self.compare(id, prev_value, prev_index) {
            return Err(Code::TestFailed);
        }
        self.current_index = self.current_index.wrapping_add(1);
        self.remove(id);
        Ok(self.current_index)
    }

    /// `DeleteExpiredKeys`: removes every node whose expiration is `<= cutoff`, earliest first,
    /// one index each (a directory takes its subtree with it). Returns the paths removed.
    pub fn delete_expired(&mut self, cutoff_ns: i64) -> Vec<Vec<u8>> {
        let mut gone = Vec::new();
        while let Some(&(t, id)) = self.ttl.first() {
            if t > cutoff_ns {
                break;
            }
            self.current_index = self.current_index.wrapping_add(1);
            self.ttl.remove(&(t, id));
            self.nodes[id as usize].expire = None;
            gone.push(self.path_of(id));
            self.remove(id);
        }
        gone
    }

    /// Makes a node a directory (keeps existing children).
    pub(crate) fn make_dir(&mut self, id: NodeId) {
        let n = &mut self.nodes[id as usize];
        if n.children.is_none() {
            n.children = Some(Box::default());
        }
    }

    /// Makes a node a file, dropping any children.
    pub(crate) fn make_file(&mut self, id: NodeId) {
        if let Some(c) = self.nodes[id as usize].children.take() {
            for &child in c.values() {
                self.free_subtree(child);
            }
        }
    }

    /// Room for `n` more nodes without growing twice as large.
    pub(crate) fn reserve_exact(&mut self, n: usize) {
        self.nodes.reserve_exact(n);
    }

    /// Number of nodes in use (for [`Store::reserve_exact`]).
    pub(crate) fn live_count(&self) -> usize {
        self.live
    }

    /// Sets the index counter (snapshot recovery).
    pub(crate) fn set_current_index(&mut self, i: u64) {
        self.current_index = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(s: &Store, p: &str) -> (u64, u64, Vec<u8>, bool) {
        let id = s.lookup(p.as_bytes()).unwrap();
        let n = s.node(id);
        (n.created, n.modified, s.value(id).to_vec(), n.is_dir())
    }

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("/", "/"),
            ("//1//foo/", "/1/foo"),
            ("/1/./a/../b", "/1/b"),
            ("/..", "/"),
            ("/1/a/..", "/1"),
            ("/1/a/...", "/1/a/..."),
        ] {
            assert_eq!(clean(i.as_bytes()), o.as_bytes(), "{i}");
        }
    }

    #[test]
    fn membership_bootstrap_indices() {
        // FORMATS.md §2.4: a single member consumes 1 (raftAttributes + its dir), 2, 3.
        let mut s = Store::new();
        assert_eq!(
            s.create(b"/0/members/a/raftAttributes", false, b"{}", false, None),
            Ok(1)
        );
        assert_eq!(get(&s, "/0/members").0, 1);
        assert_eq!(
            s.set(b"/0/members/a/attributes", false, b"{}", None, false),
            Ok(2)
        );
        assert_eq!(s.set(b"/0/version", false, b"3.4.0", None, false), Ok(3));
        assert_eq!(s.set(b"/1/foo", false, b"x", None, false), Ok(4));
    }

    #[test]
    fn set_resets_created_index_update_keeps_it() {
        let mut s = Store::new();
        s.set(b"/1/foo", false, b"a", None, false).unwrap();
        s.set(b"/1/foo", false, b"b", None, false).unwrap();
        assert_eq!(get(&s, "/1/foo"), (2, 2, b"b".to_vec(), false));
        s.update(b"/1/foo", b"c", None, false).unwrap();
        assert_eq!(get(&s, "/1/foo"), (2, 3, b"c".to_vec(), false));
        // Set on a directory: 102, nothing consumed.
        s.set(b"/1/d/x", false, b"", None, false).unwrap();
        assert_eq!(s.set(b"/1/d", false, b"v", None, false), Err(Code::NotFile));
        assert_eq!(s.current_index(), 4);
        // A file on the way: 104.
        assert_eq!(
            s.set(b"/1/foo/x", false, b"v", None, false),
            Err(Code::NotDir)
        );
        assert_eq!(
            s.create(b"/1/foo/x", false, b"v", false, None),
            Err(Code::NotDir)
        );
        assert_eq!(s.current_index(), 4);
        // Read-only roots.
        assert_eq!(s.delete(b"/1", true, true), Err(Code::RootReadOnly));
        assert_eq!(
            s.set(b"/0", false, b"", None, false),
            Err(Code::RootReadOnly)
        );
    }

    #[test]
    fn cas_failure_consumes_no_index() {
        let mut s = Store::new();
        s.set(b"/1/k", false, b"one", None, false).unwrap();
        assert_eq!(
            s.compare_and_swap(b"/1/k", b"nope", 0, b"two", None, false),
            Err(Code::TestFailed)
        );
        assert_eq!(
            s.compare_and_swap(b"/1/k", b"", 9, b"two", None, false),
            Err(Code::TestFailed)
        );
        assert_eq!(s.current_index(), 1);
        assert_eq!(
            s.compare_and_swap(b"/1/k", b"one", 1, b"two", None, false),
            Ok(2)
        );
        assert_eq!(get(&s, "/1/k"), (1, 2, b"two".to_vec(), false));
        assert_eq!(
            s.compare_and_delete(b"/1/k", b"one", 0),
            Err(Code::TestFailed)
        );
        assert_eq!(s.compare_and_delete(b"/1/k", b"two", 2), Ok(3));
        assert_eq!(s.lookup(b"/1/k"), Err(Code::KeyNotFound));
    }

    #[test]
    fn post_names_are_20_digit_indices() {
        let mut s = Store::new();
        s.set(b"/1/x", false, b"", None, false).unwrap();
        assert_eq!(s.create(b"/1/q", false, b"a", true, None), Ok(2));
        assert_eq!(s.create(b"/1/q", true, b"", true, None), Ok(3));
        assert_eq!(get(&s, "/1/q/00000000000000000002").2, b"a");
        assert!(get(&s, "/1/q/00000000000000000003").3);
        // The queue dir itself was created by the first POST, with its index.
        assert_eq!(get(&s, "/1/q").0, 2);
    }

    #[test]
    fn deletes_and_dirs() {
        let mut s = Store::new();
        s.set(b"/1/d/a", false, b"1", None, false).unwrap();
        assert_eq!(s.delete(b"/1/d", false, false), Err(Code::NotFile));
        assert_eq!(s.delete(b"/1/d", true, false), Err(Code::DirNotEmpty));
        assert_eq!(s.delete(b"/1/d", false, true), Ok(2));
        assert_eq!(s.delete(b"/1/d", false, true), Err(Code::KeyNotFound));
        assert_eq!(s.node_count(), 3);
        s.create(b"/1/e", true, b"", false, None).unwrap();
        assert_eq!(
            s.create(b"/1/e", true, b"", false, None),
            Err(Code::NodeExist)
        );
        assert_eq!(s.delete(b"/1/e", true, false), Ok(4));
    }

    #[test]
    fn ttl_update_refresh_and_sync() {
        let t0 = MIN_EXPIRE_NS + 1_000;
        let mut s = Store::new();
        s.set(b"/1/a", false, b"v", Some(t0 + 30), false).unwrap(); // 1
        s.set(b"/1/b", false, b"v", Some(t0 + 10), false).unwrap(); // 2
        s.create(b"/1/d", true, b"", false, Some(t0 + 20)).unwrap(); // 3
        s.set(b"/1/d/c", false, b"v", Some(t0 + 25), false).unwrap(); // 4
                                                                      // Expirations before 2000 are permanent for Create/Set.
        s.set(b"/1/old", false, b"v", Some(5), false).unwrap(); // 5
        assert_eq!(s.node(s.lookup(b"/1/old").unwrap()).expire, None);
        // Update without a TTL makes a key permanent.
        s.set(b"/1/p", false, b"v", Some(t0 + 5), false).unwrap(); // 6
        s.update(b"/1/p", b"w", None, false).unwrap(); // 7
        assert_eq!(s.node(s.lookup(b"/1/p").unwrap()).expire, None);
        // Refresh keeps the value.
        s.update(b"/1/a", b"", Some(t0 + 40), true).unwrap(); // 8
        assert_eq!(get(&s, "/1/a"), (1, 8, b"v".to_vec(), false));
        // A dir's update consumes an index but keeps its modifiedIndex.
        s.update(b"/1/d", b"", Some(t0 + 21), false).unwrap(); // 9
        assert_eq!(get(&s, "/1/d").1, 3);
        assert_eq!(s.current_index(), 9);
        // SYNC at t0+22: b (10), then d with its child (11); c goes with d.
        let gone = s.delete_expired(t0 + 22);
        assert_eq!(gone, vec![b"/1/b".to_vec(), b"/1/d".to_vec()]);
        assert_eq!(s.current_index(), 11);
        assert_eq!(s.ttl_count(), 1);
        assert!(s.delete_expired(t0 + 39).is_empty());
        assert_eq!(s.delete_expired(t0 + 40), vec![b"/1/a".to_vec()]);
        assert_eq!(s.current_index(), 12);
    }
}
