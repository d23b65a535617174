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

/// kubectl's short names of built-in resources, and the plural they stand for.
const SHORT: [(&str, &str); 30] = [
    ("cj", "cronjobs"),
    ("cm", "configmaps"),
    ("crd", "customresourcedefinitions"),
    ("crds", "customresourcedefinitions"),
    ("csr", "certificatesigningrequests"),
    ("deploy", "deployments"),
    ("ds", "daemonsets"),
    ("ep", "endpoints"),
    ("ev", "events"),
    ("hpa", "horizontalpodautoscalers"),
    ("ing", "ingresses"),
    ("limits", "limitranges"),
    ("netpol", "networkpolicies"),
    ("no", "nodes"),
    ("ns", "namespaces"),
    ("pc", "priorityclasses"),
    ("pdb", "poddisruptionbudgets"),
    ("po", "pods"),
    ("psp", "podsecuritypolicies"),
    ("pv", "persistentvolumes"),
    ("pvc", "persistentvolumeclaims"),
    ("quota", "resourcequotas"),
    ("rc", "replicationcontrollers"),
    ("rs", "replicasets"),
    ("sa", "serviceaccounts"),
    ("sc", "storageclasses"),
    ("sts", "statefulsets"),
    ("svc", "services"),
    ("endpointslice", "endpointslices"),
    ("minion", "nodes"),
];

/// A resource as a user names it on the command line: `pods`, `pod`, `po`, `deployments.apps`,
/// `widgets.example.com`, or a key prefix (`minions`, `services/specs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArg {
    /// The plural resource name (lower case).
    pub plural: String,
    /// The group when one was given (`apps`, `example.com`).
    pub group: Option<String>,
    /// The argument as given (matched against key prefixes too).
    pub given: String,
}

impl ResourceArg {
    pub fn parse(arg: &str) -> ResourceArg {
        let given = arg.trim().trim_matches('/').to_string();
        let lower = given.to_ascii_lowercase();
        let (name, group) = match lower.split_once('.') {
            Some((n, g)) if !lower.contains('/') => (n.to_string(), Some(g.to_string())),
            _ => (lower.clone(), None),
        };
        let plural = match SHORT.iter().find(|(s, _)| *s == name) {
            Some((_, p)) => p.to_string(),
            None => plural_of(&name),
        };
        ResourceArg {
            plural,
            group,
            given,
        }
    }

    /// Whether an object's key is of this resource. Built-in resources are stored without
    /// their group, so `deployments.apps` matches `/registry/deployments/…`.
    pub fn matches(&self, k: &ObjectKey<'_>) -> bool {
        if k.prefix == self.given.as_bytes() {
            return true;
        }
        if k.resource != self.plural.as_bytes() {
            return false;
        }
        match (&self.group, k.group) {
            (Some(want), Some(g)) => want.as_bytes() == g,
            _ => true,
        }
    }
}

/// The plural of a singular resource name, as Kubernetes forms them (`policy` → `policies`,
/// `ingress` → `ingresses`); names that are plural already are kept.
fn plural_of(name: &str) -> String {
    const PLURAL_ALREADY: [&str; 3] = ["endpoints", "events", "minions"];
    if PLURAL_ALREADY.contains(&name) || name.ends_with("ies") || name.ends_with("sses") {
        return name.to_string();
    }
    if name.ends_with("ss") || name.ends_with("sh") || name.ends_with("ch") || name.ends_with('x') {
        return format!("{name}es");
    }
    if let Some(stem) = name.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if name.ends_with('s') {
        return name.to_string();
    }
    format!("{name}s")
}

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

    #[test]
    fn resource_arguments() {
        let key = |k: &'static str| match parse(k.as_bytes(), DEFAULT_PREFIX) {
            KeyKind::Object(o) => o,
            other => panic!("{k}: {other:?}"),
        };
        let pod = key("/registry/pods/default/web-0");
        for a in ["pods", "pod", "po", "Pods", "pods/"] {
            assert!(ResourceArg::parse(a).matches(&pod), "{a}");
        }
        assert!(!ResourceArg::parse("podtemplates").matches(&pod));
        let node = key("/registry/minions/n1");
        for a in ["nodes", "node", "no", "minions"] {
            assert!(ResourceArg::parse(a).matches(&node), "{a}");
        }
        let deploy = key("/registry/deployments/default/d");
        for a in ["deployments.apps", "deploy", "deployment"] {
            assert!(ResourceArg::parse(a).matches(&deploy), "{a}");
        }
        let widget = key("/registry/example.com/widgets/ns1/w");
        assert!(ResourceArg::parse("widgets.example.com").matches(&widget));
        assert!(ResourceArg::parse("widgets").matches(&widget));
        assert!(!ResourceArg::parse("widgets.other.io").matches(&widget));
        assert!(ResourceArg::parse("example.com/widgets").matches(&widget));
        let np = key("/registry/networkpolicies/default/p");
        assert!(ResourceArg::parse("networkpolicy").matches(&np));
        let sc = key("/registry/storageclasses/fast");
        assert!(ResourceArg::parse("storageclass").matches(&sc));
        let ing = key("/registry/ingress/default/i");
        assert!(ResourceArg::parse("ingress").matches(&ing));
        assert!(ResourceArg::parse("ing").matches(&ing));
        let svc = key("/registry/services/specs/default/kubernetes");
        assert!(ResourceArg::parse("svc").matches(&svc));
        assert!(ResourceArg::parse("services/specs").matches(&svc));
        let ep = key("/registry/services/endpoints/default/kubernetes");
        assert!(ResourceArg::parse("endpoints").matches(&ep));
        assert!(!ResourceArg::parse("services").matches(&ep));
    }
}
