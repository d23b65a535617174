//! Applying raft entries to the v2 store as etcd 3.4's apply loop does (FORMATS.md §3.5):
//! v2 requests (`applierV2store`), membership ConfChanges (`applyConfChange` +
//! `ValidateConfigurationChange` + `membership.RaftCluster`), and the two 3.5 v3 requests that
//! write membership into the v2 store (`ClusterVersionSet`, `ClusterMemberAttrSet`).

use serde_json::Value;

use super::store::{Code, Store};
use super::view::{go_json_string, go_lossy};
use crate::raftpb::ConfChange;
use crate::v2req::{InternalRaftRequest, MemberContext, Request};

/// What applying one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to apply (empty entry, QGET, SYNC that expired nothing, a v3 request).
    Nothing,
    /// A v2 write succeeded and consumed this store index.
    Applied { index: u64 },
    /// A v2 write failed (nothing changed, no index consumed).
    Failed(Code),
    /// A SYNC removed these nodes (one index each).
    Expired { paths: Vec<Vec<u8>> },
    /// A membership write (ConfChange, member attributes, cluster version) consumed these
    /// store indices.
    Membership { indices: Vec<u64> },
    /// etcd refused the change (`ValidateConfigurationChange`) and applied nothing.
    Rejected(String),
    /// etcd skips it on purpose (e.g. attributes of a removed member).
    Skipped(String),
    /// etcd would panic applying this entry (unparsable member JSON, unknown member, …); we
    /// apply nothing and go on.
    WouldPanic(String),
}

fn expire_of(r: &Request) -> Option<i64> {
    (r.expiration != 0).then_some(r.expiration)
}

/// A member as recorded under `/0/members/<id>` (`raftAttributes` and `attributes` JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs")]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner")]
    pub is_learner: bool,
}

/// The membership area `/0` of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    pub members: Vec<MemberInfo>,
    /// Ids under `/0/removed_members`.
    pub removed: Vec<u64>,
    /// `/0/version` (cluster version, `3.4.0` style).
    pub version: Option<String>,
}

impl Store {
    /// Members, removed member ids and the cluster version, as recorded in `/0`. Unparsable
    /// JSON leaves the fields empty.
    pub fn membership(&self) -> Membership {
        let mut m = Membership::default();
        for sm in members(self) {
            let (name, client_urls) = self
                .lookup(&[member_key(sm.id), b"/attributes".to_vec()].concat())
                .ok()
                .and_then(|a| parse_attributes(&self.value(a)).ok())
                .unwrap_or_default();
            m.members.push(MemberInfo {
                id: sm.id,
                name,
                peer_urls: sm.peer_urls.unwrap_or_default(),
                client_urls,
                is_learner: sm.is_learner,
            });
        }
        if let Ok(dir) = self.lookup(b"/0/removed_members") {
            if let Some(c) = &self.node(dir).children {
                m.removed = c
                    .keys()
                    .filter_map(|k| {
                        std::str::from_utf8(k)
                            .ok()
                            .and_then(|s| u64::from_str_radix(s, 16).ok())
                    })
                    .collect();
            }
        }
        m.version = self
            .lookup(b"/0/version")
            .ok()
            .map(|v| go_lossy(&self.value(v)));
        m
    }
}

/// `^…/0/members/[[:xdigit:]]{1,16}/attributes…` — etcd's regexp is not anchored.
fn is_member_attributes_path(p: &[u8]) -> bool {
    const PFX: &[u8] = b"/0/members/";
    const SFX: &[u8] = b"/attributes";
    let mut at = 0;
    while let Some(off) = p
        .get(at..)
        .and_then(|rest| rest.windows(PFX.len()).position(|w| w == PFX))
    {
        let start = at + off + PFX.len();
        let hex = p.get(start..).map_or(0, |r| {
            r.iter().take_while(|c| c.is_ascii_hexdigit()).count()
        });
        if (1..=16).contains(&hex) && p.get(start + hex..).is_some_and(|r| r.starts_with(SFX)) {
            return true;
        }
        at = at + off + 1;
    }
    false
}

/// Go's `path.Base(path.Dir(p))` for a member attributes path, parsed as a hex member id.
fn member_id_of_attributes_path(p: &[u8]) -> Option<u64> {
    let cleaned = super::store::clean(p);
    let dir_end = cleaned.iter().rposition(|&c| c == b'/')?;
    let dir = cleaned.get(..dir_end)?;
    let base_start = dir.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    let base = std::str::from_utf8(dir.get(base_start..)?).ok()?;
    u64::from_str_radix(base, 16).ok()
}

fn member_key(id: u64) -> Vec<u8> {
    format!("/0/members/{id:x}").into_bytes()
}

fn removed_key(id: u64) -> Vec<u8> {
    format!("/0/removed_members/{id:x}").into_bytes()
}

fn raft_attributes_json(peer_urls: &Option<Vec<String>>, is_learner: bool) -> Vec<u8> {
    let mut out = b"{\"peerURLs\":".to_vec();
    match peer_urls {
        None => out.extend_from_slice(b"null"),
        Some(urls) => {
            out.push(b'[');
            for (i, u) in urls.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_json_string(&mut out, u.as_bytes());
            }
            out.push(b']');
        }
    }
    if is_learner {
        out.extend_from_slice(b",\"isLearner\":true");
    }
    out.push(b'}');
    out
}

fn attributes_json(name: &str, client_urls: &[String]) -> Vec<u8> {
    let mut out = b"{".to_vec();
    if !name.is_empty() {
        out.extend_from_slice(b"\"name\":");
        go_json_string(&mut out, name.as_bytes());
    }
    if !client_urls.is_empty() {
        if !name.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"clientURLs\":[");
        for (i, u) in client_urls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            go_json_string(&mut out, u.as_bytes());
        }
        out.push(b']');
    }
    out.push(b'}');
    out
}

/// A member as `membersFromStore` sees it.
struct StoredMember {
    id: u64,
    peer_urls: Option<Vec<String>>,
    is_learner: bool,
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string_list(v: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err("a URL is not a string".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("URLs are not a list".into()),
    }
}

/// Parses `RaftAttributes` JSON the way Go's decoder fills the struct.
fn parse_raft_attributes(v: &[u8]) -> Result<(Option<Vec<String>>, bool), String> {
    let j: Value = serde_json::from_str(&go_lossy(v)).map_err(|e| e.to_string())?;
    let obj = j.as_object().ok_or("raftAttributes is not an object")?;
    let urls = string_list(field(obj, "peerURLs"))?;
    let learner = match field(obj, "isLearner") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isLearner is not a bool".into()),
    };
    Ok((urls, learner))
}

/// Parses `Attributes` JSON (a v2 publish request's value).
fn parse_attributes(v: &[u8]) -> Result<(String, Vec<String>), String> {
    let j: Value = serde_json::from_str(&go_lossy(v)).map_err(|e| e.to_string())?;
    let obj = j.as_object().ok_or("attributes are not an object")?;
    let name = match field(obj, "name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("name is not a string".into()),
    };
    let urls = string_list(field(obj, "clientURLs"))?.unwrap_or_default();
    Ok((name, urls))
}

fn members(store: &Store) -> Vec<StoredMember> {
    let mut out = Vec::new();
    let Ok(dir) = store.lookup(b"/0/members") else {
        return out;
    };
    let Some(children) = &store.node(dir).children else {
        return out;
    };
    for (name, &id) in children.iter() {
        let Some(mid) = std::str::from_utf8(name)
            .ok()
            .and_then(|s| u64::from_str_radix(s, 16).ok())
        else {
            continue;
        };
        let (peer_urls, is_learner) = store
            .child(id, b"raftAttributes")
            .and_then(|ra| parse_raft_attributes(&store.value(ra)).ok())
            .unwrap_or((None, false));
        out.push(StoredMember {
            id: mid,
            peer_urls,
            is_learner,
        });
    }
    out
}

fn is_member(store: &Store, id: u64) -> bool {
    store.lookup(&member_key(id)).is_ok()
}

fn is_removed(store: &Store, id: u64) -> bool {
    store.lookup(&removed_key(id)).is_ok()
}

/// etcd 3.4 allows one learner.
const MAX_LEARNERS: usize = 1;

fn membership_result(rs: &[Result<u64, Code>], what: &str) -> Outcome {
    let mut indices = Vec::new();
    for r in rs {
        match r {
            Ok(i) => indices.push(*i),
            Err(c) => return Outcome::WouldPanic(format!("{what} failed in the store: {c}")),
        }
    }
    Outcome::Membership { indices }
}

/// `RaftCluster.UpdateAttributes`: set `/0/members/<id>/attributes` for a known member.
fn update_attributes(store: &mut Store, id: u64, name: &str, urls: &[String]) -> Outcome {
    if is_member(store, id) {
        let mut p = member_key(id);
        p.extend_from_slice(b"/attributes");
        let r = store.set(&p, false, &attributes_json(name, urls), None, false);
        membership_result(&[r], "attributes update")
    } else if is_removed(store, id) {
        Outcome::Skipped(format!("attributes of removed member {id:x}"))
    } else {
        Outcome::WouldPanic(format!("attributes of unknown member {id:x}"))
    }
}

/// `semver.NewVersion` (major.minor.patch[-pre][+meta], no leading zeros) and its `String()`.
fn semver(v: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(v).ok()?;
    let (core, _) = s.split_once('+').map_or((s, ""), |(a, b)| (a, b));
    let (core, _) = core.split_once('-').map_or((core, ""), |(a, b)| (a, b));
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<i64>().is_ok()
        });
    ok.then(|| v.to_vec())
}

fn set_version(store: &mut Store, val: &[u8]) -> Outcome {
    match semver(val) {
        Some(v) => {
            let r = store.set(b"/0/version", false, &v, None, false);
            membership_result(&[r], "cluster version update")
        }
        None => Outcome::WouldPanic(format!(
            "cluster version {:?} is not a semantic version",
            go_lossy(val)
        )),
    }
}

fn outcome(r: Result<u64, Code>) -> Outcome {
    match r {
        Ok(index) => Outcome::Applied { index },
        Err(c) => Outcome::Failed(c),
    }
}

/// Applies a v2 request (`applyV2Request`).
pub fn apply_v2(store: &mut Store, r: &Request) -> Outcome {
    let refresh = r.refresh == Some(true);
    let expire = expire_of(r);
    match r.method.as_slice() {
        b"POST" => outcome(store.create(&r.path, r.dir, &r.val, true, expire)),
        b"PUT" => {
            let cas = r.prev_index > 0 || !r.prev_value.is_empty();
            match r.prev_exist {
                Some(true) if !cas => outcome(store.update(&r.path, &r.val, expire, refresh)),
                Some(true) => outcome(store.compare_and_swap(
                    &r.path,
                    &r.prev_value,
                    r.prev_index,
                    &r.val,
                    expire,
                    refresh,
                )),
                Some(false) => outcome(store.create(&r.path, r.dir, &r.val, false, expire)),
                None if cas => outcome(store.compare_and_swap(
                    &r.path,
                    &r.prev_value,
                    r.prev_index,
                    &r.val,
                    expire,
                    refresh,
                )),
                None if is_member_attributes_path(&r.path) => {
                    let Some(id) = member_id_of_attributes_path(&r.path) else {
                        return Outcome::WouldPanic(format!(
                            "no member id in {:?}",
                            go_lossy(&r.path)
                        ));
                    };
                    match parse_attributes(&r.val) {
                        Ok((name, urls)) => update_attributes(store, id, &name, &urls),
                        Err(e) => Outcome::WouldPanic(format!("member attributes: {e}")),
                    }
                }
                None if r.path == b"/0/version" => set_version(store, &r.val),
                None => outcome(store.set(&r.path, r.dir, &r.val, expire, refresh)),
            }
        }
        b"DELETE" => {
            if r.prev_index > 0 || !r.prev_value.is_empty() {
                outcome(store.compare_and_delete(&r.path, &r.prev_value, r.prev_index))
            } else {
                outcome(store.delete(&r.path, r.dir, r.recursive))
            }
        }
        b"QGET" => Outcome::Nothing,
        b"SYNC" => {
            let paths = store.delete_expired(r.time);
            if paths.is_empty() {
                Outcome::Nothing
            } else {
                Outcome::Expired { paths }
            }
        }
        _ => Outcome::Skipped(format!("unknown v2 method {:?}", go_lossy(&r.method))),
    }
}

/// Applies the v3 requests that write to the v2 store (3.5+: cluster version and member
/// attributes). Everything else changes nothing in the v2 store.
pub fn apply_v3(store: &mut Store, r: &InternalRaftRequest) -> Outcome {
    if let Some(v) = &r.cluster_version_set {
        return set_version(store, &v.ver);
    }
    if let Some(m) = &r.cluster_member_attr_set {
        let (name, urls) = m.member_attributes.as_ref().map_or_else(
            || (String::new(), Vec::new()),
            |a| {
                (
                    go_lossy(&a.name),
                    a.client_urls.iter().map(|u| go_lossy(u)).collect(),
                )
            },
        );
        return update_attributes(store, m.member_id, &name, &urls);
    }
    Outcome::Nothing
}

/// Applies a ConfChange (`applyConfChange`): validation first (a refused change applies
/// nothing), then the member writes under `/0`.
pub fn apply_conf_change(
    store: &mut Store,
    cc: &ConfChange,
    context: Option<&Result<MemberContext, String>>,
) -> Outcome {
    let id = cc.node_id;
    if is_removed(store, id) {
        return Outcome::Rejected(format!("member {id:x} was removed earlier"));
    }
    let ctx = || -> Result<&MemberContext, Outcome> {
        match context {
            Some(Ok(m)) => Ok(m),
            Some(Err(e)) => Err(Outcome::WouldPanic(format!("member JSON: {e}"))),
            None => Err(Outcome::WouldPanic("no member JSON".into())),
        }
    };
    let ms = members(store);
    let existing = ms.iter().find(|m| m.id == id);
    match cc.r#type {
        0 | 3 => {
            let m = match ctx() {
                Ok(m) => m,
                Err(o) => return o,
            };
            if m.is_promote {
                match existing {
                    None => return Outcome::Rejected(format!("member {id:x} not found")),
                    Some(e) if !e.is_learner => {
                        return Outcome::Rejected(format!("member {id:x} is not a learner"))
                    }
                    _ => {}
                }
            } else {
                if existing.is_some() {
                    return Outcome::Rejected(format!("member {id:x} exists already"));
                }
                let urls = m.peer_urls.as_deref().unwrap_or(&[]);
                if ms.iter().any(|o| {
                    o.peer_urls
                        .as_deref()
                        .unwrap_or(&[])
                        .iter()
                        .any(|u| urls.contains(u))
                }) {
                    return Outcome::Rejected("peer URL exists".into());
                }
                if m.is_learner && ms.iter().filter(|o| o.is_learner).count() + 1 > MAX_LEARNERS {
                    return Outcome::Rejected("too many learner members".into());
                }
            }
            if m.id != id {
                return Outcome::WouldPanic(format!(
                    "ConfChange node id {id:x} differs from the member id {:x}",
                    m.id
                ));
            }
            let mut p = member_key(id);
            p.extend_from_slice(b"/raftAttributes");
            if m.is_promote {
                let urls = existing.and_then(|e| e.peer_urls.clone());
                let r = store.update(&p, &raft_attributes_json(&urls, false), None, false);
                membership_result(&[r], "promote")
            } else {
                let r = store.create(
                    &p,
                    false,
                    &raft_attributes_json(&m.peer_urls, m.is_learner),
                    false,
                    None,
                );
                membership_result(&[r], "add member")
            }
        }
        1 => {
            if existing.is_none() {
                return Outcome::Rejected(format!("member {id:x} not found"));
            }
            let a = store.delete(&member_key(id), true, true);
            let b = store.create(&removed_key(id), false, b"", false, None);
            membership_result(&[a, b], "remove member")
        }
        2 => {
            if existing.is_none() {
                return Outcome::Rejected(format!("member {id:x} not found"));
            }
            let m = match ctx() {
                Ok(m) => m,
                Err(o) => return o,
            };
            let urls = m.peer_urls.as_deref().unwrap_or(&[]);
            if ms.iter().filter(|o| o.id != id).any(|o| {
                o.peer_urls
                    .as_deref()
                    .unwrap_or(&[])
                    .iter()
                    .any(|u| urls.contains(u))
            }) {
                return Outcome::Rejected("peer URL exists".into());
            }
            if m.id != id {
                return Outcome::WouldPanic(format!(
                    "ConfChange node id {id:x} differs from the member id {:x}",
                    m.id
                ));
            }
            let mut p = member_key(id);
            p.extend_from_slice(b"/raftAttributes");
            let r = store.update(
                &p,
                &raft_attributes_json(&m.peer_urls, m.is_learner),
                None,
                false,
            );
            membership_result(&[r], "update member")
        }
        t => Outcome::WouldPanic(format!("unknown ConfChange type {t}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(path: &str, val: &str) -> Request {
        Request {
            method: b"PUT".to_vec(),
            path: path.as_bytes().to_vec(),
            val: val.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn add(store: &mut Store, id: u64, url: &str, learner: bool) -> Outcome {
        let ctx = MemberContext {
            id,
            peer_urls: Some(vec![url.into()]),
            is_learner: learner,
            name: "n".into(),
            ..Default::default()
        };
        let cc = ConfChange {
            id: 1,
            r#type: if learner { 3 } else { 0 },
            node_id: id,
            context: None,
        };
        apply_conf_change(store, &cc, Some(&Ok(ctx)))
    }

    #[test]
    fn attribute_paths() {
        assert!(is_member_attributes_path(
            b"/0/members/a7f69577caa8685d/attributes"
        ));
        assert!(is_member_attributes_path(
            b"/1/x/0/members/ABC/attributes/y"
        ));
        assert!(!is_member_attributes_path(
            b"/0/members/a7f69577caa8685d0/attributes"
        ));
        assert!(!is_member_attributes_path(b"/0/members//attributes"));
        assert_eq!(
            member_id_of_attributes_path(b"/0/members/a7f69577caa8685d/attributes"),
            Some(0xa7f69577caa8685d)
        );
    }

    #[test]
    fn single_member_bootstrap_uses_indices_1_2_3() {
        let mut s = Store::new();
        let id = 0xa7f6_9577_caa8_685d;
        assert_eq!(
            add(&mut s, id, "http://127.0.0.1:2380", false),
            Outcome::Membership { indices: vec![1] }
        );
        let attrs = r#"{"name":"fx2","clientURLs":["http://127.0.0.1:2379"]}"#;
        assert_eq!(
            apply_v2(
                &mut s,
                &put("/0/members/a7f69577caa8685d/attributes", attrs)
            ),
            Outcome::Membership { indices: vec![2] }
        );
        assert_eq!(
            apply_v2(&mut s, &put("/0/version", "3.4.0")),
            Outcome::Membership { indices: vec![3] }
        );
        let ra = s
            .lookup(b"/0/members/a7f69577caa8685d/raftAttributes")
            .unwrap();
        assert_eq!(
            &s.value(ra)[..],
            br#"{"peerURLs":["http://127.0.0.1:2380"]}"#
        );
        let at = s.lookup(b"/0/members/a7f69577caa8685d/attributes").unwrap();
        assert_eq!(&s.value(at)[..], attrs.as_bytes());
        // Adding the same member again is refused and consumes nothing.
        assert!(matches!(
            add(&mut s, id, "http://x", false),
            Outcome::Rejected(_)
        ));
        assert!(matches!(
            add(&mut s, 7, "http://127.0.0.1:2380", false),
            Outcome::Rejected(_)
        ));
        assert_eq!(s.current_index(), 3);
        // Unknown member attributes: etcd would panic.
        assert!(matches!(
            apply_v2(&mut s, &put("/0/members/99/attributes", "{}")),
            Outcome::WouldPanic(_)
        ));
        // A learner, promoted, then removed.
        assert_eq!(
            add(&mut s, 9, "http://l", true),
            Outcome::Membership { indices: vec![4] }
        );
        assert!(matches!(
            add(&mut s, 10, "http://m", true),
            Outcome::Rejected(_)
        ));
        let promote = MemberContext {
            id: 9,
            peer_urls: None,
            is_promote: true,
            ..Default::default()
        };
        let cc = ConfChange {
            id: 2,
            r#type: 0,
            node_id: 9,
            context: None,
        };
        assert_eq!(
            apply_conf_change(&mut s, &cc, Some(&Ok(promote))),
            Outcome::Membership { indices: vec![5] }
        );
        let ra = s.lookup(b"/0/members/9/raftAttributes").unwrap();
        assert_eq!(&s.value(ra)[..], br#"{"peerURLs":["http://l"]}"#);
        let rm = ConfChange {
            id: 3,
            r#type: 1,
            node_id: 9,
            context: None,
        };
        assert_eq!(
            apply_conf_change(&mut s, &rm, None),
            Outcome::Membership {
                indices: vec![6, 7]
            }
        );
        assert!(s.lookup(b"/0/removed_members/9").is_ok());
        assert!(matches!(
            add(&mut s, 9, "http://z", false),
            Outcome::Rejected(_)
        ));
        assert!(matches!(
            apply_v2(&mut s, &put("/0/members/9/attributes", "{}")),
            Outcome::Skipped(_)
        ));
        let m = s.membership();
        assert_eq!(m.members.len(), 1);
        assert_eq!(m.members[0].id, id);
        assert_eq!(m.members[0].name, "fx2");
        assert_eq!(m.members[0].client_urls, vec!["http://127.0.0.1:2379"]);
        assert_eq!(m.removed, vec![9]);
        assert_eq!(m.version.as_deref(), Some("3.4.0"));
    }

    #[test]
    fn put_decision_order() {
        let mut s = Store::new();
        assert_eq!(
            apply_v2(&mut s, &put("/1/k", "a")),
            Outcome::Applied { index: 1 }
        );
        let mut r = put("/1/k", "b");
        r.prev_exist = Some(false);
        assert_eq!(apply_v2(&mut s, &r), Outcome::Failed(Code::NodeExist));
        r.prev_exist = Some(true);
        r.prev_value = b"zzz".to_vec();
        assert_eq!(apply_v2(&mut s, &r), Outcome::Failed(Code::TestFailed));
        r.prev_value = b"a".to_vec();
        assert_eq!(apply_v2(&mut s, &r), Outcome::Applied { index: 2 });
        let mut sync = Request {
            method: b"SYNC".to_vec(),
            time: i64::MAX,
            ..Default::default()
        };
        assert_eq!(apply_v2(&mut s, &sync), Outcome::Nothing);
        let mut t = put("/1/t", "x");
        t.expiration = super::super::time::MIN_EXPIRE_NS + 5;
        apply_v2(&mut s, &t);
        sync.time = super::super::time::MIN_EXPIRE_NS + 5;
        assert_eq!(
            apply_v2(&mut s, &sync),
            Outcome::Expired {
                paths: vec![b"/1/t".to_vec()]
            }
        );
        assert_eq!(s.current_index(), 4);
    }
}
