//! Meta pages (FORMATS.md §4.3): two copies at pages 0 and 1; the valid one with the larger
//! txid is active.

use crate::error::MetaProblem;
use crate::page::{u16_at, u32_at, u64_at, FLAG_META, PAGE_HEADER_SIZE};

pub const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
/// `meta.freelist` value meaning "no freelist page on disk" (etcd on Linux).
pub const NO_FREELIST: u64 = u64::MAX;
/// Bytes of the meta struct including the checksum.
pub const META_SIZE: usize = 64;
/// The first page id that can hold data.
pub const FIRST_DATA_PAGE: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub flags: u32,
    pub root: u64,
    pub root_sequence: u64,
    pub freelist: u64,
    /// High-water mark: number of pages in use.
    pub pgid: u64,
    pub txid: u64,
    pub checksum: u64,
}

/// FNV-1a, 64 bit.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn valid_page_size(size: u32) -> bool {
    size.is_power_of_two() && (512..=1 << 20).contains(&size)
}

impl Meta {
    /// Parses and validates the meta stored in `page` (at least 16 + 64 bytes: header and meta).
    pub fn parse(page: &[u8]) -> Result<Meta, MetaProblem> {
        if page.len() < PAGE_HEADER_SIZE + META_SIZE {
            return Err(MetaProblem::Missing);
        }
        let flags = u16_at(page, 8);
        let m = &page[PAGE_HEADER_SIZE..PAGE_HEADER_SIZE + META_SIZE];
        let magic = u32_at(m, 0);
        if magic != MAGIC {
            return Err(MetaProblem::BadMagic(magic));
        }
        let version = u32_at(m, 4);
        if version != VERSION {
            return Err(MetaProblem::BadVersion(version));
        }
        let meta = Meta {
            page_size: u32_at(m, 8),
            flags: u32_at(m, 12),
            root: u64_at(m, 16),
            root_sequence: u64_at(m, 24),
            freelist: u64_at(m, 32),
            pgid: u64_at(m, 40),
            txid: u64_at(m, 48),
            checksum: u64_at(m, 56),
        };
        let computed = fnv1a64(&m[..56]);
        if computed != meta.checksum {
            return Err(MetaProblem::BadChecksum {
                stored: meta.checksum,
                computed,
            });
        }
        if flags != FLAG_META {
            return Err(MetaProblem::NotMeta { flags });
        }
        if !valid_page_size(meta.page_size) {
            return Err(MetaProblem::BadPageSize(meta.page_size));
        }
        let freelist_ok = meta.freelist == NO_FREELIST
            || (meta.freelist >= FIRST_DATA_PAGE && meta.freelist < meta.pgid);
        if meta.root < FIRST_DATA_PAGE || meta.root >= meta.pgid || !freelist_ok {
            return Err(MetaProblem::BadPointers {
                root: meta.root,
                freelist: meta.freelist,
                high_water: meta.pgid,
            });
        }
        Ok(meta)
    }

    /// Serializes the meta struct (64 bytes, checksum recomputed) — used by tests and writers.
    pub fn encode(&self) -> [u8; META_SIZE] {
        let mut m = [0u8; META_SIZE];
        m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&VERSION.to_le_bytes());
        m[8..12].copy_from_slice(&self.page_size.to_le_bytes());
        m[12..16].copy_from_slice(&self.flags.to_le_bytes());
        m[16..24].copy_from_slice(&self.root.to_le_bytes());
        m[24..32].copy_from_slice(&self.root_sequence.to_le_bytes());
        m[32..40].copy_from_slice(&self.freelist.to_le_bytes());
        m[40..48].copy_from_slice(&self.pgid.to_le_bytes());
        m[48..56].copy_from_slice(&self.txid.to_le_bytes());
        let sum = fnv1a64(&m[..56]);
        m[56..64].copy_from_slice(&sum.to_le_bytes());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn encode_parse_round_trip_and_corruption() {
        let meta = Meta {
            page_size: 4096,
            flags: 0,
            root: 3,
            root_sequence: 0,
            freelist: NO_FREELIST,
            pgid: 5,
            txid: 7,
            checksum: 0,
        };
        let mut page = vec![0u8; 4096];
        page[8..10].copy_from_slice(&FLAG_META.to_le_bytes());
        page[16..80].copy_from_slice(&meta.encode());
        let parsed = Meta::parse(&page).unwrap();
        assert_eq!(parsed.txid, 7);
        page[40] ^= 1; // flip a bit of the root pointer
        assert!(matches!(
            Meta::parse(&page),
            Err(MetaProblem::BadChecksum { .. })
        ));
        page[16] ^= 1;
        assert!(matches!(Meta::parse(&page), Err(MetaProblem::BadMagic(_))));
    }
}
