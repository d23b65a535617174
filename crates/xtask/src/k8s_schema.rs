//! `cargo xtask k8s-schema --api DIR --apimachinery DIR [--api-commit REV]
//! [--apimachinery-commit REV] [--out FILE] [--check]`: the schema table of `kube::typed`.
//!
//! Reads every `generated.proto` under the two upstream trees (kubernetes/api and
//! kubernetes/apimachinery) for the wire facts (field numbers, scalar types, repeated/map,
//! message references) and the Go files beside them for the JSON facts (struct field order,
//! `json:"name,omitempty,omitzero"`, pointers, embedded structs, `type X []string` slice wrappers,
//! `type X pkg.Y` aliases, `const GroupName`). Every proto field must match a Go field with the
//! same protobuf number and compatible type, and every Go field with a protobuf tag must exist in
//! the proto: any disagreement stops the run with the list of problems.
//!
//! Writes `crates/kube/src/schema/generated.rs` (static data only); `--check` compares instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SCALARS: &[&str] = &[
    "string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float",
];

/// Messages with hand-written JSON (kube's `schema::Special`).
const SPECIALS: &[(&str, &str)] = &[
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Time", "Time"),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
        "MicroTime",
    ),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Duration", "Duration"),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1", "RawJson"),
    ("k8s.io.apimachinery.pkg.runtime.RawExtension", "RawJson"),
    ("k8s.io.apimachinery.pkg.api.resource.Quantity", "Quantity"),
    (
        "k8s.io.apimachinery.pkg.api.resource.QuantityValue",
        "Quantity",
    ),
    (
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        "IntOrString",
    ),
];

#[derive(Debug, Clone)]
enum PType {
    Scalar(String),
    Message(String),
    /// (key type, value type); keys are always string.
    Map(#[allow(dead_code)] String, Box<PType>),
}

#[derive(Debug, Clone)]
struct PField {
    name: String,
    num: u32,
    repeated: bool,
    ty: PType,
}

#[derive(Debug)]
struct PMessage {
    dir: PathBuf,
    fields: Vec<PField>,
}

#[derive(Debug, Clone)]
struct GoField {
    /// Empty for an embedded (anonymous) field.
    name: String,
    ty: String,
    json: Option<String>,
    omitempty: bool,
    omitzero: bool,
    /// (number, wire word, label word) of the protobuf tag; None without one or for `protobuf:"-"`.
    proto: Option<(u32, String, String, Option<String>)>,
    line: String,
}

#[derive(Debug, Default)]
struct GoPkg {
    group: Option<String>,
    structs: HashMap<String, Vec<GoField>>,
    /// `type X []T`, `type X map[..]..`, `type X string` …: name → underlying type text.
    named: HashMap<String, String>,
    /// `type X pkg.Y` → (directory of pkg, Y).
    aliases: HashMap<String, (PathBuf, String)>,
    /// Structs with a line this parser does not understand (an error only if a message needs it).
    bad: HashMap<String, String>,
}

struct Args {
    api: PathBuf,
    apimachinery: PathBuf,
    api_commit: String,
    apimachinery_commit: String,
    /// Older kubernetes/api trees (label, dir), newest first: packages HEAD no longer has.
    older: Vec<(String, PathBuf)>,
    out: PathBuf,
    check: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let usage = "usage: cargo xtask k8s-schema --api DIR --apimachinery DIR [--api-commit REV] [--apimachinery-commit REV] [--older LABEL=DIR]... [--out FILE] [--check]";
    let mut api = None;
    let mut am = None;
    let mut api_commit = "unknown".to_string();
    let mut am_commit = "unknown".to_string();
    let mut out = crate::repo_root().join("crates/kube/src/schema/generated.rs");
    let mut check = false;
    let mut older = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value; {usage}"))
        };
        match a.as_str() {
            "--api" => api = Some(PathBuf::from(val()?)),
            "--apimachinery" => am = Some(PathBuf::from(val()?)),
            "--api-commit" => api_commit = val()?,
            "--apimachinery-commit" => am_commit = val()?,
            "--out" => out = PathBuf::from(val()?),
            "--check" => check = true,
            "--older" => {
                let v = val()?;
                let (label, dir) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--older takes LABEL=DIR, not {v:?}"))?;
                older.push((label.to_string(), PathBuf::from(dir)));
            }
            _ => return Err(format!("unknown argument {a:?}; {usage}")),
        }
    }
    Ok(Args {
        api: api.ok_or(usage)?,
        apimachinery: am.ok_or(usage)?,
        api_commit,
        apimachinery_commit: am_commit,
        older,
        out,
        check,
    })
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse_args(args)?;
    let text = generate(&a)?;
    if a.check {
        let old =
            std::fs::read_to_string(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
        if old != text {
            return Err(format!(
                "{} is not what the sources give; regenerate it",
                a.out.display()
            ));
        }
        eprintln!("xtask: k8s-schema: {} is up to date", a.out.display());
        return Ok(());
    }
    std::fs::write(&a.out, text).map_err(|e| format!("{}: {e}", a.out.display()))?;
    eprintln!("xtask: k8s-schema: wrote {}", a.out.display());
    Ok(())
}

fn find_protos(root: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let rd = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if matches!(
                name,
                "testdata" | "vendor" | "testapigroup" | "hack" | ".git"
            ) {
                continue;
            }
            find_protos(&p, out)?;
        } else if name == "generated.proto" {
            out.push(p);
        }
    }
    Ok(())
}

/// `package`, messages of one generated.proto (the subset upstream uses: proto2, flat messages,
/// optional/repeated/map fields).
fn parse_proto(path: &Path, msgs: &mut BTreeMap<String, PMessage>) -> Result<String, String> {
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut pkg = None;
    let mut cur: Option<String> = None;
    let mut in_comment = false;
    for (i, raw) in src.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let mut line = raw.trim();
        if in_comment {
            if let Some(p) = line.find("*/") {
                line = line[p + 2..].trim();
                in_comment = false;
            } else {
                continue;
            }
        }
        if line.starts_with("/*") {
            if !line.contains("*/") {
                in_comment = true;
            }
            continue;
        }
        if let Some(p) = line.find("//") {
            line = line[..p].trim();
        }
        if line.is_empty() {
            continue;
        }
        if cur.is_none() {
            if let Some(p) = line.strip_prefix("package ") {
                pkg = Some(p.trim_end_matches(';').trim().to_string());
            } else if let Some(m) = line.strip_prefix("message ") {
                let name = m.trim_end_matches('{').trim();
                let p = pkg
                    .as_ref()
                    .ok_or_else(|| format!("{}: message before package", at()))?;
                let full = format!("{p}.{name}");
                msgs.insert(
                    full.clone(),
                    PMessage {
                        dir: dir.clone(),
                        fields: Vec::new(),
                    },
                );
                cur = Some(full);
            } else if !(line.starts_with("syntax")
                || line.starts_with("import")
                || line.starts_with("option"))
            {
                return Err(format!("{}: unexpected proto line {line:?}", at()));
            }
            continue;
        }
        if line == "}" {
            cur = None;
            continue;
        }
        let p = pkg.clone().unwrap_or_default();
        let resolve = |t: &str| -> PType {
            if SCALARS.contains(&t) {
                PType::Scalar(t.to_string())
            } else if let Some(full) = t.strip_prefix('.') {
                PType::Message(full.to_string())
            } else if t.contains('.') {
                // older protos: qualified names without the leading dot (resolved from the root,
                // as no package nests a `k8s` scope)
                PType::Message(t.to_string())
            } else {
                PType::Message(format!("{p}.{t}"))
            }
        };
        let body = line
            .strip_suffix(';')
            .ok_or_else(|| format!("{}: unexpected proto line {line:?}", at()))?;
        let (decl, num) = body
            .rsplit_once('=')
            .ok_or_else(|| format!("{}: unexpected proto line {line:?}", at()))?;
        let num: u32 = num
            .trim()
            .parse()
            .map_err(|_| format!("{}: bad field number in {line:?}", at()))?;
        let decl = decl.trim();
        let (ty_text, name) = decl
            .rsplit_once(' ')
            .ok_or_else(|| format!("{}: unexpected proto line {line:?}", at()))?;
        let ty_text = ty_text.trim();
        let (repeated, ty) = if let Some(m) = ty_text.strip_prefix("map<") {
            let inner = m.trim_end_matches('>');
            let (k, v) = inner
                .split_once(',')
                .ok_or_else(|| format!("{}: bad map in {line:?}", at()))?;
            let (k, v) = (k.trim(), v.trim());
            if k != "string" {
                return Err(format!(
                    "{}: map key {k} (only string keys are supported)",
                    at()
                ));
            }
            (false, PType::Map(k.to_string(), Box::new(resolve(v))))
        } else if let Some(t) = ty_text.strip_prefix("optional ") {
            (false, resolve(t.trim()))
        } else if let Some(t) = ty_text.strip_prefix("required ") {
            (false, resolve(t.trim()))
        } else if let Some(t) = ty_text.strip_prefix("repeated ") {
            (true, resolve(t.trim()))
        } else {
            return Err(format!("{}: unsupported proto construct {line:?}", at()));
        };
        if let Some(c) = cur.as_ref().and_then(|c| msgs.get_mut(c)) {
            c.fields.push(PField {
                name: name.trim().to_string(),
                num,
                repeated,
                ty,
            });
        }
    }
    pkg.ok_or_else(|| format!("{}: no package", path.display()))
}

fn tag_value<'a>(tags: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}:\"");
    let start = tags.find(&pat)? + pat.len();
    let end = tags[start..].find('"')? + start;
    Some(&tags[start..end])
}

/// Import path → directory of the upstream trees (None for the standard library and others).
fn import_dir(path: &str, api: &Path, am: &Path) -> Option<PathBuf> {
    if let Some(rest) = path.strip_prefix("k8s.io/api/") {
        Some(api.join(rest))
    } else {
        path.strip_prefix("k8s.io/apimachinery/")
            .map(|rest| am.join(rest))
    }
}

fn parse_go_dir(dir: &Path, api: &Path, am: &Path) -> Result<GoPkg, String> {
    let mut pkg = GoPkg::default();
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".go")
                && !n.ends_with("_test.go")
                && !n.starts_with("zz_generated")
                && !n.starts_with("generated.")
                && !n.contains("swagger_doc")
        })
        .collect();
    files.sort();
    for f in files {
        let src = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut imports: HashMap<String, String> = HashMap::new();
        let mut in_imports = false;
        let mut cur: Option<String> = None;
        let mut in_block_comment = false;
        for (i, line) in src.lines().enumerate() {
            let at = || format!("{}:{}", f.display(), i + 1);
            if in_block_comment {
                in_block_comment = !line.contains("*/");
                continue;
            }
            if line.trim_start().starts_with("/*") {
                in_block_comment = !line.contains("*/");
                continue;
            }
            if in_imports {
                if line.trim() == ")" {
                    in_imports = false;
                    continue;
                }
                let t = line.trim();
                if t.is_empty() || t.starts_with("//") {
                    continue;
                }
                let (alias, path) = match t.split_once(' ') {
                    Some((a, p)) => (a.to_string(), p.trim().trim_matches('"').to_string()),
                    None => {
                        let p = t.trim_matches('"').to_string();
                        (p.rsplit('/').next().unwrap_or("").to_string(), p)
                    }
                };
                imports.insert(alias, path);
                continue;
            }
            if line == "import (" {
                in_imports = true;
                continue;
            }
            if let Some(rest) = line.strip_prefix("import ") {
                let t = rest.trim();
                let (alias, path) = match t.split_once(' ') {
                    Some((a, p)) => (a.to_string(), p.trim().trim_matches('"').to_string()),
                    None => {
                        let p = t.trim_matches('"').to_string();
                        (p.rsplit('/').next().unwrap_or("").to_string(), p)
                    }
                };
                imports.insert(alias, path);
                continue;
            }
            if let Some(rest) = line.strip_prefix("const GroupName = ") {
                pkg.group = Some(rest.trim().trim_matches('"').to_string());
                continue;
            }
            if cur.is_none() {
                let Some(rest) = line.strip_prefix("type ") else {
                    continue;
                };
                let Some((name, def)) = rest.split_once(' ') else {
                    continue;
                };
                let def = def.split("//").next().unwrap_or("").trim();
                if def == "struct {" {
                    pkg.structs.insert(name.to_string(), Vec::new());
                    cur = Some(name.to_string());
                } else if def == "struct{}" || def == "struct {}" {
                    pkg.structs.insert(name.to_string(), Vec::new());
                } else if let Some((p, t)) = def.split_once('.').filter(|(p, t)| {
                    !p.is_empty()
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                }) {
                    match imports.get(p).and_then(|ip| import_dir(ip, api, am)) {
                        Some(d) => {
                            pkg.aliases.insert(name.to_string(), (d, t.to_string()));
                        }
                        None => {
                            pkg.named.insert(name.to_string(), def.to_string());
                        }
                    }
                } else {
                    pkg.named.insert(name.to_string(), def.to_string());
                }
                continue;
            }
            let Some(name) = cur.clone() else { continue };
            if line.starts_with('}') {
                cur = None;
                continue;
            }
            let Some(body) = line.strip_prefix('\t') else {
                continue;
            };
            if body.starts_with('\t') || body.starts_with(' ') {
                {
                    pkg.bad
                        .entry(name.clone())
                        .or_insert(format!("{}: nested declaration in struct {name}", at()));
                    continue;
                }
            }
            let body = body.trim_end();
            if body.is_empty() || body.starts_with("//") {
                continue;
            }
            let (decl, tags) = match (body.find('`'), body.rfind('`')) {
                (Some(a), Some(b)) if b > a => (body[..a].trim(), &body[a + 1..b]),
                _ => (body.split("//").next().unwrap_or("").trim(), ""),
            };
            if decl.ends_with('{') {
                {
                    pkg.bad
                        .entry(name.clone())
                        .or_insert(format!("{}: anonymous struct type in {name}", at()));
                    continue;
                }
            }
            let parts: Vec<&str> = decl.split_whitespace().collect();
            let (fname, ty) = match parts.as_slice() {
                [t] => (String::new(), t.to_string()),
                [n, t] => (n.to_string(), t.to_string()),
                _ => {
                    pkg.bad
                        .entry(name.clone())
                        .or_insert(format!("{}: unparsed struct field {body:?}", at()));
                    continue;
                }
            };
            if fname.contains(',') {
                {
                    pkg.bad
                        .entry(name.clone())
                        .or_insert(format!("{}: several names on one field line", at()));
                    continue;
                }
            }
            let json = tag_value(tags, "json");
            let (json_name, opts) = match json {
                Some(j) => {
                    let mut it = j.split(',');
                    let n = it.next().unwrap_or("").to_string();
                    (Some(n), it.map(str::to_string).collect::<Vec<_>>())
                }
                None => (None, Vec::new()),
            };
            let proto = match tag_value(tags, "protobuf") {
                Some("-") | None => None,
                Some(p) => {
                    let words: Vec<&str> = p.split(',').collect();
                    let num = words
                        .get(1)
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(|| format!("{}: protobuf tag without a number: {p}", at()));
                    let num = match num {
                        Ok(n) => n,
                        Err(e) => {
                            pkg.bad.entry(name.clone()).or_insert(e);
                            continue;
                        }
                    };
                    let label = words.get(2).copied().unwrap_or("opt");
                    let label = if label.starts_with("name=") {
                        "opt"
                    } else {
                        label
                    };
                    let pname = words
                        .iter()
                        .find_map(|w| w.strip_prefix("name="))
                        .map(str::to_string);
                    Some((num, words[0].to_string(), label.to_string(), pname))
                }
            };
            if let Some(v) = pkg.structs.get_mut(&name) {
                v.push(GoField {
                    name: fname,
                    ty,
                    json: json_name,
                    omitempty: opts.iter().any(|o| o == "omitempty"),
                    omitzero: opts.iter().any(|o| o == "omitzero"),
                    proto,
                    line: at(),
                });
            }
        }
    }
    Ok(pkg)
}

/// Field of the emitted table.
struct OutField {
    num: u32,
    json: String,
    kind: &'static str,
    target: String,
    flags: Vec<&'static str>,
}

struct OutMessage {
    short: String,
    special: &'static str,
    type_meta: bool,
    fields: Vec<OutField>,
}

fn scalar_kind(s: &str) -> &'static str {
    match s {
        "string" => "Str",
        "bytes" => "Bytes",
        "bool" => "Bool",
        "int32" => "I32",
        "int64" => "I64",
        "uint32" => "U32",
        "uint64" => "U64",
        "double" => "F64",
        _ => "F32",
    }
}

/// The Go type without `*`, `[]`, `map[..]` and package: what a message field should name.
fn go_base(ty: &str) -> &str {
    let mut t = ty.trim_start_matches('*');
    while let Some(r) = t.strip_prefix("[]") {
        t = r.trim_start_matches('*');
    }
    if let Some(r) = t.strip_prefix("map[") {
        t = r
            .split_once(']')
            .map_or(r, |(_, v)| v)
            .trim_start_matches('*');
    }
    t.rsplit('.').next().unwrap_or(t)
}

fn generate(a: &Args) -> Result<String, String> {
    let mut protos = Vec::new();
    find_protos(&a.api, &mut protos)?;
    let api_protos = protos.len();
    find_protos(&a.apimachinery, &mut protos)?;
    if api_protos == 0 || protos.len() == api_protos {
        return Err("no generated.proto found under --api or --apimachinery".into());
    }
    let mut msgs: BTreeMap<String, PMessage> = BTreeMap::new();
    let mut pkg_dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for p in &protos {
        let pkg = parse_proto(p, &mut msgs)?;
        pkg_dirs.insert(pkg, p.parent().unwrap_or(Path::new(".")).to_path_buf());
    }
    // the kubernetes/api tree of each package directory (for `type X pkg.Y` imports)
    let mut api_root: HashMap<PathBuf, PathBuf> = pkg_dirs
        .values()
        .map(|d| (d.clone(), a.api.clone()))
        .collect();
    // packages of older trees that no tree before them has
    let mut added: Vec<(String, Vec<String>)> = Vec::new();
    for (label, dir) in &a.older {
        let mut files = Vec::new();
        find_protos(dir, &mut files)?;
        if files.is_empty() {
            return Err(format!(
                "--older {label}: no generated.proto under {}",
                dir.display()
            ));
        }
        let mut pkgs = Vec::new();
        for p in &files {
            let mut these = BTreeMap::new();
            let pkg = parse_proto(p, &mut these)?;
            if !pkg.starts_with("k8s.io.api.") {
                continue;
            }
            let d = p.parent().unwrap_or(Path::new(".")).to_path_buf();
            if pkg_dirs.contains_key(&pkg) {
                // a package still there: the messages (kinds) it no longer has
                let before = these.len();
                these.retain(|name, _| !msgs.contains_key(name));
                if these.is_empty() {
                    continue;
                }
                api_root.insert(d.clone(), dir.clone());
                let short = pkg.strip_prefix("k8s.io.api.").unwrap_or(&pkg);
                pkgs.push(format!("{short}({}/{before})", these.len()));
                msgs.extend(these);
                continue;
            }
            api_root.insert(d.clone(), dir.clone());
            pkg_dirs.insert(pkg.clone(), d);
            msgs.extend(these);
            pkgs.push(pkg);
        }
        added.push((label.clone(), pkgs));
    }
    let mut go: HashMap<PathBuf, GoPkg> = HashMap::new();
    let dirs: BTreeSet<&PathBuf> = msgs
        .values()
        .map(|m| &m.dir)
        .chain(pkg_dirs.values())
        .collect();
    for d in dirs {
        let root = api_root.get(d).unwrap_or(&a.api);
        go.insert(d.clone(), parse_go_dir(d, root, &a.apimachinery)?);
    }
    let specials: HashMap<&str, &str> = SPECIALS.iter().copied().collect();
    let mut problems: Vec<String> = Vec::new();
    let mut out: BTreeMap<String, OutMessage> = BTreeMap::new();
    for (full, m) in &msgs {
        let short = full.rsplit('.').next().unwrap_or(full).to_string();
        let Some(gp) = go.get(&m.dir) else {
            problems.push(format!("{full}: no Go package"));
            continue;
        };
        if let Some(s) = specials.get(full.as_str()) {
            out.insert(
                full.clone(),
                OutMessage {
                    short,
                    special: s,
                    type_meta: false,
                    fields: Vec::new(),
                },
            );
            continue;
        }
        if let Some(under) = gp.named.get(&short) {
            let ok = under == "[]string"
                && m.fields.len() == 1
                && m.fields[0].num == 1
                && m.fields[0].repeated
                && matches!(&m.fields[0].ty, PType::Scalar(s) if s == "string");
            if !ok {
                problems.push(format!(
                    "{full}: Go type {short} is `{under}`, not a struct or a []string wrapper"
                ));
                continue;
            }
            out.insert(
                full.clone(),
                OutMessage {
                    short,
                    special: "StringList",
                    type_meta: false,
                    fields: Vec::new(),
                },
            );
            continue;
        }
        let gfields = match gp.structs.get(&short) {
            Some(f) => f,
            None => match gp
                .aliases
                .get(&short)
                .and_then(|(d, t)| go.get(d).and_then(|p| p.structs.get(t)))
            {
                Some(f) => f,
                None => {
                    problems.push(format!(
                        "{full}: no Go struct {short} in {}",
                        m.dir.display()
                    ));
                    continue;
                }
            },
        };
        if let Some(e) = gp.bad.get(&short) {
            problems.push(format!("{full}: {e}"));
            continue;
        }
        let mut used = BTreeSet::new();
        let mut om = OutMessage {
            short: short.clone(),
            special: "Plain",
            type_meta: false,
            fields: Vec::new(),
        };
        for g in gfields {
            let Some((num, wire, label, pname)) = &g.proto else {
                if g.name.is_empty() && go_base(&g.ty) == "TypeMeta" {
                    om.type_meta = true;
                } else if g.json.as_deref() == Some("-") || g.ty.starts_with("time.") {
                    // not in JSON, not in protobuf
                } else if g
                    .name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase())
                {
                    // unexported
                } else {
                    problems.push(format!(
                        "{}: {full}.{} has no protobuf tag but would be in JSON",
                        g.line,
                        if g.name.is_empty() { &g.ty } else { &g.name }
                    ));
                }
                continue;
            };
            let Some(pf) = m.fields.iter().find(|f| f.num == *num) else {
                problems.push(format!("{}: {full} has no proto field {num}", g.line));
                continue;
            };
            if !used.insert(*num) {
                problems.push(format!("{}: {full} field {num} used twice", g.line));
            }
            if let Some(pn) = pname {
                if pn != &pf.name {
                    problems.push(format!(
                        "{}: {full} field {num} is {} in proto, {pn} in the Go tag",
                        g.line, pf.name
                    ));
                }
            }
            // Go side shape
            let base_ty = g.ty.trim_start_matches('*');
            let named = match base_ty.split_once('.') {
                // another package's named type: looked up by name in every parsed package
                Some((_, t)) => go
                    .values()
                    .find_map(|p| p.named.get(t))
                    .map(String::as_str)
                    .unwrap_or(base_ty),
                None => gp.named.get(base_ty).map(String::as_str).unwrap_or(base_ty),
            };
            let go_bytes = base_ty == "[]byte" || named == "[]byte";
            let go_slice = !go_bytes && (base_ty.starts_with("[]") || named.starts_with("[]"));
            let go_map = base_ty.starts_with("map[") || named.starts_with("map[");
            let mut flags = Vec::new();
            let (kind, target) = match &pf.ty {
                PType::Map(_, v) => {
                    flags.push("MAP");
                    if !go_map {
                        problems.push(format!(
                            "{}: {full}.{}: proto map, Go {}",
                            g.line, pf.name, g.ty
                        ));
                    }
                    match v.as_ref() {
                        PType::Scalar(s) => (scalar_kind(s), String::new()),
                        PType::Message(mm) => ("Msg", mm.clone()),
                        PType::Map(..) => {
                            problems.push(format!("{full}.{}: map of maps", pf.name));
                            continue;
                        }
                    }
                }
                PType::Scalar(s) => {
                    if s == "bytes" {
                        if pf.repeated || !go_bytes {
                            problems.push(format!(
                                "{}: {full}.{}: proto bytes, Go {}",
                                g.line, pf.name, g.ty
                            ));
                        }
                    } else if pf.repeated != go_slice {
                        problems.push(format!(
                            "{}: {full}.{}: proto {}repeated {s}, Go {}",
                            g.line,
                            pf.name,
                            if pf.repeated { "" } else { "not " },
                            g.ty
                        ));
                    }
                    (scalar_kind(s), String::new())
                }
                PType::Message(mm) => {
                    let short_target = mm.rsplit('.').next().unwrap_or(mm);
                    if pf.repeated != go_slice && !gp.named.contains_key(base_ty) {
                        problems.push(format!(
                            "{}: {full}.{}: repeated mismatch, Go {}",
                            g.line, pf.name, g.ty
                        ));
                    }
                    if go_base(&g.ty) != short_target {
                        problems.push(format!(
                            "{}: {full}.{}: proto message {short_target}, Go type {}",
                            g.line, pf.name, g.ty
                        ));
                    }
                    ("Msg", mm.clone())
                }
            };
            if pf.repeated {
                flags.push("REP");
            }
            // The wire and label words of the Go tag are hand-written upstream and wrong in
            // places (`bytes,1,rep` on a string); generated.proto is the truth for the wire.
            let _ = (wire, label);
            if g.ty.starts_with('*') {
                flags.push("PTR");
            }
            if g.omitempty {
                flags.push("OMITEMPTY");
            }
            if g.omitzero {
                flags.push("OMITZERO");
            }
            let json = g.json.clone().unwrap_or_else(|| g.name.clone());
            if g.name.is_empty() && json.is_empty() {
                if kind != "Msg" || pf.repeated || flags.contains(&"MAP") {
                    problems.push(format!(
                        "{}: {full}: embedded field {} is not a struct",
                        g.line, g.ty
                    ));
                }
                flags.push("EMBED");
            } else if json == "-" {
                flags.push("SKIP");
            }
            om.fields.push(OutField {
                num: *num,
                // embedded: the Go type's name (for messages; JSON never shows it)
                json: if json.is_empty() {
                    if g.name.is_empty() {
                        go_base(&g.ty).to_string()
                    } else {
                        g.name.clone()
                    }
                } else {
                    json
                },
                kind,
                target,
                flags,
            });
        }
        for f in &m.fields {
            if !used.contains(&f.num) {
                problems.push(format!(
                    "{full}.{} = {}: no Go field has this number",
                    f.name, f.num
                ));
            }
        }
        out.insert(full.clone(), om);
    }
    // every message reference resolves
    for (full, m) in &out {
        for f in &m.fields {
            if f.kind == "Msg" && !out.contains_key(&f.target) {
                problems.push(format!("{full}.{}: unknown message {}", f.json, f.target));
            }
        }
    }
    // apiVersion → kinds
    let mut kinds: BTreeSet<(String, String, String)> = BTreeSet::new();
    for (pkg, dir) in &pkg_dirs {
        let Some(group) = go.get(dir).and_then(|g| g.group.clone()) else {
            continue;
        };
        let version = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let av = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let prefix = format!("{pkg}.");
        for (full, m) in out.range(prefix.clone()..) {
            let Some(short) = full.strip_prefix(&prefix) else {
                break;
            };
            if short.contains('.') {
                continue;
            }
            if m.type_meta || (group == "meta.k8s.io" && short == "WatchEvent") {
                kinds.insert((av.clone(), short.to_string(), full.clone()));
            }
        }
    }
    if !problems.is_empty() {
        problems.sort();
        problems.dedup();
        return Err(format!(
            "k8s-schema: {} disagreement(s) between generated.proto and Go:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ));
    }
    emit(a, &out, &kinds, &added)
}

/// Header lines naming the older trees and the packages taken from them.
fn older_lines(added: &[(String, Vec<String>)]) -> String {
    let mut s = String::new();
    for (label, pkgs) in added {
        if pkgs.is_empty() {
            continue;
        }
        let names: Vec<&str> = pkgs
            .iter()
            .map(|p| p.strip_prefix("k8s.io.api.").unwrap_or(p))
            .collect();
        let _ = writeln!(
            s,
            "//   github.com/kubernetes/api           @ {label}, for what HEAD no longer has \
             (package, or package(messages taken/its messages)):"
        );
        for chunk in names.chunks(6) {
            let _ = writeln!(s, "//     {}", chunk.join(" "));
        }
    }
    s
}

fn emit(
    a: &Args,
    out: &BTreeMap<String, OutMessage>,
    kinds: &BTreeSet<(String, String, String)>,
    added: &[(String, Vec<String>)],
) -> Result<String, String> {
    let ids: HashMap<&str, usize> = out
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for m in out.values() {
        names.insert(&m.short);
        for f in &m.fields {
            names.insert(&f.json);
        }
    }
    let names: Vec<&str> = names.into_iter().collect();
    let name_id: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let nfields: usize = out.values().map(|m| m.fields.len()).sum();
    if let Some((full, f)) = out
        .iter()
        .flat_map(|(k, m)| m.fields.iter().map(move |f| (k, f)))
        .find(|(_, f)| f.num > u32::from(u16::MAX))
    {
        return Err(format!(
            "k8s-schema: {full}.{} has number {} (table holds u16)",
            f.json, f.num
        ));
    }
    if names.len() > u16::MAX as usize
        || nfields > u16::MAX as usize
        || out.len() > u16::MAX as usize
    {
        return Err("k8s-schema: the table outgrew u16 indexes".into());
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// @generated by `cargo xtask k8s-schema` (crates/xtask/src/k8s_schema.rs): do not edit.
//
// Data derived from the Kubernetes API definitions (generated.proto and Go struct tags) of
//   github.com/kubernetes/api           @ {}
//   github.com/kubernetes/apimachinery  @ {}
{}// Copyright The Kubernetes Authors, licensed under the Apache License, Version 2.0
// (http://www.apache.org/licenses/LICENSE-2.0). See SOURCES.md beside this file.
//
// {} messages, {} fields, {} names, {} kinds.

use super::Kind::*;
use super::Special::*;
use super::{{f, m, Field, Message, EMBED, MAP, OMITEMPTY, OMITZERO, PTR, REP, SKIP}};
",
        a.api_commit,
        a.apimachinery_commit,
        older_lines(added),
        out.len(),
        nfields,
        names.len(),
        kinds.len()
    );
    let _ = writeln!(s, "pub(super) static NAMES: [&str; {}] = [", names.len());
    for n in &names {
        let _ = writeln!(s, "    {n:?},");
    }
    s.push_str("];\n\n");
    let _ = writeln!(
        s,
        "/// m(name, first field, field count, special, has TypeMeta); index = message id.\npub(super) static MESSAGES: [Message; {}] = [",
        out.len()
    );
    let mut first = 0usize;
    for (full, m) in out {
        let _ = writeln!(
            s,
            "    m({}, {first}, {}, {}, {}), // {} {full}",
            name_id[m.short.as_str()],
            m.fields.len(),
            m.special,
            m.type_meta,
            ids[full.as_str()]
        );
        first += m.fields.len();
    }
    s.push_str("];\n\n");
    let _ = writeln!(
        s,
        "/// f(number, json name, kind, target message, flags), in Go struct order per message.\npub(super) static FIELDS: [Field; {nfields}] = ["
    );
    for (full, m) in out {
        if m.fields.is_empty() {
            continue;
        }
        let _ = writeln!(s, "    // {full}");
        for f in &m.fields {
            let target = if f.kind == "Msg" {
                ids[f.target.as_str()]
            } else {
                0
            };
            let flags = if f.flags.is_empty() {
                "0".to_string()
            } else {
                f.flags.join(" | ")
            };
            let _ = writeln!(
                s,
                "    f({}, {}, {}, {target}, {flags}),",
                f.num,
                name_id[f.json.as_str()],
                f.kind
            );
        }
    }
    s.push_str("];\n\n");
    let _ = writeln!(
        s,
        "/// (apiVersion, kind, message id), sorted.\npub(super) static KINDS: [(&str, &str, u16); {}] = [",
        kinds.len()
    );
    for (av, k, full) in kinds {
        let _ = writeln!(s, "    ({av:?}, {k:?}, {}),", ids[full.as_str()]);
    }
    s.push_str("];\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A two-package upstream in miniature: meta/v1 ObjectMeta + Time, and foo/v1 Foo.
    fn tree(name: &str, foo_go: &str) -> Args {
        let root =
            std::env::temp_dir().join(format!("k8s-schema-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (api, am) = (root.join("api"), root.join("apimachinery"));
        write(
            &am,
            "pkg/apis/meta/v1/generated.proto",
            "syntax = \"proto2\";\npackage k8s.io.apimachinery.pkg.apis.meta.v1;\n\n\
             // ObjectMeta is metadata.\nmessage ObjectMeta {\n  // name\n  optional string name = 1;\n\n  \
             optional Time creationTimestamp = 8;\n\n  map<string, string> labels = 11;\n}\n\n\
             message Time {\n  optional int64 seconds = 1;\n\n  optional int32 nanos = 2;\n}\n\n\
             message TypeMeta {\n  optional string kind = 1;\n}\n",
        );
        write(
            &am,
            "pkg/apis/meta/v1/types.go",
            "package v1\n\nconst GroupName = \"meta.k8s.io\"\n\ntype TypeMeta struct {\n\
             \tKind string `json:\"kind,omitempty\" protobuf:\"bytes,1,opt,name=kind\"`\n}\n\n\
             type ObjectMeta struct {\n\t// Name is a name.\n\
             \tName string `json:\"name,omitempty\" protobuf:\"bytes,1,opt,name=name\"`\n\
             \tLabels map[string]string `json:\"labels,omitempty\" protobuf:\"bytes,11,rep,name=labels\"`\n\
             \tCreationTimestamp Time `json:\"creationTimestamp,omitempty,omitzero\" protobuf:\"bytes,8,opt,name=creationTimestamp\"`\n}\n\n\
             type Time struct {\n\ttime.Time `protobuf:\"-\"`\n}\n",
        );
        write(
            &api,
            "foo/v1/generated.proto",
            "syntax = \"proto2\";\npackage k8s.io.api.foo.v1;\n\
             import \"k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto\";\n\n\
             message Foo {\n  optional .k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;\n\n  \
             repeated string items = 2;\n\n  optional int32 count = 3;\n}\n",
        );
        write(
            &api,
            "foo/v1/register.go",
            "package v1\n\nconst GroupName = \"foo.example.com\"\n",
        );
        write(&api, "foo/v1/types.go", foo_go);
        Args {
            api,
            apimachinery: am,
            api_commit: "A".into(),
            apimachinery_commit: "B".into(),
            out: root.join("out.rs"),
            older: Vec::new(),
            check: false,
        }
    }

    const FOO: &str =
        "package v1\n\nimport (\n\tmetav1 \"k8s.io/apimachinery/pkg/apis/meta/v1\"\n)\n\n\
        type Foo struct {\n\tmetav1.TypeMeta `json:\",inline\"`\n\
        \tmetav1.ObjectMeta `json:\"metadata,omitempty\" protobuf:\"bytes,1,opt,name=metadata\"`\n\
        \t/*\n\t\tA block comment.\n\t*/\n\
        \tCount *int32 `json:\"count,omitempty\" protobuf:\"varint,3,opt,name=count\"`\n\
        \tItems []string `json:\"items\" protobuf:\"bytes,2,rep,name=items\"`\n}\n";

    #[test]
    fn a_small_tree_gives_a_table() {
        let a = tree("ok", FOO);
        let s = generate(&a).unwrap();
        assert!(s.contains("@ A") && s.contains("@ B"), "{s}");
        assert!(s.contains("(\"foo.example.com/v1\", \"Foo\","), "{s}");
        // Go order: metadata, count, items; flags from the tags
        let foo = s.split("// k8s.io.api.foo.v1.Foo\n").nth(1).unwrap();
        let lines: Vec<&str> = foo.lines().take(3).map(str::trim).collect();
        assert!(
            lines[0].starts_with("f(1,") && lines[0].ends_with("Msg, 1, OMITEMPTY),"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("f(3,") && lines[1].contains("I32, 0, PTR | OMITEMPTY"),
            "{lines:?}"
        );
        assert!(
            lines[2].starts_with("f(2,") && lines[2].ends_with("Str, 0, REP),"),
            "{lines:?}"
        );
        assert!(s.contains("MAP | OMITEMPTY"), "{s}");
        assert!(s.contains("OMITEMPTY | OMITZERO"), "{s}");
        assert!(s.contains(", Time, false)"), "{s}");
    }

    #[test]
    fn disagreements_stop_the_run() {
        let a = tree(
            "bad",
            &FOO.replace("varint,3,opt,name=count", "varint,4,opt,name=count"),
        );
        let e = generate(&a).unwrap_err();
        assert!(e.contains("has no proto field 4"), "{e}");
        assert!(e.contains("count = 3: no Go field has this number"), "{e}");
        let a = tree("shape", &FOO.replace("Items []string", "Items string"));
        let e = generate(&a).unwrap_err();
        assert!(e.contains("proto repeated string, Go string"), "{e}");
    }

    #[test]
    fn older_trees_add_what_head_removed() {
        let mut a = tree("older", FOO);
        let old = a.api.parent().unwrap().join("api-old");
        // foo/v1 had a kind Gone; bar/v1beta1 is a whole group-version gone since
        write(
            &old,
            "foo/v1/generated.proto",
            "syntax = \"proto2\";\npackage k8s.io.api.foo.v1;\n\n\
             message Foo {\n  optional k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta metadata = 1;\n}\n\n\
             message Gone {\n  optional string why = 1;\n}\n",
        );
        write(
            &old,
            "foo/v1/register.go",
            "package v1\n\nconst GroupName = \"foo.example.com\"\n",
        );
        write(
            &old,
            "foo/v1/types.go",
            "package v1\n\ntype Foo struct {\n\
             \tmetav1.ObjectMeta `json:\"metadata\" protobuf:\"bytes,1,opt,name=metadata\"`\n}\n\n\
             type Gone struct {\n\tmetav1.TypeMeta `json:\",inline\"`\n\
             \tWhy string `json:\"why\" protobuf:\"bytes,1,opt,name=why\"`\n}\n",
        );
        write(
            &old,
            "bar/v1beta1/generated.proto",
            "syntax = \"proto2\";\npackage k8s.io.api.bar.v1beta1;\n\nmessage Bar {\n  optional int64 n = 1;\n}\n",
        );
        write(
            &old,
            "bar/v1beta1/register.go",
            "package v1beta1\n\nconst GroupName = \"bar.example.com\"\n",
        );
        write(
            &old,
            "bar/v1beta1/types.go",
            "package v1beta1\n\ntype Bar struct {\n\tTypeMeta `json:\",inline\"`\n\
             \tN int64 `json:\"n\" protobuf:\"varint,1,opt,name=n\"`\n}\n",
        );
        a.older = vec![("v0.1.0".into(), old)];
        let s = generate(&a).unwrap();
        assert!(s.contains("(\"foo.example.com/v1\", \"Gone\","), "{s}");
        assert!(s.contains("(\"bar.example.com/v1beta1\", \"Bar\","), "{s}");
        assert!(s.contains("@ v0.1.0, for what HEAD no longer has"), "{s}");
        assert!(s.contains("//     bar.v1beta1 foo.v1(1/2)"), "{s}");
        // HEAD's Foo wins over the old one (3 fields, not 1)
        let foo = s.split("// k8s.io.api.foo.v1.Foo\n").nth(1).unwrap();
        assert!(
            foo.lines().nth(2).unwrap().trim().starts_with("f(2,"),
            "{foo}"
        );
    }

    #[test]
    fn go_types_reduce_to_their_names() {
        assert_eq!(go_base("*metav1.Time"), "Time");
        assert_eq!(go_base("[]Container"), "Container");
        assert_eq!(go_base("map[string]resource.Quantity"), "Quantity");
        assert_eq!(
            tag_value("json:\"a,omitempty\" protobuf:\"x\"", "protobuf"),
            Some("x")
        );
    }
}
