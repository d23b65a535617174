//! The small buckets: meta, lease, auth*, members*, cluster, alarm.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use prost::Message;
use serde::Serialize;
use storage::ReadAt;

use super::{be_u64, lossless_text, Backend};
use super::{
    BUCKET_ALARM, BUCKET_AUTH, BUCKET_AUTH_ROLES, BUCKET_AUTH_USERS, BUCKET_CLUSTER, BUCKET_LEASE,
};
use super::{BUCKET_MEMBERS, BUCKET_MEMBERS_REMOVED, BUCKET_META};
use crate::error::{Error, Result};
use crate::json;
use crate::proto::{self, KvRef};
use crate::revision::Revision;

/// What the `meta` (and `cluster`) buckets say.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaInfo {
    pub has_meta_bucket: bool,
    pub consistent_index: Option<u64>,
    pub term: Option<u64>,
    pub finished_compact_revision: Option<i64>,
    pub scheduled_compact_revision: Option<i64>,
    /// `confState` (3.5+) as JSON; the raw text if it does not parse.
    pub conf_state: Option<serde_json::Value>,
    pub storage_version: Option<String>,
    pub cluster_version: Option<String>,
    pub downgrade: Option<serde_json::Value>,
    /// Keys of `meta` this reader does not know, with their byte length.
    pub other_keys: BTreeMap<String, usize>,
}

impl MetaInfo {
    /// The compaction etcd would enforce after starting on this db: a scheduled compaction that
    /// did not finish is resumed at startup, so the larger of the two.
    pub fn effective_compact_revision(&self) -> Option<i64> {
        match (
            self.finished_compact_revision,
            self.scheduled_compact_revision,
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The storage schema version etcd would detect (FORMATS.md §5.3).
    pub fn detected_schema(&self) -> &str {
        if let Some(v) = &self.storage_version {
            v
        } else if self.conf_state.is_some() || self.term.is_some() {
            "3.5"
        } else {
            "3.4"
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    pub id: i64,
    pub id_hex: String,
    /// Granted TTL in seconds.
    pub ttl: i64,
    /// Remaining TTL recorded by a checkpoint (0 = none recorded).
    pub remaining_ttl: i64,
    /// Keys attached at the current revision.
    #[serde(serialize_with = "json::b64_list")]
    pub keys: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    pub id: u64,
    pub id_hex: String,
    pub name: String,
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs")]
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MembersInfo {
    pub members: Vec<MemberInfo>,
    pub removed: Vec<String>,
    pub cluster_version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(serialize_with = "json::text_or_b64")]
    pub name: Vec<u8>,
    pub roles: Vec<String>,
    pub no_password: bool,
    pub has_password: bool,
    /// The bcrypt hash, only when asked for.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text_or_b64"
    )]
    pub password_hash: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionInfo {
    pub perm_type: &'static str,
    #[serde(serialize_with = "json::b64")]
    pub key: Vec<u8>,
    #[serde(serialize_with = "json::b64")]
    pub range_end: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleInfo {
    #[serde(serialize_with = "json::text_or_b64")]
    pub name: Vec<u8>,
    pub permissions: Vec<PermissionInfo>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthInfo {
    pub enabled: bool,
    pub revision: Option<u64>,
    pub users: Vec<UserInfo>,
    pub roles: Vec<RoleInfo>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmInfo {
    pub member_id: u64,
    pub member_id_hex: String,
    pub alarm: &'static str,
}

fn bad(bucket: &'static str, e: &bbolt::LeafElem<'_>, reason: impl Into<String>) -> Error {
    Error::BadEntry {
        bucket,
        page: e.page,
        offset: e.offset,
        reason: reason.into(),
    }
}

fn json_value(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into_owned()))
}

impl<S: ReadAt> Backend<S> {
    pub fn meta_info(&self) -> Result<MetaInfo> {
        let mut m = MetaInfo::default();
        m.has_meta_bucket = self.for_each(BUCKET_META, |e| {
            let v = e.value;
            match e.key {
                b"consistent_index" => {
                    m.consistent_index = Some(
                        be_u64(v)
                            .ok_or_else(|| bad("meta", e, "consistent_index is not 8 bytes"))?,
                    )
                }
                b"term" => {
                    m.term = Some(be_u64(v).ok_or_else(|| bad("meta", e, "term is not 8 bytes"))?)
                }
                b"finishedCompactRev" => {
                    let r = Revision::from_bytes(v)
                        .ok_or_else(|| bad("meta", e, "finishedCompactRev is not a revision"))?;
                    m.finished_compact_revision = Some(r.main);
                }
                b"scheduledCompactRev" => {
                    let r = Revision::from_bytes(v)
                        .ok_or_else(|| bad("meta", e, "scheduledCompactRev is not a revision"))?;
                    m.scheduled_compact_revision = Some(r.main);
                }
                b"confState" => m.conf_state = Some(json_value(v)),
                b"storageVersion" => {
                    m.storage_version = Some(String::from_utf8_lossy(v).into_owned())
                }
                other => {
                    m.other_keys
                        .insert(String::from_utf8_lossy(other).into_owned(), v.len());
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        self.for_each(BUCKET_CLUSTER, |e| {
            match e.key {
                b"clusterVersion" => {
                    m.cluster_version = Some(String::from_utf8_lossy(e.value).into_owned())
                }
                b"downgrade" => m.downgrade = Some(json_value(e.value)),
                _ => {}
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(m)
    }

    /// Leases with the keys attached to them at the current revision.
    pub fn leases(&self) -> Result<Vec<LeaseInfo>> {
        let mut leases = self.lease_list()?;
        if leases.is_empty() {
            return Ok(leases);
        }
        self.attach_lease_keys(&mut leases)?;
        Ok(leases)
    }

    /// The `lease` bucket only (ids, TTLs), without the attached keys (`keys` empty): no scan
    /// of the `key` bucket.
    pub fn lease_list(&self) -> Result<Vec<LeaseInfo>> {
        let mut leases = Vec::new();
        self.for_each(BUCKET_LEASE, |e| {
            let id = be_u64(e.key)
                .ok_or_else(|| bad("lease", e, "key is not an 8-byte lease id"))?
                as i64;
            let l =
                proto::Lease::decode(e.value).map_err(|err| bad("lease", e, err.to_string()))?;
            if l.id != id {
                return Err(bad(
                    "lease",
                    e,
                    format!("key says lease {id:x}, value says {:x}", l.id),
                ));
            }
            leases.push(LeaseInfo {
                id,
                id_hex: format!("{:x}", id),
                ttl: l.ttl,
                remaining_ttl: l.remaining_ttl,
                keys: Vec::new(),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(leases)
    }

    fn attach_lease_keys(&self, leases: &mut [LeaseInfo]) -> Result<()> {
        // Which keys hold a lease now: follow every key's latest revision.
        let mut holder: HashMap<Vec<u8>, i64> = HashMap::new();
        self.scan_revisions(Revision::new(1, 0), |rk, e| {
            let kv = KvRef::parse(e.value).ok_or_else(|| Error::BadKeyValue {
                page: e.page,
                offset: e.offset,
                revision: rk.rev.to_string(),
                reason: "malformed protobuf".into(),
            })?;
            if rk.tombstone || kv.lease == 0 {
                holder.remove(kv.key);
            } else if let Some(l) = holder.get_mut(kv.key) {
                *l = kv.lease;
            } else {
                holder.insert(kv.key.to_vec(), kv.lease);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let index: HashMap<i64, usize> =
            leases.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        for (key, lease) in holder {
            if let Some(&i) = index.get(&lease) {
                leases[i].keys.push(key);
            }
        }
        for l in leases.iter_mut() {
            l.keys.sort();
        }
        Ok(())
    }

    pub fn members(&self) -> Result<MembersInfo> {
        let mut out = MembersInfo::default();
        self.for_each(BUCKET_MEMBERS, |e| {
            let hex = std::str::from_utf8(e.key)
                .ok()
                .filter(|h| u64::from_str_radix(h, 16).is_ok());
            let hex = hex.ok_or_else(|| bad("members", e, "key is not a hex member id"))?;
            let v: serde_json::Value = serde_json::from_slice(e.value)
                .map_err(|err| bad("members", e, format!("value is not JSON: {err}")))?;
            let strings = |k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(|a| a.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let id = match v.get("id").and_then(|i| i.as_u64()) {
                Some(id) => id,
                None => u64::from_str_radix(hex, 16).unwrap_or(0),
            };
            out.members.push(MemberInfo {
                id,
                id_hex: format!("{id:x}"),
                name: v
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_owned(),
                peer_urls: strings("peerURLs"),
                client_urls: strings("clientURLs"),
                is_learner: v
                    .get("isLearner")
                    .and_then(|b| b.as_bool())
                    .unwrap_or(false),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        self.for_each(BUCKET_MEMBERS_REMOVED, |e| {
            out.removed
                .push(String::from_utf8_lossy(e.key).into_owned());
            Ok(ControlFlow::Continue(()))
        })?;
        self.for_each(BUCKET_CLUSTER, |e| {
            if e.key == b"clusterVersion" {
                out.cluster_version = lossless_text(e.value);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// Auth state. Password hashes are left out unless `with_secrets`.
    pub fn auth(&self, with_secrets: bool) -> Result<AuthInfo> {
        let mut out = AuthInfo::default();
        self.for_each(BUCKET_AUTH, |e| {
            match e.key {
                b"authEnabled" => out.enabled = e.value == [1],
                b"authRevision" => {
                    out.revision = Some(
                        be_u64(e.value)
                            .ok_or_else(|| bad("auth", e, "authRevision is not 8 bytes"))?,
                    )
                }
                _ => {}
            }
            Ok(ControlFlow::Continue(()))
        })?;
        self.for_each(BUCKET_AUTH_USERS, |e| {
            let u =
                proto::User::decode(e.value).map_err(|err| bad("authUsers", e, err.to_string()))?;
            out.users.push(UserInfo {
                name: u.name,
                roles: u.roles,
                no_password: u.options.map(|o| o.no_password).unwrap_or(false),
                has_password: !u.password.is_empty(),
                password_hash: with_secrets.then_some(u.password),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        self.for_each(BUCKET_AUTH_ROLES, |e| {
            let r =
                proto::Role::decode(e.value).map_err(|err| bad("authRoles", e, err.to_string()))?;
            out.roles.push(RoleInfo {
                name: r.name,
                permissions: r
                    .key_permission
                    .into_iter()
                    .map(|p| PermissionInfo {
                        perm_type: proto::perm_type_name(p.perm_type),
                        key: p.key,
                        range_end: p.range_end,
                    })
                    .collect(),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    pub fn alarms(&self) -> Result<Vec<AlarmInfo>> {
        let mut out = Vec::new();
        self.for_each(BUCKET_ALARM, |e| {
            let a = proto::AlarmMember::decode(e.key)
                .map_err(|err| bad("alarm", e, err.to_string()))?;
            out.push(AlarmInfo {
                member_id: a.member_id,
                member_id_hex: format!("{:x}", a.member_id),
                alarm: proto::alarm_name(a.alarm),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }
}
