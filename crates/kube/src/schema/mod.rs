//! The Kubernetes API schema as static tables: for every protobuf message of kubernetes/api and
//! kubernetes/apimachinery, its fields in Go struct order with the facts Go's `encoding/json`
//! needs (JSON name, omitempty, omitzero, pointer, embedded) and the wire facts protobuf needs
//! (number, scalar type, repeated, map, message).
//!
//! The data is generated (`generated.rs`, see SOURCES.md for how to regenerate it) and holds no
//! code per type: [`crate::typed`] walks it.

#[rustfmt::skip]
mod generated;

use generated::{FIELDS, KINDS, MESSAGES, NAMES};

/// What a field holds on the wire (for maps: the value type; keys are strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Str,
    Bytes,
    Bool,
    I32,
    I64,
    U32,
    U64,
    F64,
    F32,
    /// A message ([`Field::target`]).
    Msg,
}

/// Messages whose JSON form is written by hand-written Go code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Special {
    /// A struct: fields by the table.
    Plain,
    /// `meta.v1.Time`: RFC 3339 seconds, `null` when zero.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with 6 fraction digits, `null` when zero.
    MicroTime,
    /// `meta.v1.Duration`: Go's `time.Duration.String()`.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `meta.v1.FieldsV1`: JSON bytes embedded as they are.
    RawJson,
    /// `type X []string` wrapped as `message X { repeated string items = 1; }`.
    StringList,
}

pub(crate) const REP: u8 = 1;
pub(crate) const MAP: u8 = 2;
pub(crate) const PTR: u8 = 4;
pub(crate) const OMITEMPTY: u8 = 8;
pub(crate) const OMITZERO: u8 = 16;
pub(crate) const EMBED: u8 = 32;
pub(crate) const SKIP: u8 = 64;

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    num: u16,
    name: u16,
    target: u16,
    kind: Kind,
    flags: u8,
}

/// One message: a range of [`FIELDS`].
#[derive(Debug, Clone, Copy)]
pub struct Message {
    name: u16,
    first: u16,
    count: u16,
    special: Special,
    type_meta: bool,
}

pub(crate) const fn f(num: u16, name: u16, kind: Kind, target: u16, flags: u8) -> Field {
    Field {
        num,
        name,
        target,
        kind,
        flags,
    }
}

pub(crate) const fn m(
    name: u16,
    first: u16,
    count: u16,
    special: Special,
    type_meta: bool,
) -> Message {
    Message {
        name,
        first,
        count,
        special,
        type_meta,
    }
}

fn name(i: u16) -> &'static str {
    NAMES.get(usize::from(i)).copied().unwrap_or("")
}

/// A message of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef(u16);

impl MessageRef {
    fn get(self) -> Option<&'static Message> {
        MESSAGES.get(usize::from(self.0))
    }

    /// The Go type's name (`PodSpec`).
    pub fn name(self) -> &'static str {
        self.get().map_or("", |m| name(m.name))
    }

    pub fn special(self) -> Special {
        self.get().map_or(Special::Plain, |m| m.special)
    }

    /// Whether the Go struct embeds `TypeMeta` (apiVersion and kind in JSON, not in protobuf).
    pub fn has_type_meta(self) -> bool {
        self.get().is_some_and(|m| m.type_meta)
    }

    /// The fields in Go struct order (empty for specials).
    pub fn fields(self) -> &'static [Field] {
        self.get()
            .and_then(|m| {
                let start = usize::from(m.first);
                FIELDS.get(start..start + usize::from(m.count))
            })
            .unwrap_or(&[])
    }
}

impl Field {
    pub fn number(&self) -> u32 {
        u32::from(self.num)
    }
    /// The JSON name (the Go field name for embedded fields).
    pub fn json_name(&self) -> &'static str {
        name(self.name)
    }
    /// The wire type of the value (of the map value for maps).
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The message of a [`Kind::Msg`] field.
    pub fn target(&self) -> Option<MessageRef> {
        (self.kind == Kind::Msg).then_some(MessageRef(self.target))
    }
    pub fn is_repeated(&self) -> bool {
        self.flags & REP != 0
    }
    pub fn is_map(&self) -> bool {
        self.flags & MAP != 0
    }
    /// A Go pointer (`*T`): absent means nil.
    pub fn is_pointer(&self) -> bool {
        self.flags & PTR != 0
    }
    pub fn omitempty(&self) -> bool {
        self.flags & OMITEMPTY != 0
    }
    pub fn omitzero(&self) -> bool {
        self.flags & OMITZERO != 0
    }
    /// An anonymous Go struct field: its JSON fields are the parent's.
    pub fn is_embedded(&self) -> bool {
        self.flags & EMBED != 0
    }
    /// `json:"-"`: decoded, never shown.
    pub fn is_skipped(&self) -> bool {
        self.flags & SKIP != 0
    }
}

/// Kinds of meta.k8s.io/v1 that every group version carries (`metav1.AddToGroupVersion`).
const META_KINDS: &[&str] = &[
    "APIGroup",
    "APIGroupList",
    "APIResourceList",
    "APIVersions",
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

fn find(api_version: &str, kind: &str) -> Option<MessageRef> {
    KINDS
        .binary_search_by(|(a, k, _)| (*a, *k).cmp(&(api_version, kind)))
        .ok()
        .and_then(|i| KINDS.get(i))
        .map(|(_, _, id)| MessageRef(*id))
}

/// The message of an object type (`("apps/v1", "Deployment")`); the meta.k8s.io/v1 kinds of
/// every group (`Status`, `WatchEvent`, the options) are found under any group version.
pub fn lookup(api_version: &str, kind: &str) -> Option<MessageRef> {
    find(api_version, kind).or_else(|| {
        if META_KINDS.contains(&kind) && !api_version.is_empty() {
            find("meta.k8s.io/v1", kind)
        } else {
            None
        }
    })
}

/// Every (apiVersion, kind) of the table, sorted.
pub fn kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS.iter().map(|(a, k, _)| (*a, *k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sorted_and_found() {
        assert!(KINDS
            .windows(2)
            .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        let pod = lookup("v1", "Pod").unwrap();
        assert_eq!(pod.name(), "Pod");
        assert!(pod.has_type_meta());
        assert_eq!(pod.fields()[0].json_name(), "metadata");
        assert_eq!(
            lookup("apps/v1", "Deployment").unwrap().name(),
            "Deployment"
        );
        assert_eq!(lookup("v1", "WatchEvent").unwrap().name(), "WatchEvent");
        assert_eq!(lookup("apps/v1", "Status").unwrap().name(), "Status");
        assert!(lookup("v1", "NoSuchKind").is_none());
        assert!(lookup("", "Status").is_none());
    }

    #[test]
    fn every_reference_is_in_range() {
        for (i, m) in MESSAGES.iter().enumerate() {
            let r = MessageRef(i as u16);
            assert_eq!(r.fields().len(), usize::from(m.count), "{}", r.name());
            for f in r.fields() {
                if let Some(t) = f.target() {
                    assert!(usize::from(t.0) < MESSAGES.len());
                }
                assert!(!f.json_name().is_empty());
            }
        }
    }
}
