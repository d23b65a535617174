//! Reading the store the way the v2 API answers `GET /v2/keys/<key>`: the `node` object with
//! `key` (without the `/1` prefix), `value`, `dir`, `expiration`, `ttl`, `nodes`,
//! `modifiedIndex`, `createdIndex` — Go's field order and `omitempty` rules, children in byte
//! order, hidden (`_`) children left out of listings.
//!
//! [`NodeRef::write_json`] streams that JSON byte-for-byte as etcd 3.4 (Go 1.19 `encoding/json`,
//! HTML-escaping on) prints it, without building the tree in memory and without recursion.

use std::collections::btree_map;
use std::io::{self, Write};
use std::sync::Arc;

use super::store::{clean, Code, NodeId, Store};
use super::time::{format_rfc3339_nano_utc, ttl_seconds};

/// How to read a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetOptions {
    /// List the whole subtree (`?recursive=true`); otherwise a directory lists its children
    /// one level deep, as etcd does.
    pub recursive: bool,
    /// Also list hidden children (names starting with `_`), which etcd never lists.
    pub include_hidden: bool,
    /// "Now" for `ttl`, Unix nanoseconds.
    pub now_ns: i64,
}

/// One node as the v2 API shows it. Children are always in byte order (etcd's `sorted=true`;
/// without it etcd's order is random).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeView {
    /// The key: the store path, with `/1` removed for user keys (empty for `/1` itself).
    pub key: Vec<u8>,
    pub dir: bool,
    /// Files only (an empty value is `Some(vec![])`).
    pub value: Option<Vec<u8>>,
    /// Unix nanoseconds.
    pub expiration: Option<i64>,
    /// Seconds left at `now` (0 when there is no expiration; the JSON omits 0).
    pub ttl: i64,
    /// Listed children (empty for files, unlisted directories and empty directories).
    pub nodes: Vec<NodeView>,
    pub modified_index: u64,
    pub created_index: u64,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;
const M7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// 0x80 in each byte of `x` that is zero, 0 elsewhere (exact: no carries between bytes).
#[inline(always)]
pub(crate) fn zero_bytes(x: u64) -> u64 {
    !(((x & M7) + M7) | x | M7)
}

/// 0x80 in each byte of `x` below 0x20 (with its top bit clear), 0 elsewhere.
#[inline(always)]
pub(crate) fn control_bytes(x: u64) -> u64 {
    !(((x & M7) + LO * 0x60) | x | M7)
}

/// 0x80 in each byte Go's encoder does not copy as is: `"`, `\`, `<`, `>`, `&`, control
/// characters and every non-ASCII byte (checked one by one).
#[inline(always)]
fn out_special(x: u64) -> u64 {
    (x & HI)
        | control_bytes(x)
        | zero_bytes(x ^ (LO * b'"' as u64))
        | zero_bytes(x ^ (LO * b'\\' as u64))
        | zero_bytes(x ^ (LO * b'<' as u64))
        | zero_bytes(x ^ (LO * b'>' as u64))
        | zero_bytes(x ^ (LO * b'&' as u64))
}

#[inline(always)]
fn out_safe(c: u8) -> bool {
    (0x20..0x80).contains(&c) && !matches!(c, b'"' | b'\\' | b'<' | b'>' | b'&')
}

/// Index of the first byte of `s` at or after `i` that is not copied as is (or `s.len()`).
#[inline]
fn next_out_special(s: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = s.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let m = out_special(u64::from_le_bytes(a));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        if !out_safe(c) {
            return i;
        }
        i += 1;
    }
    i
}

/// Appends `v` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut b = [0u8; 20];
    let mut k = b.len();
    loop {
        k -= 1;
        b[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&b[k..]);
}

/// Appends `v` in decimal, with a `-` when negative.
fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `s` as a JSON string exactly as Go's `encoding/json` (Go 1.19, HTML escaping on)
/// writes a Go string: invalid UTF-8 bytes become `\ufffd` one byte at a time, `<`, `>`, `&`,
/// U+2028 and U+2029 are escaped, control characters other than `\n`, `\r`, `\t` are `\u00XX`.
pub fn go_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut i = 0;
    let mut start = 0;
    loop {
        i = next_out_special(s, i);
        let Some(&c) = s.get(i) else {
            break;
        };
        if c < 0x80 {
            out.extend_from_slice(&s[start..i]);
            match c {
                b'\\' | b'"' => {
                    out.push(b'\\');
                    out.push(c);
                }
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(c >> 4) as usize]);
                    out.push(HEX[(c & 0xf) as usize]);
                }
            }
            i += 1;
            start = i;
            continue;
        }
        let n = match c {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        let seq = if n > 0 { s.get(i..i + n) } else { None };
        let valid = seq.is_some_and(|q| std::str::from_utf8(q).is_ok());
        if !valid {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\ufffd");
            i += 1;
            start = i;
            continue;
        }
        if let Some(&[0xE2, 0x80, last @ (0xA8 | 0xA9)]) = seq {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(if last == 0xA8 { b"\\u2028" } else { b"\\u2029" });
            i += 3;
            start = i;
            continue;
        }
        i += n;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// The bytes as Go turns them into a string when encoding JSON: each invalid UTF-8 byte
/// becomes U+FFFD (one per byte, unlike `String::from_utf8_lossy`).
pub fn go_lossy(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let n = match c {
            0x00..=0x7F => 1,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        match s.get(i..i + n).map(std::str::from_utf8) {
            Some(Ok(t)) if n > 0 => {
                out.push_str(t);
                i += n;
            }
            _ => {
                out.push('\u{FFFD}');
                i += 1;
            }
        }
    }
    out
}

/// A node found by path, ready to be shown.
#[derive(Clone)]
pub struct NodeRef<'a> {
    store: &'a Store,
    id: NodeId,
    /// The key shown for this node.
    key: Vec<u8>,
    /// Store path of this node (keys of children are built from it).
    path: Vec<u8>,
    /// Strip `/1` from keys (user key space).
    strip: bool,
}

fn shown_key(path: &[u8], strip: bool) -> Vec<u8> {
    if strip {
        path.strip_prefix(b"/1").unwrap_or(path).to_vec()
    } else {
        path.to_vec()
    }
}

fn hidden(name: &[u8]) -> bool {
    name.first() == Some(&b'_')
}

impl Store {
    /// The node of a v2 API key (`/foo/bar`, `foo/bar`; `""` or `/` = the root of the key space):
    /// store path `path.Join("/1", key)`, shown without the `/1` prefix.
    pub fn node_at(&self, key: &[u8]) -> Result<NodeRef<'_>, Code> {
        let path = clean(&[b"/1/", key].concat());
        let id = self.lookup(&path)?;
        Ok(NodeRef {
            store: self,
            id,
            key: shown_key(&path, true),
            path,
            strip: true,
        })
    }

    /// The node of a raw store path (`/0/members`, `/2/users`, `/`); keys are shown unchanged.
    pub fn node_at_store_path(&self, path: &[u8]) -> Result<NodeRef<'_>, Code> {
        let path = clean(path);
        let id = self.lookup(&path)?;
        Ok(NodeRef {
            store: self,
            id,
            key: path.clone(),
            path,
            strip: false,
        })
    }

    /// `GET /v2/keys/<key>` as a [`NodeView`].
    pub fn get(&self, key: &[u8], opts: &GetOptions) -> Result<NodeView, Code> {
        Ok(self.node_at(key)?.view(opts))
    }
}

/// `walk`'s frame: children still to visit, whether to go deeper, path length.
type WalkFrame<'a> = (btree_map::Iter<'a, Arc<[u8]>, NodeId>, bool, usize);

struct Frame<'a> {
    id: NodeId,
    /// Children still to list (None: not listing).
    iter: Option<btree_map::Iter<'a, Arc<[u8]>, NodeId>>,
    /// Whether children of the listed children are listed too.
    deep: bool,
    /// Length of the path buffer for this node.
    path_len: usize,
    /// Children written so far (to place `[`, `,` and `]`).
    listed: usize,
    /// Whether a field has been written (for the comma before the next one).
    any_field: bool,
}

impl<'a> NodeRef<'a> {
    pub fn is_dir(&self) -> bool {
        self.store.node(self.id).is_dir()
    }

    /// The store path (`/1/...` for user keys).
    pub fn store_path(&self) -> &[u8] {
        &self.path
    }

    /// The prefix children's paths are built on: the store path, empty for `/`.
    fn child_base(&self) -> Vec<u8> {
        if self.path == b"/" {
            Vec::new()
        } else {
            self.path.clone()
        }
    }

    fn leaf_view(&self, id: NodeId, path: &[u8], now: i64) -> NodeView {
        let n = self.store.node(id);
        NodeView {
            key: shown_key(path, self.strip),
            dir: n.is_dir(),
            value: if n.is_dir() {
                None
            } else {
                Some(self.store.value(id).into_owned())
            },
            expiration: n.expire,
            ttl: n.expire.map_or(0, |t| ttl_seconds(t, now)),
            nodes: Vec::new(),
            modified_index: n.modified,
            created_index: n.created,
        }
    }

    fn visible(&self, name: &[u8], opts: &GetOptions) -> bool {
        opts.include_hidden || !hidden(name)
    }

    /// The node as the v2 API shows it (built iteratively).
    pub fn view(&self, opts: &GetOptions) -> NodeView {
        // Each frame: the view being built, its children iterator, whether to go deeper.
        type F<'b> = (
            NodeView,
            Option<btree_map::Iter<'b, Arc<[u8]>, NodeId>>,
            bool,
            usize,
        );
        let mut path = self.child_base();
        let root = self.store.node(self.id);
        let mut top = self.leaf_view(self.id, &path, opts.now_ns);
        top.key = self.key.clone();
        let mut stack: Vec<F<'_>> = vec![(
            top,
            root.children.as_ref().map(|c| c.iter()),
            opts.recursive,
            path.len(),
        )];
        loop {
            let Some(frame) = stack.last_mut() else {
                return NodeView::default();
            };
            let next = frame.1.as_mut().and_then(|it| {
                it.by_ref()
                    .find(|(name, _)| opts.include_hidden || !hidden(name))
            });
            match next {
                Some((name, &child)) => {
                    let deep = frame.2;
                    path.truncate(frame.3);
                    path.push(b'/');
                    path.extend_from_slice(name);
                    let v = self.leaf_view(child, &path, opts.now_ns);
                    let c = self.store.node(child);
                    let iter = if deep {
                        c.children.as_ref().map(|c| c.iter())
                    } else {
                        None
                    };
                    let plen = path.len();
                    stack.push((v, iter, deep, plen));
                }
                None => {
                    let Some((done, _, _, _)) = stack.pop() else {
                        return NodeView::default();
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.0.nodes.push(done),
                        None => return done,
                    }
                }
            }
        }
    }

    /// Visits the node and the children [`NodeRef::view`] would list, depth-first, parents
    /// before children, siblings in byte order, without building the tree: each call gets a
    /// view without `nodes` and its depth (0 for this node). Stops at the first error.
    pub fn walk<E>(
        &self,
        opts: &GetOptions,
        mut f: impl FnMut(&NodeView, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut path = self.child_base();
        let mut top = self.leaf_view(self.id, &path, opts.now_ns);
        top.key = self.key.clone();
        f(&top, 0)?;
        let root = self.store.node(self.id);
        let mut stack: Vec<WalkFrame<'_>> = Vec::new();
        if let Some(c) = &root.children {
            stack.push((c.iter(), opts.recursive, path.len()));
        }
        while let Some((iter, deep, plen)) = stack.last_mut() {
            let next = iter.find(|(name, _)| self.visible(name, opts));
            let Some((name, &child)) = next else {
                stack.pop();
                continue;
            };
            let deep = *deep;
            path.truncate(*plen);
            path.push(b'/');
            path.extend_from_slice(name);
            let v = self.leaf_view(child, &path, opts.now_ns);
            f(&v, stack.len())?;
            if deep {
                if let Some(c) = &self.store.node(child).children {
                    stack.push((c.iter(), true, path.len()));
                }
            }
        }
        Ok(())
    }

    /// Writes the node's JSON exactly as etcd 3.4 prints the `node` object of
    /// `GET /v2/keys/<key>[?recursive=true]&sorted=true`.
    pub fn write_json<W: Write>(&self, w: &mut W, opts: &GetOptions) -> io::Result<()> {
        self.write_part(opts, None, &mut |out: &mut Vec<u8>| {
            w.write_all(out)?;
            out.clear();
            Ok(())
        })
    }

    /// [`NodeRef::write_json`] on two threads: the output is cut into blocks of a fixed number
    /// of traversal steps; both threads walk the whole tree (cheap) but each formats only every
    /// other block, and the caller's thread writes the blocks in order. A few blocks are in
    /// flight at a time, so memory stays bounded. Same bytes as [`NodeRef::write_json`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn write_json_parallel<W: Write>(&self, w: &mut W, opts: &GetOptions) -> io::Result<()> {
        self.write_json_blocks(w, opts, 1024)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn write_json_blocks<W: Write>(
        &self,
        w: &mut W,
        opts: &GetOptions,
        block_steps: u64,
    ) -> io::Result<()> {
        use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
        const PARTS: u64 = 2;
        std::thread::scope(|sc| -> io::Result<()> {
            let mut done: Vec<Receiver<io::Result<Vec<u8>>>> = Vec::new();
            let mut spare: Vec<std::sync::mpsc::Sender<Vec<u8>>> = Vec::new();
            let mut workers = Vec::new();
            for me in 0..PARTS {
                let (tx, rx): (SyncSender<io::Result<Vec<u8>>>, _) = sync_channel(2);
                let (back_tx, back_rx) = channel::<Vec<u8>>();
                done.push(rx);
                spare.push(back_tx);
                workers.push(sc.spawn(move || {
                    let mut sink = |out: &mut Vec<u8>| -> io::Result<()> {
                        let next = back_rx
                            .try_recv()
                            .unwrap_or_else(|_| Vec::with_capacity(out.capacity()));
                        let full = std::mem::replace(out, next);
                        // The writer has gone (it failed): stop quietly.
                        tx.send(Ok(full))
                            .map_err(|_| io::ErrorKind::BrokenPipe.into())
                    };
                    if let Err(e) = self.write_part(opts, Some((me, PARTS, block_steps)), &mut sink)
                    {
                        let _ = tx.send(Err(e));
                    }
                }));
            }
            // Blocks in order: block b comes from part b % PARTS. The first part to run out
            // marks the end (blocks are made in order, so none follow).
            let mut b = 0usize;
            loop {
                let part = b % PARTS as usize;
                let Some(Ok(block)) = done.get(part).map(Receiver::recv) else {
                    break;
                };
                let mut block = block?;
                w.write_all(&block)?;
                block.clear();
                if let Some(back) = spare.get(part) {
                    let _ = back.send(block);
                }
                b += 1;
            }
            // A worker that panicked ended its part early: that is not the end of the output.
            for h in workers {
                if h.join().is_err() {
                    return Err(io::Error::other("a JSON writer thread failed"));
                }
            }
            Ok(())
        })
    }

    /// The writer's loop. `part = Some((me, of, block_steps))`: only the blocks `b` with
    /// `b % of == me` are formatted, and `sink` gets each of them whole (the other blocks
    /// are walked without output). `None`: everything, in pieces of about 60 KiB.
    fn write_part(
        &self,
        opts: &GetOptions,
        part: Option<(u64, u64, u64)>,
        sink: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let block = |step: u64| part.map_or(0, |(_, _, k)| step / k.max(1));
        let mine = |step: u64| match part {
            Some((me, of, _)) => block(step) % of.max(1) == me,
            None => true,
        };
        let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut path = self.child_base();
        let mut stack: Vec<Frame<'_>> = Vec::new();
        let mut emit = mine(0);
        self.open(
            &mut out,
            emit,
            self.id,
            &self.key,
            opts,
            &mut stack,
            path.len(),
            true,
        );
        let mut step: u64 = 0;
        loop {
            if part.is_none() && out.len() >= 60 * 1024 {
                sink(&mut out)?;
            }
            let Some(frame) = stack.last_mut() else {
                break;
            };
            step += 1;
            if part.is_some() && block(step) != block(step - 1) {
                if emit {
                    sink(&mut out)?;
                }
                emit = mine(step);
            }
            let next = frame
                .iter
                .as_mut()
                .and_then(|it| it.by_ref().find(|(name, _)| self.visible(name, opts)));
            match next {
                Some((name, &child)) => {
                    if emit {
                        if frame.listed == 0 {
                            if frame.any_field {
                                out.push(b',');
                            }
                            out.extend_from_slice(b"\"nodes\":[");
                        } else {
                            out.push(b',');
                        }
                    }
                    frame.any_field = true;
                    frame.listed += 1;
                    let deep = frame.deep;
                    path.truncate(frame.path_len);
                    path.push(b'/');
                    path.extend_from_slice(name);
                    let key = if self.strip {
                        path.strip_prefix(b"/1").unwrap_or(&path)
                    } else {
                        &path[..]
                    };
                    let plen = path.len();
                    self.open(&mut out, emit, child, key, opts, &mut stack, plen, deep);
                }
                None => {
                    if let Some(f) = stack.pop() {
                        if emit {
                            self.close(&mut out, &f);
                        }
                    }
                }
            }
        }
        if emit {
            sink(&mut out)?;
        }
        Ok(())
    }

    /// Writes `]` (when children were listed), the indices and `}`.
    fn close(&self, out: &mut Vec<u8>, f: &Frame<'_>) {
        if f.listed > 0 {
            out.push(b']');
        }
        let n = self.store.node(f.id);
        let mut any = f.any_field;
        for (name, v) in [("modifiedIndex", n.modified), ("createdIndex", n.created)] {
            if v != 0 {
                if any {
                    out.push(b',');
                }
                any = true;
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                push_u64(out, v);
            }
        }
        out.push(b'}');
    }

    /// Writes `{` and the fields before `nodes`, and pushes the frame.
    #[allow(clippy::too_many_arguments)]
    /// Without `emit` nothing is written (the frame is the same: a node always shows `value`
    /// or `dir`, so `any_field` is true).
    fn open(
        &self,
        out: &mut Vec<u8>,
        emit: bool,
        id: NodeId,
        key: &[u8],
        opts: &GetOptions,
        stack: &mut Vec<Frame<'a>>,
        path_len: usize,
        list: bool,
    ) {
        let store: &'a Store = self.store;
        let n = store.node(id);
        let iter = if list {
            n.children.as_ref().map(|c| c.iter())
        } else {
            None
        };
        if !emit {
            stack.push(Frame {
                id,
                iter,
                deep: opts.recursive,
                path_len,
                listed: 0,
                any_field: true,
            });
            return;
        }
        out.push(b'{');
        let mut any = false;
        let mut sep = |out: &mut Vec<u8>| {
            if any {
                out.push(b',');
            }
            any = true;
        };
        if !key.is_empty() {
            sep(out);
            out.extend_from_slice(b"\"key\":");
            go_json_string(out, key);
        }
        if !n.is_dir() {
            sep(out);
            out.extend_from_slice(b"\"value\":");
            go_json_string(out, &store.value(id));
        } else {
            sep(out);
            out.extend_from_slice(b"\"dir\":true");
        }
        if let Some(t) = n.expire {
            sep(out);
            out.extend_from_slice(b"\"expiration\":\"");
            out.extend_from_slice(format_rfc3339_nano_utc(t).as_bytes());
            out.push(b'"');
            let ttl = ttl_seconds(t, opts.now_ns);
            if ttl != 0 {
                sep(out);
                out.extend_from_slice(b"\"ttl\":");
                push_i64(out, ttl);
            }
        }
        stack.push(Frame {
            id,
            iter,
            deep: opts.recursive,
            path_len,
            listed: 0,
            any_field: any,
        });
    }

    /// The JSON of [`NodeRef::write_json`] as a string.
    pub fn to_json(&self, opts: &GetOptions) -> String {
        let mut v = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_json(&mut v, opts);
        String::from_utf8(v).unwrap_or_default()
    }
}

impl serde::Serialize for NodeView {
    /// The v2 API's field names, order and omissions; bytes shown as Go would (invalid UTF-8
    /// as U+FFFD). Use [`NodeRef::write_json`] for etcd's exact bytes (HTML escaping).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if !self.key.is_empty() {
            m.serialize_entry("key", &go_lossy(&self.key))?;
        }
        if let Some(v) = &self.value {
            m.serialize_entry("value", &go_lossy(v))?;
        }
        if self.dir {
            m.serialize_entry("dir", &true)?;
        }
        if let Some(t) = self.expiration {
            m.serialize_entry("expiration", &format_rfc3339_nano_utc(t))?;
        }
        if self.ttl != 0 {
            m.serialize_entry("ttl", &self.ttl)?;
        }
        if !self.nodes.is_empty() {
            m.serialize_entry("nodes", &self.nodes)?;
        }
        if self.modified_index != 0 {
            m.serialize_entry("modifiedIndex", &self.modified_index)?;
        }
        if self.created_index != 0 {
            m.serialize_entry("createdIndex", &self.created_index)?;
        }
        m.end()
    }
}

impl NodeView {
    /// The same bytes etcd prints (see [`NodeRef::write_json`]), built from the view.
    pub fn to_go_json(&self) -> String {
        let mut out = Vec::new();
        // Iterative: (node, next child index).
        let mut stack: Vec<(&NodeView, usize)> = vec![(self, 0)];
        write_open_view(&mut out, self);
        while let Some((v, i)) = stack.last_mut() {
            let v: &NodeView = v;
            if *i < v.nodes.len() {
                out.extend_from_slice(if *i == 0 { b"\"nodes\":[" } else { b"," });
                let child = &v.nodes[*i];
                *i += 1;
                write_open_view(&mut out, child);
                stack.push((child, 0));
            } else {
                if !v.nodes.is_empty() {
                    out.push(b']');
                }
                let mut any =
                    !v.key.is_empty() || v.value.is_some() || v.dir || !v.nodes.is_empty();
                for (name, x) in [
                    ("modifiedIndex", v.modified_index),
                    ("createdIndex", v.created_index),
                ] {
                    if x != 0 {
                        if any {
                            out.push(b',');
                        }
                        any = true;
                        out.extend_from_slice(format!("\"{name}\":{x}").as_bytes());
                    }
                }
                out.push(b'}');
                stack.pop();
            }
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn write_open_view(out: &mut Vec<u8>, v: &NodeView) {
    out.push(b'{');
    let mut parts: Vec<Vec<u8>> = Vec::new();
    if !v.key.is_empty() {
        let mut p = b"\"key\":".to_vec();
        go_json_string(&mut p, &v.key);
        parts.push(p);
    }
    if let Some(val) = &v.value {
        let mut p = b"\"value\":".to_vec();
        go_json_string(&mut p, val);
        parts.push(p);
    }
    if v.dir {
        parts.push(b"\"dir\":true".to_vec());
    }
    if let Some(t) = v.expiration {
        parts.push(format!("\"expiration\":\"{}\"", format_rfc3339_nano_utc(t)).into_bytes());
    }
    if v.ttl != 0 {
        parts.push(format!("\"ttl\":{}", v.ttl).into_bytes());
    }
    out.extend_from_slice(&parts.join(&b","[..]));
    if !parts.is_empty() && !v.nodes.is_empty() {
        out.push(b',');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        let mut v = Vec::new();
        go_json_string(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_like_go() {
        assert_eq!(s(b"plain"), "\"plain\"");
        assert_eq!(
            s(b"<a href=\"x\">&</a>"),
            r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#
        );
        assert_eq!(
            s(b"t\tn\nr\r\x01\x08\x0c\x1f\\"),
            r#""t\tn\nr\r\u0001\u0008\u000c\u001f\\""#
        );
        assert_eq!(s(b"\x7f"), "\"\x7f\"");
        assert_eq!(s("é✓🎉".as_bytes()), "\"é✓🎉\"");
        assert_eq!(s("\u{2028}\u{2029}".as_bytes()), r#""\u2028\u2029""#);
        assert_eq!(s(b"ok\xff\xfe\xc3\x28end"), r#""ok\ufffd\ufffd\ufffd(end""#);
        assert_eq!(s(b"\xf0\x9f\x98"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(s(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(go_lossy(b"a\xf0\x9f\x98b"), "a\u{FFFD}\u{FFFD}\u{FFFD}b");
    }

    /// The straightforward byte loop the fast version must agree with.
    fn reference(out: &mut Vec<u8>, s: &[u8]) {
        out.push(b'"');
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            if c < 0x80 {
                match c {
                    b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'<' | b'>' | b'&' => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
                    c if c < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
                    c => out.push(c),
                }
                i += 1;
                continue;
            }
            let n = match c {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 0,
            };
            match s.get(i..i + n).map(std::str::from_utf8) {
                Some(Ok(t)) if n > 0 => {
                    match t {
                        "\u{2028}" => out.extend_from_slice(b"\\u2028"),
                        "\u{2029}" => out.extend_from_slice(b"\\u2029"),
                        _ => out.extend_from_slice(t.as_bytes()),
                    }
                    i += n;
                }
                _ => {
                    out.extend_from_slice(b"\\ufffd");
                    i += 1;
                }
            }
        }
        out.push(b'"');
    }

    #[test]
    fn fast_strings_match_the_byte_loop() {
        let alphabet: &[&[u8]] = &[
            b"a",
            b"Z",
            b" ",
            b"~",
            b"\x7f",
            b"\"",
            b"\\",
            b"<",
            b">",
            b"&",
            b"\n",
            b"\x00",
            b"\x1f",
            b"\x20",
            b"\x80",
            b"\xff",
            b"\xc3\xa9",
            b"\xe2\x80\xa8",
            b"\xe2\x80\xa9",
            b"\xe2\x80",
            b"\xf0\x9f\x8e\x89",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
            b"abcdefgh",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut s = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.extend_from_slice(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            go_json_string(&mut a, &s);
            reference(&mut b, &s);
            assert_eq!(a, b, "{:?}", s.escape_ascii().to_string());
        }
        let mut v = Vec::new();
        for n in [0u64, 7, 10, 99, 100, u64::MAX] {
            v.clear();
            push_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
        for n in [0i64, -1, 42, i64::MIN, i64::MAX] {
            v.clear();
            push_i64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }

    fn sample() -> Store {
        let mut st = Store::new();
        st.set(b"/1/dir/a", false, b"1", None, false).unwrap();
        st.set(b"/1/dir/_h", false, b"h", None, false).unwrap();
        st.create(b"/1/empty", true, b"", false, None).unwrap();
        st.set(b"/1/t", false, b"x", Some(2_000_000_000_000_000_000), false)
            .unwrap();
        st.set(b"/1/dir/sub/b", false, b"\xff", None, false)
            .unwrap();
        st
    }

    #[test]
    fn views_and_json_agree() {
        let st = sample();
        let now = 2_000_000_000_000_000_000 - 1_500_000_000;
        for recursive in [false, true] {
            for include_hidden in [false, true] {
                let o = GetOptions {
                    recursive,
                    include_hidden,
                    now_ns: now,
                };
                for key in ["/", "/dir", "/t", "dir/_h", "/empty"] {
                    let r = st.node_at(key.as_bytes()).unwrap();
                    let j = r.to_json(&o);
                    assert_eq!(j, r.view(&o).to_go_json(), "{key} {o:?}");
                    // serde's rendering is the same JSON value.
                    let a: serde_json::Value = serde_json::from_str(&j).unwrap();
                    let b = serde_json::to_value(r.view(&o)).unwrap();
                    assert_eq!(a, b, "{key} {o:?}");
                }
            }
        }
        let o = GetOptions {
            recursive: true,
            include_hidden: false,
            now_ns: now,
        };
        assert_eq!(
            st.node_at(b"/").unwrap().to_json(&o),
            r#"{"dir":true,"nodes":[{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","value":"1","modifiedIndex":1,"createdIndex":1},{"key":"/dir/sub","dir":true,"nodes":[{"key":"/dir/sub/b","value":"\ufffd","modifiedIndex":5,"createdIndex":5}],"modifiedIndex":5,"createdIndex":5}],"modifiedIndex":1,"createdIndex":1},{"key":"/empty","dir":true,"modifiedIndex":3,"createdIndex":3},{"key":"/t","value":"x","expiration":"2033-05-18T03:33:20Z","ttl":2,"modifiedIndex":4,"createdIndex":4}]}"#
        );
        let flat = GetOptions {
            recursive: false,
            ..o
        };
        assert_eq!(
            st.node_at(b"/dir").unwrap().to_json(&flat),
            r#"{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","value":"1","modifiedIndex":1,"createdIndex":1},{"key":"/dir/sub","dir":true,"modifiedIndex":5,"createdIndex":5}],"modifiedIndex":1,"createdIndex":1}"#
        );
        assert_eq!(st.get(b"/nope", &o), Err(Code::KeyNotFound));
        assert_eq!(st.get(b"/t/x", &o), Err(Code::NotDir));
        let raw = st.node_at_store_path(b"/0").unwrap().to_json(&o);
        assert_eq!(raw, r#"{"key":"/0","dir":true}"#);
        let top = st.node_at_store_path(b"/").unwrap();
        let v = top.view(&o);
        assert_eq!(v.key, b"/");
        assert_eq!(v.nodes[0].key, b"/0");
        assert_eq!(v.nodes[1].nodes[0].key, b"/1/dir");
        assert_eq!(top.to_json(&o), v.to_go_json());
    }

    #[test]
    fn parallel_json_is_the_same() {
        let mut st = sample();
        for i in 0..300u32 {
            let k = format!("/1/d{}/k{i}", i % 7);
            st.set(
                k.as_bytes(),
                false,
                format!("v\"<{i}>").as_bytes(),
                None,
                false,
            )
            .unwrap();
        }
        for recursive in [false, true] {
            for include_hidden in [false, true] {
                let o = GetOptions {
                    recursive,
                    include_hidden,
                    now_ns: 0,
                };
                for key in ["/", "/dir", "/t", "/empty", "/d3"] {
                    let r = st.node_at(key.as_bytes()).unwrap();
                    let want = r.to_json(&o);
                    for steps in [1, 2, 3, 5, 64, 1024] {
                        let mut got = Vec::new();
                        r.write_json_blocks(&mut got, &o, steps).unwrap();
                        assert_eq!(String::from_utf8(got).unwrap(), want, "{key} {steps} {o:?}");
                    }
                    let mut got = Vec::new();
                    r.write_json_parallel(&mut got, &o).unwrap();
                    assert_eq!(String::from_utf8(got).unwrap(), want);
                }
            }
        }
    }

    /// `walk` visits exactly the nodes `view` lists, in the same order and depth.
    #[test]
    fn walk_matches_view() {
        fn flatten(v: &NodeView, depth: usize, out: &mut Vec<(Vec<u8>, usize, bool, u64)>) {
            out.push((v.key.clone(), depth, v.dir, v.modified_index));
            for c in &v.nodes {
                flatten(c, depth + 1, out);
            }
        }
        let st = sample();
        for recursive in [false, true] {
            for include_hidden in [false, true] {
                let o = GetOptions {
                    recursive,
                    include_hidden,
                    now_ns: 0,
                };
                for key in ["/", "/dir", "/t", "/empty"] {
                    let r = st.node_at(key.as_bytes()).unwrap();
                    let mut want = Vec::new();
                    flatten(&r.view(&o), 0, &mut want);
                    let mut got = Vec::new();
                    r.walk::<()>(&o, |v, d| {
                        assert!(v.nodes.is_empty());
                        got.push((v.key.clone(), d, v.dir, v.modified_index));
                        Ok(())
                    })
                    .unwrap();
                    assert_eq!(got, want, "{key} {o:?}");
                }
            }
        }
        let mut n = 0;
        let r = st.node_at(b"/").unwrap();
        let e = r.walk(&GetOptions::default(), |_, _| {
            n += 1;
            if n == 2 {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((e, n), (Err("stop"), 2));
    }
}
