//! JSON helpers: bytes as base64 (etcdctl's convention), names as text when they are UTF-8.

use base64::Engine;
use serde::Serializer;

pub fn b64_string(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn b64<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b64_string(b))
}

pub fn b64_list<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(|b| b64_string(b)))
}

/// Text when the bytes are UTF-8, otherwise `base64:` followed by the base64 form.
pub fn text_or_b64_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) if !t.starts_with("base64:") => t.to_owned(),
        _ => format!("base64:{}", b64_string(b)),
    }
}

pub fn text_or_b64<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text_or_b64_string(b))
}

pub fn opt_text_or_b64<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => text_or_b64(b, s),
        None => s.serialize_none(),
    }
}

/// A KeyValue as `etcdctl get -w json` prints it: key and value in base64, Go `omitempty` (zero
/// fields left out), numbers as JSON numbers.
pub fn etcdctl_kv(kv: &crate::proto::KeyValue) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if !kv.key.is_empty() {
        m.insert("key".into(), serde_json::Value::String(b64_string(&kv.key)));
    }
    for (name, v) in [
        ("create_revision", kv.create_revision),
        ("mod_revision", kv.mod_revision),
        ("version", kv.version),
    ] {
        if v != 0 {
            m.insert(name.into(), serde_json::json!(v));
        }
    }
    if !kv.value.is_empty() {
        m.insert(
            "value".into(),
            serde_json::Value::String(b64_string(&kv.value)),
        );
    }
    if kv.lease != 0 {
        m.insert("lease".into(), serde_json::json!(kv.lease));
    }
    serde_json::Value::Object(m)
}
