//! `etcdscope k8s INPUT analyze`: what fills a Kubernetes etcd db, on one screen.

use std::io::Write;
use std::path::Path;

use etcd::v3::StatusOptions;
use kube::analyze::{Analyzer, Report};
use serde_json::{json, Value};

use crate::datadir::show;
use crate::input::{self, fail};
use crate::output::{self, human, io_fail};
use crate::{Failure, TableOrJson};

pub struct AnalyzeOptions {
    /// Entries in each top list and table.
    pub top: usize,
    /// The apiserver's `--etcd-prefix`.
    pub prefix: Vec<u8>,
    pub write_out: TableOrJson,
}

pub fn analyze(out: &mut dyn Write, input: &Path, o: &AnalyzeOptions) -> Result<(), Failure> {
    let (path, be) = input::open_v3(input)?;
    let st = be
        .status_threaded(StatusOptions {
            verify_trailer: false,
        })
        .map_err(|e| fail(&path, &e))?;
    let mut a = Analyzer::new(&o.prefix, o.top);
    be.for_each_revision(|rk, kv| {
        a.observe(kv.key, kv.value.len(), rk.tombstone);
        Ok(())
    })
    .map_err(|e| fail(&path, &e))?;
    a.end_first_pass();
    be.for_each_revision(|rk, kv| {
        a.observe_again(kv.key, rk.tombstone);
        Ok(())
    })
    .map_err(|e| fail(&path, &e))?;
    let r = a.finish();
    let pages = &st.pages;
    let free_bytes = pages.free * pages.page_size;
    match o.write_out {
        TableOrJson::Json => {
            let mut v = json!({
                "file": path.display().to_string(),
                "file_size": st.file_size,
                "page_size": pages.page_size,
                "free_pages": pages.free,
                "free_bytes": free_bytes,
                "revision": st.revision,
                "compact_revision": st.meta.effective_compact_revision(),
            });
            if let (Some(o), Value::Object(r)) = (v.as_object_mut(), r.to_json()) {
                o.extend(r);
            }
            serde_json::to_writer_pretty(&mut *out, &v).map_err(|e| io_fail(e.into()))?;
            writeln!(out).map_err(io_fail)
        }
        TableOrJson::Table => table(out, &path, &st, free_bytes, &r, o.top),
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn table(
    out: &mut dyn Write,
    path: &Path,
    st: &etcd::v3::Status,
    free_bytes: u64,
    r: &Report,
    top: usize,
) -> Result<(), Failure> {
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(io_fail);
    let all_bytes = r.all.bytes();
    w(
        out,
        format!(
            "{}: {} file, revision {}; {} objects ({} live), {} deleted but held, {} revisions",
            path.display(),
            human(st.file_size),
            st.revision,
            r.all.objects,
            human(r.all.live_bytes),
            r.all.deleted,
            r.all.revisions
        ),
    )?;
    w(
        out,
        format!(
            "what fills the file: live {} ({}), history {} ({}), free pages {} ({}), the rest is page and tree overhead",
            human(r.all.live_bytes),
            pct(r.all.live_bytes, st.file_size),
            human(r.all.history_bytes),
            pct(r.all.history_bytes, st.file_size),
            human(free_bytes),
            pct(free_bytes, st.file_size)
        ),
    )?;
    if r.all.history_bytes > r.all.live_bytes {
        w(
            out,
            "history holds more than the live data: compaction (and then defragmentation) would shrink it"
                .into(),
        )?;
    }
    for (title, rows) in [("TYPE", &r.by_type), ("NAMESPACE", &r.by_namespace)] {
        w(out, String::new())?;
        let cells: Vec<Vec<String>> = rows
            .iter()
            .take(top)
            .map(|(name, t)| {
                vec![
                    name.clone(),
                    t.objects.to_string(),
                    t.deleted.to_string(),
                    t.revisions.to_string(),
                    human(t.live_bytes),
                    human(t.history_bytes),
                    pct(t.bytes(), all_bytes),
                ]
            })
            .collect();
        let header = [
            title,
            "OBJECTS",
            "DELETED",
            "REVISIONS",
            "LIVE",
            "HISTORY",
            "SHARE",
        ];
        output::table(out, &header, &cells)?;
        if rows.len() > top {
            w(out, format!("… and {} more", rows.len() - top))?;
        }
    }
    for (title, rows) in [
        ("LARGEST OBJECTS", &r.largest),
        ("MOST REVISIONS HELD", &r.most_revisions),
    ] {
        w(out, String::new())?;
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|t| vec![show(&t.key), human(t.bytes), t.revisions.to_string()])
            .collect();
        output::table(out, &[title, "BYTES", "REVISIONS"], &cells)?;
    }
    Ok(())
}

pub struct DeletedOptions {
    /// Only this resource type (`pods`, `nodes`, `widgets.example.com`, or the key prefix
    /// such as `minions`).
    pub resource: Option<String>,
    pub namespace: Option<Vec<u8>>,
    /// Write each object's last held value here.
    pub export: Option<std::path::PathBuf>,
    /// As stored (what `etcdctl put` puts back), or decoded.
    pub export_format: ExportFormat,
    pub prefix: Vec<u8>,
    pub write_out: TableOrJson,
    pub decode: DecodeArgs,
    /// `--redact`: raw exports of Secrets (and values under the prefixes) redacted.
    pub redact: Option<kube::redact::Redactor>,
}

/// What `deleted --export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The value as stored (k8s protobuf, JSON or encrypted): `etcdctl put KEY < FILE` puts
    /// it back.
    Raw,
    /// The object decoded, as kubectl -o yaml shows it (Secret data masked unless revealed).
    Yaml,
    /// The object decoded, as kubectl -o json shows it.
    Json,
}

/// `etcdscope k8s INPUT deleted`: objects deleted but still held in the history.
pub fn deleted(out: &mut dyn Write, input: &Path, o: &DeletedOptions) -> Result<(), Failure> {
    use kube::keys::{self, KeyKind};
    let (path, be) = input::open_v3(input)?;
    if let Some(dir) = &o.export {
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, &e))?;
    }
    let mut finder = kube::deleted::DeletedFinder::new();
    be.for_each_revision(|rk, kv| {
        finder.observe(kv.key, (rk.rev.main, rk.rev.sub), rk.tombstone);
        Ok(())
    })
    .map_err(|e| fail(&path, &e))?;
    let mut rows: Vec<Value> = Vec::new();
    let mut export_err: Option<Failure> = None;
    be.for_each_revision(|rk, kv| {
        let Some(deleted_at) =
            finder.last_put_before_delete(kv.key, (rk.rev.main, rk.rev.sub), rk.tombstone)
        else {
            return Ok(());
        };
        let (type_name, prefix, ns, name) = match keys::parse(kv.key, &o.prefix) {
            KeyKind::Object(k) => (
                k.type_name(),
                String::from_utf8_lossy(k.prefix).into_owned(),
                k.namespace,
                k.name,
            ),
            _ => return Ok(()), // not an object
        };
        if let Some(r) = &o.resource {
            let short = type_name.split('.').next().unwrap_or("");
            if *r != type_name && *r != prefix && *r != short {
                return Ok(());
            }
        }
        if o.namespace.is_some() && o.namespace.as_deref() != ns {
            return Ok(());
        }
        let mut file = Value::Null;
        if let Some(dir) = &o.export {
            let (bytes, ext): (std::borrow::Cow<'_, [u8]>, &str) = match o.export_format {
                ExportFormat::Raw => {
                    match o.redact.as_ref().and_then(|r| r.redact(kv.key, kv.value)) {
                        Some((v, _)) => (v.into(), kube::object::stored_ext(kv.value)),
                        None => (kv.value.into(), kube::object::stored_ext(kv.value)),
                    }
                }
                f => {
                    let mut d = kube::object::decode(kv.key, kv.value, &o.decode.options());
                    let mut obj = d.json.take();
                    if let Some(v) = &mut obj {
                        kube::object::set_resource_version(v, rk.rev.main);
                    }
                    match (obj, f) {
                        (Some(v), ExportFormat::Yaml) => {
                            (kube::yaml::to_yaml(&v).into_bytes().into(), "yaml")
                        }
                        (Some(v), _) => (
                            (kube::object::json_text(&v) + "\n").into_bytes().into(),
                            "json",
                        ),
                        // Masked (a masked prefix, or a Secret not decoded): not its bytes.
                        (None, _)
                            if d.masked_whole || (d.is_secret() && !o.decode.reveal_secrets) =>
                        {
                            eprintln!("{}: masked; not exported", show(kv.key));
                            (b"masked\n".as_slice().into(), "masked")
                        }
                        // Not decodable: as stored, with the reason on stderr.
                        (None, _) => {
                            for n in &d.notes {
                                eprintln!("{}: {n}; exported as stored", show(kv.key));
                            }
                            (kv.value.into(), kube::object::stored_ext(kv.value))
                        }
                    }
                }
            };
            let p = dir
                .join(kube::object::file_name_part(type_name.as_bytes()))
                .join(ns.map_or("_cluster".to_string(), kube::object::file_name_part))
                .join(format!(
                    "{}@{}.{}",
                    kube::object::file_name_part(name),
                    rk.rev.main,
                    ext
                ));
            let written = p
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                })
                .and_then(|mut f| f.write_all(&bytes));
            if let Err(e) = written {
                export_err.get_or_insert_with(|| fail(&p, &e));
                return Err(etcd::Error::Write("export failed".into()));
            }
            file = json!(p.display().to_string());
        }
        let key = match std::str::from_utf8(kv.key) {
            Ok(s) => json!(s),
            Err(_) => json!({ "base64": etcd::json::b64_string(kv.key) }),
        };
        rows.push(json!({
            "key": key,
            "type": type_name,
            "namespace": ns.map(|n| String::from_utf8_lossy(n).into_owned()),
            "name": String::from_utf8_lossy(name),
            "revision": rk.rev.main,
            "create_revision": kv.create_revision,
            "version": kv.version,
            "deleted_at": deleted_at,
            "bytes": kv.value.len(),
            "encoding": kube::object::stored_ext(kv.value),
            "file": file,
        }));
        Ok(())
    })
    .map_err(|e| export_err.take().unwrap_or_else(|| fail(&path, &e)))?;
    match o.write_out {
        TableOrJson::Json => {
            serde_json::to_writer_pretty(&mut *out, &rows).map_err(|e| io_fail(e.into()))?;
            writeln!(out).map_err(io_fail)
        }
        TableOrJson::Table => {
            let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(io_fail);
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    [
                        "type",
                        "namespace",
                        "name",
                        "revision",
                        "deleted_at",
                        "bytes",
                        "encoding",
                    ]
                    .iter()
                    .map(|f| match &r[*f] {
                        Value::Null => "-".to_string(),
                        v => text(v),
                    })
                    .collect()
                })
                .collect();
            let header = [
                "TYPE",
                "NAMESPACE",
                "NAME",
                "HELD REV",
                "DELETED",
                "BYTES",
                "ENC",
            ];
            output::table(out, &header, &cells)?;
            w(
                out,
                format!(
                    "{} deleted object(s) still held{}",
                    rows.len(),
                    match &o.export {
                        Some(d) => format!(
                            "; values written under {} (put one back with: etcdctl put KEY < FILE)",
                            d.display()
                        ),
                        None => String::new(),
                    }
                ),
            )
        }
    }
}

/// How `k8s get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GetFormat {
    /// One line per object.
    Table,
    /// kubectl-style YAML (a List for several objects).
    Yaml,
    /// kubectl-style JSON (a List for several objects).
    Json,
}

pub struct GetOptions {
    pub resource: String,
    pub name: Option<Vec<u8>>,
    pub namespace: Option<Vec<u8>>,
    pub output: GetFormat,
    /// 0: the current revision.
    pub rev: i64,
    pub prefix: Vec<u8>,
    pub decode: DecodeArgs,
}

/// What every command that shows Kubernetes objects takes: decryption and masking.
#[derive(Default)]
pub struct DecodeArgs {
    pub encryption: Option<kube::encryption::EncryptionConfig>,
    pub reveal_secrets: bool,
    pub mask_prefixes: Vec<Vec<u8>>,
}

impl DecodeArgs {
    /// Reads `--encryption-config FILE` (YAML or JSON).
    pub fn new(
        encryption_config: Option<&Path>,
        reveal_secrets: bool,
        mask_prefixes: Vec<Vec<u8>>,
    ) -> Result<DecodeArgs, Failure> {
        let encryption = match encryption_config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| fail(p, &e))?;
                Some(kube::encryption::EncryptionConfig::parse(&text).map_err(|e| fail(p, &e))?)
            }
            None => None,
        };
        Ok(DecodeArgs {
            encryption,
            reveal_secrets,
            mask_prefixes,
        })
    }

    pub fn options(&self) -> kube::object::Options<'_> {
        kube::object::Options {
            encryption: self.encryption.as_ref(),
            reveal_secrets: self.reveal_secrets,
            mask_prefixes: &self.mask_prefixes,
        }
    }
}

/// The object a stored value holds, as kube-apiserver would serve it.
fn served(kv: &etcd::proto::KeyValue, json: Option<Value>) -> Option<Value> {
    let mut v = json?;
    kube::object::set_resource_version(&mut v, kv.mod_revision);
    Some(v)
}

/// `etcdscope k8s INPUT get RESOURCE [NAME]`: objects as kubectl shows them. One pass finds
/// the matching keys and their revisions (no values); then each value is read by its revision,
/// decoded and printed, so memory holds one object at a time (the table: one row per object).
pub fn get(out: &mut dyn Write, input: &Path, o: &GetOptions) -> Result<(), Failure> {
    use etcd::v3::RangeRequest;
    use kube::keys::{self, KeyKind, ResourceArg};
    let (path, be) = input::open_v3(input)?;
    let all = o.resource == "all";
    let want = ResourceArg::parse(&o.resource);
    let prefix = o.prefix.strip_suffix(b"/").unwrap_or(&o.prefix);
    let mut req = RangeRequest::prefix(&[prefix, b"/"].concat());
    req.revision = o.rev;
    req.keys_only = true;
    let res = be
        .range_matching(&req, |k| match keys::parse(k, prefix) {
            KeyKind::Object(ok) => {
                (all || want.matches(&ok))
                    && (o.namespace.is_none() || o.namespace.as_deref() == ok.namespace)
                    && (o.name.is_none() || o.name.as_deref() == Some(ok.name))
            }
            _ => false,
        })
        .map_err(|e| fail(&path, &e))?;
    if res.kvs.is_empty() {
        return Err(Failure::Input(format!(
            "etcdscope: {}: no {}{}{} at revision {}",
            path.display(),
            o.resource,
            o.name
                .as_ref()
                .map(|n| format!(" named {:?}", String::from_utf8_lossy(n)))
                .unwrap_or_default(),
            o.namespace
                .as_ref()
                .map(|n| format!(" in namespace {:?}", String::from_utf8_lossy(n)))
                .unwrap_or_default(),
            if o.rev > 0 {
                o.rev
            } else {
                res.header_revision
            }
        )));
    }
    let single = o.name.is_some() && res.kvs.len() == 1;
    let dopts = o.decode.options();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut undecoded = 0usize;
    let mut note_counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut list = match (o.output, single) {
        (GetFormat::Table, _) | (_, true) => None,
        (f, false) => Some(ListWriter::start(out, f)?),
    };
    for k in &res.kvs {
        let kv = be
            .put_at(&k.key, k.mod_revision)
            .map_err(|e| fail(&path, &e))?
            .ok_or_else(|| {
                fail(
                    &path,
                    &format!(
                        "{}: no put at revision {} although a range found one",
                        show(&k.key),
                        k.mod_revision
                    ),
                )
            })?;
        let mut d = kube::object::decode(&kv.key, &kv.value, &dopts);
        for n in &d.notes {
            if o.output == GetFormat::Table {
                *note_counts.entry(n.clone()).or_insert(0usize) += 1;
            } else {
                eprintln!("{}: {n}", show(&kv.key));
            }
        }
        let obj = served(&kv, d.json.take());
        if obj.is_none() {
            undecoded += 1;
        }
        match (o.output, obj) {
            (GetFormat::Table, obj) => rows.push(row(prefix, &kv, &d, obj.as_ref())),
            (_, Some(v)) => match &mut list {
                Some(l) => l.item(out, &v)?,
                None => print_one(out, o.output, &v)?,
            },
            (_, None) => {
                // One object that could not be decoded: its schema-less view.
                if single && !d.masked_whole {
                    let shown = d.plaintext.as_deref().unwrap_or(&kv.value);
                    if let Some(r) = kube::raw::view(shown, kube::raw::Limits::default()) {
                        out.write_all(r.as_bytes()).map_err(io_fail)?;
                    }
                }
            }
        }
    }
    if let Some(l) = list {
        l.finish(out)?;
    }
    if o.output == GetFormat::Table {
        output::table(
            out,
            &[
                "NAMESPACE",
                "NAME",
                "KIND",
                "REVISION",
                "SIZE",
                "STORED",
                "CREATED",
            ],
            &rows,
        )?;
    }
    for (n, count) in &note_counts {
        eprintln!("{count} object(s): {n}");
    }
    if undecoded > 0 && o.output != GetFormat::Table {
        eprintln!(
            "{undecoded} of {} object(s) could not be decoded (see the notes above)",
            res.kvs.len()
        );
    }
    Ok(())
}

/// A table row of `get`.
fn row(
    prefix: &[u8],
    kv: &etcd::proto::KeyValue,
    d: &kube::object::Object,
    obj: Option<&Value>,
) -> Vec<String> {
    use kube::keys::{self, KeyKind};
    let (ns, name) = match keys::parse(&kv.key, prefix) {
        KeyKind::Object(k) => (
            k.namespace.map(|n| String::from_utf8_lossy(n).into_owned()),
            String::from_utf8_lossy(k.name).into_owned(),
        ),
        _ => (None, show(&kv.key)),
    };
    let kind = match (obj, &d.stored) {
        (Some(v), _) => format!(
            "{}/{}",
            v.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            v.get("kind").and_then(Value::as_str).unwrap_or("")
        ),
        (None, Some(kube::object::Stored::Protobuf { api_version, kind })) => {
            format!("{api_version}/{kind}")
        }
        _ => "-".into(),
    };
    let created = obj
        .and_then(|v| v.pointer("/metadata/creationTimestamp"))
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string();
    let stored = match (&d.encryption, &d.stored) {
        (Some(e), Some(s)) => format!("{}, {e}", s.name()),
        (Some(e), None) => format!("encrypted, {e}"),
        (None, Some(s)) => s.name().to_string(),
        (None, None) => "masked".into(),
    };
    vec![
        ns.unwrap_or_else(|| "-".into()),
        name,
        kind,
        kv.mod_revision.to_string(),
        human(kv.value.len() as u64),
        stored,
        created,
    ]
}

fn print_one(out: &mut dyn Write, f: GetFormat, v: &Value) -> Result<(), Failure> {
    let text = match f {
        GetFormat::Yaml => kube::yaml::to_yaml(v),
        _ => kube::object::json_text(v) + "\n",
    };
    out.write_all(text.as_bytes()).map_err(io_fail)
}

/// A kubectl `List` written an item at a time: the same bytes as [`kube::yaml::to_yaml`] or
/// [`kube::object::json_text`] of the whole list.
struct ListWriter {
    yaml: bool,
    items: usize,
}

impl ListWriter {
    fn start(out: &mut dyn Write, f: GetFormat) -> Result<ListWriter, Failure> {
        let yaml = f == GetFormat::Yaml;
        let head = if yaml {
            "apiVersion: v1\n"
        } else {
            "{\n    \"apiVersion\": \"v1\",\n    \"items\": ["
        };
        out.write_all(head.as_bytes()).map_err(io_fail)?;
        Ok(ListWriter { yaml, items: 0 })
    }

    fn item(&mut self, out: &mut dyn Write, v: &Value) -> Result<(), Failure> {
        let mut s = String::new();
        if self.yaml {
            if self.items == 0 {
                s.push_str("items:\n");
            }
            for (i, line) in kube::yaml::to_yaml(v).lines().enumerate() {
                s.push_str(match (i, line.is_empty()) {
                    (0, _) => "- ",
                    (_, true) => "",
                    _ => "  ",
                });
                s.push_str(line);
                s.push('\n');
            }
        } else {
            s.push_str(if self.items == 0 { "\n" } else { ",\n" });
            for (i, line) in kube::object::json_text(v).lines().enumerate() {
                if i > 0 {
                    s.push('\n');
                }
                s.push_str("        ");
                s.push_str(line);
            }
        }
        self.items += 1;
        out.write_all(s.as_bytes()).map_err(io_fail)
    }

    fn finish(self, out: &mut dyn Write) -> Result<(), Failure> {
        let tail = match (self.yaml, self.items) {
            (true, 0) => "items: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n",
            (true, _) => "kind: List\nmetadata:\n  resourceVersion: \"\"\n",
            (false, 0) => "],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n",
            (false, _) => "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n",
        };
        out.write_all(tail.as_bytes()).map_err(io_fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed List is byte for byte the whole List printed at once.
    #[test]
    fn list_writer_equals_printing_the_whole_list() {
        let items = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                   "data": {"script": "line 1\n\nline 3\n", "empty": ""}}),
            json!({"apiVersion": "v1", "kind": "Secret", "data": {}, "list": [1, [2, {"x": null}]]}),
        ];
        for f in [GetFormat::Yaml, GetFormat::Json] {
            for n in 0..=items.len() {
                let mut out = Vec::new();
                let mut l = ListWriter::start(&mut out, f).unwrap();
                for v in &items[..n] {
                    l.item(&mut out, v).unwrap();
                }
                l.finish(&mut out).unwrap();
                let whole = json!({
                    "apiVersion": "v1",
                    "items": items[..n].to_vec(),
                    "kind": "List",
                    "metadata": { "resourceVersion": "" },
                });
                let want = match f {
                    GetFormat::Yaml => kube::yaml::to_yaml(&whole),
                    _ => kube::object::json_text(&whole) + "\n",
                };
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    want,
                    "{f:?} with {n} items"
                );
            }
        }
    }
}
