//! Decryption of values kube-apiserver encrypted at rest, with the cluster's
//! `EncryptionConfiguration` (FORMATS.md §8.2, item 3).
//!
//! The configuration is supplied by the user (a file or pasted text) and lives only in memory:
//! nothing here stores or prints a secret (key bytes are wiped on drop, `Debug` and
//! [`EncryptionConfig::describe`] show names and sizes only, errors never quote a secret).
//!
//! What is decrypted, as k8s.io/apiserver `pkg/storage/value/encrypt` and
//! `pkg/server/options/encryptionconfig/config.go` write it:
//!
//! | prefix | after the prefix |
//! |---|---|
//! | `k8s:enc:aescbc:v1:<key name>:` | 16-byte IV, AES-CBC ciphertext, PKCS#7 padding |
//! | `k8s:enc:aesgcm:v1:<key name>:` | 12-byte nonce, AES-GCM ciphertext and 16-byte tag; the additional authenticated data is the etcd key |
//! | `k8s:enc:secretbox:v1:<key name>:` | 24-byte nonce, NaCl secretbox (16-byte Poly1305 tag, XSalsa20 ciphertext) |
//! | `k8s:enc:kms:v1:<provider>:`, `k8s:enc:kms:v2:<provider>:` | the data key is sealed by an external KMS: not decryptable offline; reported as [`DecryptError::Kms`] with the provider name and, for v2, the `keyID` of its `EncryptedObject` |
//!
//! AES keys are 16, 24 or 32 bytes (AES-128/192/256, for aescbc and aesgcm alike), secretbox keys
//! 32 bytes; secrets are standard base64 in the configuration, as kube-apiserver requires. The key
//! name after the provider prefix selects the key: every key of that provider and name in the
//! configuration is a candidate, those of the `resources` entry that covers the etcd key first
//! (kube-apiserver picks the entry by resource; the candidates after it only matter when names are
//! reused across entries). AES-GCM and secretbox authenticate, so a wrong key is always detected;
//! AES-CBC does not: a wrong key is detected by its padding (about 255 times in 256) and by a
//! plaintext that does not start like a stored object (`k8s\0` protobuf, JSON `{`, CBOR).
//!
//! The configuration is YAML (what clusters use) or JSON. There is no maintained serde YAML crate
//! (serde_yaml is archived, serde_yml unsound) and yaml-rust2 would bring encoding_rs and hashlink
//! into the browser build for a file of a few dozen lines, so this module parses the subset real
//! EncryptionConfigurations use: block mappings and sequences (`- ` items, also at the key's
//! indentation and `- key: value` compact maps), plain, single- and double-quoted scalars, flow
//! collections (`{}`, `[secrets, configmaps]`, nested, over several lines — which makes any JSON
//! text readable too), comments, `---`/`...` document markers. Anchors, aliases, tags, block
//! scalars (`|`, `>`) and multi-line plain scalars are refused with the line they are on. Every
//! error names the line and the field path (`resources[0].providers[1].aescbc.keys[0].secret`).
//! Unlike kube-apiserver's strict decoder, fields this module does not use (`endpoint`, `timeout`,
//! a typo'd extra field) are ignored: reading values needs only the keys.
//!
//! Nothing panics on any input: every length is checked before slicing (the tests feed
//! truncations and bit flips of real values and broken configurations).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use zeroize::Zeroizing;

use crate::keys;

/// The prefix of values encrypted at rest.
pub const ENC_PREFIX: &[u8] = b"k8s:enc:";

// ------------------------------------------------------------------------------------------------
// Configuration model
// ------------------------------------------------------------------------------------------------

/// A parsed `EncryptionConfiguration`.
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// The `resources` entries, in order.
    pub rules: Vec<ResourceRule>,
}

/// One entry of `resources`: which resources, and the providers that read and write them.
#[derive(Debug, Clone)]
pub struct ResourceRule {
    /// `secrets`, `configmaps`, `deployments.apps`, `*.apps`, `*.`, `*.*` …
    pub resources: Vec<String>,
    pub providers: Vec<Provider>,
    /// Line of the entry in the configuration text (1-based).
    pub line: usize,
}

/// The kind of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    AesCbc,
    AesGcm,
    Secretbox,
    Identity,
    Kms,
}

impl ProviderKind {
    /// The name the configuration and the value prefix use.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::AesCbc => "aescbc",
            ProviderKind::AesGcm => "aesgcm",
            ProviderKind::Secretbox => "secretbox",
            ProviderKind::Identity => "identity",
            ProviderKind::Kms => "kms",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One provider of a `resources` entry.
#[derive(Debug, Clone)]
pub enum Provider {
    AesCbc(Vec<Key>),
    AesGcm(Vec<Key>),
    Secretbox(Vec<Key>),
    Identity,
    /// `kms`: `apiVersion` is `v1` or `v2` (v1 when absent, as kube-apiserver defaults it).
    Kms {
        name: String,
        api_version: String,
    },
}

impl Provider {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Provider::AesCbc(_) => ProviderKind::AesCbc,
            Provider::AesGcm(_) => ProviderKind::AesGcm,
            Provider::Secretbox(_) => ProviderKind::Secretbox,
            Provider::Identity => ProviderKind::Identity,
            Provider::Kms { .. } => ProviderKind::Kms,
        }
    }

    /// The keys of aescbc, aesgcm and secretbox (none for the others).
    pub fn keys(&self) -> &[Key] {
        match self {
            Provider::AesCbc(k) | Provider::AesGcm(k) | Provider::Secretbox(k) => k,
            Provider::Identity | Provider::Kms { .. } => &[],
        }
    }
}

/// A named key. The secret is not public, not printed by `Debug`, and wiped when dropped.
#[derive(Clone)]
pub struct Key {
    pub name: String,
    secret: Zeroizing<Vec<u8>>,
}

impl Key {
    /// The key's size in bytes (16, 24 or 32).
    pub fn size(&self) -> usize {
        self.secret.len()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Key {{ name: {:?}, secret: [REDACTED, {} bytes] }}",
            self.name,
            self.secret.len()
        )
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line of the offending text.
    pub line: usize,
    /// The field, as `resources[0].providers[1].aescbc.keys[0].secret` (empty for syntax errors).
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn cerr(line: usize, path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        line,
        path: path.to_string(),
        message: message.into(),
    }
}

impl EncryptionConfig {
    /// Parses an `EncryptionConfiguration` in YAML or JSON and checks what kube-apiserver checks
    /// about its keys: names present, secrets standard base64 of 16/24/32 bytes (AES) or 32 bytes
    /// (secretbox), exactly one provider per `providers` item.
    pub fn parse(text: &str) -> Result<EncryptionConfig, ConfigError> {
        let root = yaml::parse(text)?;
        let top = as_map(&root, "")?;
        if let Some(kind) = get(top, "kind") {
            let k = as_str(kind, "kind")?;
            if k != "EncryptionConfiguration" && k != "EncryptionConfig" {
                return Err(cerr(
                    kind.line,
                    "kind",
                    format!("is {k:?}, not EncryptionConfiguration"),
                ));
            }
        }
        let Some(resources) = get(top, "resources") else {
            return Err(cerr(
                root.line,
                "resources",
                "missing: an EncryptionConfiguration has a 'resources' list",
            ));
        };
        let entries = as_seq(resources, "resources")?;
        if entries.is_empty() {
            return Err(cerr(resources.line, "resources", "is empty"));
        }
        let mut rules = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("resources[{i}]");
            let m = as_map(entry, &path)?;
            let rpath = format!("{path}.resources");
            let names = match get(m, "resources") {
                Some(v) => as_seq(v, &rpath)?
                    .iter()
                    .enumerate()
                    .map(|(j, n)| as_str(n, &format!("{rpath}[{j}]")).map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            if names.is_empty() {
                return Err(cerr(entry.line, &rpath, "no resources listed"));
            }
            let ppath = format!("{path}.providers");
            let Some(pv) = get(m, "providers") else {
                return Err(cerr(entry.line, &ppath, "missing"));
            };
            let plist = as_seq(pv, &ppath)?;
            if plist.is_empty() {
                return Err(cerr(pv.line, &ppath, "is empty"));
            }
            let providers = plist
                .iter()
                .enumerate()
                .map(|(j, p)| provider(p, &format!("{ppath}[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(ResourceRule {
                resources: names,
                providers,
                line: entry.line,
            });
        }
        Ok(EncryptionConfig { rules })
    }

    /// A summary without secrets: one line per `resources` entry, e.g.
    /// `secrets, configmaps: aesgcm (key1 32 bytes, key2 16 bytes), identity`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for rule in &self.rules {
            out.push_str(&rule.resources.join(", "));
            out.push_str(": ");
            let ps: Vec<String> = rule
                .providers
                .iter()
                .map(|p| match p {
                    Provider::Identity => "identity".to_string(),
                    Provider::Kms { name, api_version } => format!("kms {api_version} ({name})"),
                    _ => {
                        let ks: Vec<String> = p
                            .keys()
                            .iter()
                            .map(|k| format!("{} {} bytes", k.name, k.size()))
                            .collect();
                        format!("{} ({})", p.kind(), ks.join(", "))
                    }
                })
                .collect();
            out.push_str(&ps.join(", "));
            out.push('\n');
        }
        out
    }
}

fn provider(v: &yaml::Value, path: &str) -> Result<Provider, ConfigError> {
    let m = as_map(v, path)?;
    let mut found: Vec<(&str, &yaml::Value)> = Vec::new();
    for (k, val) in m {
        if matches!(
            k.as_str(),
            "aescbc" | "aesgcm" | "secretbox" | "identity" | "kms"
        ) && !val.is_null()
        {
            found.push((k.as_str(), val));
        }
    }
    let (name, val) = match found.as_slice() {
        [one] => *one,
        [] => {
            let seen: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
            return Err(cerr(
                v.line,
                path,
                format!(
                    "no provider (expected one of aescbc, aesgcm, secretbox, identity, kms; found {})",
                    if seen.is_empty() {
                        "nothing".to_string()
                    } else {
                        seen.join(", ")
                    }
                ),
            ));
        }
        [_, (second, sv), ..] => {
            return Err(cerr(
                sv.line,
                path,
                format!("more than one provider in one item ({second} is the second); write each as its own '- ' item"),
            ));
        }
    };
    let path = format!("{path}.{name}");
    match name {
        "identity" => Ok(Provider::Identity),
        "kms" => {
            let km = as_map(val, &path)?;
            let npath = format!("{path}.name");
            let Some(n) = get(km, "name") else {
                return Err(cerr(val.line, &npath, "missing"));
            };
            let n = as_str(n, &npath)?.to_string();
            let api_version = match get(km, "apiVersion") {
                Some(a) => as_str(a, &format!("{path}.apiVersion"))?.to_string(),
                None => "v1".to_string(),
            };
            Ok(Provider::Kms {
                name: n,
                api_version,
            })
        }
        _ => {
            let sizes: &[usize] = if name == "secretbox" {
                &[32]
            } else {
                &[16, 24, 32]
            };
            let km = as_map(val, &path)?;
            let kpath = format!("{path}.keys");
            let Some(kv) = get(km, "keys") else {
                return Err(cerr(val.line, &kpath, "missing"));
            };
            let list = as_seq(kv, &kpath)?;
            if list.is_empty() {
                return Err(cerr(kv.line, &kpath, "is empty"));
            }
            let mut keys = Vec::with_capacity(list.len());
            for (i, k) in list.iter().enumerate() {
                keys.push(key(k, &format!("{kpath}[{i}]"), sizes)?);
            }
            Ok(match name {
                "aescbc" => Provider::AesCbc(keys),
                "aesgcm" => Provider::AesGcm(keys),
                _ => Provider::Secretbox(keys),
            })
        }
    }
}

fn key(v: &yaml::Value, path: &str, sizes: &[usize]) -> Result<Key, ConfigError> {
    let m = as_map(v, path)?;
    let npath = format!("{path}.name");
    let name = match get(m, "name") {
        Some(n) => as_str(n, &npath)?.to_string(),
        None => String::new(),
    };
    if name.is_empty() {
        return Err(cerr(v.line, &npath, "missing"));
    }
    let spath = format!("{path}.secret");
    let Some(s) = get(m, "secret") else {
        return Err(cerr(v.line, &spath, format!("missing (key {name:?})")));
    };
    // The secret's text is not quoted in errors.
    let text = Zeroizing::new(as_str(s, &spath)?.to_string());
    if text.is_empty() {
        return Err(cerr(s.line, &spath, format!("empty (key {name:?})")));
    }
    // Go's StdEncoding skips line breaks; nothing else.
    let compact: Zeroizing<Vec<u8>> =
        Zeroizing::new(text.bytes().filter(|&b| b != b'\n' && b != b'\r').collect());
    let secret = match base64::engine::general_purpose::STANDARD.decode(&*compact) {
        Ok(b) => Zeroizing::new(b),
        Err(_) => {
            return Err(cerr(
                s.line,
                &spath,
                format!("not standard (padded) base64 (key {name:?})"),
            ))
        }
    };
    if !sizes.contains(&secret.len()) {
        let want = if sizes.len() == 1 {
            "32".to_string()
        } else {
            "16, 24 or 32".to_string()
        };
        return Err(cerr(
            s.line,
            &spath,
            format!("key {name:?} is {} bytes, must be {want}", secret.len()),
        ));
    }
    Ok(Key { name, secret })
}

fn get<'v>(m: &'v [(String, yaml::Value)], key: &str) -> Option<&'v yaml::Value> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn as_map<'v>(v: &'v yaml::Value, path: &str) -> Result<&'v [(String, yaml::Value)], ConfigError> {
    match &v.node {
        yaml::Node::Map(m) => Ok(m),
        yaml::Node::Null => Ok(&[]),
        other => Err(cerr(
            v.line,
            path,
            format!("expected a mapping, found {}", other.what()),
        )),
    }
}

fn as_seq<'v>(v: &'v yaml::Value, path: &str) -> Result<&'v [yaml::Value], ConfigError> {
    match &v.node {
        yaml::Node::Seq(s) => Ok(s),
        yaml::Node::Null => Ok(&[]),
        other => Err(cerr(
            v.line,
            path,
            format!("expected a list, found {}", other.what()),
        )),
    }
}

fn as_str<'v>(v: &'v yaml::Value, path: &str) -> Result<&'v str, ConfigError> {
    match &v.node {
        yaml::Node::Scalar { text, .. } => Ok(text),
        other => Err(cerr(
            v.line,
            path,
            format!("expected a string, found {}", other.what()),
        )),
    }
}

// ------------------------------------------------------------------------------------------------
// Decryption
// ------------------------------------------------------------------------------------------------

/// A decrypted value.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// What kube-apiserver encrypted: normally `k8s\0` + protobuf, or JSON.
    pub plaintext: Vec<u8>,
    pub provider: ProviderKind,
    pub key_name: String,
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Decrypted {{ provider: {}, key_name: {:?}, plaintext: {} bytes }}",
            self.provider,
            self.key_name,
            self.plaintext.len()
        )
    }
}

/// What can be told about a value sealed by a KMS provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsInfo {
    /// 1 or 2.
    pub version: u8,
    /// The provider's `name` in the configuration.
    pub provider_name: String,
    /// KMS v2: the `keyID` of the `EncryptedObject` (the KMS key the data key was sealed with).
    pub key_id: Option<String>,
}

impl fmt::Display for KmsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KMS v{} provider {:?}", self.version, self.provider_name)?;
        if let Some(id) = &self.key_id {
            write!(f, ", key ID {id:?}")?;
        }
        Ok(())
    }
}

/// Why a value was not decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptError {
    /// No `k8s:enc:` prefix: stored as is (identity provider).
    NotEncrypted,
    /// `k8s:enc:` followed by a provider/version this module does not know.
    UnknownProvider { prefix: String },
    /// The configuration has no key of this name for this provider.
    UnknownKey {
        provider: ProviderKind,
        key_name: String,
    },
    /// Sealed by a KMS: needs the KMS plugin, cannot be decrypted offline.
    Kms(KmsInfo),
    /// A key of the right name did not open the value: wrong secret (a key rotated under the same
    /// name, another cluster's configuration), a damaged value, or (aesgcm) another etcd key.
    WrongKey {
        provider: ProviderKind,
        key_name: String,
        /// How many keys of that name were tried.
        tried: usize,
    },
    /// The value is too short or not whole blocks; `offset` is from the start of the value.
    Malformed {
        provider: ProviderKind,
        key_name: String,
        offset: usize,
        reason: &'static str,
    },
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecryptError::NotEncrypted => f.write_str("not encrypted (no k8s:enc: prefix)"),
            DecryptError::UnknownProvider { prefix } => {
                write!(f, "unknown encryption provider {prefix:?}")
            }
            DecryptError::UnknownKey { provider, key_name } => write!(
                f,
                "the encryption configuration has no {provider} key named {key_name:?}"
            ),
            DecryptError::Kms(info) => write!(
                f,
                "encrypted by {info}: KMS values need the KMS plugin and cannot be decrypted offline"
            ),
            DecryptError::WrongKey {
                provider,
                key_name,
                tried,
            } => {
                let what = match provider {
                    ProviderKind::AesGcm => {
                        "authentication failed: wrong key, damaged value, or the value was stored under another etcd key (AES-GCM authenticates the key)"
                    }
                    ProviderKind::AesCbc => "bad padding after decryption: wrong key or damaged value",
                    _ => "authentication failed: wrong key or damaged value",
                };
                write!(f, "{provider} key {key_name:?}")?;
                if *tried > 1 {
                    write!(f, " ({tried} keys of that name tried)")?;
                }
                write!(f, ": {what}")
            }
            DecryptError::Malformed {
                provider,
                key_name,
                offset,
                reason,
            } => write!(
                f,
                "{provider} key {key_name:?}: malformed at byte {offset}: {reason}"
            ),
        }
    }
}

impl std::error::Error for DecryptError {}

const KNOWN: [(&[u8], ProviderKind); 3] = [
    (b"aescbc:v1:", ProviderKind::AesCbc),
    (b"aesgcm:v1:", ProviderKind::AesGcm),
    (b"secretbox:v1:", ProviderKind::Secretbox),
];

impl EncryptionConfig {
    /// Decrypts `value`, stored under `etcd_key` (the full key, e.g.
    /// `/registry/secrets/default/s1`: aesgcm authenticates it).
    pub fn decrypt(&self, etcd_key: &[u8], value: &[u8]) -> Result<Decrypted, DecryptError> {
        let Some(rest) = value.strip_prefix(ENC_PREFIX) else {
            return Err(DecryptError::NotEncrypted);
        };
        if rest.starts_with(b"kms:") {
            return Err(match self.kms_info(value) {
                Some(info) => DecryptError::Kms(info),
                None => DecryptError::UnknownProvider {
                    prefix: prefix_text(value),
                },
            });
        }
        let Some((kind, after)) = KNOWN
            .iter()
            .find_map(|(p, k)| rest.strip_prefix(*p).map(|a| (*k, a)))
        else {
            return Err(DecryptError::UnknownProvider {
                prefix: prefix_text(value),
            });
        };
        let header = value.len() - after.len();
        // Candidate keys: the provider's keys whose `name:` starts the rest, best entry first.
        let mut candidates: Vec<(u8, &Key)> = Vec::new();
        for rule in &self.rules {
            let rank = rule_rank(rule, etcd_key);
            for p in rule.providers.iter().filter(|p| p.kind() == kind) {
                for k in p.keys() {
                    let n = k.name.as_bytes();
                    if after.starts_with(n) && after.get(n.len()) == Some(&b':') {
                        candidates.push((rank, k));
                    }
                }
            }
        }
        candidates.sort_by_key(|(rank, _)| *rank);
        let Some((_, first)) = candidates.first() else {
            return Err(DecryptError::UnknownKey {
                provider: kind,
                key_name: name_text(after),
            });
        };
        let mut first_error = None;
        for (_, k) in &candidates {
            let skip = k.name.len() + 1;
            let data = after.get(skip..).unwrap_or_default();
            match open(kind, k, etcd_key, data, header + skip) {
                // AES-CBC is not authenticated: a wrong key passes the padding check about once in
                // 256, so its plaintext must also start like a stored object.
                Ok(plaintext) if kind != ProviderKind::AesCbc || looks_like_value(&plaintext) => {
                    return Ok(Decrypted {
                        plaintext,
                        provider: kind,
                        key_name: k.name.clone(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(match first_error {
            Some(Failure::Malformed(offset, reason)) => DecryptError::Malformed {
                provider: kind,
                key_name: first.name.clone(),
                offset,
                reason,
            },
            _ => DecryptError::WrongKey {
                provider: kind,
                key_name: first.name.clone(),
                tried: candidates.len(),
            },
        })
    }

    /// [`kms_info`], with the configuration's KMS v1 names (which may hold `:`).
    pub fn kms_info(&self, value: &[u8]) -> Option<KmsInfo> {
        let Some(after) = value.strip_prefix(b"k8s:enc:kms:v1:".as_ref()) else {
            return kms_info(value);
        };
        let configured = self
            .rules
            .iter()
            .flat_map(|r| &r.providers)
            .find_map(|p| match p {
                Provider::Kms { name, .. }
                    if after.starts_with(name.as_bytes())
                        && after.get(name.len()) == Some(&b':') =>
                {
                    Some(name.clone())
                }
                _ => None,
            });
        match configured {
            Some(provider_name) => Some(KmsInfo {
                version: 1,
                provider_name,
                key_id: None,
            }),
            None => kms_info(value),
        }
    }
}

/// Labels a value sealed by a KMS provider (no configuration needed): `None` when `value` is not
/// `k8s:enc:kms:v1:<name>:…` or `k8s:enc:kms:v2:<name>:…`.
pub fn kms_info(value: &[u8]) -> Option<KmsInfo> {
    let rest = value.strip_prefix(b"k8s:enc:kms:".as_ref())?;
    let (version, after) = if let Some(a) = rest.strip_prefix(b"v1:".as_ref()) {
        (1, a)
    } else {
        (2, rest.strip_prefix(b"v2:".as_ref())?)
    };
    let end = after.iter().take(256).position(|&b| b == b':')?;
    let name = after.get(..end)?;
    if name.is_empty() {
        return None;
    }
    let provider_name = String::from_utf8_lossy(name).into_owned();
    let key_id = if version == 2 {
        after.get(end + 1..).and_then(kms_v2_key_id)
    } else {
        None
    };
    Some(KmsInfo {
        version,
        provider_name,
        key_id,
    })
}

/// Field 2 (`keyID`, string) of a KMS v2 `EncryptedObject`; `None` when the bytes are not that
/// message.
fn kms_v2_key_id(b: &[u8]) -> Option<String> {
    let mut pos = 0usize;
    let mut key_id = None;
    while pos < b.len() {
        let tag = varint(b, &mut pos)?;
        let field = tag >> 3;
        match tag & 7 {
            0 => {
                varint(b, &mut pos)?;
            }
            1 => pos = pos.checked_add(8).filter(|&p| p <= b.len())?,
            5 => pos = pos.checked_add(4).filter(|&p| p <= b.len())?,
            2 => {
                let len = usize::try_from(varint(b, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|&e| e <= b.len())?;
                if field == 2 {
                    let id = b.get(pos..end)?;
                    key_id =
                        Some(String::from_utf8_lossy(id.get(..1024).unwrap_or(id)).into_owned());
                }
                pos = end;
            }
            _ => return None,
        }
        if field == 0 {
            return None;
        }
    }
    key_id
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `k8s:enc:<provider>:<version>:` as text, for messages (bounded, printable).
fn prefix_text(value: &[u8]) -> String {
    let mut colons = 0;
    let end = value
        .iter()
        .take(64)
        .position(|&b| {
            if b == b':' {
                colons += 1;
            }
            colons == 4 || !(0x20..0x7f).contains(&b)
        })
        .map(|p| p + 1)
        .unwrap_or(value.len().min(64));
    String::from_utf8_lossy(value.get(..end).unwrap_or(value))
        .trim_end_matches(|c: char| !c.is_ascii_graphic())
        .to_string()
}

/// The key name as the value spells it: up to the next `:` (bounded, lossy).
fn name_text(after: &[u8]) -> String {
    let end = after
        .iter()
        .take(256)
        .position(|&b| b == b':')
        .unwrap_or(after.len().min(64));
    String::from_utf8_lossy(after.get(..end).unwrap_or_default()).into_owned()
}

/// What kube-apiserver stores: `k8s\0` + protobuf, JSON, or CBOR (self-described, `d9 d9 f7`).
fn looks_like_value(p: &[u8]) -> bool {
    p.starts_with(crate::raw::K8S_MAGIC)
        || p.starts_with(&[0xd9, 0xd9, 0xf7])
        || matches!(
            p.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{') | Some(b'[')
        )
}

/// 0: the entry names the etcd key's resource; 1: its group by wildcard; 2: a wildcard that may
/// cover it (built-in resources are stored without their group); 3: none.
fn rule_rank(rule: &ResourceRule, etcd_key: &[u8]) -> u8 {
    let keys::KeyKind::Object(o) = keys::parse(etcd_key, keys::DEFAULT_PREFIX) else {
        return 3;
    };
    let resource = o.resource;
    let group = o.group;
    rule.resources
        .iter()
        .map(|pat| {
            let (r, g) = match pat.split_once('.') {
                Some((r, g)) => (r.as_bytes(), Some(g.as_bytes())),
                None => (pat.as_bytes(), None),
            };
            if r == b"*" {
                match (g, group) {
                    (Some(b"*"), _) => 2,
                    (Some(pg), Some(kg)) if pg == kg => 1,
                    (Some(_), Some(_)) => 3,
                    _ => 2,
                }
            } else if r == resource && (group.is_none() || g == group) {
                0
            } else {
                3
            }
        })
        .min()
        .unwrap_or(3)
}

enum Failure {
    Auth,
    Malformed(usize, &'static str),
}

/// Opens `data` (nonce/IV onwards) at `offset` of the value.
fn open(
    kind: ProviderKind,
    key: &Key,
    etcd_key: &[u8],
    data: &[u8],
    offset: usize,
) -> Result<Vec<u8>, Failure> {
    let secret: &[u8] = &key.secret;
    match kind {
        ProviderKind::AesCbc => {
            let (Some(iv), Some(ct)) = (data.get(..16), data.get(16..)) else {
                return Err(Failure::Malformed(offset, "shorter than the 16-byte IV"));
            };
            if ct.is_empty() || ct.len() % 16 != 0 {
                return Err(Failure::Malformed(
                    offset + 16,
                    "the ciphertext is not a whole number of 16-byte blocks",
                ));
            }
            let mut buf = ct.to_vec();
            let n = match secret.len() {
                16 => cbc_open::<aes::Aes128>(secret, iv, &mut buf),
                24 => cbc_open::<aes::Aes192>(secret, iv, &mut buf),
                32 => cbc_open::<aes::Aes256>(secret, iv, &mut buf),
                _ => None,
            };
            match n {
                Some(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                None => Err(Failure::Auth),
            }
        }
        ProviderKind::AesGcm => {
            let (Some(nonce), Some(ct)) = (data.get(..12), data.get(12..)) else {
                return Err(Failure::Malformed(offset, "shorter than the 12-byte nonce"));
            };
            if ct.len() < 16 {
                return Err(Failure::Malformed(
                    offset + 12,
                    "shorter than the 16-byte authentication tag",
                ));
            }
            let payload = Payload {
                msg: ct,
                aad: etcd_key,
            };
            let nonce = aes_gcm::Nonce::from_slice(nonce);
            let r = match secret.len() {
                16 => aes_gcm::Aes128Gcm::new_from_slice(secret)
                    .ok()
                    .map(|c| c.decrypt(nonce, payload)),
                24 => aes_gcm::AesGcm::<aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(
                    secret,
                )
                .ok()
                .map(|c| c.decrypt(nonce, payload)),
                32 => aes_gcm::Aes256Gcm::new_from_slice(secret)
                    .ok()
                    .map(|c| c.decrypt(nonce, payload)),
                _ => None,
            };
            match r {
                Some(Ok(p)) => Ok(p),
                _ => Err(Failure::Auth),
            }
        }
        ProviderKind::Secretbox => {
            let (Some(nonce), Some(ct)) = (data.get(..24), data.get(24..)) else {
                return Err(Failure::Malformed(offset, "shorter than the 24-byte nonce"));
            };
            if ct.len() < 16 {
                return Err(Failure::Malformed(
                    offset + 24,
                    "shorter than the 16-byte Poly1305 tag",
                ));
            }
            let Ok(c) = crypto_secretbox::XSalsa20Poly1305::new_from_slice(secret) else {
                return Err(Failure::Auth);
            };
            let nonce = crypto_secretbox::Nonce::from_slice(nonce);
            crypto_secretbox::aead::Aead::decrypt(&c, nonce, ct).map_err(|_| Failure::Auth)
        }
        ProviderKind::Identity | ProviderKind::Kms => Err(Failure::Auth),
    }
}

/// Decrypts whole blocks in place and checks PKCS#7 padding (1 to 16 bytes, all equal); returns
/// the plaintext length.
fn cbc_open<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Option<usize>
where
    C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
    C: cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
{
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    d.decrypt_padded_mut::<Pkcs7>(buf).ok().map(|p| p.len())
}

// ------------------------------------------------------------------------------------------------
// The YAML subset (and JSON)
// ------------------------------------------------------------------------------------------------

mod yaml {
    use std::collections::HashSet;

    use super::{cerr, ConfigError};

    #[derive(Debug, Clone, PartialEq)]
    pub enum Node {
        /// Nothing, `~` or `null`.
        Null,
        Scalar {
            text: String,
        },
        Seq(Vec<Value>),
        Map(Vec<(String, Value)>),
    }

    impl Node {
        pub fn what(&self) -> &'static str {
            match self {
                Node::Null => "nothing",
                Node::Scalar { .. } => "a scalar",
                Node::Seq(_) => "a list",
                Node::Map(_) => "a mapping",
            }
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct Value {
        pub node: Node,
        /// 1-based.
        pub line: usize,
    }

    impl Value {
        pub fn is_null(&self) -> bool {
            self.node == Node::Null
        }
    }

    type R<T> = Result<T, ConfigError>;

    const MAX_DEPTH: usize = 64;

    pub fn parse(text: &str) -> R<Value> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut p = Parser {
            lines: text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect(),
            li: 0,
            col: 0,
            started: false,
            depth: 0,
        };
        let v = p.node(0)?;
        if v.is_null() {
            return Err(cerr(1, "", "empty configuration"));
        }
        if p.content()?.is_some() {
            return Err(cerr(
                p.li + 1,
                "",
                "unexpected text (check the indentation)",
            ));
        }
        Ok(v)
    }

    struct Parser<'a> {
        lines: Vec<&'a str>,
        li: usize,
        /// Byte offset in the current line (always at a char boundary: only ASCII is stepped over).
        col: usize,
        started: bool,
        depth: usize,
    }

    fn is_dash(rest: &str) -> bool {
        rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t")
    }

    /// Splits `text` at a plain scalar's end: ` #` starts a comment.
    fn plain_end(text: &str) -> usize {
        let b = text.as_bytes();
        (0..b.len())
            .find(|&i| b[i] == b'#' && i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t'))
            .unwrap_or(b.len())
    }

    impl<'a> Parser<'a> {
        fn rest(&self) -> &'a str {
            self.lines
                .get(self.li)
                .and_then(|l| l.get(self.col..))
                .unwrap_or("")
        }

        fn line(&self) -> usize {
            self.li + 1
        }

        fn err<T>(&self, message: impl Into<String>) -> R<T> {
            Err(cerr(self.line(), "", message))
        }

        fn next_line(&mut self) {
            self.li += 1;
            self.col = 0;
        }

        /// Moves to the next content (over blanks, comments and blank lines); returns its column,
        /// or None at the end of the document.
        fn content(&mut self) -> R<Option<usize>> {
            loop {
                let Some(&line) = self.lines.get(self.li) else {
                    return Ok(None);
                };
                if self.col == 0 {
                    let marker = |m: &str| {
                        line.strip_prefix(m)
                            .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
                    };
                    if marker("---") {
                        if self.started {
                            self.li = self.lines.len();
                            return Ok(None);
                        }
                        let after = line.get(3..).unwrap_or("").trim();
                        if !after.is_empty() && !after.starts_with('#') {
                            return self.err("content on the '---' line is not supported");
                        }
                        self.next_line();
                        continue;
                    }
                    if marker("...") {
                        self.li = self.lines.len();
                        return Ok(None);
                    }
                    if !self.started && line.starts_with('%') {
                        self.next_line();
                        continue;
                    }
                }
                let rest = self.rest();
                let t = rest.trim_start_matches(' ');
                if t.trim().is_empty() || t.starts_with('#') {
                    self.next_line();
                    continue;
                }
                if t.starts_with('\t') {
                    return self.err("tab in indentation (YAML indents with spaces)");
                }
                self.col += rest.len() - t.len();
                self.started = true;
                return Ok(Some(self.col));
            }
        }

        fn enter(&mut self) -> R<()> {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return self.err("nested too deeply");
            }
            Ok(())
        }

        /// A node whose content is at column `min_indent` or more.
        fn node(&mut self, min_indent: usize) -> R<Value> {
            let Some(col) = self.content()? else {
                return Ok(Value {
                    node: Node::Null,
                    line: self.line().min(self.lines.len().max(1)),
                });
            };
            if col < min_indent {
                return Ok(Value {
                    node: Node::Null,
                    line: self.line(),
                });
            }
            self.enter()?;
            let rest = self.rest();
            let v = if is_dash(rest) {
                self.block_seq(col)?
            } else if self.map_key(rest)?.is_some() {
                self.block_map(col)?
            } else {
                self.inline_value()?
            };
            self.depth -= 1;
            Ok(v)
        }

        fn block_seq(&mut self, indent: usize) -> R<Value> {
            let line = self.line();
            let mut items = Vec::new();
            while let Some(col) = self.content()? {
                if col < indent {
                    break;
                }
                if col > indent {
                    return self.err(format!(
                        "unexpected indentation (a list item at column {} is open)",
                        indent + 1
                    ));
                }
                if !is_dash(self.rest()) {
                    break;
                }
                self.col += 1;
                items.push(self.node(indent + 1)?);
            }
            Ok(Value {
                node: Node::Seq(items),
                line,
            })
        }

        fn block_map(&mut self, indent: usize) -> R<Value> {
            let line = self.line();
            let mut entries: Vec<(String, Value)> = Vec::new();
            let mut seen = HashSet::new();
            while let Some(col) = self.content()? {
                if col < indent {
                    break;
                }
                if col > indent {
                    return self.err(format!(
                        "unexpected indentation (keys of this mapping start at column {})",
                        indent + 1
                    ));
                }
                let rest = self.rest();
                if is_dash(rest) {
                    break;
                }
                let Some((key, used)) = self.map_key(rest)? else {
                    return self.err("expected 'key: value'");
                };
                let key_line = self.line();
                if !seen.insert(key.clone()) {
                    return self.err(format!("duplicate key {key:?}"));
                }
                self.col += used;
                let r = self.rest();
                let t = r.trim_start_matches([' ', '\t']);
                let value = if t.is_empty() || t.starts_with('#') {
                    self.col += r.len();
                    match self.content()? {
                        Some(c) if c > indent => self.node(indent + 1)?,
                        Some(c) if c == indent && is_dash(self.rest()) => {
                            self.enter()?;
                            let v = self.block_seq(indent)?;
                            self.depth -= 1;
                            v
                        }
                        _ => Value {
                            node: Node::Null,
                            line: key_line,
                        },
                    }
                } else {
                    self.col += r.len() - t.len();
                    if is_dash(t) {
                        return self.err("a list cannot start on the line of its key");
                    }
                    if self.map_key(t)?.is_some() {
                        return self.err("a mapping cannot start on the line of its key");
                    }
                    self.inline_value()?
                };
                entries.push((key, value));
            }
            Ok(Value {
                node: Node::Map(entries),
                line,
            })
        }

        /// `key:` at the start of `rest` (plain or quoted key, `:` then a blank or the end):
        /// the key and the bytes up to and including the `:`.
        fn map_key(&self, rest: &str) -> R<Option<(String, usize)>> {
            let (key, after) = if rest.starts_with(['"', '\'']) {
                let (k, n) = self.quoted(rest)?;
                let t = &rest[n..];
                let sp = t.len() - t.trim_start_matches(' ').len();
                (k, n + sp)
            } else {
                if rest.starts_with(['[', '{', '&', '*', '!', '|', '>', '?']) {
                    return Ok(None);
                }
                let end = plain_end(rest);
                let b = rest.as_bytes();
                let Some(i) = (0..end).find(|&i| {
                    b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t')
                }) else {
                    return Ok(None);
                };
                (rest[..i].trim_end().to_string(), i)
            };
            let t = rest.get(after..).unwrap_or("");
            if t.starts_with(':') && (t.len() == 1 || t[1..].starts_with([' ', '\t'])) {
                Ok(Some((key, after + 1)))
            } else {
                Ok(None)
            }
        }

        /// A scalar or flow collection starting at the current position, then the end of line.
        fn inline_value(&mut self) -> R<Value> {
            let line = self.line();
            let rest = self.rest();
            let v =
                match rest.as_bytes().first() {
                    Some(b'[') | Some(b'{') => self.flow()?,
                    Some(b'"') | Some(b'\'') => {
                        let (text, n) = self.quoted(rest)?;
                        self.col += n;
                        Value {
                            node: Node::Scalar { text },
                            line,
                        }
                    }
                    Some(b'|') | Some(b'>') => return self.err(
                        "block scalars ('|', '>') are not supported: write the value on one line",
                    ),
                    Some(b'&') | Some(b'*') => {
                        return self.err("anchors and aliases are not supported")
                    }
                    Some(b'!') => return self.err("tags ('!') are not supported"),
                    _ => {
                        let end = plain_end(rest);
                        self.col += end;
                        plain(rest[..end].trim_end(), line)
                    }
                };
            let t = self.rest().trim_start_matches([' ', '\t']);
            if !t.is_empty() && !t.starts_with('#') {
                return self.err(format!(
                    "unexpected text after the value, at column {}",
                    self.col + self.rest().len() - t.len() + 1
                ));
            }
            self.col = self.lines.get(self.li).map_or(0, |l| l.len());
            // A more indented line after a plain scalar would be its continuation.
            Ok(v)
        }

        /// A quoted scalar at the start of `s` (single line): the text and the bytes used.
        fn quoted(&self, s: &str) -> R<(String, usize)> {
            let mut chars = s.char_indices();
            let Some((_, q)) = chars.next() else {
                return self.err("expected a quoted string");
            };
            let mut out = String::new();
            while let Some((i, c)) = chars.next() {
                if c == q {
                    if q == '\'' && s[i + 1..].starts_with('\'') {
                        chars.next();
                        out.push('\'');
                        continue;
                    }
                    return Ok((out, i + 1));
                }
                if c == '\\' && q == '"' {
                    let Some((_, e)) = chars.next() else { break };
                    let hex = |chars: &mut std::str::CharIndices<'_>, n: usize| -> Option<char> {
                        let mut v = 0u32;
                        for _ in 0..n {
                            v = v * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        char::from_u32(v)
                    };
                    let ch = match e {
                        'n' => '\n',
                        't' | '\t' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'a' => '\u{7}',
                        'v' => '\u{b}',
                        'e' => '\u{1b}',
                        ' ' => ' ',
                        '"' => '"',
                        '/' => '/',
                        '\\' => '\\',
                        'x' => match hex(&mut chars, 2) {
                            Some(c) => c,
                            None => return self.err("bad \\x escape"),
                        },
                        'u' => match hex(&mut chars, 4) {
                            Some(c) => c,
                            None => {
                                return self
                                    .err("bad \\u escape (surrogate pairs are not supported)")
                            }
                        },
                        'U' => match hex(&mut chars, 8) {
                            Some(c) => c,
                            None => return self.err("bad \\U escape"),
                        },
                        _ => return self.err(format!("unknown escape \\{e}")),
                    };
                    out.push(ch);
                    continue;
                }
                out.push(c);
            }
            self.err("unterminated quoted string (strings must end on their line)")
        }

        /// Over blanks, line breaks and comments inside a flow collection opened on `open`.
        fn flow_space(&mut self, open: usize) -> R<()> {
            loop {
                let Some(&line) = self.lines.get(self.li) else {
                    return Err(cerr(open, "", "unclosed '[' or '{'"));
                };
                let rest = line.get(self.col..).unwrap_or("");
                let t = rest.trim_start_matches([' ', '\t']);
                if t.is_empty() || (t.starts_with('#') && (t.len() < rest.len() || self.col == 0)) {
                    self.next_line();
                    continue;
                }
                self.col += rest.len() - t.len();
                return Ok(());
            }
        }

        fn flow(&mut self) -> R<Value> {
            self.enter()?;
            let open = self.line();
            let close = if self.rest().starts_with('[') {
                ']'
            } else {
                '}'
            };
            self.col += 1;
            let mut items = Vec::new();
            let mut entries: Vec<(String, Value)> = Vec::new();
            let mut seen = HashSet::new();
            loop {
                self.flow_space(open)?;
                if self.rest().starts_with(close) {
                    self.col += 1;
                    break;
                }
                if close == ']' {
                    items.push(self.flow_item(open)?);
                } else {
                    let key_line = self.line();
                    let k = self.flow_item(open)?;
                    let Node::Scalar { text: key } = k.node else {
                        return Err(cerr(key_line, "", "a mapping key must be a string"));
                    };
                    self.flow_space(open)?;
                    if !self.rest().starts_with(':') {
                        return self.err(format!("expected ':' after the key {key:?}"));
                    }
                    self.col += 1;
                    self.flow_space(open)?;
                    if !seen.insert(key.clone()) {
                        return Err(cerr(key_line, "", format!("duplicate key {key:?}")));
                    }
                    let v = self.flow_item(open)?;
                    entries.push((key, v));
                }
                self.flow_space(open)?;
                let r = self.rest();
                if r.starts_with(',') {
                    self.col += 1;
                } else if r.starts_with(close) {
                    self.col += 1;
                    break;
                } else {
                    return self.err(format!(
                        "expected ',' or '{close}' at column {}",
                        self.col + 1
                    ));
                }
            }
            self.depth -= 1;
            Ok(Value {
                node: if close == ']' {
                    Node::Seq(items)
                } else {
                    Node::Map(entries)
                },
                line: open,
            })
        }

        fn flow_item(&mut self, open: usize) -> R<Value> {
            let line = self.line();
            let rest = self.rest();
            match rest.as_bytes().first() {
                Some(b'[') | Some(b'{') => self.flow(),
                Some(b'"') | Some(b'\'') => {
                    let (text, n) = self.quoted(rest)?;
                    self.col += n;
                    Ok(Value {
                        node: Node::Scalar { text },
                        line,
                    })
                }
                Some(b'&') | Some(b'*') | Some(b'!') => {
                    self.err("anchors, aliases and tags are not supported")
                }
                None => Err(cerr(open, "", "unclosed '[' or '{'")),
                _ => {
                    let b = rest.as_bytes();
                    let end = (0..b.len())
                        .find(|&i| {
                            matches!(b[i], b',' | b']' | b'}' | b'[' | b'{')
                                || (b[i] == b':'
                                    && (i + 1 == b.len()
                                        || matches!(b[i + 1], b' ' | b'\t' | b',' | b']' | b'}')))
                                || (b[i] == b'#' && i > 0 && matches!(b[i - 1], b' ' | b'\t'))
                        })
                        .unwrap_or(b.len());
                    let text = rest[..end].trim_end();
                    if text.is_empty() {
                        return self.err(format!("expected a value at column {}", self.col + 1));
                    }
                    self.col += end;
                    Ok(plain(text, line))
                }
            }
        }
    }

    fn plain(text: &str, line: usize) -> Value {
        let node = if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
            Node::Null
        } else {
            Node::Scalar {
                text: text.to_string(),
            }
        };
        Value { node, line }
    }
}
