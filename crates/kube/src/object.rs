//! One stored value made readable, for every view and export of the CLI and the page: the
//! object as JSON — a `k8s\0` protobuf value through [`crate::typed`], a JSON-stored object
//! (custom resources, CRDs, APIServices) parsed — after decryption when the user supplied an
//! `EncryptionConfiguration`; Secret data masked unless revealed; whole values masked under
//! user-chosen prefixes. What cannot be decoded is said in [`Object::notes`], and the caller
//! falls back to [`crate::raw::view`] or a hex dump: never an error page.

use serde_json::Value;

use crate::encryption::EncryptionConfig;
use crate::raw::{self, Envelope};

/// How to decode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Decrypts `k8s:enc:` values (aescbc, aesgcm, secretbox).
    pub encryption: Option<&'a EncryptionConfig>,
    /// Shows Secret `data` and `stringData` (masked otherwise).
    pub reveal_secrets: bool,
    /// Keys under these prefixes have their whole value masked (unless `reveal_secrets`).
    pub mask_prefixes: &'a [Vec<u8>],
}

/// How the value was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// `k8s\0` + protobuf of this type.
    Protobuf { api_version: String, kind: String },
    /// JSON text (custom resources, CRDs, APIServices, objects of a JSON storage media type).
    Json,
    /// Neither (e.g. `compact_rev_key`, a master lease's IP, bytes).
    Other,
}

impl Stored {
    /// `protobuf`, `json` or `other`.
    pub fn name(&self) -> &'static str {
        match self {
            Stored::Protobuf { .. } => "protobuf",
            Stored::Json => "json",
            Stored::Other => "other",
        }
    }
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// How it was stored (after decryption). `None`: still encrypted, or masked by prefix.
    pub stored: Option<Stored>,
    /// `aescbc key "k1"` when it was encrypted at rest (decrypted or not).
    pub encryption: Option<String>,
    /// The object, when it could be decoded.
    pub json: Option<Value>,
    /// The plaintext when it was decrypted (for the raw view).
    pub plaintext: Option<Vec<u8>>,
    /// Secret values masked (0 when none or revealed).
    pub masked: usize,
    /// The whole value is masked (its key is under a masked prefix).
    pub masked_whole: bool,
    /// What went wrong or is worth knowing (not decrypted and why, fields unknown to the schema…).
    pub notes: Vec<String>,
}

impl Object {
    /// Whether this is a core/v1 Secret: decoded as one, or stored as one (encrypted values
    /// excepted, as nothing tells their kind).
    pub fn is_secret(&self) -> bool {
        self.json.as_ref().is_some_and(is_secret)
            || matches!(&self.stored, Some(Stored::Protobuf { api_version, kind })
                if kind == "Secret" && api_version == "v1")
    }
}

/// Decodes the value stored under `key`.
pub fn decode(key: &[u8], value: &[u8], opts: &Options<'_>) -> Object {
    let mut o = Object {
        stored: None,
        encryption: None,
        json: None,
        plaintext: None,
        masked: 0,
        masked_whole: false,
        notes: Vec::new(),
    };
    if !opts.reveal_secrets && opts.mask_prefixes.iter().any(|p| key.starts_with(p)) {
        o.masked_whole = true;
        o.notes
            .push("value masked (its key is under a masked prefix)".into());
        return o;
    }
    let decrypted = match raw::envelope(value) {
        Envelope::Encrypted(e) => {
            o.encryption = Some(format!("{} {} key {:?}", e.provider, e.version, e.key_name));
            match opts.encryption.map(|c| c.decrypt(key, value)) {
                Some(Ok(d)) => Some(d.plaintext),
                Some(Err(e)) => {
                    o.notes.push(format!("not decrypted: {e}"));
                    return o;
                }
                None => {
                    o.notes.push(
                        "encrypted at rest: give the cluster's EncryptionConfiguration to decrypt it"
                            .into(),
                    );
                    return o;
                }
            }
        }
        _ => None,
    };
    let plain = decrypted.as_deref().unwrap_or(value);
    match raw::envelope(plain) {
        Envelope::Kubernetes(u) => {
            o.stored = Some(Stored::Protobuf {
                api_version: u.api_version.clone(),
                kind: u.kind.clone(),
            });
            match typed_json(&u) {
                Ok((v, notes)) => {
                    o.json = Some(v);
                    o.notes.extend(notes);
                }
                Err(msg) => o.notes.push(msg),
            }
        }
        Envelope::BadKubernetes(e) => {
            o.stored = Some(Stored::Other);
            o.notes.push(format!("k8s\\0 magic, but {e}"));
        }
        _ => match json_object(plain) {
            Some(v) => {
                o.stored = Some(Stored::Json);
                o.json = Some(v);
            }
            None => o.stored = Some(Stored::Other),
        },
    }
    o.plaintext = decrypted;
    if !opts.reveal_secrets {
        if let Some(v) = &mut o.json {
            o.masked = mask_secret(v);
        }
    }
    o
}

/// The typed decoding of a `k8s\0` value: the object and notes, or why not.
fn typed_json(u: &raw::Unknown<'_>) -> Result<(Value, Vec<String>), String> {
    if !u.content_encoding.is_empty() {
        return Err(format!(
            "content encoding {:?} is not supported",
            u.content_encoding
        ));
    }
    if u.api_version.is_empty() && u.kind.is_empty() {
        return Err("the k8s\\0 envelope names no apiVersion and kind".into());
    }
    let t = crate::typed::decode_message(&u.api_version, &u.kind, u.raw, Default::default())
        .map_err(|e| format!("{} {}: {e}", u.api_version, u.kind))?;
    let mut notes = t.warnings;
    if t.unknown_fields > 0 {
        notes.push(format!(
            "{} field(s) unknown to the schema (written by a newer Kubernetes?): see the raw view",
            t.unknown_fields
        ));
    }
    Ok((t.json, notes))
}

/// JSON text that is an object or an array (other JSON, such as a bare number, is left as a
/// plain value).
fn json_object(b: &[u8]) -> Option<Value> {
    let first = b.iter().find(|c| !c.is_ascii_whitespace())?;
    if *first != b'{' && *first != b'[' {
        return None;
    }
    serde_json::from_slice(b).ok()
}

/// Sets `metadata.resourceVersion` to the revision the object was read at, as kube-apiserver
/// does when it serves an object (the stored object does not hold it).
pub fn set_resource_version(v: &mut Value, revision: i64) {
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

/// JSON as `kubectl -o json` prints it (indented by four spaces; no newline at the end).
pub fn json_text(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    match serde::Serialize::serialize(v, &mut ser) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => v.to_string(),
    }
}

/// A file extension for a value as stored: `pb` (kube-apiserver's `k8s\0` protobuf), `enc`
/// (encrypted at rest), `json`, else `bin`.
pub fn stored_ext(v: &[u8]) -> &'static str {
    if v.starts_with(raw::K8S_MAGIC) {
        "pb"
    } else if v.starts_with(raw::ENC_PREFIX) {
        "enc"
    } else if v.first() == Some(&b'{') {
        "json"
    } else {
        "bin"
    }
}

/// A file-name part from key bytes (a namespace, a name): ASCII letters, digits and `-_.:@`
/// kept, the rest (`/`, `\\`, a leading dot, control and non-ASCII bytes) as `%XX`; never empty.
pub fn file_name_part(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, &c) in b.iter().enumerate() {
        let plain = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':' | b'@');
        if plain && !(i == 0 && c == b'.') {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    if s.is_empty() {
        s.push('_');
    }
    s
}

/// Whether a JSON object is a core/v1 Secret.
pub fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret")
        && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Masks the values of a Secret's `data` (base64 text) and `stringData`: each becomes
/// `<masked: N bytes>`. Returns how many were masked (0 for other objects).
pub fn mask_secret(v: &mut Value) -> usize {
    if !is_secret(v) {
        return 0;
    }
    let mut n = 0;
    for (field, base64) in [("data", true), ("stringData", false)] {
        if let Some(Value::Object(m)) = v.get_mut(field) {
            for (_, val) in m.iter_mut() {
                let len = match val {
                    Value::String(s) if base64 => base64_len(s),
                    Value::String(s) => s.len(),
                    _ => continue,
                };
                *val = Value::String(format!("<masked: {len} bytes>"));
                n += 1;
            }
        }
    }
    n
}

/// Bytes behind standard base64 text (padding counted off).
fn base64_len(s: &str) -> usize {
    let t = s.trim_end_matches('=');
    t.len() * 3 / 4
}
