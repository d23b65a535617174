//! RFC 3339 times as etcd's v2 store writes them (Go's `time.Time` JSON), by hand: no date
//! library. Times are Unix nanoseconds in an `i64` (years 1678–2262), which covers every
//! expiration etcd can produce (`time.Unix(0, ns)`); Go's zero time (`0001-01-01T00:00:00Z`)
//! means "no expiration".

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, String> {
    let s = b
        .get(at..at + n)
        .ok_or_else(|| format!("too short at {at}"))?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(format!("expected a digit at {at}"));
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Ok(v)
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), String> {
    if b.get(at) == Some(&c) {
        Ok(())
    } else {
        Err(format!("expected '{}' at {at}", c as char))
    }
}

/// Parses an RFC 3339 time (`2006-01-02T15:04:05[.999999999](Z|±07:00)`, as Go's
/// `time.Time.UnmarshalJSON` accepts it). `Ok(None)` for Go's zero time (in any offset);
/// an error for malformed text or an instant outside the `i64` nanosecond range.
pub fn parse_rfc3339(s: &str) -> Result<Option<i64>, String> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    expect(b, 10, b'T')?;
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let min = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let sec = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return Err(format!("field out of range in {s:?}"));
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 9 {
                nanos = nanos * 10 + (b[at] - b'0') as i64;
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return Err(format!("empty fraction in {s:?}"));
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(&c @ (b'+' | b'-')) => {
            let oh = digits(b, at + 1, 2)?;
            expect(b, at + 3, b':')?;
            let om = digits(b, at + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(format!("offset out of range in {s:?}"));
            }
            at += 6;
            let o = oh * 3600 + om * 60;
            if c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(format!("missing time zone in {s:?}")),
    };
    if at != b.len() {
        return Err(format!("trailing text in {s:?}"));
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    // Go's zero time: January 1, year 1, 00:00:00 UTC.
    if secs == days_from_civil(1, 1, 1) * 86_400 && nanos == 0 {
        return Ok(None);
    }
    let ns = (secs as i128) * 1_000_000_000 + nanos as i128;
    i64::try_from(ns)
        .map(Some)
        .map_err(|_| format!("{s:?} is outside the representable range (1678..2262)"))
}

/// Formats Unix nanoseconds as Go's `RFC3339Nano` in UTC (trailing zeros of the fraction
/// dropped, no fraction when it is zero): what the v2 API prints as `expiration`.
pub fn format_rfc3339_nano_utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// 2000-01-01T00:00:00Z: Create/Set treat earlier expirations as permanent.
pub const MIN_EXPIRE_NS: i64 = 946_684_800 * 1_000_000_000;

/// The v2 API's `ttl`: ceil((expire - now) / 1 s) for a positive remainder, else truncated
/// toward zero (so an expired node shows 0 or a negative number until a SYNC removes it).
pub fn ttl_seconds(expire_ns: i64, now_ns: i64) -> i64 {
    let d = (expire_ns as i128) - (now_ns as i128);
    let mut t = d / 1_000_000_000;
    if d % 1_000_000_000 > 0 {
        t += 1;
    }
    t as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let t = parse_rfc3339("2026-11-23T15:46:58.335330153Z")
            .unwrap()
            .unwrap();
        assert_eq!(format_rfc3339_nano_utc(t), "2026-11-23T15:46:58.335330153Z");
        let z = parse_rfc3339("2026-11-23T17:46:58.33533015+02:00")
            .unwrap()
            .unwrap();
        assert_eq!(format_rfc3339_nano_utc(z), "2026-11-23T15:46:58.33533015Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), Some(0));
        assert_eq!(format_rfc3339_nano_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano_utc(-1),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z").unwrap(), None);
        assert_eq!(parse_rfc3339("0000-12-31T23:00:00-01:00").unwrap(), None);
        assert_eq!(
            parse_rfc3339("2000-01-01T00:00:00Z").unwrap(),
            Some(MIN_EXPIRE_NS)
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00Zx",
            "3000-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn ttl_like_etcd() {
        let s = 1_000_000_000;
        assert_eq!(ttl_seconds(10 * s, 0), 10);
        assert_eq!(ttl_seconds(10 * s + 1, 0), 11);
        assert_eq!(ttl_seconds(s / 2, 0), 1);
        assert_eq!(ttl_seconds(0, 0), 0);
        assert_eq!(ttl_seconds(0, s / 2), 0);
        assert_eq!(ttl_seconds(0, 3 * s / 2), -1);
    }
}
