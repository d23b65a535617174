//! kube::typed against upstream: every kubernetes/api testdata `.pb` decodes to the `.json` beside
//! it (as values) and prints as the `.yaml` beside it (byte for byte). The 4 committed copies
//! always; all of testdata/HEAD when ../shared has it. Then hostile input and Go's rules for
//! absent fields.

use std::path::{Path, PathBuf};

use kube::raw::{self, Envelope};
use kube::typed::{self, Error, Limits, Typed};
use serde_json::{json, Value};

fn pbs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pb"))
        .collect();
    v.sort();
    v
}

/// `group.version.Kind` of a testdata file name (`core` is the legacy group).
fn gvk_of(path: &Path) -> (String, String) {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut parts = stem.rsplitn(3, '.');
    let kind = parts.next().unwrap_or("").to_string();
    let version = parts.next().unwrap_or("");
    let group = parts.next().unwrap_or("");
    let av = if group == "core" {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    (av, kind)
}

/// The decode of a testdata value. Types without TypeMeta (WatchEvent) have an empty
/// apiVersion/kind in the envelope: the type comes from the file name.
fn decode_file(path: &Path, bytes: &[u8]) -> Result<Typed, Error> {
    match raw::envelope(bytes) {
        Envelope::Kubernetes(u) if u.kind.is_empty() => {
            let (av, kind) = gvk_of(path);
            typed::decode_message(&av, &kind, u.raw, Limits::default())
        }
        _ => typed::decode(bytes, Limits::default()),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// Paths where `got` and `want` differ.
fn diff(got: &Value, want: &Value, path: &str, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, w) in b {
                match a.get(k) {
                    Some(g) => diff(g, w, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k} missing (want {})", short(w))),
                }
            }
            for (k, g) in a {
                if !b.contains_key(k) {
                    out.push(format!("{path}.{k} extra (got {})", short(g)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (g, w)) in a.iter().zip(b).enumerate() {
                diff(g, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if got != want => out.push(format!("{path}: got {}, want {}", short(got), short(want))),
        _ => {}
    }
}

/// (files, misses) of one directory.
fn check(dir: &Path) -> (usize, Vec<String>) {
    let files = pbs(dir);
    let mut bad = Vec::new();
    for pb in &files {
        let name = pb.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let bytes = std::fs::read(pb).unwrap();
        let want: Value =
            serde_json::from_slice(&std::fs::read(pb.with_extension("json")).unwrap()).unwrap();
        let t = match decode_file(pb, &bytes) {
            Ok(t) => t,
            Err(e) => {
                bad.push(format!("{name}: {e}"));
                continue;
            }
        };
        if t.json != want {
            let mut d = Vec::new();
            diff(&t.json, &want, "", &mut d);
            d.truncate(5);
            bad.push(format!("{name}:\n    {}", d.join("\n    ")));
            continue;
        }
        if t.unknown_fields != 0 || !t.warnings.is_empty() {
            bad.push(format!(
                "{name}: {} unknown fields, warnings {:?}",
                t.unknown_fields, t.warnings
            ));
            continue;
        }
        if let Ok(yaml) = std::fs::read_to_string(pb.with_extension("yaml")) {
            let got = kube::yaml::to_yaml(&t.json);
            if got != yaml {
                let line = got
                    .lines()
                    .zip(yaml.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("got {a:?}, want {b:?}"))
                    .unwrap_or_else(|| "lengths differ".into());
                bad.push(format!("{name}: YAML {line}"));
            }
        }
    }
    (files.len(), bad)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn committed_objects_decode_to_upstream_json_and_yaml() {
    let (n, bad) = check(&data_dir());
    eprintln!("{}/{n} passed (committed copies)", n - bad.len());
    assert_eq!(n, 4);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_upstream_type_decodes_to_its_json_and_yaml() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-api-testdata/testdata/HEAD");
    let (n, bad) = check(&dir);
    if n == 0 {
        eprintln!("skipped: {} is not here", dir.display());
        return;
    }
    eprintln!("{}/{n} passed", n - bad.len());
    for b in &bad {
        eprintln!("  {b}");
    }
    assert!(bad.is_empty(), "{} of {n} failed", bad.len());
}

/// Upstream's older testdata (`testdata/v1.33.0` …): `.pb` files written by older releases,
/// decoded with today's schema, must give what Go prints today (`.after_roundtrip.json` when
/// upstream recorded a change, else the `.json`). Types the schema does not have are counted
/// apart (the table takes the group-versions and kinds HEAD removed from older releases). Runs on the `v*` dirs beside ../shared's HEAD, or under $KUBE_TESTDATA.
#[test]
fn older_releases_decode_as_go_prints_them_today() {
    let root = std::env::var_os("KUBE_TESTDATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/k8s-api-testdata/testdata"),
        PathBuf::from,
    );
    let Ok(rd) = std::fs::read_dir(&root) else {
        eprintln!("skipped: {} is not here", root.display());
        return;
    };
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('v'))
        })
        .collect();
    dirs.sort();
    let mut bad = Vec::new();
    for dir in &dirs {
        let (mut n, mut ok, mut removed) = (0, 0, 0);
        for pb in pbs(dir) {
            let name = pb
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_string();
            if name.contains(".after_roundtrip.") {
                continue;
            }
            n += 1;
            let after = pb.with_extension("after_roundtrip.json");
            let want_path = if after.exists() {
                after
            } else {
                pb.with_extension("json")
            };
            let want: Value = serde_json::from_slice(&std::fs::read(&want_path).unwrap()).unwrap();
            match decode_file(&pb, &std::fs::read(&pb).unwrap()) {
                Err(e) if e.is_unknown_type() => removed += 1,
                Err(e) => bad.push(format!("{}/{name}: {e}", dir.display())),
                Ok(t) if t.json == want => ok += 1,
                Ok(t) => {
                    let mut d = Vec::new();
                    diff(&t.json, &want, "", &mut d);
                    d.truncate(5);
                    bad.push(format!(
                        "{}/{name}:\n    {}",
                        dir.display(),
                        d.join("\n    ")
                    ));
                }
            }
        }
        eprintln!(
            "{}: {ok}/{n} passed, {removed} of types the schema does not have",
            dir.display()
        );
    }
    for b in &bad {
        eprintln!("  {b}");
    }
    assert!(bad.is_empty(), "{} failed", bad.len());
}

fn committed(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(format!("{name}.pb"))).unwrap()
}

/// Decodes and checks the result stays under the output cap.
fn safe(bytes: &[u8], limits: Limits) -> Result<Typed, Error> {
    let r = typed::decode(bytes, limits);
    if let Ok(t) = &r {
        let n = serde_json::to_string(&t.json).unwrap().len();
        let cap = limits.output_cap(bytes.len());
        assert!(n <= cap, "output {n} bytes over the cap {cap}");
    }
    r
}

#[test]
fn every_truncation_and_many_flips_are_safe() {
    for name in [
        "core.v1.ConfigMap",
        "core.v1.Secret",
        "core.v1.Pod",
        "apps.v1.Deployment",
    ] {
        let bytes = committed(name);
        assert!(safe(&bytes, Limits::default()).is_ok(), "{name}");
        for n in 0..bytes.len() {
            let _ = safe(&bytes[..n], Limits::default());
        }
        // every byte of the small objects, every 29th of the large ones (a debug build decodes
        // a Pod in milliseconds)
        let (step, flips): (usize, &[u8]) = if bytes.len() > 2000 {
            (29, &[0x01, 0x80, 0xff])
        } else {
            (1, &[0x01, 0x02, 0x08, 0x80, 0xff])
        };
        let mut b = bytes.clone();
        for i in (0..b.len()).step_by(step) {
            for &x in flips {
                b[i] ^= x;
                let _ = safe(&b, Limits::default());
                b[i] ^= x;
            }
        }
    }
}

/// `k8s\0` + runtime.Unknown {typeMeta {apiVersion, kind}, raw}.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    field(&mut tm, 1, api_version.as_bytes());
    field(&mut tm, 2, kind.as_bytes());
    let mut u = b"k8s\0".to_vec();
    field(&mut u, 1, &tm);
    field(&mut u, 2, raw);
    u
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field.
fn field(out: &mut Vec<u8>, num: u64, payload: &[u8]) {
    varint(out, num << 3 | 2);
    varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

fn varint_field(out: &mut Vec<u8>, num: u64, v: u64) {
    varint(out, num << 3);
    varint(out, v);
}

#[test]
fn random_bytes_are_safe() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for len in 0..3000usize {
        let raw: Vec<u8> = (0..len % 211).map(|_| next() as u8).collect();
        for (av, kind) in [("v1", "Pod"), ("apps/v1", "Deployment"), ("v1", "List")] {
            let _ = safe(&envelope(av, kind, &raw), Limits::default());
        }
        let mut plain = b"k8s\0".to_vec();
        plain.extend_from_slice(&raw);
        let _ = safe(&plain, Limits::default());
    }
}

#[test]
fn nesting_is_bounded() {
    // v1 List {items: [RawExtension {raw: <a k8s\0 List …>}]}, 500 levels deep
    let mut v = envelope("v1", "ConfigMap", b"");
    for _ in 0..500 {
        let mut ext = Vec::new();
        field(&mut ext, 1, &v);
        let mut list = Vec::new();
        field(&mut list, 2, &ext);
        v = envelope("v1", "List", &list);
    }
    match safe(&v, Limits::default()) {
        Err(Error::TooDeep { .. }) => {}
        other => panic!("{other:?}"),
    }
    // a few levels decode
    let mut v = envelope("v1", "ConfigMap", b"");
    for _ in 0..3 {
        let mut ext = Vec::new();
        field(&mut ext, 1, &v);
        let mut list = Vec::new();
        field(&mut list, 2, &ext);
        v = envelope("v1", "List", &list);
    }
    let t = safe(&v, Limits::default()).unwrap();
    assert_eq!(
        t.json["items"][0]["items"][0]["items"][0]["kind"],
        json!("ConfigMap")
    );
    // the deepest accepted nesting, with 127-deep JSON at the bottom, fits in the 1 MiB stack
    // of a wasm32 program (a debug build needs more stack than the release build)
    let mut inner = Vec::new();
    field(
        &mut inner,
        1,
        format!("{}{}", "[".repeat(127), "]".repeat(127)).as_bytes(),
    );
    let mut list = Vec::new();
    field(&mut list, 2, &inner);
    let mut v = envelope("v1", "List", &list);
    let mut levels = 0;
    loop {
        let mut ext = Vec::new();
        field(&mut ext, 1, &v);
        let mut list = Vec::new();
        field(&mut list, 2, &ext);
        let deeper = envelope("v1", "List", &list);
        if typed::decode(&deeper, Limits::default()).is_err() {
            break;
        }
        v = deeper;
        levels += 1;
    }
    assert!(levels > 10, "{levels}");
    let t = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || typed::decode(&v, Limits::default()).map(|t| t.json.to_string().len()))
        .unwrap()
        .join()
        .unwrap();
    assert!(t.is_ok(), "{t:?}");
    // a small max_depth stops a real object
    let pod = committed("core.v1.Pod");
    let small = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert!(matches!(
        typed::decode(&pod, small),
        Err(Error::TooDeep { .. })
    ));
}

#[test]
fn amplification_is_capped() {
    // Pod {spec {containers: [{}, {}, …]}}: 2 bytes of input, a whole zero Container of output
    let mut spec = Vec::new();
    for _ in 0..200_000 {
        field(&mut spec, 2, b"");
    }
    let mut pod = Vec::new();
    field(&mut pod, 2, &spec);
    let v = envelope("v1", "Pod", &pod);
    let small = Limits {
        min_output: 0,
        max_output: 4 << 20,
        ..Limits::default()
    };
    match safe(&v, small) {
        Err(Error::TooLarge { limit }) => assert_eq!(limit, 4 << 20),
        other => panic!("{:?}", other.map(|t| t.json.to_string().len())),
    }
    // many `0a 00` at the top: ObjectMeta merged, small output
    let mut pod = Vec::new();
    for _ in 0..100_000 {
        field(&mut pod, 1, b"");
    }
    let t = safe(&envelope("v1", "Pod", &pod), Limits::default()).unwrap();
    assert_eq!(t.json["metadata"], json!({}));
    // a singular message field 200k times, each with a field: merged in linear time
    let mut pod = Vec::new();
    for i in 0..200_000u32 {
        let mut meta = Vec::new();
        field(&mut meta, 1, if i % 2 == 0 { b"a" } else { b"b" });
        field(&mut pod, 1, &meta);
    }
    let started = std::time::Instant::now();
    let t = safe(&envelope("v1", "Pod", &pod), Limits::default()).unwrap();
    assert_eq!(t.json["metadata"], json!({"name": "b"}));
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn wrong_wire_types_and_unknown_types_are_errors() {
    // ObjectMeta.name (string) as a varint
    let mut meta = Vec::new();
    varint_field(&mut meta, 1, 5);
    let mut pod = Vec::new();
    field(&mut pod, 1, &meta);
    match typed::decode(&envelope("v1", "Pod", &pod), Limits::default()) {
        Err(Error::Malformed { offset, .. }) => assert!(offset > 4),
        other => panic!("{other:?}"),
    }
    let e = typed::decode(
        &envelope("example.com/v1", "Widget", b""),
        Limits::default(),
    )
    .unwrap_err();
    assert!(e.is_unknown_type(), "{e}");
    assert_eq!(
        typed::decode(b"{\"kind\":\"Pod\"}", Limits::default()),
        Err(Error::NotProtobuf)
    );
}

fn decode_raw(av: &str, kind: &str, raw: &[u8]) -> Typed {
    typed::decode(&envelope(av, kind, raw), Limits::default()).unwrap()
}

#[test]
fn absent_fields_follow_go() {
    // nil slice without omitempty → null; absent value struct (metadata) → an object
    let t = decode_raw("rbac.authorization.k8s.io/v1", "ClusterRole", b"");
    assert_eq!(
        t.json,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {}, "rules": null})
    );
    let keys: Vec<&String> = t.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "rules"]);

    // Pod: absent spec/status are zero structs; containers (no omitempty) null; omitempty
    // strings and pointers left out
    let t = decode_raw("v1", "Pod", b"");
    assert_eq!(t.json["spec"]["containers"], Value::Null);
    assert!(t.json["spec"].get("restartPolicy").is_none());
    assert!(t.json["spec"].get("activeDeadlineSeconds").is_none());
    assert_eq!(t.json["status"], json!({}));

    // Time without omitzero: zero → null even with omitempty (a struct)
    let mut cond = Vec::new();
    field(&mut cond, 1, b"Ready");
    let mut status = Vec::new();
    field(&mut status, 2, &cond);
    let mut pod = Vec::new();
    field(&mut pod, 3, &status);
    let t = decode_raw("v1", "Pod", &pod);
    assert_eq!(
        t.json["status"]["conditions"],
        json!([{"type": "Ready", "status": "", "lastProbeTime": null, "lastTransitionTime": null}])
    );

    // a present pointer to 0 is kept; an omitempty 0 is dropped
    let mut spec = Vec::new();
    varint_field(&mut spec, 1, 0); // replicas *int32
    varint_field(&mut spec, 5, 0); // minReadySeconds int32,omitempty
    let mut d = Vec::new();
    field(&mut d, 2, &spec);
    let t = decode_raw("apps/v1", "Deployment", &d);
    assert_eq!(t.json["spec"]["replicas"], json!(0));
    assert!(t.json["spec"].get("minReadySeconds").is_none());
    assert!(t.json["spec"].get("paused").is_none());
    assert_eq!(
        t.json["spec"]["template"]["spec"]["containers"],
        Value::Null
    );

    // creationTimestamp is omitzero: an empty Time is left out, a set one printed
    let mut meta = Vec::new();
    field(&mut meta, 1, b"x");
    field(&mut meta, 8, b"");
    let mut cm = Vec::new();
    field(&mut cm, 1, &meta);
    let t = decode_raw("v1", "ConfigMap", &cm);
    assert_eq!(t.json["metadata"], json!({"name": "x"}));
    let mut ts = Vec::new();
    varint_field(&mut ts, 1, 1_199_149_261);
    let mut meta = Vec::new();
    field(&mut meta, 8, &ts);
    let mut cm = Vec::new();
    field(&mut cm, 1, &meta);
    let t = decode_raw("v1", "ConfigMap", &cm);
    assert_eq!(
        t.json["metadata"],
        json!({"creationTimestamp": "2008-01-01T01:01:01Z"})
    );
}

#[test]
fn maps_bytes_and_unknown_fields() {
    // Secret.data map<string, bytes>: sorted keys, last duplicate wins, base64
    let mut secret = Vec::new();
    for (k, v) in [("b", &b"\x02"[..]), ("a", b"hi"), ("b", b"xyz")] {
        let mut e = Vec::new();
        field(&mut e, 1, k.as_bytes());
        field(&mut e, 2, v);
        field(&mut secret, 2, &e);
    }
    field(&mut secret, 99, b"new field");
    let t = decode_raw("v1", "Secret", &secret);
    assert_eq!(t.json["data"], json!({"a": "aGk=", "b": "eHl6"}));
    let keys: Vec<&String> = t.json["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(t.unknown_fields, 1);
    assert!(t.json.get("stringData").is_none());
}

#[test]
fn raw_json_that_is_not_json_is_base64_with_a_warning() {
    // v1 List {items: [RawExtension {raw: "\x01\x02"}]}
    let mut ext = Vec::new();
    field(&mut ext, 1, b"\x01\x02");
    let mut list = Vec::new();
    field(&mut list, 2, &ext);
    let t = decode_raw("v1", "List", &list);
    assert_eq!(t.json["items"], json!(["AQI="]));
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    // JSON bytes are embedded
    let mut ext = Vec::new();
    field(&mut ext, 1, br#"{"a": [1, 2]}"#);
    let mut list = Vec::new();
    field(&mut list, 2, &ext);
    let t = decode_raw("v1", "List", &list);
    assert_eq!(t.json["items"], json!([{"a": [1, 2]}]));
    assert!(t.warnings.is_empty());
}
