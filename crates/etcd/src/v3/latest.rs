//! "What is the latest change of each key?" over a stream of changes in revision order, with
//! memory proportional to the number of distinct keys, not of changes.
//!
//! Changes are appended to a buffer (fast: sequential writes); when the buffer is full it is
//! sorted by (fingerprint, arrival), reduced to the last change per fingerprint, and merged into a
//! sorted table where newer entries win. A key is known by a 64-bit fingerprint of its bytes:
//! 16 bytes per distinct key, and with 10^7 keys the chance that two share a fingerprint is
//! about 3·10^-6 (it would merge their counts, nothing else).

/// Size recorded for a delete.
pub const DELETED: u32 = u32::MAX;

const BUFFER: usize = 1 << 22; // 4 Mi changes = 64 MiB before a merge

#[derive(Default)]
pub struct Latest {
    /// (fingerprint << 64) | (arrival << 32) | size, unsorted.
    buf: Vec<u128>,
    arrival: u32,
    /// Sorted by fingerprint, one entry per fingerprint: (fingerprint, size).
    table: Vec<(u64, u32)>,
}

impl Latest {
    pub fn push(&mut self, fp: u64, size: u32) {
        self.buf
            .push((fp as u128) << 64 | (self.arrival as u128) << 32 | size as u128);
        self.arrival = self.arrival.wrapping_add(1);
        if self.buf.len() >= BUFFER || self.arrival == u32::MAX {
            self.merge();
        }
    }

    fn merge(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        self.buf.sort_unstable();
        // Keep the last arrival of each fingerprint.
        let mut fresh: Vec<(u64, u32)> = Vec::with_capacity(self.buf.len());
        for &e in &self.buf {
            let fp = (e >> 64) as u64;
            let size = e as u32;
            match fresh.last_mut() {
                Some(last) if last.0 == fp => last.1 = size,
                _ => fresh.push((fp, size)),
            }
        }
        self.buf.clear();
        self.arrival = 0;
        let old = std::mem::take(&mut self.table);
        self.table = Self::merge_tables(old, fresh);
    }

    /// Merges two finished tables; entries of `newer` win.
    pub fn merge_tables(older: Vec<(u64, u32)>, newer: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
        if older.is_empty() {
            return newer;
        }
        let mut merged = Vec::with_capacity(older.len() + newer.len());
        let (mut i, mut j) = (0, 0);
        while i < older.len() && j < newer.len() {
            if older[i].0 < newer[j].0 {
                merged.push(older[i]);
                i += 1;
            } else if older[i].0 > newer[j].0 {
                merged.push(newer[j]);
                j += 1;
            } else {
                merged.push(newer[j]);
                i += 1;
                j += 1;
            }
        }
        merged.extend_from_slice(&older[i..]);
        merged.extend_from_slice(&newer[j..]);
        merged
    }

    /// Consumes the stream; yields the latest size of every key.
    pub fn finish(mut self) -> Vec<(u64, u32)> {
        self.merge();
        self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_wins_across_merges() {
        let mut l = Latest::default();
        for round in 0..3u32 {
            for k in 0..10u64 {
                l.push(k, round * 100 + k as u32);
            }
            l.merge();
        }
        l.push(3, DELETED);
        let t = l.finish();
        assert_eq!(t.len(), 10);
        assert_eq!(t[3], (3, DELETED));
        assert_eq!(t[4], (4, 204));
    }
}
