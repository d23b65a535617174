//! The v2 store JSON inside a `.snap` (FORMATS.md §2.3), read into a [`Store`] the way etcd's
//! `Recovery` does: Go's `json.Unmarshal` into a fresh store that already has `/0` and `/1`.
//!
//! A small hand-written parser: iterative (no recursion limit on deep trees), no DOM, byte
//! offsets in every error. It follows Go's decoder where it matters: field names match
//! case-insensitively, unknown fields are skipped, `Children: null` (or absent) makes a file,
//! `{}` a directory, a later duplicate key wins, invalid UTF-8 and lone surrogates inside strings
//! become U+FFFD.

use std::fmt;

use super::store::{NodeId, Store, ROOT};
use super::time::parse_rfc3339;

/// A problem in the JSON, at a byte offset of the JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at JSON offset {}: {}", self.offset, self.msg)
    }
}

/// What the loader noticed besides the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapJsonInfo {
    /// `CurrentIndex` as stored (0 when absent).
    pub current_index: u64,
    /// `CurrentVersion` (2 for every etcd release).
    pub version: Option<u64>,
    /// Nodes whose `Path` does not end in their name in the parent's `Children` (etcd would
    /// show the `Path`; we show the name). First few paths.
    pub path_mismatches: Vec<String>,
    pub path_mismatch_count: u64,
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
    buf: Vec<u8>,
}

type R<T> = Result<T, JsonError>;

impl<'a> P<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(JsonError {
            offset: self.i,
            msg: msg.into(),
        })
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(format!("expected '{}'", c as char))
        }
    }

    fn literal(&mut self, lit: &[u8]) -> R<()> {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    /// `null` if it is next (consumed).
    fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn hex4(&mut self) -> R<u32> {
        let s = match self.b.get(self.i..self.i + 4) {
            Some(s) => s,
            None => return self.err("truncated \\u escape"),
        };
        let mut v = 0u32;
        for &c in s {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err("bad \\u escape"),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    /// Reads a string into `self.buf` (UTF-8 bytes).
    fn string(&mut self) -> R<()> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        self.buf.clear();
        loop {
            // Fast path: a run of plain bytes.
            let start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c) {
                    break;
                }
                self.i += 1;
            }
            self.buf.extend_from_slice(&self.b[start..self.i]);
            let c = match self.b.get(self.i) {
                Some(&c) => c,
                None => return self.err("unterminated string"),
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    let e = match self.b.get(self.i) {
                        Some(&e) => e,
                        None => return self.err("unterminated escape"),
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.i = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(u).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => {
                            self.i -= 1;
                            return self.err("invalid escape");
                        }
                    };
                    let mut tmp = [0u8; 4];
                    self.buf
                        .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                c if c < 0x20 => return self.err("control character in string"),
                _ => {
                    // Non-ASCII: copy a valid UTF-8 sequence, or U+FFFD for one bad byte.
                    let n = match c {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => 0,
                    };
                    let seq = self.b.get(self.i..self.i + n);
                    match seq {
                        Some(s) if n > 0 && std::str::from_utf8(s).is_ok() => {
                            self.buf.extend_from_slice(s);
                            self.i += n;
                        }
                        _ => {
                            self.buf.extend_from_slice("\u{FFFD}".as_bytes());
                            self.i += 1;
                        }
                    }
                }
            }
        }
    }

    /// A JSON number that must be a non-negative integer fitting u64 (Go's uint64 rule).
    fn u64(&mut self) -> R<u64> {
        self.ws();
        let start = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.i += 1;
            } else {
                break;
            }
        }
        let s = &self.b[start..self.i];
        if s.is_empty() {
            self.i = start;
            return self.err("expected a number");
        }
        if !s.iter().all(u8::is_ascii_digit) || (s.len() > 1 && s[0] == b'0') {
            self.i = start;
            return self.err("number is not an unsigned integer");
        }
        let mut v: u64 = 0;
        for &c in s {
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add((c - b'0') as u64))
            {
                Some(v) => v,
                None => {
                    self.i = start;
                    return self.err("number overflows uint64");
                }
            };
        }
        Ok(v)
    }

    /// Skips any JSON value (iteratively).
    fn skip(&mut self) -> R<()> {
        let mut depth: Vec<u8> = Vec::new(); // b'}' or b']' expected
        loop {
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        self.string()?;
                        self.eat(b':')?;
                        depth.push(b'}');
                        continue;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        depth.push(b']');
                        continue;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(c) if c == b'-' || c.is_ascii_digit() => {
                    while let Some(&c) = self.b.get(self.i) {
                        if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                }
                _ => return self.err("expected a value"),
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&close) = depth.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if close == b'}' {
                            self.string()?;
                            self.eat(b':')?;
                        }
                        break;
                    }
                    Some(c) if c == close => {
                        self.i += 1;
                        depth.pop();
                    }
                    _ => return self.err("expected ',' or a closing bracket"),
                }
            }
        }
    }

    /// After a member value: `,` (more, returns true) or the closing `}` (returns false).
    fn next_member(&mut self) -> R<bool> {
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.i += 1;
                Ok(false)
            }
            _ => self.err("expected ',' or '}'"),
        }
    }
}

fn key_is(k: &[u8], name: &str) -> bool {
    k.eq_ignore_ascii_case(name.as_bytes())
}

#[derive(Clone, Copy)]
enum Ctx {
    /// Inside a node object.
    Node { id: NodeId },
    /// Inside a node's `Children` object.
    Children { dir: NodeId },
}

/// Parses a node object starting at `{` into `id` (which exists already), iteratively.
fn node_tree(p: &mut P, store: &mut Store, root: NodeId, info: &mut SnapJsonInfo) -> R<()> {
    p.eat(b'{')?;
    let mut stack = vec![Ctx::Node { id: root }];
    // Whether the object at the top of the stack has just been opened (no member read yet).
    let mut fresh = true;
    while let Some(&top) = stack.last() {
        // Member separator / end of object.
        let more = if fresh {
            if p.peek() == Some(b'}') {
                p.i += 1;
                false
            } else {
                true
            }
        } else {
            p.next_member()?
        };
        fresh = false;
        if !more {
            stack.pop();
            continue;
        }
        p.string()?;
        p.eat(b':')?;
        match top {
            Ctx::Node { id } => {
                let k = std::mem::take(&mut p.buf);
                if key_is(&k, "Path") {
                    if !p.null()? {
                        p.string()?;
                        check_path(store, id, &p.buf, info);
                    }
                } else if key_is(&k, "CreatedIndex") {
                    if !p.null()? {
                        store.nodes[id as usize].created = p.u64()?;
                    }
                } else if key_is(&k, "ModifiedIndex") {
                    if !p.null()? {
                        store.nodes[id as usize].modified = p.u64()?;
                    }
                } else if key_is(&k, "ExpireTime") {
                    if !p.null()? {
                        let at = p.i;
                        p.string()?;
                        let s = String::from_utf8_lossy(&p.buf).into_owned();
                        let t = parse_rfc3339(&s).map_err(|msg| JsonError {
                            offset: at,
                            msg: format!("ExpireTime: {msg}"),
                        })?;
                        store.set_expire(id, t);
                    }
                } else if key_is(&k, "Value") {
                    if !p.null()? {
                        p.string()?;
                        store.nodes[id as usize].value = p.buf.as_slice().into();
                    }
                } else if key_is(&k, "Children") {
                    if p.null()? {
                        store.make_file(id);
                    } else if p.peek() == Some(b'{') {
                        p.i += 1;
                        store.make_dir(id);
                        stack.push(Ctx::Children { dir: id });
                        fresh = true;
                    } else {
                        return p.err("Children must be an object or null");
                    }
                } else {
                    p.skip()?;
                }
                p.buf = k;
            }
            Ctx::Children { dir } => {
                let name = std::mem::take(&mut p.buf);
                if p.peek() != Some(b'{') {
                    return p.err("a child must be a node object");
                }
                p.i += 1;
                let child = store.add_child(dir, &name, false, Box::default(), 0, None);
                p.buf = name;
                stack.push(Ctx::Node { id: child });
                fresh = true;
            }
        }
    }
    Ok(())
}

fn check_path(store: &Store, id: NodeId, path: &[u8], info: &mut SnapJsonInfo) {
    let n = store.node(id);
    let ok = if id == ROOT {
        path == b"/"
    } else {
        path.len() > n.name.len()
            && path.ends_with(&n.name)
            && path[path.len() - n.name.len() - 1] == b'/'
    };
    if !ok {
        info.path_mismatch_count += 1;
        if info.path_mismatches.len() < 5 {
            info.path_mismatches
                .push(String::from_utf8_lossy(path).into_owned());
        }
    }
}

/// Loads the store from the v2 JSON of a snapshot.
pub fn load(json: &[u8]) -> Result<(Store, SnapJsonInfo), JsonError> {
    let mut store = Store::new();
    let mut info = SnapJsonInfo::default();
    let mut p = P {
        b: json,
        i: 0,
        buf: Vec::new(),
    };
    p.eat(b'{')?;
    let mut more = p.peek() != Some(b'}');
    if !more {
        p.i += 1;
    }
    while more {
        p.string()?;
        p.eat(b':')?;
        let k = std::mem::take(&mut p.buf);
        if key_is(&k, "Root") {
            if p.null()? {
                return p.err("Root is null");
            }
            node_tree(&mut p, &mut store, ROOT, &mut info)?;
        } else if key_is(&k, "CurrentIndex") {
            if !p.null()? {
                info.current_index = p.u64()?;
            }
        } else if key_is(&k, "CurrentVersion") {
            if !p.null()? {
                info.version = Some(p.u64()?);
            }
        } else {
            p.skip()?;
        }
        more = p.next_member()?;
    }
    p.ws();
    if p.i != json.len() {
        return p.err("trailing data after the JSON object");
    }
    if !store.node(ROOT).is_dir() {
        return Err(JsonError {
            offset: 0,
            msg: "Root is not a directory".into(),
        });
    }
    store.set_current_index(info.current_index);
    Ok((store, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":{"Path":"/0","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"version":{"Path":"/0/version","CreatedIndex":3,"ModifiedIndex":3,"ExpireTime":"0001-01-01T00:00:00Z","Value":"3.4.0","Children":null}}},"1":{"Path":"/1","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"e":{"Path":"/1/e","CreatedIndex":5,"ModifiedIndex":5,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{}},"t":{"Path":"/1/t","CreatedIndex":4,"ModifiedIndex":6,"ExpireTime":"2026-11-23T17:46:58.5+02:00","Value":"\u003cb\u003e \u0026 \ufffd \ud83c\udf89 \ud800x","Children":null}}}}},"WatcherHub":{"EventHistory":{"Queue":{"Events":[{"action":"set","node":{"key":"/1/t","nodes":[[],{}]}},null],"Size":1,"Front":0,"Back":1,"Capacity":2},"StartIndex":1,"LastIndex":6}},"CurrentIndex":6,"Stats":{"getsSuccess":1},"CurrentVersion":2}"#;

    #[test]
    fn loads_like_recovery() {
        let (s, info) = load(SAMPLE.as_bytes()).unwrap();
        assert_eq!(info.current_index, 6);
        assert_eq!(info.version, Some(2));
        assert_eq!(info.path_mismatch_count, 0);
        assert_eq!(s.current_index(), 6);
        let e = s.node(s.lookup(b"/1/e").unwrap());
        assert!(e.is_dir() && e.created == 5);
        let t = s.node(s.lookup(b"/1/t").unwrap());
        assert!(!t.is_dir());
        assert_eq!((t.created, t.modified), (4, 6));
        assert_eq!(
            std::str::from_utf8(&t.value).unwrap(),
            "<b> & \u{FFFD} \u{1F389} \u{FFFD}x"
        );
        assert_eq!(
            super::super::time::format_rfc3339_nano_utc(t.expire.unwrap()),
            "2026-11-23T15:46:58.5Z"
        );
        assert_eq!(s.ttl_count(), 1);
        assert_eq!(s.node_count(), 6);
    }

    #[test]
    fn namespaces_survive_and_duplicates_replace() {
        // Recovery unmarshals into a store that has /0 and /1 already.
        let (s, _) =
            load(br#"{"Root":{"Children":{"x":{"Value":"a"},"x":{"Value":"b","Children":{}}}}}"#)
                .unwrap();
        assert!(s.lookup(b"/0").is_ok() && s.lookup(b"/1").is_ok());
        assert!(s.node(s.lookup(b"/x").unwrap()).is_dir());
        assert_eq!(s.node_count(), 4);
    }

    #[test]
    fn deep_trees_do_not_recurse() {
        let depth = 5000;
        let mut j = String::from(r#"{"Root":{"Children":{"1":{"Children":{"#);
        for _ in 0..depth {
            j.push_str(r#""d":{"Children":{"#);
        }
        for _ in 0..depth {
            j.push_str("}}");
        }
        j.push_str("}}}},\"CurrentIndex\":1}");
        let (s, _) = load(j.as_bytes()).unwrap();
        assert_eq!(s.node_count(), depth + 3);
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        for cut in 0..SAMPLE.len() {
            if let Err(e) = load(&SAMPLE.as_bytes()[..cut]) {
                assert!(e.offset <= cut, "{cut}: {e}");
            } else {
                panic!("cut {cut} parsed");
            }
        }
        for bad in [
            r#"{"Root":null}"#,
            r#"{"Root":{"CreatedIndex":-1}}"#,
            r#"{"Root":{"CreatedIndex":1.5}}"#,
            r#"{"Root":{"Children":[]}}"#,
            r#"{"Root":{"ExpireTime":"yesterday"}}"#,
            r#"{"CurrentIndex":99999999999999999999}"#,
            r#"{} x"#,
        ] {
            assert!(load(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
