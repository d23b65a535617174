//! Messages found in WAL and `.snap` files (FORMATS.md §1.4, §1.7, §2.2, §3), declared by hand
//! with `prost` derive. prost rejects a known field with the wrong wire type, which the v2/v3
//! request probe relies on (§3.3).

/// `walpb.Record`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(uint32, tag = "2")]
    pub crc: u32,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub data: Option<Vec<u8>>,
}

pub const RECORD_METADATA: i64 = 1;
pub const RECORD_ENTRY: i64 = 2;
pub const RECORD_STATE: i64 = 3;
pub const RECORD_CRC: i64 = 4;
pub const RECORD_SNAPSHOT: i64 = 5;

/// `etcdserverpb.Metadata` (the WAL metadata record).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Metadata {
    #[prost(uint64, tag = "1")]
    pub node_id: u64,
    #[prost(uint64, tag = "2")]
    pub cluster_id: u64,
}

/// `raftpb.Entry`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Entry {
    /// 0 normal, 1 conf change, 2 conf change v2.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint64, tag = "2")]
    pub term: u64,
    #[prost(uint64, tag = "3")]
    pub index: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub data: Option<Vec<u8>>,
}

pub const ENTRY_NORMAL: i32 = 0;
pub const ENTRY_CONF_CHANGE: i32 = 1;
pub const ENTRY_CONF_CHANGE_V2: i32 = 2;

/// `raftpb.HardState`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct HardState {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

/// `raftpb.ConfState` (3.3 called field 1 `nodes`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfState {
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub voters: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub learners: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub voters_outgoing: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub learners_next: Vec<u64>,
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

/// `walpb.Snapshot`: a snapshot marker in the WAL.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WalSnapshot {
    #[prost(uint64, tag = "1")]
    pub index: u64,
    #[prost(uint64, tag = "2")]
    pub term: u64,
    #[prost(message, optional, tag = "3")]
    pub conf_state: Option<ConfState>,
}

/// `raftpb.ConfChange`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfChange {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// 0 AddNode, 1 RemoveNode, 2 UpdateNode, 3 AddLearnerNode.
    #[prost(int32, tag = "2")]
    pub r#type: i32,
    #[prost(uint64, tag = "3")]
    pub node_id: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub context: Option<Vec<u8>>,
}

/// `raftpb.ConfChangeSingle`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfChangeSingle {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint64, tag = "2")]
    pub node_id: u64,
}

/// `raftpb.ConfChangeV2`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfChangeV2 {
    #[prost(int32, tag = "1")]
    pub transition: i32,
    #[prost(message, repeated, tag = "2")]
    pub changes: Vec<ConfChangeSingle>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub context: Option<Vec<u8>>,
}

pub fn conf_change_type_name(t: i32) -> &'static str {
    match t {
        0 => "AddNode",
        1 => "RemoveNode",
        2 => "UpdateNode",
        3 => "AddLearnerNode",
        _ => "Unknown",
    }
}

/// `raftpb.SnapshotMetadata`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotMetadata {
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<ConfState>,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

/// `raftpb.Snapshot`: inside a `.snap` file; `data` is the v2 store JSON.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Snapshot {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub data: Option<Vec<u8>>,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<SnapshotMetadata>,
}

/// `snappb.snapshot`: the whole `.snap` file.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapFile {
    #[prost(uint32, tag = "1")]
    pub crc: u32,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn verified_wal_bytes_decode() {
        // FORMATS.md §1.3: the first record of a real 3.4.23 WAL is {type: 4 (crc), crc: 0}.
        let r = Record::decode(&[0x08u8, 0x04, 0x10, 0x00][..]).unwrap();
        assert_eq!((r.r#type, r.crc, r.data), (RECORD_CRC, 0, None));
        // snapshot{index 0, term 0} = 08 00 10 00
        let s = WalSnapshot::decode(&[0x08u8, 0x00, 0x10, 0x00][..]).unwrap();
        assert_eq!((s.index, s.term), (0, 0));
        // ConfState accepts packed and unpacked voters.
        let unpacked = ConfState::decode(&[0x08u8, 0x05, 0x08, 0x07][..]).unwrap();
        let packed = ConfState::decode(&[0x0au8, 0x02, 0x05, 0x07][..]).unwrap();
        assert_eq!(unpacked.voters, vec![5, 7]);
        assert_eq!(packed.voters, vec![5, 7]);
    }
}
