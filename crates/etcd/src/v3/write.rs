//! A new v3 backend file: the etcd buckets laid out for [`bbolt::write`].
//!
//! [`NewBackend`] is the content of a db that `etcdctl snapshot restore` accepts and etcd 3.4/3.5
//! serves (FORMATS.md §5.6): the ten buckets a 3.4 server creates, `key` entries as
//! `mvccpb.KeyValue` under 17-byte revision keys, `meta` with the consistent index and compaction
//! marks, `lease` entries as `leasepb.Lease`. Small buckets are held in memory (sorted on emit);
//! the `key` bucket may be a stream that is produced again for each of the writer's two passes,
//! so a rewrite of a 20 GB db never holds its revisions in memory.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use bbolt::{Sink, WriteError};
use prost::Message;

use crate::error::{Error, Result};
use crate::proto::{KeyValue, Lease};
use crate::revision::Revision;

use super::{
    BUCKET_ALARM, BUCKET_AUTH, BUCKET_AUTH_ROLES, BUCKET_AUTH_USERS, BUCKET_CLUSTER, BUCKET_KEY,
    BUCKET_LEASE, BUCKET_MEMBERS, BUCKET_MEMBERS_REMOVED, BUCKET_META,
};

/// The buckets an etcd 3.4 server creates; a restored db has all of them.
pub const STANDARD_BUCKETS: [&[u8]; 10] = [
    BUCKET_ALARM,
    BUCKET_AUTH,
    BUCKET_AUTH_ROLES,
    BUCKET_AUTH_USERS,
    BUCKET_CLUSTER,
    BUCKET_KEY,
    BUCKET_LEASE,
    BUCKET_MEMBERS,
    BUCKET_MEMBERS_REMOVED,
    BUCKET_META,
];

/// Emits a bucket's entries in key order (called once per writer pass).
pub type EntryStream<'a> = Box<dyn Fn(&mut dyn Sink) -> Result<()> + 'a>;

/// One bucket's entries.
pub enum BucketSource<'a> {
    /// Entries in memory; sorted by key when emitted (a later put of the same key wins).
    Entries(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Entries produced on demand, already in key order.
    Stream(EntryStream<'a>),
}

/// The content of a new v3 backend.
pub struct NewBackend<'a> {
    buckets: BTreeMap<Vec<u8>, BucketSource<'a>>,
}

impl Default for NewBackend<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> NewBackend<'a> {
    /// The ten standard buckets, all empty.
    pub fn new() -> Self {
        let buckets = STANDARD_BUCKETS
            .iter()
            .map(|b| (b.to_vec(), BucketSource::Entries(BTreeMap::new())))
            .collect();
        NewBackend { buckets }
    }

    /// Puts an entry into an in-memory bucket (created if missing; a streamed bucket is replaced).
    pub fn put(&mut self, bucket: &[u8], key: Vec<u8>, value: Vec<u8>) {
        let slot = self
            .buckets
            .entry(bucket.to_vec())
            .or_insert_with(|| BucketSource::Entries(BTreeMap::new()));
        match slot {
            BucketSource::Entries(m) => {
                m.insert(key, value);
            }
            BucketSource::Stream(_) => {
                let mut m = BTreeMap::new();
                m.insert(key, value);
                *slot = BucketSource::Entries(m);
            }
        }
    }

    /// Makes `bucket` a stream of entries in key order.
    pub fn stream(&mut self, bucket: &[u8], f: EntryStream<'a>) {
        self.buckets
            .insert(bucket.to_vec(), BucketSource::Stream(f));
    }

    /// `meta/consistent_index` (8-byte big-endian, as etcd writes it).
    pub fn set_consistent_index(&mut self, index: u64) {
        self.put(
            BUCKET_META,
            b"consistent_index".to_vec(),
            index.to_be_bytes().to_vec(),
        );
    }

    /// `meta/scheduledCompactRev` and `meta/finishedCompactRev` = `{rev, 0}`: revisions below are
    /// compacted (etcd refuses reads there, and keeps its current revision at least `rev`).
    pub fn set_compacted(&mut self, rev: i64) {
        let b = Revision::new(rev, 0).to_bytes().to_vec();
        self.put(BUCKET_META, b"scheduledCompactRev".to_vec(), b.clone());
        self.put(BUCKET_META, b"finishedCompactRev".to_vec(), b);
    }

    /// A lease (`lease` bucket key = 8-byte big-endian id).
    pub fn put_lease(&mut self, id: i64, ttl: i64) {
        let lease = Lease {
            id,
            ttl,
            remaining_ttl: 0,
        };
        self.put(
            BUCKET_LEASE,
            id.to_be_bytes().to_vec(),
            lease.encode_to_vec(),
        );
    }

    /// Entries of an in-memory bucket (None for a streamed or absent one).
    pub fn entries(&self, bucket: &[u8]) -> Option<&BTreeMap<Vec<u8>, Vec<u8>>> {
        match self.buckets.get(bucket) {
            Some(BucketSource::Entries(m)) => Some(m),
            _ => None,
        }
    }
}

/// Puts a `key` bucket entry: revision key (with `t` for a tombstone) → encoded KeyValue.
pub fn put_revision(
    sink: &mut dyn Sink,
    rev: Revision,
    tombstone: bool,
    kv: &KeyValue,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.clear();
    kv.encode(buf)
        .map_err(|e| Error::Write(format!("encoding a KeyValue: {e}")))?;
    put_revision_encoded(sink, rev, tombstone, buf)
}

fn revision_key(rev: Revision, tombstone: bool) -> ([u8; 18], usize) {
    let mut key = [0u8; 18];
    key[..17].copy_from_slice(&rev.to_bytes());
    if tombstone {
        key[17] = b't';
        (key, 18)
    } else {
        (key, 17)
    }
}

/// [`put_revision`] in the writer's layout pass ([`Sink::put_sized`]): the encoded KeyValue
/// given by its length.
pub fn put_revision_sized(
    sink: &mut dyn Sink,
    rev: Revision,
    tombstone: bool,
    encoded_len: usize,
) -> Result<()> {
    let (key, klen) = revision_key(rev, tombstone);
    sink.put_sized(&key[..klen], encoded_len)?;
    Ok(())
}

/// [`put_revision`] of a KeyValue encoded already (e.g. by [`crate::proto::encode_key_value`]).
pub fn put_revision_encoded(
    sink: &mut dyn Sink,
    rev: Revision,
    tombstone: bool,
    encoded: &[u8],
) -> Result<()> {
    let (key, klen) = revision_key(rev, tombstone);
    sink.put(&key[..klen], encoded)?;
    Ok(())
}

impl<S: storage::ReadAt> super::Backend<S> {
    /// Copies every standard bucket except `key` into `nb` (entries of nested buckets, which
    /// etcd does not use, are left out).
    pub fn copy_small_buckets(&self, nb: &mut NewBackend<'_>) -> Result<()> {
        for name in STANDARD_BUCKETS {
            if name == BUCKET_KEY {
                continue;
            }
            self.for_each(name, |e| {
                if !e.is_bucket() {
                    nb.put(name, e.key.to_vec(), e.value.to_vec());
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        Ok(())
    }
}

impl bbolt::Content for NewBackend<'_> {
    type Error = Error;

    fn emit(&self, sink: &mut dyn Sink) -> Result<()> {
        for (name, source) in &self.buckets {
            sink.begin_bucket(name)?;
            match source {
                BucketSource::Entries(m) => {
                    for (k, v) in m {
                        sink.put(k, v)?;
                    }
                }
                BucketSource::Stream(f) => f(sink)?,
            }
            sink.end_bucket()?;
        }
        Ok(())
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        Error::Write(e.to_string())
    }
}

/// Writes `content` as a snapshot file (`trailer`: SHA-256 appended as `etcdctl snapshot save`
/// does) to `out`.
pub fn write_backend<W: std::io::Write>(
    content: &NewBackend<'_>,
    out: W,
    trailer: bool,
) -> Result<bbolt::WriteSummary> {
    let opts = bbolt::WriteOptions {
        trailer,
        ..Default::default()
    };
    bbolt::write(content, out, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::{Backend, RangeRequest};
    use storage::MemSource;

    fn kv(key: &str, value: &str, create: i64, rev: i64, version: i64, lease: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            create_revision: create,
            mod_revision: rev,
            version,
            value: value.into(),
            lease,
        }
    }

    #[test]
    fn written_backend_reads_back() {
        let revs = vec![
            (Revision::new(2, 0), false, kv("/a", "1", 2, 2, 1, 0)),
            (Revision::new(3, 0), false, kv("/b", "x", 3, 3, 1, 7)),
            (Revision::new(4, 0), false, kv("/a", "2", 2, 4, 2, 0)),
            (Revision::new(5, 0), true, kv("/b", "", 0, 0, 0, 0)),
        ];
        let mut nb = NewBackend::new();
        nb.set_consistent_index(9);
        nb.put_lease(7, 60);
        nb.stream(
            BUCKET_KEY,
            Box::new(move |sink| {
                let mut buf = Vec::new();
                for (rev, t, kv) in &revs {
                    put_revision(sink, *rev, *t, kv, &mut buf)?;
                }
                Ok(())
            }),
        );
        let mut out = Vec::new();
        let summary = write_backend(&nb, &mut out, true).unwrap();
        assert_eq!(out.len() as u64, summary.bytes);
        assert_eq!(out.len() % 512, 32);

        let b = Backend::open(MemSource::new(out)).unwrap();
        let st = b.status(Default::default()).unwrap();
        assert_eq!(st.trailer.state, "ok");
        assert_eq!(st.revision, 5);
        assert_eq!(st.meta.consistent_index, Some(9));
        assert_eq!(st.leases, 1);
        let r = b.range(&RangeRequest::prefix(b"")).unwrap();
        assert_eq!(r.kvs.len(), 1);
        assert_eq!(r.kvs[0].key, b"/a");
        assert_eq!(r.kvs[0].version, 2);
        let names: Vec<Vec<u8>> = st.buckets.iter().map(|b| b.name.clone()).collect();
        assert_eq!(names.len(), 10, "{names:?}");
    }
}
