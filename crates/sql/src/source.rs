//! What an export reads: a stream of changes in revision order plus the small buckets. Two
//! sources: a v3 backend, and a v2 store through the v2 → v3 migration mapping (optionally on
//! top of the v3 backend beside it).

use etcd::migrate::Migration;
use etcd::v3::{AlarmInfo, AuthInfo, Backend, LeaseInfo, MembersInfo, MetaInfo};
use etcd::Revision;
use storage::ReadAt;

/// One change of the `key` bucket (a put, or a delete when `tombstone`).
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub rev: Revision,
    pub tombstone: bool,
    pub key: &'a [u8],
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub value: &'a [u8],
}

/// Called for each change in revision order.
pub type ChangeFn<'f> = dyn FnMut(&Change<'_>) -> etcd::Result<()> + 'f;

/// Everything an export reads.
pub trait Source {
    /// Every held change in revision order (bucket key order).
    fn changes(&self, f: &mut ChangeFn<'_>) -> etcd::Result<()>;
    /// The main revision of the first held change (None: no changes). Cheap.
    fn first_main(&self) -> etcd::Result<Option<i64>>;
    /// The revision etcd would serve as current.
    fn current_revision(&self) -> etcd::Result<i64>;
    /// The `lease` bucket (attached keys not filled in).
    fn leases(&self) -> etcd::Result<Vec<LeaseInfo>>;
    fn meta(&self) -> etcd::Result<MetaInfo>;
    fn members(&self) -> etcd::Result<MembersInfo>;
    fn auth(&self, with_secrets: bool) -> etcd::Result<AuthInfo>;
    fn alarms(&self) -> etcd::Result<Vec<AlarmInfo>>;
    /// A word for the `source` fact: `v3` or `v2-migrate`.
    fn kind(&self) -> &'static str;
}

fn change_of(rk: etcd::RevKey, kv: &etcd::proto::KvRef<'_>) -> Change<'static> {
    // Only the scalar fields; the caller fills key/value with borrowed slices.
    Change {
        rev: rk.rev,
        tombstone: rk.tombstone,
        key: &[],
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
        value: &[],
    }
}

fn v3_changes<S: ReadAt>(be: &Backend<S>, f: &mut ChangeFn<'_>) -> etcd::Result<()> {
    be.for_each_revision(|rk, kv| {
        let c = Change {
            key: kv.key,
            value: kv.value,
            ..change_of(rk, &kv)
        };
        f(&c)
    })
}

fn v3_first_main<S: ReadAt>(be: &Backend<S>) -> etcd::Result<Option<i64>> {
    let mut first = None;
    be.for_each(etcd::v3::BUCKET_KEY, |e| {
        first = etcd::RevKey::main_of(e.key);
        Ok(std::ops::ControlFlow::Break(()))
    })?;
    Ok(first)
}

impl<S: ReadAt> Source for Backend<S> {
    fn changes(&self, f: &mut ChangeFn<'_>) -> etcd::Result<()> {
        v3_changes(self, f)
    }
    fn first_main(&self) -> etcd::Result<Option<i64>> {
        v3_first_main(self)
    }
    fn current_revision(&self) -> etcd::Result<i64> {
        Backend::current_revision(self)
    }
    fn leases(&self) -> etcd::Result<Vec<LeaseInfo>> {
        self.lease_list()
    }
    fn meta(&self) -> etcd::Result<MetaInfo> {
        self.meta_info()
    }
    fn members(&self) -> etcd::Result<MembersInfo> {
        Backend::members(self)
    }
    fn auth(&self, with_secrets: bool) -> etcd::Result<AuthInfo> {
        Backend::auth(self, with_secrets)
    }
    fn alarms(&self) -> etcd::Result<Vec<AlarmInfo>> {
        Backend::alarms(self)
    }
    fn kind(&self) -> &'static str {
        "v3"
    }
}

/// A v2 data dir through the migration mapping (`etcd::migrate`): the v3 backend's changes
/// first when there is one (the planned keys were placed above its head by
/// `Migration::place_above`), then every planned v2 key as a put.
pub struct MigrationSource<'a, 's, S: ReadAt> {
    pub migration: &'a Migration<'s>,
    pub v3: Option<&'a Backend<S>>,
    /// The applied raft index of the data dir (the `consistent_index` fact when the v3 db has
    /// none).
    pub applied_index: u64,
}

impl<S: ReadAt> MigrationSource<'_, '_, S> {
    fn last_planned(&self) -> i64 {
        self.migration
            .planned()
            .iter()
            .map(|p| p.revision.main)
            .max()
            .unwrap_or(0)
    }
}

impl<S: ReadAt> Source for MigrationSource<'_, '_, S> {
    fn changes(&self, f: &mut ChangeFn<'_>) -> etcd::Result<()> {
        if let Some(be) = self.v3 {
            v3_changes(be, f)?;
        }
        for p in self.migration.planned() {
            let kv = self.migration.key_value(p)?;
            f(&Change {
                rev: p.revision,
                tombstone: false,
                key: &kv.key,
                create_revision: kv.create_revision,
                mod_revision: kv.mod_revision,
                version: kv.version,
                lease: kv.lease,
                value: &kv.value,
            })?;
        }
        Ok(())
    }
    fn first_main(&self) -> etcd::Result<Option<i64>> {
        if let Some(be) = self.v3 {
            if let Some(m) = v3_first_main(be)? {
                return Ok(Some(m));
            }
        }
        Ok(self.migration.planned().first().map(|p| p.revision.main))
    }
    fn current_revision(&self) -> etcd::Result<i64> {
        let v3 = match self.v3 {
            Some(be) => be.current_revision()?,
            None => 1,
        };
        Ok(v3.max(self.last_planned()))
    }
    fn leases(&self) -> etcd::Result<Vec<LeaseInfo>> {
        let mut out = match self.v3 {
            Some(be) => be.lease_list()?,
            None => Vec::new(),
        };
        for p in self.migration.planned().iter().filter(|p| p.lease != 0) {
            out.push(LeaseInfo {
                id: p.lease,
                id_hex: format!("{:x}", p.lease),
                ttl: p.ttl.max(1),
                remaining_ttl: 0,
                keys: Vec::new(),
            });
        }
        Ok(out)
    }
    fn meta(&self) -> etcd::Result<MetaInfo> {
        let mut m = match self.v3 {
            Some(be) => be.meta_info()?,
            None => MetaInfo::default(),
        };
        m.consistent_index = Some(m.consistent_index.unwrap_or(0).max(self.applied_index));
        Ok(m)
    }
    fn members(&self) -> etcd::Result<MembersInfo> {
        match self.v3 {
            Some(be) => be.members(),
            None => Ok(MembersInfo::default()),
        }
    }
    fn auth(&self, with_secrets: bool) -> etcd::Result<AuthInfo> {
        match self.v3 {
            Some(be) => be.auth(with_secrets),
            None => Ok(AuthInfo::default()),
        }
    }
    fn alarms(&self) -> etcd::Result<Vec<AlarmInfo>> {
        match self.v3 {
            Some(be) => be.alarms(),
            None => Ok(Vec::new()),
        }
    }
    fn kind(&self) -> &'static str {
        "v2-migrate"
    }
}

/// A source whose membership also comes from a v2 store's `/0` area (`/0/members`,
/// `/0/removed_members`, `/0/version`): a data dir without a v3 db has its members only there,
/// and etcd 3.4 keeps them in both. The v3 source's members come first; v2 members and removed
/// ids it lacks are added; the cluster version falls back to `/0/version`.
pub struct WithV2Membership<'a> {
    pub inner: &'a dyn Source,
    pub membership: &'a etcd::v2::Membership,
}

impl Source for WithV2Membership<'_> {
    fn changes(&self, f: &mut ChangeFn<'_>) -> etcd::Result<()> {
        self.inner.changes(f)
    }
    fn first_main(&self) -> etcd::Result<Option<i64>> {
        self.inner.first_main()
    }
    fn current_revision(&self) -> etcd::Result<i64> {
        self.inner.current_revision()
    }
    fn leases(&self) -> etcd::Result<Vec<LeaseInfo>> {
        self.inner.leases()
    }
    fn meta(&self) -> etcd::Result<MetaInfo> {
        let mut m = self.inner.meta()?;
        if m.cluster_version.is_none() {
            m.cluster_version = self.membership.version.clone();
        }
        Ok(m)
    }
    fn members(&self) -> etcd::Result<MembersInfo> {
        let mut out = self.inner.members()?;
        for m in &self.membership.members {
            if out.members.iter().any(|x| x.id == m.id) {
                continue;
            }
            out.members.push(etcd::v3::MemberInfo {
                id: m.id,
                id_hex: format!("{:x}", m.id),
                name: m.name.clone(),
                peer_urls: m.peer_urls.clone(),
                client_urls: m.client_urls.clone(),
                is_learner: m.is_learner,
            });
        }
        for &r in &self.membership.removed {
            let hex = format!("{r:x}");
            let known = out
                .removed
                .iter()
                .any(|x| u64::from_str_radix(x, 16).ok() == Some(r));
            if !known {
                out.removed.push(hex);
            }
        }
        if out.cluster_version.is_none() {
            out.cluster_version = self.membership.version.clone();
        }
        Ok(out)
    }
    fn auth(&self, with_secrets: bool) -> etcd::Result<AuthInfo> {
        self.inner.auth(with_secrets)
    }
    fn alarms(&self) -> etcd::Result<Vec<AlarmInfo>> {
        self.inner.alarms()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

/// A value rewriter for [`Redacting`]: the new value for `(key, value)`, or `None` to keep it.
pub type RedactFn<'a> = dyn Fn(&[u8], &[u8]) -> Option<Vec<u8>> + 'a;

/// A source whose put values pass through a rewriter (the CLI's `export --redact` and the page's
/// "Redact Secrets": `kube::redact::Redactor::redact`). Deletes and everything besides the
/// `key` bucket's values are passed on as they are.
pub struct Redacting<'a> {
    pub inner: &'a dyn Source,
    pub redact: &'a RedactFn<'a>,
}

impl Source for Redacting<'_> {
    fn changes(&self, f: &mut ChangeFn<'_>) -> etcd::Result<()> {
        self.inner.changes(
            &mut |c| match (c.tombstone, (self.redact)(c.key, c.value)) {
                (false, Some(v)) => f(&Change { value: &v, ..*c }),
                _ => f(c),
            },
        )
    }
    fn first_main(&self) -> etcd::Result<Option<i64>> {
        self.inner.first_main()
    }
    fn current_revision(&self) -> etcd::Result<i64> {
        self.inner.current_revision()
    }
    fn leases(&self) -> etcd::Result<Vec<LeaseInfo>> {
        self.inner.leases()
    }
    fn meta(&self) -> etcd::Result<MetaInfo> {
        self.inner.meta()
    }
    fn members(&self) -> etcd::Result<MembersInfo> {
        self.inner.members()
    }
    fn auth(&self, with_secrets: bool) -> etcd::Result<AuthInfo> {
        self.inner.auth(with_secrets)
    }
    fn alarms(&self) -> etcd::Result<Vec<AlarmInfo>> {
        self.inner.alarms()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
