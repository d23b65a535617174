//! One page (or an inline bucket's embedded page) and checked access to its elements.
//!
//! Layout (FORMATS.md §4.2, §4.5): a 16-byte header `{id u64, flags u16, count u16, overflow u32}`,
//! then `count` 16-byte element headers, then key/value bytes. An element's `pos` is relative to
//! the element header's own address.

use crate::error::{Error, Result};

pub const PAGE_HEADER_SIZE: usize = 16;
pub const ELEMENT_SIZE: usize = 16;

pub const FLAG_BRANCH: u16 = 0x01;
pub const FLAG_LEAF: u16 = 0x02;
pub const FLAG_META: u16 = 0x04;
pub const FLAG_FREELIST: u16 = 0x10;

/// Leaf element flag: the value is a bucket header.
pub const LEAF_FLAG_BUCKET: u32 = 0x01;

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The kind of a tree page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Branch,
    Leaf,
}

/// A branch or leaf page whose element table has been bounds-checked.
#[derive(Debug, Clone)]
pub struct Page {
    /// Page id used in messages (for an inline page: the page holding the bucket value).
    pub id: u64,
    /// Absolute file offset of `data[0]`.
    pub offset: u64,
    /// True for an inline bucket's embedded page.
    pub inline: bool,
    kind: Kind,
    count: usize,
    overflow: u32,
    data: Vec<u8>,
}

/// A leaf element.
#[derive(Debug, Clone, Copy)]
pub struct LeafElem<'a> {
    /// Page holding the element, and the absolute file offset of its element header.
    pub page: u64,
    pub offset: u64,
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Offset of the value inside the page's data (for locating inline buckets).
    pub value_pos: usize,
}

impl<'a> LeafElem<'a> {
    pub fn is_bucket(&self) -> bool {
        self.flags & LEAF_FLAG_BUCKET != 0
    }
}

impl Page {
    /// Validates the header and element table of a page read from `offset`.
    /// `id` is the page id expected there (for an inline page, the holder's id).
    pub fn parse(id: u64, offset: u64, data: Vec<u8>, inline: bool) -> Result<Page> {
        if data.len() < PAGE_HEADER_SIZE {
            return Err(Error::BadBucket {
                page: id,
                offset,
                reason: "page shorter than its header",
            });
        }
        let flags = u16_at(&data, 8);
        let count = u16_at(&data, 10) as usize;
        let overflow = u32_at(&data, 12);
        let kind = match flags {
            FLAG_BRANCH => Kind::Branch,
            FLAG_LEAF => Kind::Leaf,
            _ => {
                return Err(Error::PageType {
                    page: id,
                    offset,
                    flags,
                    expected: if inline {
                        "leaf (inline bucket)"
                    } else {
                        "branch or leaf"
                    },
                })
            }
        };
        if inline && kind != Kind::Leaf {
            return Err(Error::PageType {
                page: id,
                offset,
                flags,
                expected: "leaf (inline bucket)",
            });
        }
        let table_end = PAGE_HEADER_SIZE + count * ELEMENT_SIZE;
        if table_end > data.len() {
            return Err(Error::Element {
                page: id,
                offset,
                index: count.saturating_sub(1),
                reason: "element table runs past the end of the page",
            });
        }
        if kind == Kind::Branch && count == 0 {
            return Err(Error::Element {
                page: id,
                offset,
                index: 0,
                reason: "branch page has no elements",
            });
        }
        Ok(Page {
            id,
            offset,
            inline,
            kind,
            count,
            overflow,
            data,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn overflow(&self) -> u32 {
        self.overflow
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn elem_base(&self, index: usize) -> usize {
        PAGE_HEADER_SIZE + index * ELEMENT_SIZE
    }

    fn range(
        &self,
        index: usize,
        pos: u32,
        len: u64,
        what: &'static str,
    ) -> Result<(usize, usize)> {
        let start = self.elem_base(index) as u64 + pos as u64;
        let end = start + len;
        if end > self.data.len() as u64 {
            return Err(Error::Element {
                page: self.id,
                offset: self.offset + self.elem_base(index) as u64,
                index,
                reason: what,
            });
        }
        Ok((start as usize, end as usize))
    }

    /// Branch element `index`: (first key of the child, child page id).
    pub fn branch(&self, index: usize) -> Result<(&[u8], u64)> {
        debug_assert_eq!(self.kind, Kind::Branch);
        if index >= self.count {
            return Err(self.elem_err(index, "index past count"));
        }
        let b = self.elem_base(index);
        let pos = u32_at(&self.data, b);
        let ksize = u32_at(&self.data, b + 4);
        let child = u64_at(&self.data, b + 8);
        if ksize == 0 {
            return Err(self.elem_err(index, "zero-length key"));
        }
        let (s, e) = self.range(index, pos, ksize as u64, "key bytes lie outside the page")?;
        Ok((&self.data[s..e], child))
    }

    /// Leaf element `index`.
    pub fn leaf(&self, index: usize) -> Result<LeafElem<'_>> {
        debug_assert_eq!(self.kind, Kind::Leaf);
        if index >= self.count {
            return Err(self.elem_err(index, "index past count"));
        }
        let b = self.elem_base(index);
        let flags = u32_at(&self.data, b);
        let pos = u32_at(&self.data, b + 4);
        let ksize = u32_at(&self.data, b + 8);
        let vsize = u32_at(&self.data, b + 12);
        if ksize == 0 {
            return Err(self.elem_err(index, "zero-length key"));
        }
        let (s, e) = self.range(
            index,
            pos,
            ksize as u64 + vsize as u64,
            "key/value bytes lie outside the page",
        )?;
        let kend = s + ksize as usize;
        Ok(LeafElem {
            page: self.id,
            offset: self.elem_offset(index),
            flags,
            key: &self.data[s..kend],
            value: &self.data[kend..e],
            value_pos: kend,
        })
    }

    /// Absolute file offset of element `index`'s header.
    pub fn elem_offset(&self, index: usize) -> u64 {
        self.offset + self.elem_base(index) as u64
    }

    pub(crate) fn elem_err(&self, index: usize, reason: &'static str) -> Error {
        Error::Element {
            page: self.id,
            offset: self.elem_offset(index),
            index,
            reason,
        }
    }

    /// Checks that the element keys are strictly increasing (and that every element is in
    /// bounds). The walk does this itself; cursors call it on every page they load, so a search
    /// never trusts a page it has not checked.
    pub fn check_order(&self) -> Result<()> {
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.count {
            let key = match self.kind {
                Kind::Branch => self.branch(i)?.0,
                Kind::Leaf => self.leaf(i)?.key,
            };
            if prev.is_some_and(|p| key <= p) {
                return Err(Error::KeyOrder {
                    page: self.id,
                    offset: self.elem_offset(i),
                    index: i,
                });
            }
            prev = Some(key);
        }
        Ok(())
    }

    /// Index of the child to descend into for `key`: the last element whose key is <= `key`,
    /// or the first element.
    pub fn branch_search(&self, key: &[u8]) -> Result<usize> {
        // Binary search: find first element with elem_key > key.
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (k, _) = self.branch(mid)?;
            if k <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.saturating_sub(1))
    }

    /// Index of the first leaf element whose key is >= `key` (may equal `count`).
    pub fn leaf_search(&self, key: &[u8]) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.leaf(mid)?;
            if e.key < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
