//! Schema-less protobuf, the Kubernetes storage envelope and the encryption-at-rest prefix.
//!
//! Protobuf without a schema is ambiguous: a length-delimited field may be a string, bytes, a
//! packed array or a nested message. [`decode`] shows it as a nested message when its bytes parse
//! completely as one (and are not plain printable text), else as a string when they are UTF-8,
//! else as bytes. Nesting is bounded by [`Limits::max_depth`]; deeper fields stay bytes. Work is
//! O(input × depth) and nothing panics on any input (the tests feed it every prefix and random
//! bytes).

use std::fmt::Write as _;

/// The 4 bytes kube-apiserver puts before a protobuf-encoded object.
pub const K8S_MAGIC: &[u8; 4] = b"k8s\0";
/// The prefix of values encrypted at rest (`k8s:enc:<provider>:<version>:<key name>:<data>`).
pub const ENC_PREFIX: &[u8] = b"k8s:enc:";

/// Bounds of a decode.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nested messages deeper than this are shown as bytes.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 32 }
    }
}

/// A protobuf wire type (groups, types 3 and 4, are refused: nothing Kubernetes writes uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    fn from_tag(t: u64) -> Option<WireType> {
        match t & 7 {
            0 => Some(WireType::Varint),
            1 => Some(WireType::Fixed64),
            2 => Some(WireType::Len),
            5 => Some(WireType::Fixed32),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "len",
            WireType::Fixed32 => "fixed32",
        }
    }
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// Length-delimited bytes that parse completely as a message.
    Message(Vec<Field<'a>>),
    /// Length-delimited UTF-8 text.
    String(&'a str),
    /// Length-delimited bytes that are neither.
    Bytes(&'a [u8]),
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<'a> {
    pub number: u64,
    pub wire: WireType,
    /// Byte offset of the field's tag inside the decoded buffer.
    pub offset: usize,
    pub value: FieldValue<'a>,
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not protobuf at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Reads a base-128 varint at `*pos` (at most 10 bytes).
pub(crate) fn varint(b: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let start = *pos;
    let mut v: u64 = 0;
    for i in 0..10 {
        let Some(&byte) = b.get(*pos) else {
            return Err(DecodeError {
                offset: start,
                reason: "varint runs past the end",
            });
        };
        *pos += 1;
        if i == 9 && byte > 1 {
            return Err(DecodeError {
                offset: start,
                reason: "varint longer than 64 bits",
            });
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError {
        offset: start,
        reason: "varint longer than 10 bytes",
    })
}

pub(crate) fn take<'a>(b: &'a [u8], pos: &mut usize, n: u64) -> Result<&'a [u8], DecodeError> {
    let start = *pos;
    let end = usize::try_from(n)
        .ok()
        .and_then(|n| start.checked_add(n))
        .filter(|&e| e <= b.len())
        .ok_or(DecodeError {
            offset: start,
            reason: "length runs past the end",
        })?;
    *pos = end;
    Ok(&b[start..end])
}

/// Text that reads as text: UTF-8 without control characters other than tab, CR and LF.
fn printable(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// Decodes `bytes` as one protobuf message (all of it).
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Vec<Field<'_>>, DecodeError> {
    decode_at(bytes, limits.max_depth)
}

fn decode_at(b: &[u8], depth_left: usize) -> Result<Vec<Field<'_>>, DecodeError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let offset = pos;
        let tag = varint(b, &mut pos)?;
        let number = tag >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(DecodeError {
                offset,
                reason: "field number out of range",
            });
        }
        let wire = WireType::from_tag(tag).ok_or(DecodeError {
            offset,
            reason: "unknown wire type",
        })?;
        let value = match wire {
            WireType::Varint => FieldValue::Varint(varint(b, &mut pos)?),
            WireType::Fixed64 => {
                let s = take(b, &mut pos, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                FieldValue::Fixed64(u64::from_le_bytes(a))
            }
            WireType::Fixed32 => {
                let s = take(b, &mut pos, 4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(s);
                FieldValue::Fixed32(u32::from_le_bytes(a))
            }
            WireType::Len => {
                let n = varint(b, &mut pos)?;
                let s = take(b, &mut pos, n)?;
                len_value(s, depth_left)
            }
        };
        fields.push(Field {
            number,
            wire,
            offset,
            value,
        });
    }
    Ok(fields)
}

/// A length-delimited payload: printable text, else a message if it parses, else text/bytes.
fn len_value(s: &[u8], depth_left: usize) -> FieldValue<'_> {
    let text = std::str::from_utf8(s).ok();
    if let Some(t) = text {
        if printable(t) {
            return FieldValue::String(t);
        }
    }
    if depth_left > 0 {
        if let Ok(m) = decode_at(s, depth_left - 1) {
            return FieldValue::Message(m);
        }
    }
    match text {
        Some(t) => FieldValue::String(t),
        None => FieldValue::Bytes(s),
    }
}

/// How text fields are cut in [`render`].
const SHOW_TEXT: usize = 4096;
const SHOW_BYTES: usize = 64;

/// Fields as indented text, one per line (`number: value`), nested messages in braces.
pub fn render(fields: &[Field<'_>]) -> String {
    let mut out = String::new();
    render_into(&mut out, fields, 0);
    out
}

fn render_into(out: &mut String, fields: &[Field<'_>], indent: usize) {
    for f in fields {
        let pad = "  ".repeat(indent);
        // Writing to a String cannot fail.
        let _ = match &f.value {
            FieldValue::Varint(v) => {
                let signed = *v as i64;
                if signed < 0 {
                    writeln!(out, "{pad}{}: {v} (int64 {signed})", f.number)
                } else {
                    writeln!(out, "{pad}{}: {v}", f.number)
                }
            }
            FieldValue::Fixed64(v) => writeln!(
                out,
                "{pad}{}: 0x{v:016x} (fixed64; double {})",
                f.number,
                f64::from_bits(*v)
            ),
            FieldValue::Fixed32(v) => writeln!(
                out,
                "{pad}{}: 0x{v:08x} (fixed32; float {})",
                f.number,
                f32::from_bits(*v)
            ),
            FieldValue::Message(m) => {
                let _ = writeln!(out, "{pad}{}: {{", f.number);
                render_into(out, m, indent + 1);
                writeln!(out, "{pad}}}")
            }
            FieldValue::String(s) => {
                let shown: String = s.chars().take(SHOW_TEXT).collect();
                let more = if shown.len() < s.len() {
                    format!(" … ({} bytes)", s.len())
                } else {
                    String::new()
                };
                writeln!(out, "{pad}{}: {}{more}", f.number, quote(&shown))
            }
            FieldValue::Bytes(b) => {
                let hex: String = b
                    .iter()
                    .take(SHOW_BYTES)
                    .map(|x| format!("{x:02x}"))
                    .collect();
                let more = if b.len() > SHOW_BYTES { "…" } else { "" };
                writeln!(out, "{pad}{}: bytes[{}] {hex}{more}", f.number, b.len())
            }
        };
    }
}

/// A double-quoted string with `"`, `\` and control characters escaped.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{{{:x}}}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The `runtime.Unknown` message behind the `k8s\0` magic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unknown<'a> {
    pub api_version: String,
    pub kind: String,
    /// The object itself (protobuf of the kind's Go type).
    pub raw: &'a [u8],
    pub content_encoding: String,
    pub content_type: String,
}

/// Where an encrypted value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// `aescbc`, `aesgcm`, `secretbox`, `kms`, …
    pub provider: String,
    /// The provider's format version (`v1`, `v2`).
    pub version: String,
    /// The key name (KMS: the plugin name).
    pub key_name: String,
    /// Bytes after the prefix.
    pub data_len: usize,
}

/// What a stored value is, as far as can be told without a schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope<'a> {
    /// `k8s\0` + a `runtime.Unknown` message.
    Kubernetes(Unknown<'a>),
    /// `k8s\0` followed by something that is not a `runtime.Unknown` message.
    BadKubernetes(DecodeError),
    /// `k8s:enc:…`.
    Encrypted(Encrypted),
    /// Anything else.
    Plain,
}

/// Recognizes the Kubernetes envelope and the encryption-at-rest prefix.
pub fn envelope(value: &[u8]) -> Envelope<'_> {
    if let Some(rest) = value.strip_prefix(ENC_PREFIX.as_ref()) {
        if let Some(e) = encrypted(rest) {
            return Envelope::Encrypted(e);
        }
    }
    match value.strip_prefix(K8S_MAGIC.as_ref()) {
        Some(rest) => match unknown(rest) {
            Ok(u) => Envelope::Kubernetes(u),
            Err(e) => Envelope::BadKubernetes(DecodeError {
                offset: e.offset + K8S_MAGIC.len(),
                reason: e.reason,
            }),
        },
        None => Envelope::Plain,
    }
}

/// `<provider>:<version>:<key name>:` then the data; names are short printable ASCII.
fn encrypted(rest: &[u8]) -> Option<Encrypted> {
    let mut parts = Vec::with_capacity(3);
    let mut pos = 0;
    for _ in 0..3 {
        let len = rest[pos..].iter().take(256).position(|&b| b == b':')?;
        let part = &rest[pos..pos + len];
        if part.iter().any(|b| !(0x21..0x7f).contains(b)) {
            return None;
        }
        parts.push(String::from_utf8_lossy(part).into_owned());
        pos += len + 1;
    }
    let key_name = parts.pop()?;
    let version = parts.pop()?;
    let provider = parts.pop()?;
    Some(Encrypted {
        provider,
        version,
        key_name,
        data_len: rest.len() - pos,
    })
}

fn string_field(v: &[u8], at: usize) -> Result<String, DecodeError> {
    String::from_utf8(v.to_vec()).map_err(|_| DecodeError {
        offset: at,
        reason: "a text field of runtime.Unknown is not UTF-8",
    })
}

/// Decodes `runtime.Unknown` {1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding,
/// 4 contentType}: typed, so strings are never taken for messages.
pub fn unknown(b: &[u8]) -> Result<Unknown<'_>, DecodeError> {
    let mut u = Unknown::default();
    for (number, at, v) in len_fields(b)? {
        match number {
            1 => {
                for (n, at2, v2) in len_fields(v).map_err(|e| DecodeError {
                    offset: at + e.offset,
                    reason: e.reason,
                })? {
                    match n {
                        1 => u.api_version = string_field(v2, at + at2)?,
                        2 => u.kind = string_field(v2, at + at2)?,
                        _ => {}
                    }
                }
            }
            2 => u.raw = v,
            3 => u.content_encoding = string_field(v, at)?,
            4 => u.content_type = string_field(v, at)?,
            _ => {}
        }
    }
    if u.kind.is_empty() && u.api_version.is_empty() && u.raw.is_empty() {
        return Err(DecodeError {
            offset: 0,
            reason: "runtime.Unknown without typeMeta or raw",
        });
    }
    Ok(u)
}

/// The fields of a message, keeping the length-delimited ones (others are skipped):
/// (number, offset of the payload, payload).
/// A length-delimited field: (number, offset of the payload, payload).
type LenField<'a> = (u64, usize, &'a [u8]);

fn len_fields(b: &[u8]) -> Result<Vec<LenField<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let offset = pos;
        let tag = varint(b, &mut pos)?;
        let number = tag >> 3;
        if number == 0 {
            return Err(DecodeError {
                offset,
                reason: "field number 0",
            });
        }
        match WireType::from_tag(tag) {
            Some(WireType::Varint) => {
                varint(b, &mut pos)?;
            }
            Some(WireType::Fixed64) => {
                take(b, &mut pos, 8)?;
            }
            Some(WireType::Fixed32) => {
                take(b, &mut pos, 4)?;
            }
            Some(WireType::Len) => {
                let n = varint(b, &mut pos)?;
                let at = pos;
                let v = take(b, &mut pos, n)?;
                out.push((number, at, v));
            }
            None => {
                return Err(DecodeError {
                    offset,
                    reason: "unknown wire type",
                })
            }
        }
    }
    Ok(out)
}

/// A one-line description of a value's envelope (`None` for plain values).
pub fn describe_envelope(value: &[u8]) -> Option<String> {
    match envelope(value) {
        Envelope::Kubernetes(u) => Some(format!(
            "Kubernetes {}{}{} (protobuf, {} bytes)",
            u.api_version,
            if u.api_version.is_empty() { "" } else { " " },
            u.kind,
            u.raw.len()
        )),
        Envelope::BadKubernetes(e) => Some(format!("k8s\\0 magic, but {e}")),
        Envelope::Encrypted(e) => Some(format!(
            "encrypted at rest: provider {} {}, key {:?} ({} bytes)",
            e.provider, e.version, e.key_name, e.data_len
        )),
        Envelope::Plain => None,
    }
}

/// The raw-protobuf view of a stored value: the envelope's facts, then the fields of the
/// object (for `k8s\0` values, the fields of `raw`). `None` when there is nothing protobuf-like
/// to show (plain text, JSON, bytes that are not a message).
pub fn view(value: &[u8], limits: Limits) -> Option<String> {
    match envelope(value) {
        Envelope::Kubernetes(u) => {
            let mut out = String::new();
            let _ = writeln!(out, "apiVersion: {}", u.api_version);
            let _ = writeln!(out, "kind: {}", u.kind);
            if !u.content_encoding.is_empty() {
                let _ = writeln!(out, "contentEncoding: {}", u.content_encoding);
            }
            if !u.content_type.is_empty() {
                let _ = writeln!(out, "contentType: {}", u.content_type);
            }
            let _ = writeln!(out, "raw: {} bytes", u.raw.len());
            match decode(u.raw, limits) {
                Ok(fields) => {
                    out.push('\n');
                    out.push_str(&render(&fields));
                }
                Err(e) => {
                    let _ = writeln!(out, "raw is {e}");
                }
            }
            Some(out)
        }
        Envelope::BadKubernetes(e) => Some(format!("k8s\\0 magic, but {e}\n")),
        Envelope::Encrypted(e) => Some(format!(
            "encrypted at rest (k8s:enc:)\nprovider: {}\nversion: {}\nkey: {}\nciphertext: {} bytes\n",
            e.provider, e.version, e.key_name, e.data_len
        )),
        Envelope::Plain => {
            if value.is_empty() {
                return None;
            }
            // Text is not shown as protobuf (short ASCII often parses as some message).
            if std::str::from_utf8(value).is_ok_and(printable) {
                return None;
            }
            decode(value, limits).ok().map(|f| render(&f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut p = 0;
        assert_eq!(varint(&[0x96, 0x01], &mut p), Ok(150));
        assert_eq!(p, 2);
        let mut p = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint(&max, &mut p), Ok(u64::MAX));
        let mut p = 0;
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(varint(&over, &mut p).is_err());
        let mut p = 0;
        assert!(varint(&[0x80], &mut p).is_err());
    }

    #[test]
    fn fields_of_each_wire_type() {
        // 1: 150, 2: "hi", 3: fixed64 1, 4: fixed32 2, 5: {1: 1}
        let b = [
            0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0,
            0, 0x2a, 0x02, 0x08, 0x01,
        ];
        let f = decode(&b, Limits::default()).unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(f[0].value, FieldValue::Varint(150));
        assert_eq!(f[1].value, FieldValue::String("hi"));
        assert_eq!(f[2].value, FieldValue::Fixed64(1));
        assert_eq!(f[3].value, FieldValue::Fixed32(2));
        assert_eq!(
            f[4].value,
            FieldValue::Message(vec![Field {
                number: 1,
                wire: WireType::Varint,
                offset: 0,
                value: FieldValue::Varint(1)
            }])
        );
        let text = render(&f);
        assert!(text.contains("2: \"hi\""), "{text}");
        assert!(text.contains("5: {\n  1: 1\n}"), "{text}");
    }

    #[test]
    fn depth_is_bounded() {
        // 200 levels of {1: {1: … }}
        let mut b: Vec<u8> = vec![0x08, 0x01];
        for _ in 0..200 {
            let mut outer = vec![0x0a];
            let mut n = b.len();
            while n >= 0x80 {
                outer.push((n as u8) | 0x80);
                n >>= 7;
            }
            outer.push(n as u8);
            outer.extend_from_slice(&b);
            b = outer;
        }
        let f = decode(&b, Limits { max_depth: 8 }).unwrap();
        let text = render(&f);
        assert_eq!(text.matches('{').count(), 8);
        assert!(text.contains("bytes["), "{text}");
    }

    #[test]
    fn groups_and_garbage_are_refused() {
        assert!(decode(&[0x0b], Limits::default()).is_err()); // start group
        assert!(decode(&[0x00], Limits::default()).is_err()); // field 0
        assert!(decode(&[0x0a, 0x05, 1], Limits::default()).is_err()); // short
        assert!(decode(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], Limits::default()).is_err());
    }

    #[test]
    fn never_panics_on_noise() {
        // xorshift noise and every prefix of a valid message
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut buf = Vec::new();
        for len in 0..2000usize {
            buf.clear();
            for _ in 0..(len % 97) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            let _ = decode(&buf, Limits::default());
            let _ = view(&buf, Limits::default());
            let mut k = K8S_MAGIC.to_vec();
            k.extend_from_slice(&buf);
            let _ = view(&k, Limits::default());
            let mut e = ENC_PREFIX.to_vec();
            e.extend_from_slice(&buf);
            let _ = view(&e, Limits::default());
        }
    }

    #[test]
    fn encrypted_prefix() {
        let v = b"k8s:enc:aescbc:v1:key1:\x01\x02\x03";
        match envelope(v) {
            Envelope::Encrypted(e) => {
                assert_eq!(e.provider, "aescbc");
                assert_eq!(e.version, "v1");
                assert_eq!(e.key_name, "key1");
                assert_eq!(e.data_len, 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(envelope(b"k8s:enc:nocolons"), Envelope::Plain);
        let d = describe_envelope(b"k8s:enc:kms:v2:my-kms:\x0a\x00").unwrap();
        assert!(d.contains("kms v2") && d.contains("my-kms"), "{d}");
    }

    #[test]
    fn text_is_not_protobuf() {
        assert_eq!(view(b"hello world", Limits::default()), None);
        assert_eq!(view(b"{\"a\":1}", Limits::default()), None);
        assert_eq!(view(b"", Limits::default()), None);
        assert!(view(&[0x08, 0x01], Limits::default()).is_some());
    }
}
