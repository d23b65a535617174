//! Keys kube-apiserver writes (FORMATS.md §8.1): `/registry/<resource-prefix>/[<namespace>/]<name>`,
//! with the compiled-in prefixes of a few resources, `<group>/<plural>` for resources of
//! aggregated and custom API groups, and the compactor's `compact_rev_key`.
//!
//! Names and namespaces cannot hold `/`, so a key splits unambiguously once its resource prefix is
//! known. Works on bytes: a key that is not UTF-8 is still grouped.

/// The apiserver's default `--etcd-prefix`.
pub const DEFAULT_PREFIX: &[u8] = b"/registry";

/// What a key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind<'a> {
    /// An object.
    Object(ObjectKey<'a>),
    /// `compact_rev_key`: the revision the apiserver last compacted (decimal text).
    CompactRevKey,
    /// Under the prefix, but not `<resource>/<name>` or `<resource>/<namespace>/<name>`.
    OtherRegistry,
    /// Not under the prefix.
    Other,
}

/// An object's key, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey<'a> {
    /// The resource as the key spells it: `pods`, `services/specs`, `minions`,
    /// `apiregistration.k8s.io/apiservices`, `example.com/widgets`.
    pub prefix: &'a [u8],
    /// API group when the key names one (`apiregistration.k8s.io`, `example.com`); built-in
    /// resources are stored without it.
    pub group: Option<&'a [u8]>,
    /// The resource's plural name (`replicationcontrollers` for `controllers`, `nodes` for
    /// `minions`, `endpoints` for `services/endpoints` …).
    pub resource: &'a [u8],
    /// None for cluster-scoped objects.
    pub namespace: Option<&'a [u8]>,
    pub name: &'a [u8],
}

impl ObjectKey<'_> {
    /// `resource` or `resource.group`, as kubectl names a resource type.
    pub fn type_name(&self) -> String {
        let r = String::from_utf8_lossy(self.resource);
        match self.group {
            Some(g) => format!("{r}.{}", String::from_utf8_lossy(g)),
            None => r.into_owned(),
        }
    }
}

/// Key prefixes that differ from the plural resource name, and the resource they hold.
const RENAMED: [(&[u8], &[u8]); 5] = [
    (b"controllers", b"replicationcontrollers"),
    (b"services/endpoints", b"endpoints"),
    (b"services/specs", b"services"),
    (b"minions", b"nodes"),
    (b"ingress", b"ingresses"),
];

/// Splits `key` written under `prefix` (normally [`DEFAULT_PREFIX`]).
pub fn parse<'a>(key: &'a [u8], prefix: &[u8]) -> KeyKind<'a> {
    if key == b"compact_rev_key" {
        return KeyKind::CompactRevKey;
    }
    let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
    let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix(b"/")) else {
        return KeyKind::Other;
    };
    let parts: Vec<&[u8]> = rest.split(|&c| c == b'/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return KeyKind::OtherRegistry;
    }
    // The resource prefix: one part, or two for `services/…` and `<group>/<plural>`.
    let two = parts.len() >= 3
        && (parts[0] == b"services" && (parts[1] == b"specs" || parts[1] == b"endpoints")
            || parts[0].contains(&b'.'));
    let n = if two { 2 } else { 1 };
    let (res_parts, obj) = parts.split_at(n.min(parts.len()));
    let prefix_len = res_parts.iter().map(|p| p.len()).sum::<usize>() + res_parts.len() - 1;
    let res_prefix = &rest[..prefix_len];
    let (namespace, name) = match obj {
        [name] => (None, *name),
        [ns, name] => (Some(*ns), *name),
        _ => return KeyKind::OtherRegistry,
    };
    let (group, resource) = if two && parts[0] != b"services" {
        (Some(parts[0]), parts[1])
    } else {
        let renamed = RENAMED
            .iter()
            .find(|(p, _)| *p == res_prefix)
            .map(|(_, r)| *r);
        (None, renamed.unwrap_or(res_prefix))
    };
    KeyKind::Object(ObjectKey {
        prefix: res_prefix,
        group,
        resource,
        namespace,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str) -> (String, Option<String>, String, Option<String>) {
        match parse(key.as_bytes(), DEFAULT_PREFIX) {
            KeyKind::Object(o) => (
                String::from_utf8_lossy(o.prefix).into_owned(),
                o.group.map(|g| String::from_utf8_lossy(g).into_owned()),
                o.type_name(),
                o.namespace.map(|n| String::from_utf8_lossy(n).into_owned()),
            ),
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn built_in_and_renamed_prefixes() {
        let s = |v: &str| v.to_string();
        assert_eq!(
            obj("/registry/pods/default/web-0"),
            (s("pods"), None, s("pods"), Some(s("default")))
        );
        assert_eq!(
            obj("/registry/minions/node-1"),
            (s("minions"), None, s("nodes"), None)
        );
        assert_eq!(
            obj("/registry/services/specs/default/kubernetes"),
            (s("services/specs"), None, s("services"), Some(s("default")))
        );
        assert_eq!(
            obj("/registry/services/endpoints/kube-system/kube-dns"),
            (
                s("services/endpoints"),
                None,
                s("endpoints"),
                Some(s("kube-system"))
            )
        );
        assert_eq!(
            obj("/registry/controllers/ns/rc"),
            (
                s("controllers"),
                None,
                s("replicationcontrollers"),
                Some(s("ns"))
            )
        );
        assert_eq!(
            obj("/registry/ingress/ns/i"),
            (s("ingress"), None, s("ingresses"), Some(s("ns")))
        );
        assert_eq!(
            obj("/registry/namespaces/default"),
            (s("namespaces"), None, s("namespaces"), None)
        );
    }

    #[test]
    fn groups_custom_resources_and_others() {
        let s = |v: &str| v.to_string();
        assert_eq!(
            obj("/registry/apiregistration.k8s.io/apiservices/v1.apps"),
            (
                s("apiregistration.k8s.io/apiservices"),
                Some(s("apiregistration.k8s.io")),
                s("apiservices.apiregistration.k8s.io"),
                None
            )
        );
        assert_eq!(
            obj("/registry/example.com/widgets/team-a/w1"),
            (
                s("example.com/widgets"),
                Some(s("example.com")),
                s("widgets.example.com"),
                Some(s("team-a"))
            )
        );
        assert_eq!(
            parse(b"compact_rev_key", DEFAULT_PREFIX),
            KeyKind::CompactRevKey
        );
        assert_eq!(parse(b"/other/x", DEFAULT_PREFIX), KeyKind::Other);
        assert_eq!(parse(b"/registryx/a", DEFAULT_PREFIX), KeyKind::Other);
        assert_eq!(
            parse(b"/registry/a/b/c/d", DEFAULT_PREFIX),
            KeyKind::OtherRegistry
        );
        assert_eq!(
            parse(b"/registry/a//b", DEFAULT_PREFIX),
            KeyKind::OtherRegistry
        );
        assert_eq!(
            parse(b"/registry/pods", DEFAULT_PREFIX),
            KeyKind::OtherRegistry
        );
        // Bytes that are not UTF-8 still split; another prefix works with or without a slash.
        match parse(b"/k/pods/ns/\xff", b"/k/") {
            KeyKind::Object(o) => assert_eq!(o.name, b"\xff"),
            other => panic!("{other:?}"),
        }
    }
}
