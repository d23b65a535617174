//! The page's Kubernetes mode, worker side: resource types → namespaces → objects of the live
//! keys under `/registry`, one object as YAML / JSON / raw protobuf (decrypted with the
//! EncryptionConfiguration the user gave, Secret data masked unless revealed), the objects
//! deleted but still held, and their export. Every text is made here (64-bit numbers exact).

use std::collections::BTreeMap;

use kube::keys::{self, KeyKind};
use kube::object::{Options, Stored};
use serde_json::{json, Value};
use storage::ReadAt;

use crate::report::escape;
use crate::session::{b64_bytes, served, Session, VIEW_LIMIT};

/// The apiserver's `--etcd-prefix` (the default; the page does not ask for another).
const PREFIX: &[u8] = keys::DEFAULT_PREFIX;

/// `/registry/`
fn registry() -> Vec<u8> {
    [PREFIX, b"/"].concat()
}

fn text(b: &[u8]) -> String {
    escape(b)
}

/// How a value is stored, in words: `protobuf v1/Pod`, `json`, `encrypted (aesgcm v1 key
/// "gcm256"), decrypted: protobuf v1/Secret`.
fn stored_text(o: &kube::object::Object) -> String {
    let s = match &o.stored {
        Some(Stored::Protobuf { api_version, kind }) => format!("protobuf {api_version}/{kind}"),
        Some(other) => other.name().to_string(),
        None => String::new(),
    };
    match (&o.encryption, s.is_empty()) {
        (Some(e), true) => format!("encrypted ({e})"),
        (Some(e), false) => format!("encrypted ({e}), decrypted: {s}"),
        (None, _) => s,
    }
}

impl<S: ReadAt> Session<S> {
    /// Whether any live key is under `/registry/` (the page shows the Kubernetes mode then),
    /// and the resource types: `[{type, prefix (base64 of /registry/<prefix>/), objects,
    /// bytes, namespaced}]` sorted by type.
    pub fn k8s_types(&mut self) -> Result<Value, String> {
        if let Some(v) = &self.k8s_types {
            return Ok(v.clone());
        }
        let reg = registry();
        let idx = self.index()?;
        // prefix → (type, objects, bytes, namespaced)
        let mut types: BTreeMap<Vec<u8>, (String, u64, u64, bool)> = BTreeMap::new();
        let mut other = 0u64;
        let mut i = idx.lower_bound(&reg);
        while i < idx.len() && idx.key(i).starts_with(&reg) {
            let k = idx.key(i);
            match keys::parse(k, PREFIX) {
                KeyKind::Object(o) => {
                    let e = types
                        .entry(o.prefix.to_vec())
                        .or_insert_with(|| (o.type_name(), 0, 0, false));
                    e.1 += 1;
                    e.2 += idx.value_len(i) + k.len() as u64;
                    e.3 |= o.namespace.is_some();
                }
                _ => other += 1,
            }
            i += 1;
        }
        let mut rows: Vec<Value> = types
            .into_iter()
            .map(|(prefix, (t, n, b, ns))| {
                json!({
                    "type": t,
                    "prefix": b64_bytes(&[&reg[..], &prefix, b"/"].concat()),
                    "objects": n,
                    "bytes": b,
                    "namespaced": ns,
                })
            })
            .collect();
        rows.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
        let total: u64 = rows.iter().filter_map(|r| r["objects"].as_u64()).sum();
        let v = json!({ "types": rows, "objects": total, "other": other });
        self.k8s_types = Some(v.clone());
        Ok(v)
    }

    /// The live objects under a type's key prefix (`/registry/<prefix>/`) whose keys start with
    /// `scan` (the type's prefix, or a namespace's under it), passed to `f` with their index;
    /// stops when `f` says so.
    fn each_object(
        &mut self,
        type_key: &[u8],
        scan: &[u8],
        mut f: impl FnMut(usize, &[u8], u64, &kube::keys::ObjectKey<'_>) -> bool,
    ) -> Result<(), String> {
        let reg = registry();
        let want = type_key
            .strip_prefix(&reg[..])
            .and_then(|p| p.strip_suffix(b"/"))
            .ok_or_else(|| "not a resource type's key prefix".to_string())?
            .to_vec();
        if !scan.starts_with(type_key) {
            return Err("not under the resource type's key prefix".into());
        }
        let idx = self.index()?;
        let mut i = idx.lower_bound(scan);
        while i < idx.len() && idx.key(i).starts_with(scan) {
            let k = idx.key(i);
            if let KeyKind::Object(o) = keys::parse(k, PREFIX) {
                let bytes = idx.value_len(i) + k.len() as u64;
                if o.prefix == want.as_slice() && !f(i, k, bytes, &o) {
                    break;
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// The namespaces of a type: `[{namespace (null: cluster-scoped), objects, bytes}]`.
    pub fn k8s_namespaces(&mut self, type_key: &[u8]) -> Result<Value, String> {
        let mut ns: BTreeMap<Option<Vec<u8>>, (u64, u64)> = BTreeMap::new();
        self.each_object(type_key, type_key, |_, _, bytes, o| {
            let e = ns.entry(o.namespace.map(<[u8]>::to_vec)).or_default();
            e.0 += 1;
            e.1 += bytes;
            true
        })?;
        let rows: Vec<Value> = ns
            .into_iter()
            .map(|(n, (count, bytes))| {
                json!({
                    "namespace": n.as_deref().map(text),
                    "namespaceKey": n.as_deref().map(b64_bytes),
                    "objects": count,
                    "bytes": bytes,
                })
            })
            .collect();
        Ok(json!({ "prefix": b64_bytes(type_key), "namespaces": rows }))
    }

    /// Objects of a type in a namespace (`ns` None: cluster-scoped ones), `offset..+limit`,
    /// with the count: `{total, objects: [{name, key, bytes}]}`.
    pub fn k8s_objects(
        &mut self,
        type_key: &[u8],
        ns: Option<&[u8]>,
        offset: usize,
        limit: usize,
    ) -> Result<Value, String> {
        let mut rows: Vec<Value> = Vec::new();
        let mut total = 0usize;
        // A namespace's objects are one run of keys: `/registry/<prefix>/<namespace>/`.
        let scan = match ns {
            Some(n) => [type_key, n, b"/"].concat(),
            None => type_key.to_vec(),
        };
        self.each_object(type_key, &scan, |_, k, bytes, o| {
            if o.namespace == ns {
                if total >= offset && rows.len() < limit {
                    rows.push(json!({ "name": text(o.name), "key": b64_bytes(k), "bytes": bytes }));
                }
                total += 1;
            }
            true
        })?;
        Ok(json!({
            "prefix": b64_bytes(type_key),
            "namespace": ns.map(text),
            "total": total,
            "offset": offset,
            "objects": rows,
        }))
    }

    /// One live object: key, revision, size, how it is stored, notes, and its YAML, JSON and
    /// raw protobuf views (a Secret's raw view only when revealed).
    /// A key deleted now shows its last held revision (with `deleted_at`).
    pub fn k8s_object(&mut self, key: &[u8], opts: &Options<'_>) -> Result<Value, String> {
        let idx = self.index()?;
        let live = idx.find(key).and_then(|i| idx.rev(i));
        let (rev, kv, deleted_at) = match live {
            Some(rev) => {
                let (_, kv) = self
                    .be()?
                    .kv_at(rev)
                    .map_err(|e| format!("{}: {e}", self.name))?
                    .ok_or_else(|| format!("revision {rev} is missing"))?;
                (rev, kv, None)
            }
            None => {
                let h = self
                    .be()?
                    .history(key)
                    .map_err(|e| format!("{}: {e}", self.name))?;
                let deleted_at = h.last().filter(|e| e.tombstone).map(|e| e.revision.main);
                let last = h
                    .into_iter()
                    .rev()
                    .find(|e| !e.tombstone)
                    .ok_or_else(|| format!("{:?} holds no value", escape(key)))?;
                (last.revision, last.kv, deleted_at)
            }
        };
        let o = kube::object::decode(key, &kv.value, opts);
        let obj = served(&o, rev.main);
        let secret = o.is_secret();
        let plain = o.plaintext.as_deref().unwrap_or(&kv.value);
        let raw = if secret && !opts.reveal_secrets {
            None
        } else if plain.len() <= 4 << 20 {
            kube::raw::view(plain, kube::raw::Limits::default()).or_else(|| {
                // Not protobuf: the text, if it is text.
                std::str::from_utf8(plain)
                    .ok()
                    .map(|t| t.chars().take(VIEW_LIMIT).collect())
            })
        } else {
            None
        };
        let (ty, ns, name) = match keys::parse(key, PREFIX) {
            KeyKind::Object(k) => (k.type_name(), k.namespace.map(text), text(k.name)),
            _ => (String::new(), None, text(key)),
        };
        Ok(json!({
            "key": b64_bytes(key),
            "keyText": escape(key),
            "type": ty,
            "namespace": ns,
            "name": name,
            "revision": rev.main,
            "deleted_at": deleted_at,
            "create_revision": kv.create_revision,
            "version": kv.version,
            "lease": kv.lease.to_string(),
            "size": kv.value.len(),
            "stored": stored_text(&o),
            "encrypted": o.encryption.is_some(),
            "notes": o.notes,
            "secret": secret,
            "masked": o.masked,
            "yaml": obj.as_ref().map(kube::yaml::to_yaml),
            "json": obj.as_ref().map(kube::object::json_text),
            "raw": raw,
        }))
    }

    /// Every live object under `/registry` decoded and made into YAML, as the object view does
    /// (for the page benchmark, `cargo xtask bench k8s-page`): `{objects, decoded, yaml_bytes}`.
    /// One pass for the live keys' revisions (no values), one in revision order decoding them.
    pub fn k8s_decode_all(&self, opts: &Options<'_>) -> Result<Value, String> {
        let be = self.be()?;
        let mut req = etcd::v3::RangeRequest::prefix(&registry());
        req.keys_only = true;
        let live: std::collections::HashMap<Vec<u8>, i64> = be
            .range(&req)
            .map_err(|e| format!("{}: {e}", self.name))?
            .kvs
            .into_iter()
            .map(|kv| (kv.key, kv.mod_revision))
            .collect();
        let (mut objects, mut decoded, mut yaml_bytes) = (0u64, 0u64, 0u64);
        be.for_each_revision(|rk, kv| {
            if rk.tombstone || live.get(kv.key) != Some(&kv.mod_revision) {
                return Ok(());
            }
            objects += 1;
            let o = kube::object::decode(kv.key, kv.value, opts);
            if let Some(mut v) = o.json {
                kube::object::set_resource_version(&mut v, kv.mod_revision);
                yaml_bytes += kube::yaml::to_yaml(&v).len() as u64;
                decoded += 1;
            }
            Ok(())
        })
        .map_err(|e| format!("{}: {e}", self.name))?;
        Ok(json!({ "objects": objects, "decoded": decoded, "yaml_bytes": yaml_bytes }))
    }

    /// Objects deleted but still held (`kube::deleted`, two passes over the history):
    /// `[{key, keyText, type, namespace, name, revision, sub, deleted_at, bytes, encoding}]`.
    pub fn k8s_deleted(&self) -> Result<Value, String> {
        let be = self.be()?;
        crate::progress::begin("finding deleted objects", 2 * be.file_size());
        let mut finder = kube::deleted::DeletedFinder::new();
        be.for_each_revision(|rk, kv| {
            finder.observe(kv.key, (rk.rev.main, rk.rev.sub), rk.tombstone);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let mut rows: Vec<Value> = Vec::new();
        be.for_each_revision(|rk, kv| {
            let Some(deleted_at) =
                finder.last_put_before_delete(kv.key, (rk.rev.main, rk.rev.sub), rk.tombstone)
            else {
                return Ok(());
            };
            let KeyKind::Object(k) = keys::parse(kv.key, PREFIX) else {
                return Ok(());
            };
            if rows.len() < 100_000 {
                rows.push(json!({
                    "key": b64_bytes(kv.key),
                    "keyText": escape(kv.key),
                    "type": k.type_name(),
                    "namespace": k.namespace.map(text),
                    "name": text(k.name),
                    "revision": rk.rev.main,
                    "sub": rk.rev.sub,
                    "deleted_at": deleted_at,
                    "bytes": kv.value.len(),
                    "encoding": kube::object::stored_ext(kv.value),
                }));
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(json!({ "deleted": rows }))
    }

    /// The value of `key` held at revision `main`/`sub`, for download: as stored (`raw`:
    /// `etcdctl put KEY < FILE` puts it back) or decoded (`yaml`, `json`; Secret data masked
    /// unless revealed). Returns (file name, bytes, MIME type).
    pub fn k8s_export(
        &self,
        key: &[u8],
        main: i64,
        sub: i64,
        format: &str,
        opts: &Options<'_>,
    ) -> Result<(String, Vec<u8>, &'static str), String> {
        let rev = etcd::Revision { main, sub };
        let (rk, kv) = self
            .be()?
            .kv_at(rev)
            .map_err(|e| format!("{}: {e}", self.name))?
            .ok_or_else(|| format!("revision {rev} is not held"))?;
        if kv.key != key || rk.tombstone {
            return Err(format!(
                "revision {rev} does not hold a value of {}",
                escape(key)
            ));
        }
        let base = match keys::parse(key, PREFIX) {
            KeyKind::Object(k) => format!("{}@{main}", kube::object::file_name_part(k.name)),
            _ => format!("value@{main}"),
        };
        let decoded = |yaml: bool| -> Result<(String, Vec<u8>, &'static str), String> {
            let o = kube::object::decode(key, &kv.value, opts);
            let v = served(&o, main).ok_or_else(|| {
                format!(
                    "{} cannot be decoded ({}); export it as stored",
                    escape(key),
                    o.notes.join("; ")
                )
            })?;
            Ok(if yaml {
                (
                    format!("{base}.yaml"),
                    kube::yaml::to_yaml(&v).into_bytes(),
                    "application/yaml",
                )
            } else {
                (
                    format!("{base}.json"),
                    (kube::object::json_text(&v) + "\n").into_bytes(),
                    "application/json",
                )
            })
        };
        match format {
            "yaml" => decoded(true),
            "json" => decoded(false),
            _ => Ok((
                format!("{base}.{}", kube::object::stored_ext(&kv.value)),
                kv.value,
                "application/octet-stream",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::unb64;
    use storage::MemSource;

    fn k8s() -> Session<MemSource> {
        let bytes = include_bytes!("../../crates/kube/tests/data/k8s-snapshot.db");
        Session::open_v3("k8s.db", MemSource::new(bytes.to_vec())).unwrap()
    }

    fn b(v: &Value) -> Vec<u8> {
        unb64(v.as_str().unwrap()).unwrap()
    }

    #[test]
    fn types_namespaces_objects() {
        let mut s = k8s();
        let t = s.k8s_types().unwrap();
        let types = t["types"].as_array().unwrap();
        let pods = types.iter().find(|r| r["type"] == "pods").unwrap();
        assert_eq!(pods["objects"], 1);
        assert_eq!(b(&pods["prefix"]), b"/registry/pods/");
        let ev = types.iter().find(|r| r["type"] == "events").unwrap();
        assert_eq!(ev["objects"], 40);
        let w = types
            .iter()
            .find(|r| r["type"] == "widgets.example.com")
            .unwrap();
        assert_eq!(b(&w["prefix"]), b"/registry/example.com/widgets/");
        let ns = s.k8s_namespaces(b"/registry/events/").unwrap();
        assert_eq!(ns["namespaces"][0]["namespace"], "busy");
        assert_eq!(ns["namespaces"][0]["objects"], 40);
        let page = s
            .k8s_objects(b"/registry/events/", Some(b"busy"), 30, 20)
            .unwrap();
        assert_eq!(page["total"], 40);
        assert_eq!(page["objects"].as_array().unwrap().len(), 10);
        assert!(s
            .k8s_objects(b"/registry/pods", Some(b"default"), 0, 10)
            .is_err());
    }

    #[test]
    fn object_views_mask_secrets() {
        let mut s = k8s();
        let o = Options::default();
        let pod = s
            .k8s_object(b"/registry/pods/default/nameValue", &o)
            .unwrap();
        let yaml = pod["yaml"].as_str().unwrap();
        assert!(yaml.contains("kind: Pod"), "{yaml}");
        assert!(yaml.contains("resourceVersion: \"4\""), "{yaml}");
        assert!(pod["json"]
            .as_str()
            .unwrap()
            .contains("\n    \"kind\": \"Pod\""));
        let plain = s
            .k8s_object(b"/registry/secrets/default/plain", &o)
            .unwrap();
        assert!(plain["yaml"].as_str().unwrap().contains("<masked:"));
        assert!(plain["raw"].is_null());
        let shown = Options {
            reveal_secrets: true,
            ..o
        };
        let clear = s
            .k8s_object(b"/registry/secrets/default/plain", &shown)
            .unwrap();
        assert!(!clear["yaml"].as_str().unwrap().contains("<masked:"));
        assert!(clear["raw"].is_string());
        // The Keys tab's viewer: only the masked YAML.
        let v = s.value(b"/registry/secrets/default/plain", &o).unwrap();
        assert_eq!(v["masked"], true);
        assert!(v["hex"].is_null() && v["text"].is_null() && v["protobuf"].is_null());
        assert!(v["yaml"].as_str().unwrap().contains("<masked:"));
        let h = s.history(b"/registry/secrets/default/plain", &o).unwrap();
        let first = b(&h["revisions"][0]["value"]);
        assert!(String::from_utf8(first).unwrap().contains("<masked:"));
        // Encrypted: a note, then decrypted with the test config.
        let s1 = s.k8s_object(b"/registry/secrets/default/s1", &o).unwrap();
        assert!(s1["yaml"].is_null());
        assert!(s1["notes"][0]
            .as_str()
            .unwrap()
            .contains("EncryptionConfiguration"));
        let cfg = kube::encryption::EncryptionConfig::parse(include_str!(
            "../../crates/kube/tests/data/encryption/config.yaml"
        ))
        .unwrap();
        let with = Options {
            encryption: Some(&cfg),
            ..o
        };
        let s1 = s
            .k8s_object(b"/registry/secrets/default/s1", &with)
            .unwrap();
        let yaml = s1["yaml"].as_str().unwrap();
        assert!(
            yaml.contains("kind: Secret") && yaml.contains("<masked:"),
            "{yaml}"
        );
        assert!(s1["stored"]
            .as_str()
            .unwrap()
            .starts_with("encrypted (aesgcm"));
    }

    #[test]
    fn deleted_and_export() {
        let s = k8s();
        let d = s.k8s_deleted().unwrap();
        let rows = d["deleted"].as_array().unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r["keyText"], "/registry/configmaps/team-a/gone");
        let key = b(&r["key"]);
        let main = r["revision"].as_i64().unwrap();
        let sub = r["sub"].as_i64().unwrap();
        let o = Options::default();
        let (name, bytes, _) = s.k8s_export(&key, main, sub, "raw", &o).unwrap();
        assert_eq!(name, format!("gone@{main}.pb"));
        assert_eq!(
            bytes,
            include_bytes!("../../crates/kube/tests/data/core.v1.ConfigMap.pb")
        );
        let (name, yaml, _) = s.k8s_export(&key, main, sub, "yaml", &o).unwrap();
        assert!(name.ends_with(".yaml"));
        assert!(String::from_utf8(yaml).unwrap().contains("kind: ConfigMap"));
        assert!(s.k8s_export(&key, main + 1, 0, "raw", &o).is_err());
        let mut s = s;
        let gone = s.k8s_object(&key, &o).unwrap();
        assert_eq!(gone["revision"], main);
        assert_eq!(gone["deleted_at"], r["deleted_at"]);
        assert!(gone["yaml"].as_str().unwrap().contains("kind: ConfigMap"));
    }

    #[test]
    fn redacted_downloads() {
        let s = k8s();
        let mut out = Vec::new();
        s.snapshot(false, true, &mut out).unwrap();
        let mut again = Session::open_v3("r.db", MemSource::new(out)).unwrap();
        let shown = Options {
            reveal_secrets: true,
            ..Options::default()
        };
        let v = again
            .k8s_object(b"/registry/secrets/default/plain", &shown)
            .unwrap();
        assert!(v["json"].as_str().unwrap().contains("PHJlZGFjdGVkPg=="));
        let mut sql = Vec::new();
        s.sql("sqlite", "etcd", true, &mut sql).unwrap();
        let mut plain = Vec::new();
        s.sql("sqlite", "etcd", false, &mut plain).unwrap();
        assert_ne!(sql, plain);
    }
}
