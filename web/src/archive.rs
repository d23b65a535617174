//! Archives people send: `.tar`, `.tar.gz`/`.tgz` (and any gzip), `.zip` (k3s writes zipped
//! snapshots).
//!
//! Nothing is read whole. A tar member or a stored zip member is a window of the archive
//! ([`SliceSource`]); gzip data and deflated zip members are decompressed as a stream into a
//! [`Spill`] — in the browser a Blob built in 4 MiB parts, which the browser may keep on disk —
//! and read from there by offset.

use std::io::{Read, Write};
use std::sync::Arc;

use storage::{ReadAt, SliceSource};

/// Where decompressed bytes go, and how they are read back.
pub trait Spill {
    type Src: ReadAt;
    /// Runs `fill` with a writer, then returns the written bytes as a source.
    fn spill(
        &mut self,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), String>,
    ) -> Result<Self::Src, String>;
}

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gzip,
    Zip,
    Tar,
    Other,
}

pub fn sniff<S: ReadAt + ?Sized>(src: &S) -> Kind {
    let mut head = [0u8; 512];
    let n = src.size().min(512) as usize;
    if src.read_exact_at(0, &mut head[..n]).is_err() {
        return Kind::Other;
    }
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Kind::Gzip
    } else if n >= 4 && (head[..4] == *b"PK\x03\x04" || head[..4] == *b"PK\x05\x06") {
        Kind::Zip
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Kind::Tar
    } else {
        Kind::Other
    }
}

/// Sequential `Read` over a `ReadAt` (for the decompressors).
pub struct Reader<'a, S: ReadAt + ?Sized> {
    src: &'a S,
    pos: u64,
    end: u64,
}

impl<'a, S: ReadAt + ?Sized> Reader<'a, S> {
    pub fn new(src: &'a S, start: u64, len: u64) -> Self {
        Reader {
            src,
            pos: start,
            end: start.saturating_add(len).min(src.size()),
        }
    }
}

impl<S: ReadAt + ?Sized> Read for Reader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.end - self.pos).min(buf.len() as u64).min(1 << 20) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src
            .read_exact_at(self.pos, &mut buf[..n])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        crate::progress::at(self.pos);
        Ok(n)
    }
}

/// Decompresses all gzip members of `src` into `out`; stops with an error past `limit` bytes.
pub fn gunzip<S: ReadAt + ?Sized>(src: &S, out: &mut dyn Write, limit: u64) -> Result<u64, String> {
    let mut d = flate2::read::MultiGzDecoder::new(Reader::new(src, 0, src.size()));
    copy_limited(&mut d, out, limit).map_err(|e| format!("gzip: {e}"))
}

fn copy_limited(r: &mut dyn Read, out: &mut dyn Write, limit: u64) -> Result<u64, String> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(format!("more than {limit} bytes once decompressed"));
        }
        out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
    }
}

/// A file inside an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    /// Where its bytes start in the archive (zip: the local header; see `data_offset`).
    pub offset: u64,
    pub size: u64,
    /// zip only: compressed size and method (0 stored, 8 deflate).
    pub compressed: u64,
    pub method: u16,
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for big sizes: high bit set in the first byte.
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Regular files of a tar archive (ustar, GNU long names, pax `path`).
pub fn tar_members<S: ReadAt + ?Sized>(src: &S) -> Result<Vec<Member>, String> {
    let size = src.size();
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut long_name: Option<String> = None;
    while pos + 512 <= size {
        let mut h = [0u8; 512];
        src.read_exact_at(pos, &mut h)
            .map_err(|e| format!("tar: {e}"))?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if octal(&h[148..156]) != Some(sum) {
            return Err(format!(
                "tar: header at byte offset {pos} has a bad checksum"
            ));
        }
        let len = octal(&h[124..136])
            .ok_or_else(|| format!("tar: header at byte offset {pos}: bad size"))?;
        let data = pos + 512;
        if data.checked_add(len).map_or(true, |end| end > size) {
            return Err(format!(
                "tar: member at byte offset {pos} ({len} bytes) runs past the end ({size} bytes)"
            ));
        }
        let typeflag = h[156];
        let mut name = cstr(&h[0..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let small = |what: &str| -> Result<Vec<u8>, String> {
            if len > 1 << 20 {
                return Err(format!(
                    "tar: {what} record of {len} bytes at byte offset {pos}"
                ));
            }
            let mut b = vec![0u8; len as usize];
            src.read_exact_at(data, &mut b)
                .map_err(|e| format!("tar: {e}"))?;
            Ok(b)
        };
        match typeflag {
            b'L' => long_name = Some(cstr(&small("long name")?)),
            b'x' => {
                let rec = small("pax")?;
                let text = String::from_utf8_lossy(&rec);
                for line in text.lines() {
                    if let Some((_, kv)) = line.split_once(' ') {
                        if let Some(p) = kv.strip_prefix("path=") {
                            long_name = Some(p.to_string());
                        }
                    }
                }
            }
            b'0' | 0 | b'7' => {
                let path = long_name.take().unwrap_or(name);
                out.push(Member {
                    path: path.trim_start_matches("./").to_string(),
                    offset: data,
                    size: len,
                    compressed: len,
                    method: 0,
                });
            }
            _ => long_name = None,
        }
        pos = data + len.div_ceil(512) * 512;
    }
    Ok(out)
}

fn u16le(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32le(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

/// Files of a zip archive, from its central directory (no zip64).
pub fn zip_members<S: ReadAt + ?Sized>(src: &S) -> Result<Vec<Member>, String> {
    let size = src.size();
    let tail_len = size.min(65_557);
    let mut tail = vec![0u8; tail_len as usize];
    src.read_exact_at(size - tail_len, &mut tail)
        .map_err(|e| format!("zip: {e}"))?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or("zip: no end of central directory record")?;
    let entries = u16le(&tail, eocd + 10);
    let cd_size = u32le(&tail, eocd + 12);
    let cd_off = u32le(&tail, eocd + 16);
    if cd_off == 0xFFFF_FFFF || entries == 0xFFFF {
        return Err("zip: zip64 archives are not supported yet".into());
    }
    if cd_off + cd_size > size || cd_size > 64 << 20 {
        return Err(format!(
            "zip: central directory at byte offset {cd_off} is out of bounds"
        ));
    }
    let mut cd = vec![0u8; cd_size as usize];
    src.read_exact_at(cd_off, &mut cd)
        .map_err(|e| format!("zip: {e}"))?;
    let mut out = Vec::new();
    let mut p = 0usize;
    for _ in 0..entries {
        if p + 46 > cd.len() || cd[p..p + 4] != *b"PK\x01\x02" {
            return Err(format!(
                "zip: bad central directory entry at byte offset {}",
                cd_off + p as u64
            ));
        }
        let method = u16le(&cd, p + 10) as u16;
        let compressed = u32le(&cd, p + 20);
        let usize_ = u32le(&cd, p + 24);
        let nlen = u16le(&cd, p + 28) as usize;
        let xlen = u16le(&cd, p + 30) as usize;
        let clen = u16le(&cd, p + 32) as usize;
        let local = u32le(&cd, p + 42);
        if p + 46 + nlen > cd.len() {
            return Err("zip: truncated central directory".into());
        }
        let name = String::from_utf8_lossy(&cd[p + 46..p + 46 + nlen]).into_owned();
        if !name.ends_with('/') {
            out.push(Member {
                path: name,
                offset: local,
                size: usize_,
                compressed,
                method,
            });
        }
        p += 46 + nlen + xlen + clen;
    }
    Ok(out)
}

/// Where a zip member's data starts (after its local header).
fn zip_data_offset<S: ReadAt + ?Sized>(src: &S, m: &Member) -> Result<u64, String> {
    let mut h = [0u8; 30];
    src.read_exact_at(m.offset, &mut h)
        .map_err(|e| format!("zip: {e}"))?;
    if h[..4] != *b"PK\x03\x04" {
        return Err(format!("zip: no local header at byte offset {}", m.offset));
    }
    Ok(m.offset + 30 + u16le(&h, 26) + u16le(&h, 28))
}

/// A member's bytes as a source: a window for stored data, decompressed into `spill`
/// otherwise.
pub enum Opened<S: ReadAt, T> {
    Window(SliceSource<Arc<S>>),
    Spilled(T),
}

impl<S: ReadAt, T: ReadAt> ReadAt for Opened<S, T> {
    fn size(&self) -> u64 {
        match self {
            Opened::Window(w) => w.size(),
            Opened::Spilled(t) => t.size(),
        }
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), storage::ReadError> {
        match self {
            Opened::Window(w) => w.read_exact_at(offset, buf),
            Opened::Spilled(t) => t.read_exact_at(offset, buf),
        }
    }
}

/// Opens a tar member (`zip` false) or a zip member (`zip` true).
pub fn open_member<S: ReadAt, P: Spill>(
    src: &Arc<S>,
    m: &Member,
    zip: bool,
    spill: &mut P,
    limit: u64,
) -> Result<Opened<S, P::Src>, String> {
    let start = if zip {
        zip_data_offset(&**src, m)?
    } else {
        m.offset
    };
    match m.method {
        0 => SliceSource::new(Arc::clone(src), start, m.size)
            .map(Opened::Window)
            .ok_or_else(|| format!("{}: runs past the end of the archive", m.path)),
        8 => {
            let s = spill.spill(&mut |out| {
                let mut d =
                    flate2::read::DeflateDecoder::new(Reader::new(&**src, start, m.compressed));
                let n = copy_limited(&mut d, out, limit).map_err(|e| format!("{}: {e}", m.path))?;
                if n != m.size {
                    return Err(format!(
                        "{}: {n} bytes decompressed, {} expected",
                        m.path, m.size
                    ));
                }
                Ok(())
            })?;
            Ok(Opened::Spilled(s))
        }
        other => Err(format!(
            "{}: zip compression method {other} is not supported",
            m.path
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MemSource;

    struct VecSpill;
    impl Spill for VecSpill {
        type Src = MemSource;
        fn spill(
            &mut self,
            fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), String>,
        ) -> Result<MemSource, String> {
            let mut v = Vec::new();
            fill(&mut v)?;
            Ok(MemSource::new(v))
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("etcdscope-archive-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("data/member/snap")).unwrap();
        let db = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        std::fs::write(d.join("data/member/snap/db"), db).unwrap();
        std::fs::write(
            d.join("data/member/snap/0000000000000002-0000000000000010.snap"),
            b"x",
        )
        .unwrap();
        d
    }

    fn run(cmd: &str, dir: &std::path::Path) {
        let ok = std::process::Command::new("sh")
            .args(["-c", cmd])
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{cmd}");
    }

    #[test]
    fn tar_and_tgz_members_are_windows_with_the_exact_bytes() {
        let d = scratch("tar");
        run("tar cf a.tar data && tar czf a.tgz data", &d);
        let db = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        let tar = Arc::new(MemSource::new(std::fs::read(d.join("a.tar")).unwrap()));
        assert_eq!(sniff(&*tar), Kind::Tar);
        let ms = tar_members(&*tar).unwrap();
        let m = ms.iter().find(|m| m.path == "data/member/snap/db").unwrap();
        let src = open_member(&tar, m, false, &mut VecSpill, 1 << 30).unwrap();
        let mut got = vec![0u8; src.size() as usize];
        src.read_exact_at(0, &mut got).unwrap();
        assert_eq!(got, db);

        let tgz = MemSource::new(std::fs::read(d.join("a.tgz")).unwrap());
        assert_eq!(sniff(&tgz), Kind::Gzip);
        let mut raw = Vec::new();
        gunzip(&tgz, &mut raw, 1 << 30).unwrap();
        assert_eq!(raw, std::fs::read(d.join("a.tar")).unwrap());
        assert!(
            gunzip(&tgz, &mut Vec::new(), 1000).is_err(),
            "the limit holds"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn zip_stored_and_deflated() {
        let d = scratch("zip");
        run(
            "python3 -c \"import zipfile\nfor n,c in (('s.zip',zipfile.ZIP_STORED),('d.zip',zipfile.ZIP_DEFLATED)):\n  z=zipfile.ZipFile(n,'w',c); z.write('data/member/snap/db'); z.close()\"",
            &d,
        );
        let db = include_bytes!("../../tests/fixtures/v3/basic/snapshot.db");
        for name in ["s.zip", "d.zip"] {
            let z = Arc::new(MemSource::new(std::fs::read(d.join(name)).unwrap()));
            assert_eq!(sniff(&*z), Kind::Zip);
            let ms = zip_members(&*z).unwrap();
            assert_eq!(ms.len(), 1, "{name}");
            let src = open_member(&z, &ms[0], true, &mut VecSpill, 1 << 30).unwrap();
            let mut got = vec![0u8; src.size() as usize];
            src.read_exact_at(0, &mut got).unwrap();
            assert_eq!(got, db, "{name}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn damaged_archives_are_errors() {
        let mut junk = vec![0u8; 1024];
        junk[257..262].copy_from_slice(b"ustar");
        junk[0] = b'a';
        assert!(tar_members(&MemSource::new(junk)).is_err(), "bad checksum");
        assert!(zip_members(&MemSource::new(b"PK\x03\x04garbage".to_vec())).is_err());
        assert!(gunzip(
            &MemSource::new(vec![0x1f, 0x8b, 8, 0, 1, 2]),
            &mut Vec::new(),
            1 << 20
        )
        .is_err());
    }
}
