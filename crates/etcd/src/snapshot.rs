//! `etcdctl snapshot save` files: a bbolt db followed by the 32-byte SHA-256 of the db bytes
//! (FORMATS.md §5.4). Detection rule used by etcd: `size % 512 == 32`.

use sha2::{Digest, Sha256};
use storage::{ReadAt, ReadError, SliceSource};

pub const TRAILER_LEN: u64 = 32;

/// What we know of the trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trailer {
    /// `size % 512 != 32`: a raw db (copied from a data dir), not a `snapshot save` file.
    Absent,
    /// Present and equal to the SHA-256 of the preceding bytes.
    Ok { sha256: [u8; 32] },
    /// Present but different from the SHA-256 of the preceding bytes.
    Mismatch {
        stored: [u8; 32],
        computed: [u8; 32],
    },
    /// Present, not verified (the caller chose not to hash).
    Unchecked { stored: [u8; 32] },
}

impl Trailer {
    pub fn state(&self) -> &'static str {
        match self {
            Trailer::Absent => "absent",
            Trailer::Ok { .. } => "ok",
            Trailer::Mismatch { .. } => "mismatch",
            Trailer::Unchecked { .. } => "unchecked",
        }
    }
}

/// True when a file of this size carries a trailer, by etcd's rule.
pub fn has_trailer(size: u64) -> bool {
    size % 512 == TRAILER_LEN
}

/// Splits a snapshot source into the db part and the stored trailer (if any).
pub fn split<S: ReadAt>(src: S) -> Result<(SliceSource<S>, Option<[u8; 32]>), ReadError> {
    let size = src.size();
    let mut stored = None;
    let mut db_len = size;
    if has_trailer(size) {
        let mut sum = [0u8; 32];
        src.read_exact_at(size - TRAILER_LEN, &mut sum)?;
        stored = Some(sum);
        db_len = size - TRAILER_LEN;
    }
    let past_end = ReadError {
        offset: 0,
        len: db_len,
        kind: storage::ReadErrorKind::PastEnd { size },
    };
    let db = SliceSource::new(src, 0, db_len).ok_or(past_end)?;
    Ok((db, stored))
}

/// SHA-256 of `src[..len]`, read in 1 MiB chunks; `progress` is told the bytes done so far.
pub fn sha256_prefix<S: ReadAt>(
    src: &S,
    len: u64,
    mut progress: impl FnMut(u64),
) -> Result<[u8; 32], ReadError> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        src.read_exact_at(off, &mut buf[..n])?;
        h.update(&buf[..n]);
        off += n as u64;
        progress(off);
    }
    Ok(h.finalize().into())
}

/// Verifies a stored trailer against the db bytes.
pub fn verify<S: ReadAt>(db: &S, stored: Option<[u8; 32]>) -> Result<Trailer, ReadError> {
    let Some(stored) = stored else {
        return Ok(Trailer::Absent);
    };
    let computed = sha256_prefix(db, db.size(), |_| {})?;
    Ok(if computed == stored {
        Trailer::Ok { sha256: stored }
    } else {
        Trailer::Mismatch { stored, computed }
    })
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MemSource;

    #[test]
    fn trailer_detection_and_verification() {
        let db = vec![7u8; 1024];
        let sum: [u8; 32] = Sha256::digest(&db).into();
        let mut file = db.clone();
        file.extend_from_slice(&sum);
        let (part, stored) = split(MemSource::new(file.clone())).unwrap();
        assert_eq!(part.size(), 1024);
        assert_eq!(verify(&part, stored).unwrap(), Trailer::Ok { sha256: sum });
        file[5] ^= 1;
        let (part, stored) = split(MemSource::new(file)).unwrap();
        assert!(matches!(
            verify(&part, stored).unwrap(),
            Trailer::Mismatch { .. }
        ));
        let (part, stored) = split(MemSource::new(db)).unwrap();
        assert_eq!(part.size(), 1024);
        assert_eq!(verify(&part, stored).unwrap(), Trailer::Absent);
    }
}
