//! What a raft entry carries (FORMATS.md §3): a v2 `etcdserverpb.Request`, a v3
//! `InternalRaftRequest`, a `ConfChange`/`ConfChangeV2` with its member JSON, or nothing (a new
//! leader's empty entry).
//!
//! Normal entries are told apart exactly as etcd's apply loop does (§3.3): the data is first
//! decoded as an `InternalRaftRequest`; if that fails the entry is a raw v2 `Request`; if it
//! succeeds with `v2` set, the wrapped v2 request is the payload; otherwise it is a v3 request.
//! The probe needs a decoder that refuses a known field with the wrong wire type — prost does.
//!
//! Every `string` field of etcd's .proto files is declared here as `bytes`: gogo/protobuf never
//! checks UTF-8, so a v2 value with invalid UTF-8 (the v2 HTTP API lets one through) is a valid
//! message for etcd and must be one for us too (prost would refuse it as a `string`).

use std::fmt;

use prost::Message;
use serde::Deserialize;

use crate::json::text_or_b64_string;
use crate::proto::{Permission, UserAddOptions};
use crate::raftpb::{self, ConfChange, ConfChangeV2, Entry};

// ------------------------------------------------------------------------------------------------
// v2: etcdserverpb.Request (proto2)
// ------------------------------------------------------------------------------------------------

/// `etcdserverpb.Request`: a v2 API write (or QGET/SYNC) as proposed through raft (§3.1).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Request {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `PUT`, `POST`, `DELETE`, `QGET`, `SYNC`.
    #[prost(bytes = "vec", tag = "2")]
    pub method: Vec<u8>,
    /// Store path, already prefixed (`/1/...` for user keys, `/0/...` membership, `/2/...` auth).
    #[prost(bytes = "vec", tag = "3")]
    pub path: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub val: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub dir: bool,
    #[prost(bytes = "vec", tag = "6")]
    pub prev_value: Vec<u8>,
    #[prost(uint64, tag = "7")]
    pub prev_index: u64,
    #[prost(bool, optional, tag = "8")]
    pub prev_exist: Option<bool>,
    /// Absolute expiry in Unix nanoseconds (0 = none).
    #[prost(int64, tag = "9")]
    pub expiration: i64,
    #[prost(bool, tag = "10")]
    pub wait: bool,
    #[prost(uint64, tag = "11")]
    pub since: u64,
    #[prost(bool, tag = "12")]
    pub recursive: bool,
    #[prost(bool, tag = "13")]
    pub sorted: bool,
    #[prost(bool, tag = "14")]
    pub quorum: bool,
    /// SYNC cutoff, Unix nanoseconds.
    #[prost(int64, tag = "15")]
    pub time: i64,
    #[prost(bool, tag = "16")]
    pub stream: bool,
    #[prost(bool, optional, tag = "17")]
    pub refresh: Option<bool>,
}

impl Request {
    pub fn method_str(&self) -> &str {
        std::str::from_utf8(&self.method).unwrap_or("?")
    }
}

// ------------------------------------------------------------------------------------------------
// v3: InternalRaftRequest (proto3) and the messages it embeds (§3.2)
// ------------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestHeader {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub username: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub auth_revision: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub limit: i64,
    #[prost(int64, tag = "4")]
    pub revision: i64,
    #[prost(int32, tag = "5")]
    pub sort_order: i32,
    #[prost(int32, tag = "6")]
    pub sort_target: i32,
    #[prost(bool, tag = "7")]
    pub serializable: bool,
    #[prost(bool, tag = "8")]
    pub keys_only: bool,
    #[prost(bool, tag = "9")]
    pub count_only: bool,
    #[prost(int64, tag = "10")]
    pub min_mod_revision: i64,
    #[prost(int64, tag = "11")]
    pub max_mod_revision: i64,
    #[prost(int64, tag = "12")]
    pub min_create_revision: i64,
    #[prost(int64, tag = "13")]
    pub max_create_revision: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub lease: i64,
    #[prost(bool, tag = "4")]
    pub prev_kv: bool,
    #[prost(bool, tag = "5")]
    pub ignore_value: bool,
    #[prost(bool, tag = "6")]
    pub ignore_lease: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteRangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub range_end: Vec<u8>,
    #[prost(bool, tag = "3")]
    pub prev_kv: bool,
}

/// `RequestOp`: a oneof on the wire, declared as four optional fields (same bytes; if several
/// are present the last one is what etcd would use).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    #[prost(message, optional, tag = "1")]
    pub request_range: Option<RangeRequest>,
    #[prost(message, optional, tag = "2")]
    pub request_put: Option<PutRequest>,
    #[prost(message, optional, tag = "3")]
    pub request_delete_range: Option<DeleteRangeRequest>,
    #[prost(message, optional, tag = "4")]
    pub request_txn: Option<TxnRequest>,
}

/// `Compare`; the `target_union` oneof is declared as plain optional fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Compare {
    /// 0 EQUAL, 1 GREATER, 2 LESS, 3 NOT_EQUAL.
    #[prost(int32, tag = "1")]
    pub result: i32,
    /// 0 VERSION, 1 CREATE, 2 MOD, 3 VALUE, 4 LEASE.
    #[prost(int32, tag = "2")]
    pub target: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub key: Vec<u8>,
    #[prost(int64, optional, tag = "4")]
    pub version: Option<i64>,
    #[prost(int64, optional, tag = "5")]
    pub create_revision: Option<i64>,
    #[prost(int64, optional, tag = "6")]
    pub mod_revision: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub value: Option<Vec<u8>>,
    #[prost(int64, optional, tag = "8")]
    pub lease: Option<i64>,
    #[prost(bytes = "vec", tag = "64")]
    pub range_end: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    #[prost(message, repeated, tag = "1")]
    pub compare: Vec<Compare>,
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
    #[prost(message, repeated, tag = "3")]
    pub failure: Vec<RequestOp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CompactionRequest {
    #[prost(int64, tag = "1")]
    pub revision: i64,
    #[prost(bool, tag = "2")]
    pub physical: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseGrantRequest {
    #[prost(int64, tag = "1")]
    pub ttl: i64,
    #[prost(int64, tag = "2")]
    pub id: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRevokeRequest {
    #[prost(int64, tag = "1")]
    pub id: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseCheckpoint {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub remaining_ttl: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseCheckpointRequest {
    #[prost(message, repeated, tag = "1")]
    pub checkpoints: Vec<LeaseCheckpoint>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AlarmRequest {
    /// 0 GET, 1 ACTIVATE, 2 DEACTIVATE.
    #[prost(int32, tag = "1")]
    pub action: i32,
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
    /// 0 NONE, 1 NOSPACE, 2 CORRUPT.
    #[prost(int32, tag = "3")]
    pub alarm: i32,
}

/// For the auth requests that carry nothing (`AuthEnableRequest`, `AuthUserListRequest`, …).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalAuthenticateRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub simple_token: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthUserAddRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub options: Option<UserAddOptions>,
    /// 3.5+.
    #[prost(bytes = "vec", tag = "4")]
    pub hashed_password: Vec<u8>,
}

/// `{name = 1}` requests: user delete/get, role add.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NameRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthUserChangePasswordRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    /// 3.5+.
    #[prost(bytes = "vec", tag = "3")]
    pub hashed_password: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthUserGrantRoleRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub user: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub role: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthUserRevokeRoleRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub role: Vec<u8>,
}

/// `{role = 1}` requests: role delete/get.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RoleRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub role: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthRoleGrantPermissionRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    pub perm: Option<Permission>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthRoleRevokePermissionRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub role: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// `membershippb.ClusterVersionSetRequest` (3.5+) and `DowngradeVersionTestRequest` (3.6).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ver: Vec<u8>,
}

/// `membershippb.Attributes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemberAttributes {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub client_urls: Vec<Vec<u8>>,
}

/// `membershippb.ClusterMemberAttrSetRequest` (3.5+).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClusterMemberAttrSetRequest {
    #[prost(uint64, tag = "1")]
    pub member_id: u64,
    #[prost(message, optional, tag = "2")]
    pub member_attributes: Option<MemberAttributes>,
}

/// `membershippb.DowngradeInfoSetRequest` (3.5+).
#[derive(Clone, PartialEq, prost::Message)]
pub struct DowngradeInfoSetRequest {
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    #[prost(bytes = "vec", tag = "2")]
    pub ver: Vec<u8>,
}

/// `etcdserverpb.InternalRaftRequest` (3.4–3.6 fields; §3.2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InternalRaftRequest {
    #[prost(message, optional, tag = "100")]
    pub header: Option<RequestHeader>,
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(message, optional, tag = "2")]
    pub v2: Option<Request>,
    #[prost(message, optional, tag = "3")]
    pub range: Option<RangeRequest>,
    #[prost(message, optional, tag = "4")]
    pub put: Option<PutRequest>,
    #[prost(message, optional, tag = "5")]
    pub delete_range: Option<DeleteRangeRequest>,
    #[prost(message, optional, tag = "6")]
    pub txn: Option<TxnRequest>,
    #[prost(message, optional, tag = "7")]
    pub compaction: Option<CompactionRequest>,
    #[prost(message, optional, tag = "8")]
    pub lease_grant: Option<LeaseGrantRequest>,
    #[prost(message, optional, tag = "9")]
    pub lease_revoke: Option<LeaseRevokeRequest>,
    #[prost(message, optional, tag = "10")]
    pub alarm: Option<AlarmRequest>,
    #[prost(message, optional, tag = "11")]
    pub lease_checkpoint: Option<LeaseCheckpointRequest>,
    #[prost(message, optional, tag = "1000")]
    pub auth_enable: Option<Empty>,
    #[prost(message, optional, tag = "1011")]
    pub auth_disable: Option<Empty>,
    #[prost(message, optional, tag = "1012")]
    pub authenticate: Option<InternalAuthenticateRequest>,
    #[prost(message, optional, tag = "1013")]
    pub auth_status: Option<Empty>,
    #[prost(message, optional, tag = "1100")]
    pub auth_user_add: Option<AuthUserAddRequest>,
    #[prost(message, optional, tag = "1101")]
    pub auth_user_delete: Option<NameRequest>,
    #[prost(message, optional, tag = "1102")]
    pub auth_user_get: Option<NameRequest>,
    #[prost(message, optional, tag = "1103")]
    pub auth_user_change_password: Option<AuthUserChangePasswordRequest>,
    #[prost(message, optional, tag = "1104")]
    pub auth_user_grant_role: Option<AuthUserGrantRoleRequest>,
    #[prost(message, optional, tag = "1105")]
    pub auth_user_revoke_role: Option<AuthUserRevokeRoleRequest>,
    #[prost(message, optional, tag = "1106")]
    pub auth_user_list: Option<Empty>,
    #[prost(message, optional, tag = "1107")]
    pub auth_role_list: Option<Empty>,
    #[prost(message, optional, tag = "1200")]
    pub auth_role_add: Option<NameRequest>,
    #[prost(message, optional, tag = "1201")]
    pub auth_role_delete: Option<RoleRequest>,
    #[prost(message, optional, tag = "1202")]
    pub auth_role_get: Option<RoleRequest>,
    #[prost(message, optional, tag = "1203")]
    pub auth_role_grant_permission: Option<AuthRoleGrantPermissionRequest>,
    #[prost(message, optional, tag = "1204")]
    pub auth_role_revoke_permission: Option<AuthRoleRevokePermissionRequest>,
    #[prost(message, optional, tag = "1300")]
    pub cluster_version_set: Option<VersionRequest>,
    #[prost(message, optional, tag = "1301")]
    pub cluster_member_attr_set: Option<ClusterMemberAttrSetRequest>,
    #[prost(message, optional, tag = "1302")]
    pub downgrade_info_set: Option<DowngradeInfoSetRequest>,
    #[prost(message, optional, tag = "9900")]
    pub downgrade_version_test: Option<VersionRequest>,
}

impl InternalRaftRequest {
    /// The request id as etcd uses it: field 1, or the header's when that is 0.
    pub fn request_id(&self) -> u64 {
        if self.id != 0 {
            self.id
        } else {
            self.header.as_ref().map_or(0, |h| h.id)
        }
    }

    /// The name of the operation (`put`, `txn`, `lease_grant`, …); `none` when no known field
    /// is set.
    pub fn op_name(&self) -> &'static str {
        let ops: [(&'static str, bool); 31] = [
            ("range", self.range.is_some()),
            ("put", self.put.is_some()),
            ("delete_range", self.delete_range.is_some()),
            ("txn", self.txn.is_some()),
            ("compaction", self.compaction.is_some()),
            ("lease_grant", self.lease_grant.is_some()),
            ("lease_revoke", self.lease_revoke.is_some()),
            ("alarm", self.alarm.is_some()),
            ("lease_checkpoint", self.lease_checkpoint.is_some()),
            ("auth_enable", self.auth_enable.is_some()),
            ("auth_disable", self.auth_disable.is_some()),
            ("authenticate", self.authenticate.is_some()),
            ("auth_status", self.auth_status.is_some()),
            ("auth_user_add", self.auth_user_add.is_some()),
            ("auth_user_delete", self.auth_user_delete.is_some()),
            ("auth_user_get", self.auth_user_get.is_some()),
            (
                "auth_user_change_password",
                self.auth_user_change_password.is_some(),
            ),
            ("auth_user_grant_role", self.auth_user_grant_role.is_some()),
            (
                "auth_user_revoke_role",
                self.auth_user_revoke_role.is_some(),
            ),
            ("auth_user_list", self.auth_user_list.is_some()),
            ("auth_role_list", self.auth_role_list.is_some()),
            ("auth_role_add", self.auth_role_add.is_some()),
            ("auth_role_delete", self.auth_role_delete.is_some()),
            ("auth_role_get", self.auth_role_get.is_some()),
            (
                "auth_role_grant_permission",
                self.auth_role_grant_permission.is_some(),
            ),
            (
                "auth_role_revoke_permission",
                self.auth_role_revoke_permission.is_some(),
            ),
            ("cluster_version_set", self.cluster_version_set.is_some()),
            (
                "cluster_member_attr_set",
                self.cluster_member_attr_set.is_some(),
            ),
            ("downgrade_info_set", self.downgrade_info_set.is_some()),
            (
                "downgrade_version_test",
                self.downgrade_version_test.is_some(),
            ),
            ("v2", self.v2.is_some()),
        ];
        ops.iter()
            .find(|(_, set)| *set)
            .map_or("none", |(name, _)| name)
    }
}

// ------------------------------------------------------------------------------------------------
// ConfChange contexts
// ------------------------------------------------------------------------------------------------

/// The JSON in a ConfChange's context: a `membership.Member` (AddNode, AddLearnerNode,
/// UpdateNode) or a `ConfigChangeContext` (the same plus `isPromote`). Member ids exceed 2^53 and
/// stay `u64`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct MemberContext {
    #[serde(default)]
    pub id: u64,
    /// `null` in a promote context.
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Option<Vec<String>>,
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Option<Vec<String>>,
    #[serde(rename = "isPromote", default)]
    pub is_promote: bool,
}

impl MemberContext {
    pub fn parse(json: &[u8]) -> Result<MemberContext, String> {
        serde_json::from_slice(json).map_err(|e| e.to_string())
    }
}

// ------------------------------------------------------------------------------------------------
// Entry classification
// ------------------------------------------------------------------------------------------------

/// What an entry carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Normal entry without data: the empty entry a new leader appends.
    Empty,
    /// A v2 request; `wrapped` when it came inside `InternalRaftRequest.v2`.
    V2 { req: Request, wrapped: bool },
    /// A v3 request.
    V3(Box<InternalRaftRequest>),
    /// `raftpb.ConfChange`; `context` is the parsed member JSON when there is one, or the reason
    /// it did not parse.
    ConfChange {
        cc: ConfChange,
        context: Option<Result<MemberContext, String>>,
    },
    ConfChangeV2 {
        cc: ConfChangeV2,
        context: Option<Result<MemberContext, String>>,
    },
}

/// Why an entry's data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Neither an `InternalRaftRequest` nor a v2 `Request` (etcd would panic applying it).
    BadNormal {
        v3: String,
        v2: String,
    },
    BadConfChange(String),
    /// An entry type other than 0, 1, 2.
    UnknownType(i32),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::BadNormal { v3, v2 } => write!(
                f,
                "entry data is neither an InternalRaftRequest ({v3}) nor a v2 Request ({v2})"
            ),
            PayloadError::BadConfChange(e) => write!(f, "entry data is not a ConfChange: {e}"),
            PayloadError::UnknownType(t) => write!(f, "unknown entry type {t}"),
        }
    }
}

impl std::error::Error for PayloadError {}

fn context(c: &Option<Vec<u8>>) -> Option<Result<MemberContext, String>> {
    match c {
        Some(b) if !b.is_empty() => Some(MemberContext::parse(b)),
        _ => None,
    }
}

/// Decodes normal entry data the way etcd's apply loop does (§3.3).
pub fn decode_normal(data: &[u8]) -> Result<Payload, PayloadError> {
    if data.is_empty() {
        return Ok(Payload::Empty);
    }
    match InternalRaftRequest::decode(data) {
        Ok(mut r) => match r.v2.take() {
            Some(req) => Ok(Payload::V2 { req, wrapped: true }),
            None => Ok(Payload::V3(Box::new(r))),
        },
        Err(e3) => match Request::decode(data) {
            Ok(req) => Ok(Payload::V2 {
                req,
                wrapped: false,
            }),
            Err(e2) => Err(PayloadError::BadNormal {
                v3: e3.to_string(),
                v2: e2.to_string(),
            }),
        },
    }
}

/// Decodes any raft entry's data.
pub fn decode_entry(e: &Entry) -> Result<Payload, PayloadError> {
    let data = e.data.as_deref().unwrap_or(&[]);
    match e.r#type {
        raftpb::ENTRY_NORMAL => decode_normal(data),
        raftpb::ENTRY_CONF_CHANGE => {
            let cc =
                ConfChange::decode(data).map_err(|e| PayloadError::BadConfChange(e.to_string()))?;
            let context = context(&cc.context);
            Ok(Payload::ConfChange { cc, context })
        }
        raftpb::ENTRY_CONF_CHANGE_V2 => {
            let cc = ConfChangeV2::decode(data)
                .map_err(|e| PayloadError::BadConfChange(e.to_string()))?;
            let context = context(&cc.context);
            Ok(Payload::ConfChangeV2 { cc, context })
        }
        t => Err(PayloadError::UnknownType(t)),
    }
}

// ------------------------------------------------------------------------------------------------
// One-line summaries (for a decoded WAL timeline)
// ------------------------------------------------------------------------------------------------

/// A flat description of a payload, for tables and JSON timelines.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Summary {
    /// `v2`, `v3`, `conf`, `noop`.
    pub kind: &'static str,
    /// v2: the method (`PUT`, …); v3: the operation (`put`, `txn`, …); conf: the change type.
    pub op: String,
    /// The key (v2: the store path) when the request names one.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_text")]
    pub key: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_text")]
    pub range_end: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<i64>,
    /// Member id of conf changes, alarms and member attribute requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<u64>,
    /// Everything else, `k=v` words (flags, TTL, txn summary, …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

fn opt_text<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.serialize_str(&text_or_b64_string(b)),
        None => s.serialize_none(),
    }
}

fn push(detail: &mut String, word: impl AsRef<str>) {
    if !detail.is_empty() {
        detail.push(' ');
    }
    detail.push_str(word.as_ref());
}

fn txn_ops(ops: &[RequestOp]) -> String {
    let names: Vec<&str> = ops
        .iter()
        .map(|o| {
            if o.request_txn.is_some() {
                "txn"
            } else if o.request_delete_range.is_some() {
                "delete"
            } else if o.request_put.is_some() {
                "put"
            } else if o.request_range.is_some() {
                "range"
            } else {
                "none"
            }
        })
        .collect();
    names.join(",")
}

impl Payload {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        match self {
            Payload::Empty => {
                s.kind = "noop";
                s.op = "empty".into();
            }
            Payload::V2 { req, wrapped } => {
                s.kind = "v2";
                s.op = String::from_utf8_lossy(&req.method).into_owned();
                if !req.path.is_empty() {
                    s.key = Some(req.path.clone());
                }
                let m = req.method.as_slice();
                if m == b"PUT" || m == b"POST" {
                    s.value_size = Some(req.val.len());
                }
                let d = &mut s.detail;
                if *wrapped {
                    push(d, "wrapped=true");
                }
                if req.dir {
                    push(d, "dir=true");
                }
                if req.recursive {
                    push(d, "recursive=true");
                }
                if let Some(p) = req.prev_exist {
                    push(d, format!("prevExist={p}"));
                }
                if !req.prev_value.is_empty() {
                    push(
                        d,
                        format!("prevValue={}", text_or_b64_string(&req.prev_value)),
                    );
                }
                if req.prev_index != 0 {
                    push(d, format!("prevIndex={}", req.prev_index));
                }
                if req.expiration != 0 {
                    push(d, format!("expiration={}", req.expiration));
                }
                if req.refresh == Some(true) {
                    push(d, "refresh=true");
                }
                if m == b"SYNC" {
                    push(d, format!("time={}", req.time));
                }
            }
            Payload::V3(r) => {
                s.kind = "v3";
                s.op = r.op_name().into();
                let d = &mut s.detail;
                if let Some(p) = &r.put {
                    s.key = Some(p.key.clone());
                    s.value_size = Some(p.value.len());
                    if p.lease != 0 {
                        s.lease = Some(p.lease);
                    }
                    if p.ignore_value {
                        push(d, "ignore_value=true");
                    }
                    if p.ignore_lease {
                        push(d, "ignore_lease=true");
                    }
                } else if let Some(x) = &r.delete_range {
                    s.key = Some(x.key.clone());
                    if !x.range_end.is_empty() {
                        s.range_end = Some(x.range_end.clone());
                    }
                } else if let Some(x) = &r.range {
                    s.key = Some(x.key.clone());
                    if !x.range_end.is_empty() {
                        s.range_end = Some(x.range_end.clone());
                    }
                } else if let Some(t) = &r.txn {
                    push(
                        d,
                        format!(
                            "compares={} success=[{}] failure=[{}]",
                            t.compare.len(),
                            txn_ops(&t.success),
                            txn_ops(&t.failure)
                        ),
                    );
                    if let Some(c) = t.compare.first() {
                        s.key = Some(c.key.clone());
                    }
                } else if let Some(c) = &r.compaction {
                    push(d, format!("revision={}", c.revision));
                    if c.physical {
                        push(d, "physical=true");
                    }
                } else if let Some(l) = &r.lease_grant {
                    s.lease = Some(l.id);
                    push(d, format!("ttl={}", l.ttl));
                } else if let Some(l) = &r.lease_revoke {
                    s.lease = Some(l.id);
                } else if let Some(l) = &r.lease_checkpoint {
                    push(d, format!("checkpoints={}", l.checkpoints.len()));
                } else if let Some(a) = &r.alarm {
                    s.member_id = Some(a.member_id);
                    push(
                        d,
                        format!(
                            "action={} alarm={}",
                            match a.action {
                                0 => "GET",
                                1 => "ACTIVATE",
                                2 => "DEACTIVATE",
                                _ => "UNKNOWN",
                            },
                            crate::proto::alarm_name(a.alarm)
                        ),
                    );
                } else if let Some(v) = &r.cluster_version_set {
                    push(d, format!("ver={}", String::from_utf8_lossy(&v.ver)));
                } else if let Some(m) = &r.cluster_member_attr_set {
                    s.member_id = Some(m.member_id);
                    if let Some(a) = &m.member_attributes {
                        push(d, format!("name={}", String::from_utf8_lossy(&a.name)));
                    }
                } else if let Some(u) = &r.auth_user_add {
                    push(d, format!("name={}", String::from_utf8_lossy(&u.name)));
                } else if let Some(u) = &r.auth_role_add {
                    push(d, format!("name={}", String::from_utf8_lossy(&u.name)));
                }
                if let Some(h) = &r.header {
                    if !h.username.is_empty() {
                        push(d, format!("user={}", String::from_utf8_lossy(&h.username)));
                    }
                }
            }
            Payload::ConfChange { cc, context } => {
                s.kind = "conf";
                s.op = raftpb::conf_change_type_name(cc.r#type).into();
                s.member_id = Some(cc.node_id);
                describe_context(&mut s.detail, context);
            }
            Payload::ConfChangeV2 { cc, context } => {
                s.kind = "conf";
                s.op = "ConfChangeV2".into();
                let changes: Vec<String> = cc
                    .changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{}:{:x}",
                            raftpb::conf_change_type_name(c.r#type),
                            c.node_id
                        )
                    })
                    .collect();
                push(&mut s.detail, format!("changes=[{}]", changes.join(",")));
                describe_context(&mut s.detail, context);
            }
        }
        s
    }
}

fn describe_context(d: &mut String, c: &Option<Result<MemberContext, String>>) {
    match c {
        Some(Ok(m)) => {
            if !m.name.is_empty() {
                push(d, format!("name={}", m.name));
            }
            if let Some(p) = &m.peer_urls {
                push(d, format!("peerURLs={}", p.join(",")));
            }
            if m.is_learner {
                push(d, "isLearner=true");
            }
            if m.is_promote {
                push(d, "isPromote=true");
            }
        }
        Some(Err(e)) => push(d, format!("context=unparsable({e})")),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(method: &str, path: &str, val: &str) -> Request {
        Request {
            id: 0x1234_5678_9abc_def0,
            method: method.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            val: val.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn raw_v2_requests_fail_the_v3_probe_for_every_method() {
        for m in ["PUT", "POST", "DELETE", "QGET", "SYNC", "GET"] {
            let bytes = v2(m, "/1/foo", "bar").encode_to_vec();
            assert_eq!(bytes[0], 0x08, "starts with field 1");
            assert!(InternalRaftRequest::decode(&bytes[..]).is_err(), "{m}");
            match decode_normal(&bytes).unwrap() {
                Payload::V2 { req, wrapped } => {
                    assert!(!wrapped);
                    assert_eq!(req.method, m.as_bytes());
                }
                p => panic!("{m}: {p:?}"),
            }
        }
    }

    #[test]
    fn invalid_utf8_values_and_flags_survive() {
        let mut r = v2("PUT", "/1/bin", "");
        r.val = vec![b'o', b'k', 0xff, 0xfe, 0xc3, 0x28];
        r.prev_exist = Some(false);
        r.refresh = Some(true);
        r.expiration = 1_700_000_000_000_000_000;
        let bytes = r.encode_to_vec();
        // Refresh is field 17: tag bytes 88 01.
        assert!(bytes.windows(2).any(|w| w == [0x88, 0x01]));
        match decode_normal(&bytes).unwrap() {
            Payload::V2 { req, .. } => assert_eq!(req, r),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn wrapped_v2_and_v3_requests() {
        let wrapped = InternalRaftRequest {
            id: 7,
            v2: Some(v2("PUT", "/0/version", "3.4.0")),
            ..Default::default()
        };
        match decode_normal(&wrapped.encode_to_vec()).unwrap() {
            Payload::V2 { req, wrapped } => {
                assert!(wrapped);
                assert_eq!(req.path, b"/0/version");
            }
            p => panic!("{p:?}"),
        }
        let put = InternalRaftRequest {
            header: Some(RequestHeader {
                id: 99,
                ..Default::default()
            }),
            put: Some(PutRequest {
                key: b"/v3/a".to_vec(),
                value: vec![0xff; 3],
                lease: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        match decode_normal(&put.encode_to_vec()).unwrap() {
            Payload::V3(r) => {
                assert_eq!(r.request_id(), 99);
                let s = Payload::V3(r).summary();
                assert_eq!((s.kind, s.op.as_str()), ("v3", "put"));
                assert_eq!(s.key.as_deref(), Some(&b"/v3/a"[..]));
                assert_eq!((s.value_size, s.lease), (Some(3), Some(5)));
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(decode_normal(&[]).unwrap(), Payload::Empty);
        // Garbage is neither.
        assert!(matches!(
            decode_normal(&[0x0a, 0x05, 0x01]),
            Err(PayloadError::BadNormal { .. })
        ));
    }

    #[test]
    fn conf_change_context_keeps_big_ids() {
        let ctx =
            br#"{"id":12103025390338467933,"peerURLs":["http://127.0.0.1:2380"],"name":"n1"}"#;
        let cc = ConfChange {
            id: 0,
            r#type: 0,
            node_id: 12103025390338467933,
            context: Some(ctx.to_vec()),
        };
        let e = Entry {
            r#type: raftpb::ENTRY_CONF_CHANGE,
            term: 1,
            index: 1,
            data: Some(cc.encode_to_vec()),
        };
        match decode_entry(&e).unwrap() {
            Payload::ConfChange { cc, context } => {
                let m = context.unwrap().unwrap();
                assert_eq!(m.id, 12103025390338467933);
                assert_eq!(m.id, cc.node_id);
                assert_eq!(m.name, "n1");
            }
            p => panic!("{p:?}"),
        }
        let promote = MemberContext::parse(
            br#"{"id":18446744073709551615,"peerURLs":null,"isPromote":true}"#,
        )
        .unwrap();
        assert_eq!(promote.id, u64::MAX);
        assert!(promote.is_promote && promote.peer_urls.is_none());
    }
}
