//! Revisions as stored in the `key` bucket (FORMATS.md §5.2): 8-byte big-endian main revision,
//! `_`, 8-byte big-endian sub revision, and an optional `t` marking a tombstone.

use std::fmt;

/// A revision: `main` is the store revision of a transaction, `sub` the change within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// A decoded `key` bucket key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevKey {
    pub rev: Revision,
    pub tombstone: bool,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// The 17-byte bucket key.
    pub fn to_bytes(self) -> [u8; 17] {
        let mut b = [0u8; 17];
        b[..8].copy_from_slice(&self.main.to_be_bytes());
        b[8] = b'_';
        b[9..].copy_from_slice(&self.sub.to_be_bytes());
        b
    }

    /// Parses a 17-byte revision (as in `meta/finishedCompactRev`).
    pub fn from_bytes(b: &[u8]) -> Option<Revision> {
        RevKey::parse(b).filter(|k| !k.tombstone).map(|k| k.rev)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.main, self.sub)
    }
}

impl RevKey {
    /// Parses a `key` bucket key: exactly 17 bytes, or 18 ending in `t`.
    pub fn parse(b: &[u8]) -> Option<RevKey> {
        let tombstone = match b.len() {
            17 => false,
            18 if b[17] == b't' => true,
            _ => return None,
        };
        if b[8] != b'_' {
            return None;
        }
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[9..17]);
        Some(RevKey {
            rev: Revision {
                main: i64::from_be_bytes(m),
                sub: i64::from_be_bytes(s),
            },
            tombstone,
        })
    }

    /// The main revision of any key at least 8 bytes long — what `etcdctl snapshot status`
    /// reports as `revision` (it decodes the last key without further checks).
    pub fn main_of(b: &[u8]) -> Option<i64> {
        let mut m = [0u8; 8];
        m.copy_from_slice(b.get(..8)?);
        Some(i64::from_be_bytes(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tombstones() {
        let r = Revision::new(0x0102030405060708, 3);
        let b = r.to_bytes();
        assert_eq!(b[8], b'_');
        assert_eq!(
            RevKey::parse(&b),
            Some(RevKey {
                rev: r,
                tombstone: false
            })
        );
        let mut t = b.to_vec();
        t.push(b't');
        assert_eq!(
            RevKey::parse(&t),
            Some(RevKey {
                rev: r,
                tombstone: true
            })
        );
        t[17] = b'x';
        assert_eq!(RevKey::parse(&t), None);
        assert_eq!(RevKey::parse(&b[..16]), None);
        assert_eq!(Revision::from_bytes(&b), Some(r));
        // Byte order is numeric order.
        assert!(Revision::new(2, 0).to_bytes() < Revision::new(2, 1).to_bytes());
        assert!(Revision::new(2, 9).to_bytes() < Revision::new(256, 0).to_bytes());
    }
}
