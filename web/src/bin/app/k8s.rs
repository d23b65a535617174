//! The page's Kubernetes mode (UI side): browse resource types → namespaces → objects, one
//! object as YAML / JSON / raw protobuf, "what fills my db" as bars, the objects deleted but
//! still held with their export, and the EncryptionConfiguration control. Every text shown is
//! made by the worker (web::k8s); this module keeps what is open and asks for the rest.

use serde_json::Value;
use wasm_bindgen::JsValue;
use web_sys::{Event, File, HtmlInputElement};
use yew::html::Scope;
use yew::prelude::*;

use web::protocol;

use crate::imp::{bytes, request, text, App, Msg as AppMsg};

/// Objects listed per page of a namespace (the page holds one page of rows at a time); the
/// tests lower it with `ETCDSCOPE_K8S_PAGE`.
fn page_size() -> usize {
    js_sys::Reflect::get(&js_sys::global(), &"ETCDSCOPE_K8S_PAGE".into())
        .ok()
        .and_then(|v| v.as_f64())
        .map_or(500, |n| n.clamp(1.0, 10_000.0) as usize)
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Browse,
    Analysis,
    Deleted,
    Decryption,
}

/// The chosen resource type.
#[derive(Clone, PartialEq)]
pub struct TypeSel {
    /// Base64 of `/registry/<prefix>/`.
    pub prefix: String,
    pub name: String,
    pub namespaced: bool,
}

pub enum Msg {
    Section(Section),
    /// Back to the list of types.
    Types,
    Type(TypeSel),
    /// A namespace (base64), or None for cluster-scoped objects.
    Namespace(Option<String>),
    Object(String),
    /// The page of objects starting at this offset.
    Page(usize),
    View(&'static str),
    EncText(String),
    EncLoad,
    EncFile(File),
    EncForget,
    Export {
        key: String,
        main: i64,
        sub: i64,
        format: &'static str,
    },
}

/// What the Kubernetes mode holds.
#[derive(Default)]
pub struct K8s {
    /// Answer of `k8s-types` (null until it came).
    pub types: Value,
    pub section: Section,
    pub type_sel: Option<TypeSel>,
    pub namespaces: Value,
    /// The namespace listed: Some(None) for cluster-scoped objects.
    pub ns_sel: Option<Option<String>>,
    /// One page of objects, from `objects_offset`.
    pub objects: Vec<Value>,
    pub objects_offset: usize,
    /// The page asked for (answers for other pages are dropped).
    pub objects_want: usize,
    pub objects_total: u64,
    /// A page of objects was asked for and has not come yet.
    pub objects_loading: bool,
    pub object: Value,
    pub view: &'static str,
    pub analysis: Value,
    pub deleted: Value,
    /// The loaded EncryptionConfiguration's description (None: none loaded).
    pub enc_desc: Option<String>,
    pub enc_error: Option<String>,
    pub enc_text: String,
}

fn query(what: &str, key: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let mut all: Vec<(&str, JsValue)> = vec![("what", what.into()), ("key", key.into())];
    all.extend(fields.iter().cloned());
    request(protocol::QUERY, &all)
}

impl K8s {
    /// Whether the input has keys under `/registry` (the mode is shown then).
    pub fn available(&self) -> bool {
        self.types["objects"].as_u64().unwrap_or(0) > 0
    }

    /// A new input: everything but the EncryptionConfiguration (it stays in the worker).
    pub fn reset(&mut self) {
        let desc = self.enc_desc.take();
        let text = std::mem::take(&mut self.enc_text);
        *self = K8s {
            enc_desc: desc,
            enc_text: text,
            ..K8s::default()
        };
    }

    /// The first question after a v3 input is open.
    pub fn on_open() -> JsValue {
        query("k8s-types", "", &[])
    }

    /// Requests when the tab is entered.
    pub fn enter(&mut self) -> Vec<JsValue> {
        let mut out = vec![];
        if self.types.is_null() {
            out.push(query("k8s-types", "", &[]));
        }
        out.extend(self.section_requests());
        out
    }

    fn section_requests(&self) -> Vec<JsValue> {
        match self.section {
            Section::Analysis if self.analysis.is_null() => vec![query("k8s", "", &[])],
            Section::Deleted if self.deleted.is_null() => vec![query("k8s-deleted", "", &[])],
            _ => vec![],
        }
    }

    /// Requests to send again when "Reveal secrets" changes.
    pub fn refresh(&self) -> Vec<JsValue> {
        match self.object["key"].as_str() {
            Some(k) => vec![query("k8s-object", k, &[])],
            None => vec![],
        }
    }

    /// Opens one object (from the lists of the analysis too).
    pub fn open_object(&mut self, key: String) -> Vec<JsValue> {
        self.section = Section::Browse;
        vec![query("k8s-object", &key, &[])]
    }

    fn objects_request(&mut self, offset: usize) -> Vec<JsValue> {
        self.objects_want = offset;
        self.objects_loading = true;
        let (Some(t), Some(ns)) = (&self.type_sel, &self.ns_sel) else {
            return vec![];
        };
        let ns: JsValue = match ns {
            Some(n) => n.as_str().into(),
            None => JsValue::NULL,
        };
        vec![query(
            "k8s-objects",
            &t.prefix,
            &[
                ("ns", ns),
                ("offset", (offset as f64).into()),
                ("limit", (page_size() as f64).into()),
            ],
        )]
    }

    /// Handles a message; returns the requests for the worker and a note for the page.
    pub fn update(&mut self, msg: Msg, link: &Scope<App>) -> (Vec<JsValue>, Option<String>) {
        match msg {
            Msg::Section(s) => {
                self.section = s;
                return (self.section_requests(), None);
            }
            Msg::Types => {
                self.type_sel = None;
                self.ns_sel = None;
                self.namespaces = Value::Null;
                self.objects.clear();
            }
            Msg::Type(t) => {
                self.namespaces = Value::Null;
                self.objects.clear();
                self.objects_total = 0;
                let key = t.prefix.clone();
                let namespaced = t.namespaced;
                self.type_sel = Some(t);
                if namespaced {
                    self.ns_sel = None;
                    return (vec![query("k8s-namespaces", &key, &[])], None);
                }
                self.ns_sel = Some(None);
                return (self.objects_request(0), None);
            }
            Msg::Namespace(ns) => {
                self.ns_sel = Some(ns);
                self.objects.clear();
                self.objects_total = 0;
                return (self.objects_request(0), None);
            }
            Msg::Page(offset) => return (self.objects_request(offset), None),
            Msg::Object(key) => return (self.open_object(key), None),
            Msg::View(v) => self.view = v,
            Msg::EncText(t) => self.enc_text = t,
            Msg::EncLoad => {
                return (
                    vec![request(
                        protocol::ENCRYPTION,
                        &[("text", self.enc_text.as_str().into())],
                    )],
                    None,
                );
            }
            Msg::EncFile(f) => {
                // The text is read here and sent to the worker like a paste.
                let link = link.clone();
                let p = f.text();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(t) = wasm_bindgen_futures::JsFuture::from(p).await {
                        let t = t.as_string().unwrap_or_default();
                        link.send_message(AppMsg::K8s(Msg::EncText(t)));
                        link.send_message(AppMsg::K8s(Msg::EncLoad));
                    }
                });
            }
            Msg::EncForget => {
                self.enc_text.clear();
                return (
                    vec![request(protocol::ENCRYPTION, &[])],
                    Some("the EncryptionConfiguration was forgotten".into()),
                );
            }
            Msg::Export {
                key,
                main,
                sub,
                format,
            } => {
                return (
                    vec![request(
                        protocol::K8S_EXPORT,
                        &[
                            ("key", key.into()),
                            ("main", (main as f64).into()),
                            ("sub", (sub as f64).into()),
                            ("format", format.into()),
                        ],
                    )],
                    Some(format!("exporting revision {main}…")),
                );
            }
        }
        (vec![], None)
    }

    /// An answer of the worker (`what` starts with `k8s` or is `encryption`); returns
    /// requests to send after it.
    pub fn answer(&mut self, what: &str, v: Value) -> Vec<JsValue> {
        match what {
            "k8s-types" => self.types = v,
            "k8s-namespaces" => {
                if self.type_sel.as_ref().map(|t| t.prefix.as_str()) == v["prefix"].as_str() {
                    // One namespace only: list its objects at once.
                    let rows = v["namespaces"].as_array().cloned().unwrap_or_default();
                    self.namespaces = v;
                    if rows.len() == 1 {
                        self.ns_sel = Some(rows[0]["namespaceKey"].as_str().map(str::to_string));
                        return self.objects_request(0);
                    }
                }
            }
            "k8s-objects" => {
                if self.type_sel.as_ref().map(|t| t.prefix.as_str()) == v["prefix"].as_str()
                    && v["offset"].as_u64() == Some(self.objects_want as u64)
                {
                    self.objects_total = v["total"].as_u64().unwrap_or(0);
                    self.objects_loading = false;
                    self.objects_offset = self.objects_want;
                    self.objects = v["objects"].as_array().cloned().unwrap_or_default();
                }
            }
            "k8s-object" => self.object = v,
            "k8s" => self.analysis = v,
            "k8s-deleted" => self.deleted = v,
            "encryption" => {
                if let Some(e) = v["error"].as_str() {
                    self.enc_error = Some(e.to_string());
                } else {
                    self.enc_error = None;
                    self.enc_desc = v["describe"].as_str().map(str::to_string);
                    // The keys now live in the worker only.
                    self.enc_text.clear();
                    // Objects decode differently now.
                    self.deleted = Value::Null;
                    return self.refresh();
                }
            }
            _ => {}
        }
        vec![]
    }

    pub fn view(&self, link: &Scope<App>, reveal: bool) -> Html {
        let sec = |s: Section, label: String, id: &'static str| {
            let class = if self.section == s {
                "tab active"
            } else {
                "tab"
            };
            html! { <button {id} {class} onclick={link.callback(move |_| AppMsg::K8s(Msg::Section(s)))}>{ label }</button> }
        };
        let enc = match &self.enc_desc {
            Some(_) => "Decryption (loaded)".to_string(),
            None => "Decryption".to_string(),
        };
        html! {
            <section id="k8s-view">
                <nav class="tabs sub">
                    { sec(Section::Browse, "Objects".into(), "k8s-browse") }
                    { sec(Section::Analysis, "What fills the db".into(), "k8s-analysis") }
                    { sec(Section::Deleted, "Deleted but held".into(), "k8s-deleted-tab") }
                    { sec(Section::Decryption, enc, "k8s-decrypt") }
                </nav>
                { match self.section {
                    Section::Browse => self.view_browse(link, reveal),
                    Section::Analysis => self.view_analysis(link),
                    Section::Deleted => self.view_deleted(link, reveal),
                    Section::Decryption => self.view_decryption(link),
                } }
            </section>
        }
    }

    fn view_browse(&self, link: &Scope<App>, reveal: bool) -> Html {
        let type_crumb = self.type_sel.clone().map(|t| {
            let name = t.name.clone();
            html! { <button id="k8s-type-crumb" onclick={link.callback(move |_| AppMsg::K8s(Msg::Type(t.clone())))}>{ name }</button> }
        });
        let crumbs = html! {
            <p class="crumbs" id="k8s-crumbs">
                <button id="k8s-types-crumb" onclick={link.callback(|_| AppMsg::K8s(Msg::Types))}>{ "resource types" }</button>
                { for type_crumb }
                if let Some(Some(_)) = &self.ns_sel {
                    <code>{ self.objects_ns_name() }</code>
                }
            </p>
        };
        let list = match (&self.type_sel, &self.ns_sel) {
            (None, _) => self.view_types(link),
            (Some(_), None) => self.view_namespaces(link),
            (Some(_), Some(_)) => self.view_objects(link),
        };
        html! {
            <div class="split">
                <div class="tree">
                    { crumbs }
                    { list }
                </div>
                { self.view_object(link, reveal) }
            </div>
        }
    }

    fn objects_ns_name(&self) -> String {
        match &self.ns_sel {
            Some(Some(n)) => web::session::unb64(n)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn view_types(&self, link: &Scope<App>) -> Html {
        let rows = self.types["types"].as_array().cloned().unwrap_or_default();
        html! {
            <table class="rows" id="k8s-list">
                <tr><th>{ "resource type" }</th><th class="num">{ "objects" }</th><th class="num">{ "bytes" }</th></tr>
                { for rows.iter().map(|r| {
                    let t = TypeSel {
                        prefix: text(&r["prefix"]),
                        name: text(&r["type"]),
                        namespaced: r["namespaced"].as_bool().unwrap_or(false),
                    };
                    let name = t.name.clone();
                    html! {
                        <tr class="dir" onclick={link.callback(move |_| AppMsg::K8s(Msg::Type(t.clone())))}>
                            <td class="name">{ name }</td>
                            <td class="num">{ r["objects"].to_string() }</td>
                            <td class="num">{ bytes(r["bytes"].as_u64().unwrap_or(0)) }</td>
                        </tr>
                    }
                }) }
            </table>
        }
    }

    fn view_namespaces(&self, link: &Scope<App>) -> Html {
        let rows = self.namespaces["namespaces"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if self.namespaces.is_null() {
            return html! { <p class="muted">{ "…" }</p> };
        }
        html! {
            <table class="rows" id="k8s-list">
                <tr><th>{ "namespace" }</th><th class="num">{ "objects" }</th><th class="num">{ "bytes" }</th></tr>
                { for rows.iter().map(|r| {
                    let key = r["namespaceKey"].as_str().map(str::to_string);
                    let name = r["namespace"].as_str().unwrap_or("(cluster-scoped)").to_string();
                    html! {
                        <tr class="dir" onclick={link.callback(move |_| AppMsg::K8s(Msg::Namespace(key.clone())))}>
                            <td class="name">{ name }</td>
                            <td class="num">{ r["objects"].to_string() }</td>
                            <td class="num">{ bytes(r["bytes"].as_u64().unwrap_or(0)) }</td>
                        </tr>
                    }
                }) }
            </table>
        }
    }

    fn view_objects(&self, link: &Scope<App>) -> Html {
        let selected = self.object["key"].as_str().unwrap_or("");
        let page = page_size();
        let prev = self.objects_offset.saturating_sub(page);
        let next = self.objects_offset + page;
        html! {
            <>
                if self.objects_loading && self.objects.is_empty() {
                    <p class="muted">{ "…" }</p>
                } else {
                    <p class="muted" id="k8s-count">{ format!("{} object{}", self.objects_total, if self.objects_total == 1 { "" } else { "s" }) }</p>
                }
                <div class="listwrap">
                    <table class="rows" id="k8s-list">
                        { for self.objects.iter().map(|r| {
                            let key = text(&r["key"]);
                            let class = if key == selected { "leaf selected" } else { "leaf" };
                            html! {
                                <tr {class} onclick={link.callback(move |_| AppMsg::K8s(Msg::Object(key.clone())))}>
                                    <td class="name">{ text(&r["name"]) }</td>
                                    <td class="num">{ bytes(r["bytes"].as_u64().unwrap_or(0)) }</td>
                                </tr>
                            }
                        }) }
                    </table>
                </div>
                if self.objects_total as usize > page {
                    <p class="pager">
                        <button id="k8s-prev" class="quiet" disabled={self.objects_offset == 0}
                            onclick={link.callback(move |_| AppMsg::K8s(Msg::Page(prev)))}>{ "‹ previous" }</button>
                        <span class="muted">{ format!(" {}–{} of {} ", self.objects_offset + 1,
                            self.objects_offset + self.objects.len(), self.objects_total) }</span>
                        <button id="k8s-next" class="quiet" disabled={next >= self.objects_total as usize}
                            onclick={link.callback(move |_| AppMsg::K8s(Msg::Page(next)))}>{ "next ›" }</button>
                    </p>
                }
            </>
        }
    }

    fn view_object(&self, link: &Scope<App>, reveal: bool) -> Html {
        let o = &self.object;
        if o.is_null() {
            return html! { <div class="value empty">{ "Pick a resource type, a namespace and an object to see it as YAML, JSON or its raw protobuf." }</div> };
        }
        let views: Vec<&'static str> = [("yaml", "yaml"), ("json", "json"), ("raw", "raw")]
            .into_iter()
            .filter(|(k, _)| !o[*k].is_null())
            .map(|(_, n)| n)
            .collect();
        let current = if views.contains(&self.view) {
            self.view
        } else {
            views.first().copied().unwrap_or("yaml")
        };
        let notes = o["notes"].as_array().cloned().unwrap_or_default();
        let secret_hidden = o["secret"].as_bool() == Some(true) && !reveal;
        html! {
            <div class="value" id="k8s-object">
                <h3 id="k8s-object-key">{ text(&o["keyText"]) }</h3>
                <p class="muted" id="k8s-object-meta">
                    { format!("revision {} · created at revision {} · version {} · {} · stored as {}",
                        o["revision"], o["create_revision"], o["version"],
                        bytes(o["size"].as_u64().unwrap_or(0)), text(&o["stored"])) }
                </p>
                if let Some(at) = o["deleted_at"].as_i64() {
                    <p class="note" id="k8s-object-deleted">{ format!("Deleted at revision {at}; this is its last revision held in the history (see “Deleted but held” to export it).") }</p>
                }
                if !notes.is_empty() {
                    <ul class="note" id="k8s-notes">{ for notes.iter().map(|n| html! { <li>{ text(n) }</li> }) }</ul>
                }
                if o["encrypted"].as_bool() == Some(true) && o["yaml"].is_null() && self.enc_desc.is_none() {
                    <p><button id="k8s-go-decrypt" class="quiet" onclick={link.callback(|_| AppMsg::K8s(Msg::Section(Section::Decryption)))}>{ "Give the EncryptionConfiguration…" }</button></p>
                }
                if secret_hidden {
                    <p class="note" id="k8s-masked">{ "Secret data is masked. Tick “Reveal secrets” above to see it (and the raw view)." }</p>
                }
                <p>
                    { for views.iter().map(|n| {
                        let n: &'static str = n;
                        html! { <button id={format!("k8s-view-{n}")} class={if n == current { "tab active" } else { "tab" }} onclick={link.callback(move |_| AppMsg::K8s(Msg::View(n)))}>{ n.to_uppercase() }</button> }
                    }) }
                </p>
                if views.is_empty() {
                    <p class="empty">{ "Nothing to show: see the notes above." }</p>
                } else {
                    <pre id="k8s-body">{ text(&o[current]) }</pre>
                }
            </div>
        }
    }

    fn view_analysis(&self, link: &Scope<App>) -> Html {
        let a = &self.analysis;
        if a.is_null() {
            return html! { <p class="muted" id="k8s-bars-wait">{ "Reading the history…" }</p> };
        }
        let bars = |id: &'static str, title: &'static str, field: &'static str| {
            let rows = a[field].as_array().cloned().unwrap_or_default();
            let max = rows
                .iter()
                .map(|r| {
                    r["live_bytes"].as_u64().unwrap_or(0) + r["history_bytes"].as_u64().unwrap_or(0)
                })
                .max()
                .unwrap_or(0)
                .max(1) as f64;
            let label = if field == "by_type" {
                "type"
            } else {
                "namespace"
            };
            html! {
                <div class="bars" {id}>
                    <h3>{ title }</h3>
                    { for rows.iter().take(30).map(|r| {
                        let live = r["live_bytes"].as_u64().unwrap_or(0);
                        let hist = r["history_bytes"].as_u64().unwrap_or(0);
                        html! {
                            <div class="barrow">
                                <span class="label" title={text(&r[label])}>{ text(&r[label]) }</span>
                                <span class="track">
                                    <span class="bar live" data-w={format!("{:.2}", live as f64 * 100.0 / max)}></span>
                                    <span class="bar hist" data-w={format!("{:.2}", hist as f64 * 100.0 / max)}></span>
                                </span>
                                <span class="num">{ format!("{} objects · {} live · {} history", r["objects"], bytes(live), bytes(hist)) }</span>
                            </div>
                        }
                    }) }
                </div>
            }
        };
        let top = |id: &'static str, title: &'static str, field: &'static str| {
            let rows = a[field].as_array().cloned().unwrap_or_default();
            html! {
                <div>
                    <h3>{ title }</h3>
                    <table class="rows" {id}>
                        <tr><th>{ "key" }</th><th class="num">{ "bytes" }</th><th class="num">{ "revisions" }</th></tr>
                        { for rows.iter().map(|r| {
                            let key = top_key(&r["key"]);
                            let shown = match &r["key"] { Value::String(s) => s.clone(), v => v.to_string() };
                            html! {
                                <tr onclick={link.callback(move |_| AppMsg::K8s(Msg::Object(key.clone())))}>
                                    <td class="name">{ shown }</td>
                                    <td class="num">{ bytes(r["bytes"].as_u64().unwrap_or(0)) }</td>
                                    <td class="num">{ r["revisions"].to_string() }</td>
                                </tr>
                            }
                        }) }
                    </table>
                </div>
            }
        };
        let all = &a["all"];
        html! {
            <div id="k8s-analysis-view">
                <p id="k8s-all">{ format!("{} objects, {} deleted but held, {} revisions: {} live, {} history",
                    all["objects"], all["deleted"], all["revisions"],
                    bytes(all["live_bytes"].as_u64().unwrap_or(0)), bytes(all["history_bytes"].as_u64().unwrap_or(0))) }</p>
                <p class="legend"><span class="swatch live"></span>{ " live (latest revision of live objects) " }<span class="swatch hist"></span>{ " history (older revisions, deleted objects)" }</p>
                { bars("k8s-bars-type", "By resource type", "by_type") }
                { bars("k8s-bars-ns", "By namespace", "by_namespace") }
                <div class="split">
                    { top("k8s-largest", "Largest objects", "largest") }
                    { top("k8s-most-revisions", "Most revisions held", "most_revisions") }
                </div>
            </div>
        }
    }

    fn view_deleted(&self, link: &Scope<App>, reveal: bool) -> Html {
        if self.deleted.is_null() {
            return html! { <p class="muted">{ "Reading the history…" }</p> };
        }
        let rows = self.deleted["deleted"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.is_empty() {
            return html! { <p class="empty" id="k8s-deleted-empty">{ "No deleted object is held in the history (or it was compacted away)." }</p> };
        }
        let button = |r: &Value, format: &'static str, label: String, id: String| {
            let key = text(&r["key"]);
            let main = r["revision"].as_i64().unwrap_or(0);
            let sub = r["sub"].as_i64().unwrap_or(0);
            // A Secret as stored holds its data in clear (unless encrypted at rest).
            let hidden =
                format == "raw" && !reveal && r["type"] == "secrets" && r["encoding"] != "enc";
            let title = if hidden {
                "a Secret as stored holds its data in clear: tick “Reveal secrets” to export it"
            } else {
                ""
            };
            html! {
                <button {id} class="quiet" disabled={hidden} {title} onclick={link.callback(move |_| AppMsg::K8s(Msg::Export { key: key.clone(), main, sub, format }))}>{ label }</button>
            }
        };
        html! {
            <>
                <p class="muted">{ format!("{} object(s) deleted but still held. “As stored” gives the value as etcd holds it: ", rows.len()) }
                    <code>{ "etcdctl put KEY < FILE" }</code>{ " puts it back. YAML and JSON are decoded" }
                    { if reveal { " (Secret data shown)." } else { " (Secret data masked)." } }</p>
                <table class="rows" id="k8s-deleted">
                    <tr><th>{ "type" }</th><th>{ "namespace" }</th><th>{ "name" }</th><th class="num">{ "held rev" }</th><th class="num">{ "deleted at" }</th><th class="num">{ "bytes" }</th><th>{ "export" }</th></tr>
                    { for rows.iter().enumerate().map(|(i, r)| html! {
                        <tr class="leaf">
                            <td>{ text(&r["type"]) }</td>
                            <td>{ r["namespace"].as_str().unwrap_or("—") }</td>
                            <td class="name">{ text(&r["name"]) }</td>
                            <td class="num">{ r["revision"].to_string() }</td>
                            <td class="num">{ r["deleted_at"].to_string() }</td>
                            <td class="num">{ bytes(r["bytes"].as_u64().unwrap_or(0)) }</td>
                            <td class="actions">
                                { button(r, "raw", format!("as stored (.{})", text(&r["encoding"])), format!("export-raw-{i}")) }
                                { button(r, "yaml", "YAML".into(), format!("export-yaml-{i}")) }
                                { button(r, "json", "JSON".into(), format!("export-json-{i}")) }
                            </td>
                        </tr>
                    }) }
                </table>
            </>
        }
    }

    fn view_decryption(&self, link: &Scope<App>) -> Html {
        let onfile = link.batch_callback(|e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            input
                .files()
                .and_then(|l| l.get(0))
                .map(|f| AppMsg::K8s(Msg::EncFile(f)))
        });
        let oninput = link.callback(|e: InputEvent| {
            let t: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            AppMsg::K8s(Msg::EncText(t.value()))
        });
        html! {
            <div id="k8s-decryption">
                <p class="muted">{ "Values encrypted at rest (" }<code>{ "k8s:enc:aescbc / aesgcm / secretbox" }</code>{ ") decode with the cluster's EncryptionConfiguration (the file given to kube-apiserver's --encryption-provider-config). It is read by this page's worker and kept in its memory only: never stored, never sent anywhere. KMS values cannot be decrypted here (the key is in the KMS)." }</p>
                if let Some(d) = &self.enc_desc {
                    <p>{ "Loaded:" }</p>
                    <pre id="enc-describe">{ d }</pre>
                    <button id="enc-forget" onclick={link.callback(|_| AppMsg::K8s(Msg::EncForget))}>{ "Forget" }</button>
                } else {
                    <p>
                        <label class="button">
                            { "Choose the EncryptionConfiguration…" }
                            <input id="enc-file" type="file" onchange={onfile} />
                        </label>
                        <span class="muted">{ " or paste it:" }</span>
                    </p>
                    <textarea id="enc-text" rows="10" spellcheck="false" value={self.enc_text.clone()} {oninput} />
                    <p><button id="enc-load" onclick={link.callback(|_| AppMsg::K8s(Msg::EncLoad))}>{ "Use this configuration" }</button></p>
                }
                if let Some(e) = &self.enc_error {
                    <pre id="enc-error" class="error">{ e }</pre>
                }
            </div>
        }
    }
}

/// A top-list key (text, or `{hex}` for keys that are not UTF-8) as base64.
fn top_key(v: &Value) -> String {
    match v {
        Value::String(s) => web::session::b64_text(s),
        other => {
            let hex = other["hex"].as_str().unwrap_or("");
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            web::session::b64_bytes(&bytes)
        }
    }
}

/// Sets the width of the analysis bars (`data-w`, percent) through the CSSOM: the CSP forbids
/// style attributes.
pub fn size_bars() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(list) = doc.query_selector_all("#k8s-analysis-view [data-w]") else {
        return;
    };
    for i in 0..list.length() {
        let Some(node) = list.item(i) else { continue };
        let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(node) else {
            continue;
        };
        if let Some(w) = el.get_attribute("data-w") {
            let _ = el.style().set_property("width", &format!("{w}%"));
        }
    }
}
