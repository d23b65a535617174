//! Rows into SQL text: PostgreSQL `COPY ... FROM stdin` (text format) or multi-row `INSERT`
//! statements, for SQLite or PostgreSQL. Bytes from the input never appear raw: binary values
//! are hex (`X'..'`, `'\x..'::bytea`, COPY `\\x..`), text values go through hex too
//! (`CAST(X'..' AS TEXT)`, `convert_from('\x..'::bytea, 'UTF8')`) or, inside COPY, every byte
//! outside `[A-Za-z0-9/._:-]` as a `\xHH` escape.

use std::io::{self, Write};

use crate::Dialect;

/// Where the schema writers send their statements and rows: a script ([`Emitter`]) or, with
/// the `sqlite-db` feature, a SQLite connection (prepared statements).
pub(crate) trait Sink {
    /// Statements of our own (never input bytes), run or written as they are.
    fn sql(&mut self, s: &str) -> crate::Result<()>;
    /// Starts the rows of `table` with these columns.
    fn begin(&mut self, table: &str, columns: &[&str]) -> crate::Result<()>;
    /// One row (as many values as columns given to `begin`).
    fn row(&mut self, vals: &[Val<'_>]) -> crate::Result<()>;
    /// Ends the open table's rows.
    fn end(&mut self) -> crate::Result<()>;
}

impl<W: Write> Sink for Emitter<W> {
    fn sql(&mut self, s: &str) -> crate::Result<()> {
        Ok(Emitter::sql(self, s)?)
    }
    fn begin(&mut self, table: &str, columns: &[&str]) -> crate::Result<()> {
        Ok(Emitter::begin(self, table, columns)?)
    }
    fn row(&mut self, vals: &[Val<'_>]) -> crate::Result<()> {
        Ok(Emitter::row(self, vals)?)
    }
    fn end(&mut self) -> crate::Result<()> {
        Ok(Emitter::end(self)?)
    }
}

/// One column value.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Bool(bool),
    /// Bytes: BLOB / bytea.
    Blob(&'a [u8]),
    /// Text that is valid UTF-8 without NUL (see [`text_ok`]); written as NULL otherwise.
    Text(&'a [u8]),
    /// Text of any bytes: SQLite stores them as they are (`CAST(X'..' AS TEXT)`, NUL and
    /// invalid UTF-8 included); PostgreSQL as [`Val::Text`] (the caller keeps such bytes out).
    KeyText(&'a [u8]),
    /// [`Val::Text`] already checked by [`text_ok`] (written without checking again).
    CheckedText(&'a [u8]),
}

/// Whether bytes can be a text value in both databases: valid UTF-8 and no NUL (PostgreSQL
/// text cannot hold NUL).
pub fn text_ok(b: &[u8]) -> bool {
    !b.contains(&0) && std::str::from_utf8(b).is_ok()
}

/// `Val::Text` when the bytes can be text, else NULL.
pub fn text_or_null(b: &[u8]) -> Val<'_> {
    if text_ok(b) {
        Val::CheckedText(b)
    } else {
        Val::Null
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Four bytes as eight lowercase hex digits (little-endian lanes, SWAR: no table, no
/// branches). Each byte goes to its own 16-bit lane, its nibbles to the two bytes of the lane,
/// then every lane byte n (0..=15) becomes `'0' + n`, plus 39 (`'a' - '0' - 10`) when n > 9.
#[inline]
fn hex4(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    let n = ((x >> 4) & 0x000f_000f_000f_000f) | ((x & 0x000f_000f_000f_000f) << 8);
    let over9 = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    n + 0x3030_3030_3030_3030 + over9 * 39
}

/// Bytes as lowercase hex, appended: the output space is made once, then filled 8 bytes of
/// input at a time.
fn hex_into(buf: &mut Vec<u8>, b: &[u8]) {
    let start = buf.len();
    buf.resize(start + b.len() * 2, 0);
    let out = &mut buf[start..];
    let mut ins = b.chunks_exact(8);
    let mut outs = out.chunks_exact_mut(16);
    for (i, o) in (&mut ins).zip(&mut outs) {
        let lo = u32::from_le_bytes([i[0], i[1], i[2], i[3]]);
        let hi = u32::from_le_bytes([i[4], i[5], i[6], i[7]]);
        o[..8].copy_from_slice(&hex4(lo).to_le_bytes());
        o[8..].copy_from_slice(&hex4(hi).to_le_bytes());
    }
    for (&x, o) in ins
        .remainder()
        .iter()
        .zip(outs.into_remainder().chunks_exact_mut(2))
    {
        o[0] = HEX[(x >> 4) as usize];
        o[1] = HEX[(x & 15) as usize];
    }
}

/// An integer in decimal, appended without an allocation.
fn int_into(buf: &mut Vec<u8>, i: i64) {
    let mut tmp = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut p = tmp.len();
    loop {
        p -= 1;
        tmp[p] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[p..]);
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Copy,
    Insert,
}

/// Rows per INSERT statement, and the SQL size after which a statement is closed early.
const BATCH_ROWS: usize = 500;
const BATCH_BYTES: usize = 1 << 20;
/// Output is collected in one buffer and handed to the writer in pieces of about this size.
const FLUSH_AT: usize = 1 << 20;

/// Writes the rows of one table at a time.
pub struct Emitter<W: Write> {
    out: W,
    dialect: Dialect,
    mode: Mode,
    /// Output not yet handed to `out`.
    buf: Vec<u8>,
    /// The open table: its INSERT/COPY head.
    head: Vec<u8>,
    open: bool,
    rows_in_stmt: usize,
    bytes_in_stmt: usize,
    pub bytes: u64,
    pub rows: u64,
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W, dialect: Dialect, mode: Mode) -> Self {
        Emitter {
            out,
            dialect,
            mode,
            buf: Vec::with_capacity(FLUSH_AT + (1 << 16)),
            head: Vec::new(),
            open: false,
            rows_in_stmt: 0,
            bytes_in_stmt: 0,
            bytes: 0,
            rows: 0,
        }
    }

    #[cfg(test)]
    pub fn into_inner(mut self) -> W {
        self.drain().unwrap();
        self.out
    }

    fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Raw SQL (statements of our own, never input bytes).
    pub fn sql(&mut self, s: &str) -> io::Result<()> {
        self.bytes += s.len() as u64;
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }

    /// Starts the rows of `table` with these columns.
    pub fn begin(&mut self, table: &str, columns: &[&str]) -> io::Result<()> {
        self.end()?;
        self.head.clear();
        let cols = columns.join(", ");
        match self.mode {
            Mode::Copy => {
                self.sql(&format!("COPY {table} ({cols}) FROM stdin;\n"))?;
            }
            Mode::Insert => {
                self.head
                    .extend_from_slice(format!("INSERT INTO {table} ({cols}) VALUES\n").as_bytes());
            }
        }
        self.open = true;
        self.rows_in_stmt = 0;
        self.bytes_in_stmt = 0;
        Ok(())
    }

    /// One row (as many values as columns given to `begin`).
    pub fn row(&mut self, vals: &[Val<'_>]) -> io::Result<()> {
        let buf = &mut self.buf;
        let start = buf.len();
        match self.mode {
            Mode::Copy => {
                for (i, v) in vals.iter().enumerate() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    copy_val(buf, v);
                }
                buf.push(b'\n');
            }
            Mode::Insert => {
                if self.rows_in_stmt == 0 {
                    buf.extend_from_slice(&self.head);
                } else {
                    buf.extend_from_slice(b",\n");
                }
                buf.push(b'(');
                for (i, v) in vals.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    insert_val(buf, v, self.dialect);
                }
                buf.push(b')');
            }
        }
        let n = buf.len() - start;
        self.bytes += n as u64;
        self.rows += 1;
        self.rows_in_stmt += 1;
        self.bytes_in_stmt += n;
        if self.mode == Mode::Insert
            && (self.rows_in_stmt >= BATCH_ROWS || self.bytes_in_stmt >= BATCH_BYTES)
        {
            self.close_stmt()?;
        }
        if self.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }

    fn close_stmt(&mut self) -> io::Result<()> {
        if self.rows_in_stmt > 0 {
            self.sql(";\n")?;
        }
        self.rows_in_stmt = 0;
        self.bytes_in_stmt = 0;
        Ok(())
    }

    /// Ends the open table's rows.
    pub fn end(&mut self) -> io::Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        match self.mode {
            Mode::Copy => self.sql("\\.\n"),
            Mode::Insert => self.close_stmt(),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

/// A value inside a COPY text-format line.
fn copy_val(buf: &mut Vec<u8>, v: &Val<'_>) {
    match *v {
        Val::Null => buf.extend_from_slice(b"\\N"),
        Val::Int(i) => int_into(buf, i),
        Val::Bool(b) => buf.push(if b { b't' } else { b'f' }),
        Val::Blob(b) => {
            // bytea hex format `\x..`; the backslash doubled for COPY.
            buf.extend_from_slice(b"\\\\x");
            hex_into(buf, b);
        }
        Val::Text(t) | Val::KeyText(t) if !text_ok(t) => buf.extend_from_slice(b"\\N"),
        Val::Text(t) | Val::KeyText(t) | Val::CheckedText(t) => copy_text(buf, t),
    }
}

/// Bytes that stand for themselves inside COPY text; every other byte is a `\xHH` escape.
const COPY_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.' | b'_' | b':' | b'-');
        i += 1;
    }
    t
};

fn copy_text(buf: &mut Vec<u8>, t: &[u8]) {
    let mut rest = t;
    while !rest.is_empty() {
        let plain = rest.iter().take_while(|&&x| COPY_PLAIN[x as usize]).count();
        buf.extend_from_slice(&rest[..plain]);
        rest = &rest[plain..];
        let escaped = rest
            .iter()
            .take_while(|&&x| !COPY_PLAIN[x as usize])
            .count();
        for &x in &rest[..escaped] {
            buf.extend_from_slice(&[b'\\', b'x', HEX[(x >> 4) as usize], HEX[(x & 15) as usize]]);
        }
        rest = &rest[escaped..];
    }
}

/// A value inside `VALUES (...)`.
fn insert_val(buf: &mut Vec<u8>, v: &Val<'_>, d: Dialect) {
    match (*v, d) {
        (Val::Null, _) => buf.extend_from_slice(b"NULL"),
        (Val::Int(i), _) => int_into(buf, i),
        (Val::Bool(b), Dialect::Postgres) => {
            buf.extend_from_slice(if b { b"true" } else { b"false" })
        }
        (Val::Bool(b), Dialect::Sqlite) => buf.push(if b { b'1' } else { b'0' }),
        (Val::Blob(b), Dialect::Sqlite) => {
            buf.extend_from_slice(b"X'");
            hex_into(buf, b);
            buf.push(b'\'');
        }
        (Val::Blob(b), Dialect::Postgres) => {
            buf.extend_from_slice(b"'\\x");
            hex_into(buf, b);
            buf.extend_from_slice(b"'::bytea");
        }
        (Val::KeyText(t), Dialect::Sqlite) => {
            buf.extend_from_slice(b"CAST(X'");
            hex_into(buf, t);
            buf.extend_from_slice(b"' AS TEXT)");
        }
        (Val::Text(t) | Val::KeyText(t), _) if !text_ok(t) => buf.extend_from_slice(b"NULL"),
        (Val::Text(t) | Val::CheckedText(t), Dialect::Sqlite) => {
            buf.extend_from_slice(b"CAST(X'");
            hex_into(buf, t);
            buf.extend_from_slice(b"' AS TEXT)");
        }
        (Val::Text(t) | Val::KeyText(t) | Val::CheckedText(t), Dialect::Postgres) => {
            buf.extend_from_slice(b"convert_from('\\x");
            hex_into(buf, t);
            buf.extend_from_slice(b"'::bytea, 'UTF8')");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(d: Dialect, m: Mode, v: Val<'_>) -> String {
        let mut e = Emitter::new(Vec::new(), d, m);
        e.begin("t", &["c"]).unwrap();
        e.row(&[v]).unwrap();
        e.end().unwrap();
        String::from_utf8(e.into_inner()).unwrap()
    }

    #[test]
    fn literals_never_carry_raw_bytes() {
        let evil: &[u8] = b"'); DROP TABLE kine;--\\\t\n\0\xff";
        let s = one(Dialect::Sqlite, Mode::Insert, Val::Blob(evil));
        assert_eq!(
            s,
            "INSERT INTO t (c) VALUES\n(X'27293b2044524f50205441424c45206b696e653b2d2d5c090a00ff');\n"
        );
        let s = one(Dialect::Postgres, Mode::Copy, Val::Blob(b"a\\"));
        assert_eq!(s, "COPY t (c) FROM stdin;\n\\\\x615c\n\\.\n");
        let s = one(Dialect::Postgres, Mode::Insert, Val::Blob(b""));
        assert!(s.contains("('\\x'::bytea)"));
        // Text: not valid → NULL; valid → hex or \x escapes only.
        assert!(one(Dialect::Sqlite, Mode::Insert, Val::Text(evil)).contains("(NULL)"));
        let t = b"a'b\\c d/\xc3\xa9";
        assert!(one(Dialect::Sqlite, Mode::Insert, Val::Text(t))
            .contains("(CAST(X'6127625c6320642fc3a9' AS TEXT))"));
        // Key text in SQLite: any bytes, still only hex.
        assert!(one(Dialect::Sqlite, Mode::Insert, Val::KeyText(b"\0'\xff"))
            .contains("(CAST(X'0027ff' AS TEXT))"));
        assert_eq!(
            one(Dialect::Postgres, Mode::Copy, Val::Text(t)),
            "COPY t (c) FROM stdin;\na\\x27b\\x5cc\\x20d/\\xc3\\xa9\n\\.\n"
        );
        assert!(
            one(Dialect::Postgres, Mode::Insert, Val::Text(t)).contains("convert_from('\\x612762")
        );
    }

    #[test]
    fn hex_and_int_as_the_plain_way() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for start in 0..20 {
            for len in 0..40 {
                let b = &all[start..start + len];
                let mut got = b"x".to_vec();
                hex_into(&mut got, b);
                let want: String = std::iter::once("x".to_string())
                    .chain(b.iter().map(|x| format!("{x:02x}")))
                    .collect();
                assert_eq!(String::from_utf8(got).unwrap(), want);
            }
        }
        let mut got = Vec::new();
        hex_into(&mut got, &all);
        let want: String = all.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(String::from_utf8(got).unwrap(), want);
        for i in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            12345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut got = Vec::new();
            int_into(&mut got, i);
            assert_eq!(String::from_utf8(got).unwrap(), i.to_string());
        }
        let mut got = Vec::new();
        copy_text(&mut got, b"ab/c d\\e\xff");
        assert_eq!(got, b"ab/c\\x20d\\x5ce\\xff");
    }

    #[test]
    fn insert_batches() {
        let mut e = Emitter::new(Vec::new(), Dialect::Sqlite, Mode::Insert);
        e.begin("t", &["a", "b"]).unwrap();
        for i in 0..(BATCH_ROWS + 2) {
            e.row(&[Val::Int(i as i64), Val::Bool(i % 2 == 0)]).unwrap();
        }
        e.end().unwrap();
        e.end().unwrap(); // idempotent
        let s = String::from_utf8(e.into_inner()).unwrap();
        assert_eq!(s.matches("INSERT INTO t (a, b) VALUES").count(), 2);
        assert_eq!(s.matches(";\n").count(), 2);
        assert!(s.ends_with("(501,0);\n"));
    }
}
