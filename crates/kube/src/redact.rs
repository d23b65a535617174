//! `--redact`: stored values rewritten for sharing a dump, with the secrets taken out and
//! everything else kept, so the result still decodes (and a redacted snapshot still restores).
//!
//! * A core/v1 Secret — `k8s\0` protobuf or JSON — keeps its metadata and type; each value of
//!   `data` and `stringData` becomes [`REDACTED`] (the keys stay, so a reader still sees what
//!   the Secret held).
//! * A value under a user-chosen prefix becomes [`REDACTED`] entirely.
//! * Values encrypted at rest are left alone: without the key they are unreadable already.
//!
//! The protobuf is rewritten at the wire level: fields other than Secret `data` (2) and
//! `stringData` (4) are copied byte for byte.

use serde_json::Value;

use crate::raw::{self, Envelope};

/// What a redacted value or Secret entry holds.
pub const REDACTED: &[u8] = b"<redacted>";

/// What to redact.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The data of Secrets.
    pub secrets: bool,
    /// Whole values of keys under these prefixes.
    pub prefixes: Vec<Vec<u8>>,
}

/// Why a value was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redacted {
    /// A Secret: this many `data`/`stringData` values replaced.
    Secret(usize),
    /// The whole value (key under a chosen prefix).
    Whole,
}

impl Redactor {
    /// Secret data only (the page's "Redact Secrets").
    pub fn secrets() -> Redactor {
        Redactor {
            secrets: true,
            prefixes: Vec::new(),
        }
    }

    /// The value to write instead of `value`, or `None` to keep it as it is.
    pub fn redact(&self, key: &[u8], value: &[u8]) -> Option<(Vec<u8>, Redacted)> {
        if self.prefixes.iter().any(|p| key.starts_with(p)) {
            return Some((REDACTED.to_vec(), Redacted::Whole));
        }
        if !self.secrets {
            return None;
        }
        redact_secret(value)
    }
}

/// A Secret value with its `data`/`stringData` values replaced; `None` for anything else
/// (including a Secret that does not parse, which is kept as it is).
pub fn redact_secret(value: &[u8]) -> Option<(Vec<u8>, Redacted)> {
    match raw::envelope(value) {
        Envelope::Kubernetes(u) if u.kind == "Secret" && u.api_version == "v1" => {
            let (raw, n) = secret_protobuf(u.raw)?;
            Some((rewrap(value, &raw)?, Redacted::Secret(n)))
        }
        Envelope::Plain => {
            let mut v: Value = serde_json::from_slice(value).ok()?;
            if !crate::object::is_secret(&v) {
                return None;
            }
            let replacement = crate::typed::base64(REDACTED);
            let mut n = 0;
            for (field, text) in [("data", replacement.as_str()), ("stringData", "<redacted>")] {
                if let Some(Value::Object(m)) = v.get_mut(field) {
                    for (_, val) in m.iter_mut() {
                        *val = Value::String(text.to_string());
                        n += 1;
                    }
                }
            }
            Some((serde_json::to_vec(&v).ok()?, Redacted::Secret(n)))
        }
        _ => None,
    }
}

/// One field of a message: number, wire type, and the bytes of the whole field (tag included)
/// and of its payload (length-delimited fields).
struct Span<'a> {
    number: u64,
    whole: &'a [u8],
    payload: Option<&'a [u8]>,
}

fn spans(b: &[u8]) -> Option<Vec<Span<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let start = pos;
        let tag = raw::varint(b, &mut pos).ok()?;
        let payload = match tag & 7 {
            0 => {
                raw::varint(b, &mut pos).ok()?;
                None
            }
            1 => {
                raw::take(b, &mut pos, 8).ok()?;
                None
            }
            5 => {
                raw::take(b, &mut pos, 4).ok()?;
                None
            }
            2 => {
                let n = raw::varint(b, &mut pos).ok()?;
                Some(raw::take(b, &mut pos, n).ok()?)
            }
            _ => return None,
        };
        out.push(Span {
            number: tag >> 3,
            whole: &b[start..pos],
            payload,
        });
    }
    Some(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, number << 3 | 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Secret {1 metadata, 2 data map<string,bytes>, 3 type, 4 stringData map<string,string>,
/// 5 immutable}: map entries {1 key, 2 value} get value [`REDACTED`].
fn secret_protobuf(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(b.len());
    let mut n = 0;
    for f in spans(b)? {
        match (f.number, f.payload) {
            (2 | 4, Some(entry)) => {
                let mut e = Vec::new();
                for ef in spans(entry)? {
                    if ef.number == 2 {
                        continue;
                    }
                    e.extend_from_slice(ef.whole);
                }
                put_len_field(&mut e, 2, REDACTED);
                put_len_field(&mut out, f.number, &e);
                n += 1;
            }
            _ => out.extend_from_slice(f.whole),
        }
    }
    Some((out, n))
}

/// The `k8s\0` value with `runtime.Unknown.raw` (field 2) replaced.
fn rewrap(value: &[u8], raw_new: &[u8]) -> Option<Vec<u8>> {
    let unknown = value.strip_prefix(raw::K8S_MAGIC.as_slice())?;
    let mut out = raw::K8S_MAGIC.to_vec();
    for f in spans(unknown)? {
        if f.number == 2 {
            put_len_field(&mut out, 2, raw_new);
        } else {
            out.extend_from_slice(f.whole);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The fields of a message: (number, the field's bytes).
    fn fields(b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        spans(b)
            .unwrap()
            .into_iter()
            .map(|s| (s.number, s.whole.to_vec()))
            .collect()
    }

    #[test]
    fn protobuf_secret_keeps_all_but_its_values() {
        let v = data("core.v1.Secret.pb");
        let (out, why) = redact_secret(&v).unwrap();
        let Envelope::Kubernetes(before) = raw::envelope(&v) else {
            panic!()
        };
        let Envelope::Kubernetes(after) = raw::envelope(&out) else {
            panic!("redacted value lost its envelope")
        };
        assert_eq!(
            (&after.api_version, &after.kind),
            (&before.api_version, &before.kind)
        );
        let (b, a) = (fields(before.raw), fields(after.raw));
        assert_eq!(b.len(), a.len());
        let mut replaced = 0;
        for ((nb, wb), (na, wa)) in b.iter().zip(&a) {
            assert_eq!(nb, na);
            if *nb == 2 || *nb == 4 {
                // The same map key; the value replaced.
                let entry = |w: &[u8]| -> Vec<(u64, Vec<u8>)> {
                    let f = &spans(w).unwrap()[0];
                    fields(f.payload.unwrap())
                };
                let (eb, ea) = (entry(wb), entry(wa));
                assert_eq!(eb[0], ea[0], "map key");
                assert_eq!(ea[1].1[2..], *REDACTED);
                assert_ne!(eb[1], ea[1]);
                replaced += 1;
            } else {
                assert_eq!(wb, wa, "field {nb} changed");
            }
        }
        assert!(replaced >= 2, "data and stringData entries: {replaced}");
        assert_eq!(why, Redacted::Secret(replaced));
        // Not a Secret: untouched.
        assert!(redact_secret(&data("core.v1.ConfigMap.pb")).is_none());
        assert!(redact_secret(b"k8s:enc:aescbc:v1:k:xxxx").is_none());
        assert!(redact_secret(b"plain").is_none());
    }

    #[test]
    fn json_secret_and_prefixes() {
        let j = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"c2VjcmV0"},"stringData":{"b":"x"},"type":"Opaque"}"#;
        let (out, why) = redact_secret(j).unwrap();
        assert_eq!(why, Redacted::Secret(2));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"]["a"], "PHJlZGFjdGVkPg==");
        assert_eq!(v["stringData"]["b"], "<redacted>");
        assert_eq!(v["type"], "Opaque");
        let r = Redactor {
            secrets: false,
            prefixes: vec![b"/private/".to_vec()],
        };
        assert_eq!(r.redact(b"/registry/secrets/a/b", j), None);
        assert_eq!(
            r.redact(b"/private/x", b"anything"),
            Some((REDACTED.to_vec(), Redacted::Whole))
        );
        assert_eq!(r.redact(b"/public/x", b"anything"), None);
    }

    #[test]
    fn hostile_secrets_never_panic() {
        let v = data("core.v1.Secret.pb");
        for cut in 0..v.len() {
            let _ = redact_secret(&v[..cut]);
        }
        for i in 0..v.len() {
            for bit in [0x01, 0x80] {
                let mut w = v.clone();
                w[i] ^= bit;
                let _ = redact_secret(&w);
            }
        }
    }
}
