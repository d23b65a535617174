//! YAML as kubectl prints it (`-o yaml`: sigs.k8s.io/yaml over go-yaml): keys sorted, two-space
//! indent, list items at their key's indent, strings plain unless YAML 1.1 would read them as
//! something else (then double-quoted with JSON escapes, which YAML reads the same way).
//!
//! Any JSON value gives valid YAML of the same value; on the upstream testdata the text equals
//! kubectl's byte for byte.

use serde_json::Value;

/// `v` as YAML (ends with a newline; `{}`/`[]`/a scalar on one line for empty or scalar `v`).
pub fn to_yaml(v: &Value) -> String {
    let mut out = Vec::new();
    match v {
        Value::Object(m) if !m.is_empty() => object(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => array(a, 0, &mut out),
        other => out.push(inline(other)),
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn object(m: &serde_json::Map<String, Value>, ind: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(ind);
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (k, v) in entries {
        let key = string(k);
        match v {
            Value::Object(x) if !x.is_empty() => {
                out.push(format!("{pad}{key}:"));
                object(x, ind + 1, out);
            }
            Value::Array(x) if !x.is_empty() => {
                out.push(format!("{pad}{key}:"));
                array(x, ind, out);
            }
            other => out.push(format!("{pad}{key}: {}", inline(other))),
        }
    }
}

fn array(a: &[Value], ind: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(ind);
    for x in a {
        match x {
            Value::Object(m) if !m.is_empty() => {
                let mut sub = Vec::new();
                object(m, ind + 1, &mut sub);
                first_as_item(&mut sub, &pad);
                out.extend(sub);
            }
            Value::Array(l) if !l.is_empty() => {
                let mut sub = Vec::new();
                array(l, ind + 1, &mut sub);
                first_as_item(&mut sub, &pad);
                out.extend(sub);
            }
            other => out.push(format!("{pad}- {}", inline(other))),
        }
    }
}

/// Turns the first line of a nested block into the list item's line (`- ` at `pad`).
fn first_as_item(sub: &mut [String], pad: &str) {
    if let Some(first) = sub.first_mut() {
        *first = format!("{pad}- {}", first.trim_start());
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string scalar: plain when YAML reads it back as this string, else double-quoted.
fn string(s: &str) -> String {
    if needs_quotes(s) {
        // JSON string escapes are YAML double-quoted escapes too.
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.trim() != s
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control())
        || resolves_to_non_string(s)
}

/// Whether YAML 1.1 (go-yaml v2) would resolve the plain scalar `s` to a bool, null, number,
/// timestamp or sexagesimal number.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 25] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
    ];
    if s.len() <= 5 && (s == "~" || WORDS.contains(&s)) {
        return true;
    }
    let b = s.as_bytes();
    let digits = |x: &[u8]| !x.is_empty() && x.iter().all(u8::is_ascii_digit);
    let unsigned = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    // .inf / .nan
    if matches!(unsigned, b".inf" | b".Inf" | b".INF") || matches!(b, b".nan" | b".NaN" | b".NAN") {
        return true;
    }
    // Decimal numbers: 12, 1.5, .5, 1., 1e5, 1.5E-3
    let (mantissa, exp) = match unsigned.iter().position(|&c| c == b'e' || c == b'E') {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.iter().position(|&c| c == b'.') {
        Some(i) => {
            let (int, frac) = (&mantissa[..i], &mantissa[i + 1..]);
            (digits(int) && (frac.is_empty() || digits(frac))) || (int.is_empty() && digits(frac))
        }
        None => digits(mantissa),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => digits(
            e.strip_prefix(b"-")
                .or_else(|| e.strip_prefix(b"+"))
                .unwrap_or(e),
        ),
    };
    if mantissa_ok && exp_ok {
        return true;
    }
    // Hex and octal.
    if let Some(h) = b.strip_prefix(b"0x") {
        if !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit) {
            return true;
        }
    }
    let oct = b.strip_prefix(b"0o").unwrap_or(b);
    if b.first() == Some(&b'0') && !oct.is_empty() && oct.iter().all(|c| (b'0'..=b'7').contains(c))
    {
        return true;
    }
    // Dates and timestamps: 2008-01-01, 2008-1-1T…
    if b.len() >= 8 && digits(&b[..4]) && b[4] == b'-' {
        let rest = &b[5..];
        let m = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if (1..=2).contains(&m) && rest.get(m) == Some(&b'-') {
            let d = rest[m + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let after = rest.get(m + 1 + d);
            if (1..=2).contains(&d) && matches!(after, None | Some(b'T' | b't' | b' ')) {
                return true;
            }
        }
    }
    // Sexagesimal: 1:20, -3:25:45.5, 1_000:30
    if let Some(i) = unsigned.iter().position(|&c| c == b':') {
        let head = &unsigned[..i];
        if !head.is_empty() && head.iter().all(|c| c.is_ascii_digit() || *c == b'_') {
            let mut ok = true;
            let tail = &unsigned[i..];
            let (groups, frac) = match tail.iter().position(|&c| c == b'.') {
                Some(j) => (&tail[..j], Some(&tail[j + 1..])),
                None => (tail, None),
            };
            for g in groups.split(|&c| c == b':').skip(1) {
                let two = g.len() == 2 && (b'0'..=b'5').contains(&g[0]) && g[1].is_ascii_digit();
                let one = g.len() == 1 && g[0].is_ascii_digit();
                ok &= two || one;
            }
            if let Some(f) = frac {
                ok &= f.iter().all(|c| c.is_ascii_digit() || *c == b'_');
            }
            if ok {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quoting_follows_yaml_1_1() {
        for s in [
            "",
            "true",
            "no",
            "On",
            "~",
            "null",
            "12",
            "-1.5",
            ".5",
            "1e5",
            "0x1F",
            "017",
            ".inf",
            "2008-01-01T01:01:01Z",
            "2008-1-1",
            "1:20",
            "-3:25:45.5",
            "-x",
            "a: b",
            "x #y",
            " x",
            "x ",
            "a\nb",
            "*ref",
            "{x}",
            "k:",
        ] {
            assert!(needs_quotes(s), "{s:?} must be quoted");
        }
        for s in [
            "nameValue",
            "v1",
            "app.kubernetes.io/name",
            "10Gi",
            "1.2.3",
            "http://x",
            "a:b",
            "x-1",
            "ünïcode",
            "0.5x",
            "2008-01",
            "1:60",
        ] {
            assert!(!needs_quotes(s), "{s:?} can be plain");
        }
    }

    #[test]
    fn layout_like_kubectl() {
        let v = json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "x", "labels": {}, "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "args": ["a", "true"]}], "volumes": []},
            "matrix": [[1, 2], []],
        });
        let want = "apiVersion: v1
kind: Pod
matrix:
- - 1
  - 2
- []
metadata:
  creationTimestamp: null
  labels: {}
  name: x
spec:
  containers:
  - args:
    - a
    - \"true\"
    name: c
  volumes: []
";
        assert_eq!(to_yaml(&v), want);
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!("yes")), "\"yes\"\n");
    }
}
