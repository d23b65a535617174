//! etcd's protobuf messages, declared by hand with `prost` derive (no protoc). Field numbers
//! follow etcd's .proto files (FORMATS.md §5.1–5.2).

/// `mvccpb.KeyValue` (proto3): the value of every entry in the `key` bucket.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    #[prost(int64, tag = "4")]
    pub version: i64,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// `leasepb.Lease`: the value of every entry in the `lease` bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Lease {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

/// `authpb.UserAddOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserAddOptions {
    #[prost(bool, tag = "1")]
    pub no_password: bool,
}

/// `authpb.User`: values of the `authUsers` bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    /// bcrypt hash.
    #[prost(bytes = "vec", tag = "2")]
    pub password: Vec<u8>,
    #[prost(string, repeated, tag = "3")]
    pub roles: Vec<String>,
    #[prost(message, optional, tag = "4")]
    pub options: Option<UserAddOptions>,
}

/// `authpb.Permission`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Permission {
    /// 0 READ, 1 WRITE, 2 READWRITE.
    #[prost(int32, tag = "1")]
    pub perm_type: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub range_end: Vec<u8>,
}

/// `authpb.Role`: values of the `authRoles` bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Role {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub key_permission: Vec<Permission>,
}

/// `etcdserverpb.AlarmMember`: keys of the `alarm` bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlarmMember {
    #[prost(uint64, tag = "1")]
    pub member_id: u64,
    /// 0 NONE, 1 NOSPACE, 2 CORRUPT.
    #[prost(int32, tag = "2")]
    pub alarm: i32,
}

pub fn perm_type_name(t: i32) -> &'static str {
    match t {
        0 => "READ",
        1 => "WRITE",
        2 => "READWRITE",
        _ => "UNKNOWN",
    }
}

pub fn alarm_name(t: i32) -> &'static str {
    match t {
        0 => "NONE",
        1 => "NOSPACE",
        2 => "CORRUPT",
        _ => "UNKNOWN",
    }
}

/// A `KeyValue` read in place, without allocating — the hot path of every full scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvRef<'a> {
    pub key: &'a [u8],
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: &'a [u8],
    pub lease: i64,
}

impl<'a> KvRef<'a> {
    /// Parses an encoded `KeyValue`. Returns `None` when the bytes are not a well-formed
    /// message or a known field has the wrong wire type. Later occurrences of a field win, as
    /// in protobuf.
    pub fn parse(mut b: &'a [u8]) -> Option<KvRef<'a>> {
        let mut kv = KvRef::default();
        while !b.is_empty() {
            let (tag, rest) = varint(b)?;
            b = rest;
            let field = tag >> 3;
            if field == 0 {
                return None;
            }
            match (field, tag & 7) {
                (1 | 5, 2) => {
                    let (len, rest) = varint(b)?;
                    let len = usize::try_from(len).ok()?;
                    if len > rest.len() {
                        return None;
                    }
                    if field == 1 {
                        kv.key = &rest[..len];
                    } else {
                        kv.value = &rest[..len];
                    }
                    b = &rest[len..];
                }
                (2 | 3 | 4 | 6, 0) => {
                    let (v, rest) = varint(b)?;
                    b = rest;
                    let v = v as i64;
                    match field {
                        2 => kv.create_revision = v,
                        3 => kv.mod_revision = v,
                        4 => kv.version = v,
                        _ => kv.lease = v,
                    }
                }
                (1..=6, _) => return None,
                (_, 0) => b = varint(b)?.1,
                (_, 1) => b = b.get(8..)?,
                (_, 2) => {
                    let (len, rest) = varint(b)?;
                    let len = usize::try_from(len).ok()?;
                    b = rest.get(len..)?;
                }
                (_, 5) => b = b.get(4..)?,
                _ => return None,
            }
        }
        Some(kv)
    }

    pub fn to_owned(&self) -> KeyValue {
        KeyValue {
            key: self.key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            value: self.value.to_vec(),
            lease: self.lease,
        }
    }
}

fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// Appends `v` as a protobuf varint.
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits; 0 takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The length of [`encode_key_value`]'s output for these fields, without encoding.
pub fn encoded_key_value_len(
    key_len: usize,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    value_len: usize,
    lease: i64,
) -> usize {
    let bytes = |n: usize| {
        if n == 0 {
            0
        } else {
            1 + varint_len(n as u64) + n
        }
    };
    let int = |v: i64| if v == 0 { 0 } else { 1 + varint_len(v as u64) };
    bytes(key_len)
        + int(create_revision)
        + int(mod_revision)
        + int(version)
        + bytes(value_len)
        + int(lease)
}

/// Encodes a `mvccpb.KeyValue` from borrowed bytes into `buf` (cleared first): the same bytes
/// as [`KeyValue`]'s prost encoding (fields in order, zero and empty fields left out), without
/// copying the key and value into a message first.
pub fn encode_key_value(
    buf: &mut Vec<u8>,
    key: &[u8],
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    value: &[u8],
    lease: i64,
) {
    buf.clear();
    buf.reserve(key.len() + value.len() + 48);
    if !key.is_empty() {
        buf.push(1 << 3 | 2);
        put_varint(buf, key.len() as u64);
        buf.extend_from_slice(key);
    }
    for (tag, v) in [(2u8, create_revision), (3, mod_revision), (4, version)] {
        if v != 0 {
            buf.push(tag << 3);
            put_varint(buf, v as u64);
        }
    }
    if !value.is_empty() {
        buf.push(5 << 3 | 2);
        put_varint(buf, value.len() as u64);
        buf.extend_from_slice(value);
    }
    if lease != 0 {
        buf.push(6 << 3);
        put_varint(buf, lease as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn borrowed_parse_matches_prost() {
        let kv = KeyValue {
            key: b"/a/\x00\xffkey".to_vec(),
            create_revision: 5,
            mod_revision: 9,
            version: 3,
            value: vec![7; 300],
            lease: 0x7fff_ffff_ffff_ffff,
        };
        let buf = kv.encode_to_vec();
        assert_eq!(KvRef::parse(&buf).unwrap().to_owned(), kv);
        // Truncated messages are refused, not misread.
        for cut in 0..buf.len() {
            assert_eq!(
                KvRef::parse(&buf[..cut]).is_some(),
                KeyValue::decode(&buf[..cut]).is_ok(),
                "cut {cut}"
            );
        }
        assert_eq!(KvRef::parse(&[0x0a, 0x05, b'a']), None);
        // A known field with the wrong wire type is refused.
        assert_eq!(
            KvRef::parse(&[0x10, 0x05, 0x01]).is_some(),
            KeyValue::decode(&[0x10u8, 0x05, 0x01][..]).is_ok()
        );
    }

    #[test]
    fn hand_encoding_equals_prost() {
        use prost::Message;
        let cases = [
            (b"/a".to_vec(), 5, 7, 1, b"v".to_vec(), 0),
            (Vec::new(), 0, 0, 0, Vec::new(), 0),
            (
                vec![0, 255],
                -1,
                i64::MAX,
                3,
                vec![7; 300],
                0x1234_5678_9abc,
            ),
            (b"k".to_vec(), 1, 1, 1, vec![1; 20000], -5),
            (vec![1; 127], 127, 128, 16383, vec![2; 16384], i64::MIN),
        ];
        for (key, c, m, v, value, l) in cases {
            let kv = KeyValue {
                key: key.clone(),
                create_revision: c,
                mod_revision: m,
                version: v,
                value: value.clone(),
                lease: l,
            };
            let mut buf = vec![9; 3];
            encode_key_value(&mut buf, &key, c, m, v, &value, l);
            assert_eq!(buf, kv.encode_to_vec());
            assert_eq!(
                encoded_key_value_len(key.len(), c, m, v, value.len(), l),
                buf.len()
            );
            assert_eq!(KvRef::parse(&buf).map(|r| r.value.to_vec()), Some(value));
        }
    }
}
