//! Kubernetes objects from their protobuf storage form to the JSON kube-apiserver shows.
//!
//! The protobuf is walked with the [`schema`](crate::schema) table and turned into a
//! `serde_json::Value` by Go `encoding/json` rules, field by field in Go struct order:
//!
//! * absent pointer, slice, map or `[]byte` → nil: left out when `omitempty`/`omitzero`, else `null`;
//! * absent scalar → its zero; absent non-pointer struct → the struct of zero fields (an object);
//! * `omitempty` drops `false`, `0`, `""`, empty slices and maps, never structs (`Time`,
//!   `Quantity`, … included); a pointer is dropped only when nil; `omitzero` drops zero values
//!   (zero `Time`);
//! * embedded (anonymous) structs put their fields into the parent's object;
//! * maps have sorted keys; the last entry of a duplicate key wins;
//! * special types: `Time`/`MicroTime` (RFC 3339, `null` when zero), `Duration`, `Quantity`,
//!   `IntOrString`, raw JSON (`RawExtension`, `FieldsV1`), `[]string` wrappers, base64 bytes.
//!
//! Field numbers the schema does not know are skipped and counted ([`Typed::unknown_fields`]).
//! Everything is bounded: message depth, and the size of the output (zero structs make small
//! input expand, e.g. repeated `0a 00`). No input makes it panic; every failure is an [`Error`]
//! with a byte offset, after which a caller shows the schema-less view ([`crate::raw::view`]).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::raw::{self, Envelope};
use crate::schema::{self, Field, Kind, MessageRef, Special};

/// Bounds of a decode.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nested messages deeper than this are an error.
    pub max_depth: usize,
    /// The compact JSON may be this many times the input…
    pub output_per_input_byte: usize,
    /// …but always at least this many bytes…
    pub min_output: usize,
    /// …and never more than this.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            output_per_input_byte: 64,
            min_output: 1 << 20,
            max_output: 64 << 20,
        }
    }
}

impl Limits {
    /// The output cap (bytes of compact JSON) for an input of `len` bytes.
    pub fn output_cap(&self, len: usize) -> usize {
        len.saturating_mul(self.output_per_input_byte)
            .max(self.min_output)
            .min(self.max_output)
    }
}

/// A decoded object.
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    /// The object as JSON: `apiVersion`, `kind`, then the fields in Go struct order.
    pub json: Value,
    /// Fields whose number the schema does not know (written by a newer Kubernetes).
    pub unknown_fields: u32,
    /// Things shown differently from Go (bytes that should be JSON, impossible values…).
    pub warnings: Vec<String>,
}

/// Why a value was not decoded. Byte offsets count from the start of the bytes given to
/// [`decode`] (the whole stored value) or [`decode_message`] (the object's protobuf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No `k8s\0` envelope (JSON, encrypted, other bytes).
    NotProtobuf,
    /// `k8s\0`, but the envelope (`runtime.Unknown`) is broken.
    Envelope(raw::DecodeError),
    /// The envelope names a content encoding this decoder does not undo.
    ContentEncoding(String),
    /// The schema has no such type (a newer or custom API): show the raw view.
    UnknownType { api_version: String, kind: String },
    /// The protobuf does not match the schema at this byte offset.
    Malformed { offset: usize, reason: &'static str },
    /// Messages nested deeper than [`Limits::max_depth`].
    TooDeep { offset: usize },
    /// The JSON would exceed [`Limits::output_cap`] bytes.
    TooLarge { limit: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotProtobuf => write!(f, "not a Kubernetes protobuf value (no k8s\\0 magic)"),
            Error::Envelope(e) => write!(f, "k8s\\0 magic, but {e}"),
            Error::ContentEncoding(e) => write!(f, "content encoding {e:?} is not supported"),
            Error::UnknownType { api_version, kind } => {
                write!(f, "no schema for {api_version} {kind}")
            }
            Error::Malformed { offset, reason } => write!(f, "at byte {offset}: {reason}"),
            Error::TooDeep { offset } => write!(f, "at byte {offset}: messages nested too deep"),
            Error::TooLarge { limit } => write!(f, "the JSON would exceed {limit} bytes"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// True when the type is not in the schema (as opposed to bytes that do not match it).
    pub fn is_unknown_type(&self) -> bool {
        matches!(self, Error::UnknownType { .. })
    }
}

/// Decodes a stored value: `k8s\0`, `runtime.Unknown` {apiVersion, kind, raw}, then `raw` as
/// that type.
pub fn decode(value: &[u8], limits: Limits) -> Result<Typed, Error> {
    let u = match raw::envelope(value) {
        Envelope::Kubernetes(u) => u,
        Envelope::BadKubernetes(e) => return Err(Error::Envelope(e)),
        Envelope::Encrypted(_) | Envelope::Plain => return Err(Error::NotProtobuf),
    };
    if !u.content_encoding.is_empty() {
        return Err(Error::ContentEncoding(u.content_encoding));
    }
    let at = (u.raw.as_ptr() as usize)
        .wrapping_sub(value.as_ptr() as usize)
        .min(value.len());
    let mut ctx = Ctx::new(limits, value.len());
    let json = object(&mut ctx, &u.api_version, &u.kind, u.raw, at, 0)?;
    Ok(ctx.finish(json))
}

/// Decodes the protobuf of one object (`raw` of the envelope) as `api_version` `kind`.
/// `apiVersion` and `kind` are put first in the JSON when the type has them (`TypeMeta`) and
/// they are not empty.
pub fn decode_message(
    api_version: &str,
    kind: &str,
    raw: &[u8],
    limits: Limits,
) -> Result<Typed, Error> {
    let mut ctx = Ctx::new(limits, raw.len());
    let json = object(&mut ctx, api_version, kind, raw, 0, 0)?;
    Ok(ctx.finish(json))
}

const MAX_WARNINGS: usize = 32;

struct Ctx {
    max_depth: usize,
    cap: usize,
    used: usize,
    unknown: u32,
    warnings: Vec<String>,
}

impl Ctx {
    fn new(limits: Limits, input_len: usize) -> Ctx {
        Ctx {
            max_depth: limits.max_depth,
            cap: limits.output_cap(input_len),
            used: 0,
            unknown: 0,
            warnings: Vec::new(),
        }
    }

    fn finish(self, json: Value) -> Typed {
        Typed {
            json,
            unknown_fields: self.unknown,
            warnings: self.warnings,
        }
    }

    /// Counts `n` bytes of output against the cap.
    fn charge(&mut self, n: usize) -> Result<(), Error> {
        self.used = self.used.saturating_add(n);
        if self.used > self.cap {
            Err(Error::TooLarge { limit: self.cap })
        } else {
            Ok(())
        }
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push("more warnings left out".into());
        }
    }
}

/// Compact JSON size of a scalar (containers: their brackets; their contents are charged when
/// they are made).
fn cost(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => str_cost(s),
        Value::Array(_) | Value::Object(_) => 2,
    }
}

fn str_cost(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// A top-level object: apiVersion, kind (when the type has TypeMeta), then its fields.
fn object(
    ctx: &mut Ctx,
    api_version: &str,
    kind: &str,
    raw: &[u8],
    at: usize,
    depth: usize,
) -> Result<Value, Error> {
    let msg = schema::lookup(api_version, kind).ok_or_else(|| Error::UnknownType {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    })?;
    let mut out = Map::new();
    if msg.has_type_meta() {
        for (k, v) in [("apiVersion", api_version), ("kind", kind)] {
            if !v.is_empty() {
                ctx.charge(k.len() + 4 + str_cost(v))?;
                out.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    ctx.charge(2)?;
    let chunks = [Chunk { bytes: raw, at }];
    match msg.special() {
        Special::Plain => {
            fields(ctx, msg, &chunks, depth, &mut out)?;
            Ok(Value::Object(out))
        }
        _ => message(ctx, msg, &chunks, depth),
    }
}

/// Bytes of a message; a message field seen several times is the concatenation of its
/// occurrences (protobuf merge), kept as a list instead of copied.
#[derive(Clone, Copy)]
struct Chunk<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes` in the decoded input.
    at: usize,
}

#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// The payload and its offset in the input.
    Len(Chunk<'a>),
}

/// One field occurrence: the index of its schema field, its value, the offset of its tag.
#[derive(Clone, Copy)]
struct Occ<'a> {
    idx: usize,
    wire: Wire<'a>,
    at: usize,
}

fn malformed(offset: usize, reason: &'static str) -> Error {
    Error::Malformed { offset, reason }
}

fn raw_err(e: raw::DecodeError, base: usize) -> Error {
    malformed(base.saturating_add(e.offset), e.reason)
}

/// Calls `each(number, value, offset)` for every field of `chunks`.
fn walk<'a>(
    chunks: &[Chunk<'a>],
    mut each: impl FnMut(u32, Wire<'a>, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    for c in chunks {
        let b = c.bytes;
        let mut pos = 0;
        while pos < b.len() {
            let at = c.at.saturating_add(pos);
            let tag = raw::varint(b, &mut pos).map_err(|e| raw_err(e, c.at))?;
            let number = tag >> 3;
            if number == 0 || number > (1 << 29) - 1 {
                return Err(malformed(at, "field number out of range"));
            }
            let w = match tag & 7 {
                0 => Wire::Varint(raw::varint(b, &mut pos).map_err(|e| raw_err(e, c.at))?),
                1 => {
                    let s = raw::take(b, &mut pos, 8).map_err(|e| raw_err(e, c.at))?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    Wire::Fixed64(u64::from_le_bytes(a))
                }
                5 => {
                    let s = raw::take(b, &mut pos, 4).map_err(|e| raw_err(e, c.at))?;
                    let mut a = [0u8; 4];
                    a.copy_from_slice(s);
                    Wire::Fixed32(u32::from_le_bytes(a))
                }
                2 => {
                    let n = raw::varint(b, &mut pos).map_err(|e| raw_err(e, c.at))?;
                    let start = pos;
                    Wire::Len(Chunk {
                        bytes: raw::take(b, &mut pos, n).map_err(|e| raw_err(e, c.at))?,
                        at: c.at.saturating_add(start),
                    })
                }
                _ => return Err(malformed(at, "unknown wire type (groups are not used)")),
            };
            each(number as u32, w, at)?;
        }
    }
    Ok(())
}

/// Whether the wire type fits the field (packed repeated numbers come as `Len`).
fn wire_fits(f: &Field, w: &Wire<'_>) -> bool {
    if f.is_map() {
        return matches!(w, Wire::Len(_));
    }
    match (f.kind(), w) {
        (Kind::Str | Kind::Bytes | Kind::Msg, Wire::Len(_)) => true,
        (Kind::Bool | Kind::I32 | Kind::I64 | Kind::U32 | Kind::U64, Wire::Varint(_)) => true,
        (Kind::F64, Wire::Fixed64(_)) | (Kind::F32, Wire::Fixed32(_)) => true,
        // packed repeated numbers
        (_, Wire::Len(_)) => f.is_repeated(),
        _ => false,
    }
}

/// A message's JSON value.
fn message(
    ctx: &mut Ctx,
    msg: MessageRef,
    chunks: &[Chunk<'_>],
    depth: usize,
) -> Result<Value, Error> {
    if depth > ctx.max_depth {
        return Err(Error::TooDeep {
            offset: chunks.first().map_or(0, |c| c.at),
        });
    }
    let v = match msg.special() {
        Special::Plain => {
            let mut out = Map::with_capacity(msg.fields().len());
            fields(ctx, msg, chunks, depth, &mut out)?;
            Value::Object(out)
        }
        Special::Time => time(ctx, chunks, false)?,
        Special::MicroTime => time(ctx, chunks, true)?,
        Special::Duration => duration(ctx, chunks)?,
        Special::Quantity => quantity(ctx, chunks)?,
        Special::IntOrString => int_or_string(ctx, chunks)?,
        Special::RawJson => raw_json(ctx, msg, chunks, depth)?,
        Special::StringList => string_list(ctx, chunks)?,
    };
    ctx.charge(cost(&v))?;
    Ok(v)
}

/// The fields of a plain message into `out`, in Go struct order.
fn fields<'a>(
    ctx: &mut Ctx,
    msg: MessageRef,
    chunks: &[Chunk<'a>],
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), Error> {
    let schema = msg.fields();
    let mut occs: Vec<Occ<'a>> = Vec::new();
    let mut unknown = 0u32;
    walk(chunks, |num, wire, at| {
        match schema.iter().position(|f| f.number() == num) {
            Some(idx) => {
                if !wire_fits(&schema[idx], &wire) {
                    return Err(malformed(at, "wire type does not match the schema"));
                }
                occs.push(Occ { idx, wire, at });
            }
            None => unknown = unknown.saturating_add(1),
        }
        Ok(())
    })?;
    ctx.unknown = ctx.unknown.saturating_add(unknown);
    occs.sort_by_key(|o| o.idx);
    let mut k = 0;
    for (idx, f) in schema.iter().enumerate() {
        let start = k;
        while occs.get(k).is_some_and(|o| o.idx == idx) {
            k += 1;
        }
        let here = &occs[start..k];
        let v = value(ctx, f, here, depth)?;
        put(ctx, f, v, out)?;
    }
    Ok(())
}

/// The Go value of one field from its occurrences (`None` = nil).
fn value(ctx: &mut Ctx, f: &Field, here: &[Occ<'_>], depth: usize) -> Result<Option<Value>, Error> {
    if f.is_map() {
        if here.is_empty() {
            return Ok(None);
        }
        return map(ctx, f, here, depth).map(Some);
    }
    if f.is_repeated() {
        if here.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::new();
        for o in here {
            match (f.kind(), o.wire) {
                (Kind::Msg, Wire::Len(c)) => {
                    let t = target(f, o.at)?;
                    let v = message(ctx, t, &[c], depth + 1)?;
                    ctx.charge(1)?;
                    items.push(v);
                }
                (Kind::Str | Kind::Bytes, w) => {
                    let v = scalar(ctx, f.kind(), w, o.at)?;
                    ctx.charge(cost(&v) + 1)?;
                    items.push(v);
                }
                (k, Wire::Len(Chunk { bytes: b, at: base })) => {
                    // packed numbers
                    let mut pos = 0;
                    while pos < b.len() {
                        let at = base.saturating_add(pos);
                        let w = match k {
                            Kind::F64 => {
                                let s = raw::take(b, &mut pos, 8).map_err(|e| raw_err(e, base))?;
                                let mut a = [0u8; 8];
                                a.copy_from_slice(s);
                                Wire::Fixed64(u64::from_le_bytes(a))
                            }
                            Kind::F32 => {
                                let s = raw::take(b, &mut pos, 4).map_err(|e| raw_err(e, base))?;
                                let mut a = [0u8; 4];
                                a.copy_from_slice(s);
                                Wire::Fixed32(u32::from_le_bytes(a))
                            }
                            _ => Wire::Varint(
                                raw::varint(b, &mut pos).map_err(|e| raw_err(e, base))?,
                            ),
                        };
                        let v = scalar(ctx, k, w, at)?;
                        ctx.charge(cost(&v) + 1)?;
                        items.push(v);
                    }
                }
                (k, w) => {
                    let v = scalar(ctx, k, w, o.at)?;
                    ctx.charge(cost(&v) + 1)?;
                    items.push(v);
                }
            }
        }
        return Ok(Some(Value::Array(items)));
    }
    if f.kind() == Kind::Msg {
        if here.is_empty() && f.is_pointer() {
            return Ok(None);
        }
        let t = target(f, here.first().map_or(0, |o| o.at))?;
        let mut parts = Vec::with_capacity(here.len());
        for o in here {
            if let Wire::Len(c) = o.wire {
                parts.push(c);
            }
        }
        return message(ctx, t, &parts, depth + 1).map(Some);
    }
    match here.last() {
        Some(o) => scalar(ctx, f.kind(), o.wire, o.at).map(Some),
        None if f.is_pointer() => Ok(None),
        None => Ok(zero(f.kind())),
    }
}

fn target(f: &Field, at: usize) -> Result<MessageRef, Error> {
    f.target()
        .ok_or_else(|| malformed(at, "schema field without a message"))
}

/// Go's zero value of a non-pointer scalar (`[]byte` is nil).
fn zero(k: Kind) -> Option<Value> {
    Some(match k {
        Kind::Str => Value::String(String::new()),
        Kind::Bool => Value::Bool(false),
        Kind::I32 | Kind::I64 | Kind::U32 | Kind::U64 => Value::from(0),
        Kind::F64 | Kind::F32 => Value::from(0.0),
        Kind::Bytes | Kind::Msg => return None,
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn float(ctx: &mut Ctx, x: f64, at: usize) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => {
            ctx.warn(format!("byte {at}: {x} has no JSON form; shown as null"));
            Value::Null
        }
    }
}

fn scalar(ctx: &mut Ctx, k: Kind, w: Wire<'_>, at: usize) -> Result<Value, Error> {
    let v = match (k, w) {
        (Kind::Str, Wire::Len(c)) => Value::String(text(c.bytes)),
        (Kind::Bytes, Wire::Len(c)) => Value::String(base64(c.bytes)),
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Kind::I32, Wire::Varint(v)) => Value::from(v as i32),
        (Kind::I64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::U32, Wire::Varint(v)) => Value::from(v as u32),
        (Kind::U64, Wire::Varint(v)) => Value::from(v),
        (Kind::F64, Wire::Fixed64(v)) => float(ctx, f64::from_bits(v), at),
        (Kind::F32, Wire::Fixed32(v)) => float(ctx, f64::from(f32::from_bits(v)), at),
        _ => return Err(malformed(at, "wire type does not match the schema")),
    };
    Ok(v)
}

/// `map<string, V>`: entries {1 key, 2 value}; keys sorted, the last duplicate wins.
fn map(ctx: &mut Ctx, f: &Field, here: &[Occ<'_>], depth: usize) -> Result<Value, Error> {
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for o in here {
        let Wire::Len(entry) = o.wire else {
            return Err(malformed(o.at, "map entry is not length-delimited"));
        };
        let mut key: Option<&[u8]> = None;
        let mut last: Option<(Wire<'_>, usize)> = None;
        let mut parts: Vec<Chunk<'_>> = Vec::new();
        let mut unknown = 0u32;
        walk(&[entry], |num, w, at| {
            match (num, w) {
                (1, Wire::Len(k)) => key = Some(k.bytes),
                (2, w) => {
                    if f.kind() == Kind::Msg {
                        let Wire::Len(v) = w else {
                            return Err(malformed(at, "map value is not length-delimited"));
                        };
                        parts.push(v);
                    }
                    last = Some((w, at));
                }
                (1, _) => return Err(malformed(at, "map key is not a string")),
                _ => unknown = unknown.saturating_add(1),
            }
            Ok(())
        })?;
        ctx.unknown = ctx.unknown.saturating_add(unknown);
        let k = text(key.unwrap_or(b""));
        let v = match (f.kind(), last) {
            (Kind::Msg, _) => {
                let t = target(f, o.at)?;
                message(ctx, t, &parts, depth + 1)?
            }
            (k, Some((w, at))) => {
                let v = scalar(ctx, k, w, at)?;
                ctx.charge(cost(&v))?;
                v
            }
            // Go fills a missing map value with its zero (an empty []byte for bytes).
            (Kind::Bytes, None) => Value::String(String::new()),
            (k, None) => zero(k).unwrap_or(Value::Null),
        };
        ctx.charge(str_cost(&k) + 2)?;
        entries.insert(k, v);
    }
    Ok(Value::Object(entries.into_iter().collect()))
}

/// Go's omitempty emptiness (structs are never empty).
fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Adds one field to the object by the Go tag rules.
fn put(
    ctx: &mut Ctx,
    f: &Field,
    v: Option<Value>,
    out: &mut Map<String, Value>,
) -> Result<(), Error> {
    if f.is_skipped() {
        return Ok(());
    }
    if f.is_embedded() {
        // nil embedded pointer: no fields; a struct's fields join the parent's (a field of the
        // parent of the same name wins)
        if let Some(Value::Object(m)) = v {
            for (k, x) in m {
                out.entry(k).or_insert(x);
            }
        }
        return Ok(());
    }
    let v = match v {
        None if f.omitempty() || f.omitzero() => return Ok(()),
        None => Value::Null,
        Some(v) => v,
    };
    if f.omitzero() && (v.is_null() || (!v.is_object() && !v.is_array() && empty(&v))) {
        return Ok(());
    }
    if f.omitempty() && !f.is_pointer() && empty(&v) {
        // a struct is never empty for omitempty; a []string wrapper is a slice
        let structure = f.kind() == Kind::Msg
            && !f.is_repeated()
            && !f.is_map()
            && f.target().map(MessageRef::special) != Some(Special::StringList);
        if !structure {
            return Ok(());
        }
    }
    let key = f.json_name();
    ctx.charge(str_cost(key) + 2)?;
    out.insert(key.to_string(), v);
    Ok(())
}

/// The fields of a special message: calls `each` for known numbers, counts the others.
fn special_fields<'a>(
    ctx: &mut Ctx,
    chunks: &[Chunk<'a>],
    known: &[u32],
    mut each: impl FnMut(u32, Wire<'a>, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut unknown = 0u32;
    walk(chunks, |num, w, at| {
        if known.contains(&num) {
            each(num, w, at)
        } else {
            unknown = unknown.saturating_add(1);
            Ok(())
        }
    })?;
    ctx.unknown = ctx.unknown.saturating_add(unknown);
    Ok(())
}

fn want_varint(w: Wire<'_>, at: usize) -> Result<u64, Error> {
    match w {
        Wire::Varint(v) => Ok(v),
        _ => Err(malformed(at, "wire type does not match the schema")),
    }
}

fn want_len(w: Wire<'_>, at: usize) -> Result<&[u8], Error> {
    match w {
        Wire::Len(c) => Ok(c.bytes),
        _ => Err(malformed(at, "wire type does not match the schema")),
    }
}

/// Seconds of 0001-01-01T00:00:00Z since the Unix epoch (Go's zero time).
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// `Time`/`MicroTime` {1 seconds, 2 nanos}: Go replaces the value at each occurrence, and an
/// empty message is the zero time (`null`).
fn time(ctx: &mut Ctx, chunks: &[Chunk<'_>], micro: bool) -> Result<Value, Error> {
    let Some(last) = chunks.last() else {
        return Ok(Value::Null);
    };
    if last.bytes.is_empty() {
        return Ok(Value::Null);
    }
    let (mut secs, mut nanos) = (0i64, 0i32);
    special_fields(ctx, std::slice::from_ref(last), &[1, 2], |n, w, at| {
        let v = want_varint(w, at)?;
        if n == 1 {
            secs = v as i64;
        } else {
            nanos = v as i32;
        }
        Ok(())
    })?;
    // time.Unix normalizes nanos outside [0, 1e9)
    let carry = i64::from(nanos).div_euclid(1_000_000_000);
    let nanos = i64::from(nanos).rem_euclid(1_000_000_000);
    let secs = match secs.checked_add(carry) {
        Some(s) => s,
        None => {
            ctx.warn(format!("byte {}: time {secs}s overflows", last.at));
            secs
        }
    };
    if secs == GO_ZERO_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    let (s, in_range) = format_time(secs, nanos, micro);
    if !in_range {
        ctx.warn(format!(
            "byte {}: time {s} is outside the years 0001–9999",
            last.at
        ));
    }
    Ok(Value::String(s))
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian; any i64 input).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 3339 in UTC as Go prints it (`2006-01-02T15:04:05Z`, with `.000000` for MicroTime);
/// false when the year is outside 1..=9999.
fn format_time(secs: i64, nanos: i64, micro: bool) -> (String, bool) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let year = if y < 0 {
        format!("-{:04}", y.unsigned_abs())
    } else {
        format!("{y:04}")
    };
    let mut s = format!(
        "{year}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if micro {
        s.push_str(&format!(".{:06}", nanos / 1000));
    }
    s.push('Z');
    (s, (1..=9999).contains(&y))
}

/// `Duration` {1 nanoseconds}: Go's `time.Duration.String()` (`1h2m3.5s`, `1.5ms`, `0s`).
fn duration(ctx: &mut Ctx, chunks: &[Chunk<'_>]) -> Result<Value, Error> {
    let mut d = 0i64;
    special_fields(ctx, chunks, &[1], |_, w, at| {
        d = want_varint(w, at)? as i64;
        Ok(())
    })?;
    Ok(Value::String(go_duration(d)))
}

fn go_duration(d: i64) -> String {
    let mut u = d.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    // digits of u / 10^prec with the fraction's trailing zeros (and a bare point) dropped
    fn frac(u: u64, prec: u32) -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let s = format!("{f:0width$}", width = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), u / p)
    }
    let mut s = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (fr, whole) = frac(u, prec);
        s.push_str(&format!("{whole}{fr}{unit}"));
    } else {
        let (fr, secs) = frac(u, 9);
        u = secs;
        let sec = format!("{}{fr}s", u % 60);
        u /= 60;
        if u > 0 {
            let min = u % 60;
            u /= 60;
            if u > 0 {
                s.push_str(&format!("{u}h"));
            }
            s.push_str(&format!("{min}m"));
        }
        s.push_str(&sec);
    }
    if d < 0 {
        s.insert(0, '-');
    }
    s
}

/// `Quantity` {1 string}: that string (`"0"` for the zero quantity); Go replaces the value at each
/// occurrence.
fn quantity(ctx: &mut Ctx, chunks: &[Chunk<'_>]) -> Result<Value, Error> {
    let mut s: Option<String> = None;
    if let Some(last) = chunks.last() {
        special_fields(ctx, std::slice::from_ref(last), &[1], |_, w, at| {
            s = Some(text(want_len(w, at)?));
            Ok(())
        })?;
    }
    Ok(Value::String(match s {
        Some(s) if !s.is_empty() => s,
        _ => "0".into(),
    }))
}

/// `IntOrString` {1 type (0 int, 1 string), 2 intVal, 3 strVal}.
fn int_or_string(ctx: &mut Ctx, chunks: &[Chunk<'_>]) -> Result<Value, Error> {
    let (mut ty, mut int, mut st) = (0i64, 0i32, String::new());
    let mut at0 = chunks.first().map_or(0, |c| c.at);
    special_fields(ctx, chunks, &[1, 2, 3], |n, w, at| {
        match n {
            1 => {
                ty = want_varint(w, at)? as i64;
                at0 = at;
            }
            2 => int = want_varint(w, at)? as i32,
            _ => st = text(want_len(w, at)?),
        }
        Ok(())
    })?;
    Ok(match ty {
        1 => Value::String(st),
        0 => Value::from(int),
        other => {
            ctx.warn(format!(
                "byte {at0}: IntOrString of type {other} (Go cannot print it); shown as its number"
            ));
            Value::from(int)
        }
    })
}

/// `[]string` wrappers {repeated string items = 1}: an array, `null` when empty (a nil slice).
fn string_list(ctx: &mut Ctx, chunks: &[Chunk<'_>]) -> Result<Value, Error> {
    let mut items = Vec::new();
    let mut total = 0usize;
    special_fields(ctx, chunks, &[1], |_, w, at| {
        let s = text(want_len(w, at)?);
        total = total.saturating_add(str_cost(&s) + 1);
        items.push(Value::String(s));
        Ok(())
    })?;
    ctx.charge(total)?;
    Ok(if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    })
}

/// `RawExtension`/`FieldsV1` {1 raw}: the bytes as JSON. Not JSON: a nested `k8s\0` object is
/// decoded; anything else is shown as a base64 string, with a warning.
fn raw_json(
    ctx: &mut Ctx,
    msg: MessageRef,
    chunks: &[Chunk<'_>],
    depth: usize,
) -> Result<Value, Error> {
    let mut raw: Option<Chunk<'_>> = None;
    special_fields(ctx, chunks, &[1], |_, w, at| match w {
        Wire::Len(c) => {
            raw = Some(c);
            Ok(())
        }
        _ => Err(malformed(at, "wire type does not match the schema")),
    })?;
    let Some(Chunk { bytes: b, at }) = raw else {
        return Ok(Value::Null);
    };
    if b.is_empty() {
        ctx.warn(format!(
            "byte {at}: {} with empty raw bytes (Go cannot print it); shown as null",
            msg.name()
        ));
        return Ok(Value::Null);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(b) {
        let n = serde_json::to_string(&v).map_or(b.len(), |s| s.len());
        ctx.charge(n)?;
        return Ok(v);
    }
    if let Envelope::Kubernetes(u) = raw::envelope(b) {
        if u.content_encoding.is_empty() {
            let inner = (u.raw.as_ptr() as usize)
                .wrapping_sub(b.as_ptr() as usize)
                .min(b.len());
            match object(
                ctx,
                &u.api_version,
                &u.kind,
                u.raw,
                at.saturating_add(inner),
                depth + 1,
            ) {
                Ok(v) => return Ok(v),
                Err(Error::UnknownType { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    ctx.warn(format!(
        "byte {at}: {} holds {} bytes that are not JSON; shown as base64",
        msg.name(),
        b.len()
    ));
    let s = base64(b);
    ctx.charge(s.len() + 2)?;
    Ok(Value::String(s))
}

/// Standard base64 with padding (Go's `[]byte` in JSON).
pub(crate) fn base64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(&[2]), "Ag==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"hello world"), "aGVsbG8gd29ybGQ=");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }

    #[test]
    fn times_as_go_prints_them() {
        assert_eq!(format_time(0, 0, false).0, "1970-01-01T00:00:00Z");
        assert_eq!(
            format_time(1_199_149_261, 0, false).0,
            "2008-01-01T01:01:01Z"
        );
        assert_eq!(
            format_time(1_041_382_861, 3_000, true).0,
            "2003-01-01T01:01:01.000003Z"
        );
        assert_eq!(format_time(951_782_400, 0, false).0, "2000-02-29T00:00:00Z");
        assert_eq!(
            format_time(GO_ZERO_UNIX, 0, false),
            ("0001-01-01T00:00:00Z".into(), true)
        );
        assert_eq!(
            format_time(253_402_300_799, 0, false),
            ("9999-12-31T23:59:59Z".into(), true)
        );
        assert!(!format_time(253_402_300_800, 0, false).1);
        assert!(format_time(GO_ZERO_UNIX - 1, 0, false)
            .0
            .starts_with("0000-12-31"));
        // extremes do not panic
        let _ = format_time(i64::MAX, 999_999_999, true);
        let _ = format_time(i64::MIN, 0, true);
    }

    #[test]
    fn durations_as_go_prints_them() {
        for (ns, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_500_000_000, "3.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(go_duration(ns), s, "{ns}");
        }
    }
}
