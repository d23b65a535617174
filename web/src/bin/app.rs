//! The UI thread: inputs (file, folder, drop, sample), the summary, the key tree, values and
//! their history, leases/members/auth, the v2 store, and snapshot downloads. Nothing is parsed
//! here; the worker reads and answers (JSON text, parsed with serde_json so 64-bit numbers stay
//! exact).

#[cfg(target_arch = "wasm32")]
#[path = "app/k8s.rs"]
mod k8s;

#[cfg(target_arch = "wasm32")]
#[path = "app/browser.rs"]
mod browser;

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::collections::{HashMap, HashSet};

    use js_sys::{Array, Object, Reflect};
    use serde_json::Value;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Blob, DragEvent, Event, File, HtmlInputElement, MessageEvent, Worker};
    use yew::prelude::*;

    use web::protocol;

    use crate::browser::{
        copy_text, dropped_entries, js_text, parent_prefix, walk_entries, write_to,
    };

    /// Rows the worker sends per request of a key-tree level (the list asks for the chunks that
    /// come into view).
    const PAGE: usize = 200;
    /// Height of one row of the key list, in CSS pixels (style.css `.vlist .row`).
    const ROW_H: f64 = 26.0;
    /// Height of the key list's viewport (style.css `.vlist`).
    const LIST_H: f64 = 520.0;
    /// Rows rendered beyond the visible ones, above and below.
    const OVERSCAN: usize = 8;
    /// Chunks of rows kept in the page; the farthest from the view are dropped first.
    const KEEP_CHUNKS: usize = 40;
    /// Rows shown by the SQL console.
    const SQL_ROWS: usize = 1000;

    /// Where the worker's loader is: the single-file build sets `ETCDSCOPE_WORKER_URL` to a
    /// `blob:` URL; the Trunk build serves `worker_loader.js` beside the page.
    fn worker_url() -> String {
        Reflect::get(&js_sys::global(), &"ETCDSCOPE_WORKER_URL".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| "./worker_loader.js".to_string())
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Tab {
        Summary,
        Keys,
        Leases,
        Members,
        Auth,
        Kubernetes,
        V2,
        Wal,
        Integrity,
        Sql,
    }

    /// What the key list shows: one level of the tree, or search results.
    #[derive(Clone, PartialEq)]
    enum Nav {
        Level(String),
        Search { mode: String, pattern: String },
    }

    pub enum Msg {
        WorkerReady,
        Open(File),
        OpenFolder(Vec<(String, File)>),
        OpenSample,
        Summary {
            json: String,
        },
        Answer {
            what: String,
            json: String,
        },
        Download {
            name: String,
            message: String,
            blob: Blob,
        },
        Failed {
            what: String,
            message: String,
        },
        Trailer {
            json: String,
        },
        Progress {
            label: String,
            done: f64,
            total: f64,
        },
        Scroll(f64),
        ListKey(KeyboardEvent),
        Select(usize),
        Copy(&'static str),
        SqlText(String),
        SqlRun,
        SqliteDownload,
        /// The save-file picker answered (a file handle, or none: use a download) for `req`.
        Picked {
            handle: Option<JsValue>,
            req: JsValue,
        },
        PickCancelled,
        Saved(String),
        DragOver(bool),
        Tab(Tab),
        Level {
            key: String,
        },
        History {
            key: String,
        },
        V2 {
            key: String,
        },
        /// The WAL timeline from this row on.
        WalPage(usize),
        Snapshot {
            latest_only: bool,
        },
        /// The keys shown (this tree level or these search results) with their values, as JSON.
        JsonSelection,
        ValueView(&'static str),
        Search,
        SearchMode(String),
        SearchText(String),
        DiffPick(usize),
        Cancel,
        Sql {
            dialect: &'static str,
            schema: &'static str,
        },
        /// The Kubernetes mode's own messages.
        K8s(crate::k8s::Msg),
        /// "Reveal secrets" ticked or not.
        Reveal(bool),
        /// "Redact Secrets" on downloads.
        Redact(bool),
    }

    enum View {
        Empty,
        Loading(String),
        Loaded,
        Failed(String),
    }

    pub struct App {
        worker: Option<Worker>,
        ready: bool,
        queued: Vec<JsValue>,
        view: View,
        dragging: bool,
        _onmessage: Option<Closure<dyn FnMut(MessageEvent)>>,
        worker_error: Option<String>,
        summary: Value,
        tab: Tab,
        level: Value,
        value: Value,
        value_view: &'static str,
        history: Value,
        info: Value,
        v2: Value,
        /// A page of the WAL timeline.
        wal: Value,
        /// A data dir's integrity report (made when its tab is first opened).
        integrity: Value,
        note: Option<String>,
        progress: Option<(String, f64, f64)>,
        /// The key list: what it shows, its chunks of rows (by chunk index), the chunks asked
        /// for, the scroll position and the selected row.
        nav: Nav,
        chunks: HashMap<usize, Vec<Value>>,
        pending: HashSet<usize>,
        scroll_top: f64,
        selected: usize,
        list_ref: NodeRef,
        sql_text: String,
        sql_result: Value,
        sql_error: Option<String>,
        sql_busy: bool,
        busy: bool,
        search_mode: String,
        search_text: String,
        diff_pick: Vec<usize>,
        /// The file the next download goes to (File System Access API), chosen before the export.
        save_handle: Option<JsValue>,
        /// The request that opened the current input (re-sent after a cancel of an export).
        last_open: Option<JsValue>,
        /// The Kubernetes mode.
        k8s: crate::k8s::K8s,
        /// Secret data shown (off after each load).
        reveal: bool,
        /// Downloads (snapshot, SQL) with Secret data redacted.
        redact: bool,
    }

    pub(crate) fn request(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
        let obj = Object::new();
        let _ = Reflect::set(&obj, &"kind".into(), &kind.into());
        for (k, v) in fields {
            let _ = Reflect::set(&obj, &(*k).into(), v);
        }
        obj.into()
    }

    fn search_query(mode: &str, pattern: &str, offset: usize) -> JsValue {
        request(
            protocol::QUERY,
            &[
                ("what", "search".into()),
                ("key", "".into()),
                ("mode", mode.into()),
                ("pattern", pattern.into()),
                ("offset", (offset as f64).into()),
                ("limit", (PAGE as f64).into()),
            ],
        )
    }

    fn query(what: &str, key: &str, offset: usize) -> JsValue {
        request(
            protocol::QUERY,
            &[
                ("what", what.into()),
                ("key", key.into()),
                ("offset", (offset as f64).into()),
                ("limit", (PAGE as f64).into()),
            ],
        )
    }

    fn save(name: &str, blob: &Blob) -> Result<(), JsValue> {
        let url = web_sys::Url::create_object_url_with_blob(blob)?;
        let doc = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| JsValue::from_str("no document"))?;
        let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.dyn_into()?;
        a.set_href(&url);
        a.set_download(name);
        a.click();
        // The browser has taken the download; the URL may go.
        let _ = web_sys::Url::revoke_object_url(&url);
        Ok(())
    }

    pub(crate) fn bytes(n: u64) -> String {
        match n {
            0..=9_999 => format!("{n} B"),
            10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
            10_000_000..=9_999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
            _ => format!("{:.2} GB", n as f64 / 1e9),
        }
    }

    pub(crate) fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => "—".to_string(),
            other => other.to_string(),
        }
    }

    fn fact(facts: &Value, path: &[&str]) -> String {
        let mut v = facts;
        for p in path {
            v = &v[*p];
        }
        text(v)
    }

    impl App {
        /// Sends an open request and remembers it (a cancelled export reopens the input).
        fn open(&mut self, msg: JsValue) {
            self.last_open = Some(msg.clone());
            self.send(msg);
        }

        fn send(&mut self, msg: JsValue) {
            // Every question says whether Secret data may be shown.
            let _ = Reflect::set(&msg, &"reveal".into(), &self.reveal.into());
            match (&self.worker, self.ready) {
                (Some(w), true) => {
                    if let Err(e) = w.post_message(&msg) {
                        self.view = View::Failed(format!("could not reach the worker: {e:?}"));
                    }
                }
                _ => self.queued.push(msg),
            }
        }

        /// `<input stem>-rev<N>` (`-v2` for a data dir's v2 store), as the worker names downloads.
        fn stem(&self) -> String {
            let name = self.summary["name"].as_str().unwrap_or("etcd");
            let base = name.rsplit('/').next().unwrap_or("etcd");
            let base = base.strip_suffix(".db").unwrap_or(base);
            let base = if base.is_empty() { "etcd" } else { base };
            if self.summary.get("v2").is_some() {
                format!("{base}-v2")
            } else {
                format!("{base}-rev{}", self.summary["status"]["revision"])
            }
        }

        /// Starts an export. Large inputs, where the browser has the File System Access API,
        /// first ask where to save (the picker needs the click's user activation), so the result
        /// is streamed into that file; otherwise it becomes a download.
        fn start_export(&mut self, ctx: &Context<Self>, name: String, note: String, req: JsValue) {
            // The worker names its reply (and the download) by this.
            let _ = Reflect::set(&req, &"name".into(), &name.as_str().into());
            self.busy = true;
            self.note = Some(note);
            self.save_handle = None;
            let size = self.summary["status"]["fileSize"].as_f64().unwrap_or(0.0);
            let min = Reflect::get(&js_sys::global(), &"ETCDSCOPE_PICKER_MIN_BYTES".into())
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or(256e6);
            let picker = Reflect::get(&js_sys::global(), &"showSaveFilePicker".into())
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            if let (Some(picker), true) = (picker, size >= min) {
                let opts = Object::new();
                let _ = Reflect::set(&opts, &"suggestedName".into(), &name.as_str().into());
                if let Ok(Ok(p)) = picker
                    .call1(&js_sys::global(), &opts)
                    .map(|p| p.dyn_into::<js_sys::Promise>())
                {
                    let link = ctx.link().clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        link.send_message(match wasm_bindgen_futures::JsFuture::from(p).await {
                            Ok(handle) => Msg::Picked {
                                handle: Some(handle),
                                req,
                            },
                            Err(e) if js_text(&e).contains("abort") => Msg::PickCancelled,
                            // Refused (no user activation, a policy): download as usual.
                            Err(_) => Msg::Picked { handle: None, req },
                        });
                    });
                    return;
                }
            }
            self.send(req);
        }

        /// Shows a level of the tree (or search results) from the top.
        fn navigate(&mut self, nav: Nav) {
            self.nav = nav;
            self.level = Value::Null;
            self.chunks.clear();
            self.pending.clear();
            self.scroll_top = 0.0;
            self.selected = 0;
            if let Some(el) = self.list_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(0);
            }
            self.want_chunk(0);
        }

        fn want_chunk(&mut self, chunk: usize) {
            if self.chunks.contains_key(&chunk) || !self.pending.insert(chunk) {
                return;
            }
            let msg = match &self.nav {
                Nav::Level(key) => query("children", key, chunk * PAGE),
                Nav::Search { mode, pattern } => search_query(mode, pattern, chunk * PAGE),
            };
            self.send(msg);
        }

        /// Whether an answer belongs to what the list shows now.
        fn is_current(&self, v: &Value) -> bool {
            match &self.nav {
                Nav::Level(key) => v["search"].is_null() && v["prefixKey"].as_str() == Some(key),
                Nav::Search { mode, pattern } => {
                    v["search"].as_bool() == Some(true)
                        && v["prefix"].as_str() == Some(&format!("{mode}: {pattern}"))
                }
            }
        }

        /// Rows in view (with overscan): asks for the chunks they need, drops far ones.
        fn visible(&self) -> (usize, usize) {
            let total = self.level["total"].as_u64().unwrap_or(0) as usize;
            let first = (self.scroll_top / ROW_H).floor().max(0.0) as usize;
            let first = first.min(total);
            let from = first.saturating_sub(OVERSCAN);
            let to = (first + (LIST_H / ROW_H).ceil() as usize + OVERSCAN).min(total);
            (from, to)
        }

        fn fill_view(&mut self) {
            let (from, to) = self.visible();
            if to > from {
                for c in from / PAGE..=(to - 1) / PAGE {
                    self.want_chunk(c);
                }
            }
            if self.chunks.len() > KEEP_CHUNKS {
                let here = from / PAGE;
                let mut keys: Vec<usize> = self.chunks.keys().copied().collect();
                keys.sort_by_key(|c| std::cmp::Reverse(c.abs_diff(here)));
                for c in keys.into_iter().take(self.chunks.len() - KEEP_CHUNKS) {
                    self.chunks.remove(&c);
                }
            }
        }

        fn row(&self, i: usize) -> Option<&Value> {
            self.chunks.get(&(i / PAGE)).and_then(|c| c.get(i % PAGE))
        }

        /// Opens row `i`: a directory's level or a key's value.
        fn open_row(&mut self, i: usize) {
            let Some(r) = self.row(i).cloned() else {
                return;
            };
            self.selected = i;
            let key = text(&r["key"]);
            if r["dir"].as_bool() == Some(true) {
                self.navigate(Nav::Level(key));
            } else {
                self.send(query("value", &key, 0));
            }
        }

        /// Scrolls so that row `i` is in view.
        fn reveal(&mut self, i: usize) {
            let top = i as f64 * ROW_H;
            let mut st = self.scroll_top;
            if top < st {
                st = top;
            } else if top + ROW_H > st + LIST_H {
                st = top + ROW_H - LIST_H;
            }
            if st != self.scroll_top {
                self.scroll_top = st;
                if let Some(el) = self.list_ref.cast::<web_sys::Element>() {
                    el.set_scroll_top(st as i32);
                }
            }
            self.fill_view();
        }

        fn reset(&mut self) {
            self.summary = Value::Null;
            self.level = Value::Null;
            self.chunks.clear();
            self.pending.clear();
            self.nav = Nav::Level(String::new());
            self.progress = None;
            self.sql_result = Value::Null;
            self.sql_error = None;
            self.sql_busy = false;
            self.value = Value::Null;
            self.history = Value::Null;
            self.info = Value::Null;
            self.v2 = Value::Null;
            self.wal = Value::Null;
            self.integrity = Value::Null;
            self.note = None;
            self.tab = Tab::Summary;
            self.k8s.reset();
            self.reveal = false;
        }
    }

    impl Component for App {
        type Message = Msg;
        type Properties = ();

        fn create(ctx: &Context<Self>) -> Self {
            let link = ctx.link().clone();
            let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let data = ev.data();
                let get = |k: &str| {
                    Reflect::get(&data, &k.into())
                        .ok()
                        .and_then(|v| v.as_string())
                        .unwrap_or_default()
                };
                let msg = match get("kind").as_str() {
                    protocol::READY => Msg::WorkerReady,
                    protocol::SUMMARY => Msg::Summary { json: get("json") },
                    protocol::TRAILER => Msg::Trailer { json: get("json") },
                    protocol::ANSWER => Msg::Answer {
                        what: get("what"),
                        json: get("json"),
                    },
                    protocol::PROGRESS => {
                        let num = |k: &str| {
                            Reflect::get(&data, &k.into())
                                .ok()
                                .and_then(|v| v.as_f64())
                                .unwrap_or(0.0)
                        };
                        Msg::Progress {
                            label: get("label"),
                            done: num("done"),
                            total: num("total"),
                        }
                    }
                    protocol::DOWNLOAD => {
                        let saved = Reflect::get(&data, &"saved".into())
                            .ok()
                            .and_then(|v| v.as_f64());
                        match Reflect::get(&data, &"blob".into()).map(|b| b.dyn_into::<Blob>()) {
                            _ if saved.is_some() => Msg::Saved(format!(
                                "{}: {}; written to the chosen file while it was made ({} bytes)",
                                get("name"),
                                get("message"),
                                saved.unwrap_or(0.0)
                            )),
                            Ok(Ok(blob)) => Msg::Download {
                                name: get("name"),
                                message: get("message"),
                                blob,
                            },
                            _ => Msg::Failed {
                                what: String::new(),
                                message: "the worker sent no file".into(),
                            },
                        }
                    }
                    _ => Msg::Failed {
                        what: get("name"),
                        message: get("message"),
                    },
                };
                link.send_message(msg);
            });
            let (worker, worker_error) = match Worker::new(&worker_url()) {
                Ok(w) => {
                    w.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
                    (Some(w), None)
                }
                Err(e) => (None, Some(format!("the worker did not start: {e:?}"))),
            };
            App {
                worker,
                ready: false,
                queued: Vec::new(),
                view: View::Empty,
                dragging: false,
                _onmessage: Some(onmessage),
                worker_error,
                summary: Value::Null,
                tab: Tab::Summary,
                level: Value::Null,
                value: Value::Null,
                value_view: "yaml",
                history: Value::Null,
                info: Value::Null,
                v2: Value::Null,
                wal: Value::Null,
                integrity: Value::Null,
                note: None,
                progress: None,
                nav: Nav::Level(String::new()),
                chunks: HashMap::new(),
                pending: HashSet::new(),
                scroll_top: 0.0,
                selected: 0,
                list_ref: NodeRef::default(),
                sql_text: "SELECT key_text, mod_revision, version, length(value) AS bytes\nFROM etcd_kv ORDER BY key LIMIT 100;".into(),
                sql_result: Value::Null,
                sql_error: None,
                sql_busy: false,
                busy: false,
                search_mode: "substring".into(),
                search_text: String::new(),
                diff_pick: Vec::new(),
                last_open: None,
                save_handle: None,
                k8s: Default::default(),
                reveal: false,
                redact: false,
            }
        }

        fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
            match msg {
                Msg::WorkerReady => {
                    self.ready = true;
                    for m in std::mem::take(&mut self.queued) {
                        self.send(m);
                    }
                }
                Msg::Open(file) => {
                    self.reset();
                    self.view = View::Loading(file.name());
                    let name = file.name();
                    self.open(request(
                        protocol::OPEN_FILE,
                        &[("file", file.into()), ("name", name.into())],
                    ));
                }
                Msg::OpenFolder(files) => {
                    self.reset();
                    let arr = Array::new();
                    let paths = Array::new();
                    let mut top = String::new();
                    for (rel, f) in &files {
                        let rel = rel.clone();
                        if top.is_empty() {
                            top = rel.split('/').next().unwrap_or_default().to_string();
                        }
                        arr.push(f);
                        paths.push(&rel.into());
                    }
                    self.view = View::Loading(top.clone());
                    self.open(request(
                        protocol::OPEN_FILES,
                        &[
                            ("files", arr.into()),
                            ("paths", paths.into()),
                            ("name", top.into()),
                        ],
                    ));
                }
                Msg::OpenSample => {
                    self.reset();
                    self.view = View::Loading(web::SAMPLE_NAME.to_string());
                    self.open(request(protocol::OPEN_SAMPLE, &[]));
                }
                Msg::Summary { json } => {
                    self.summary = serde_json::from_str(&json).unwrap_or(Value::Null);
                    self.view = View::Loaded;
                    self.progress = None;
                    if self.summary.get("status").is_some() {
                        self.navigate(Nav::Level(String::new()));
                        self.send(crate::k8s::K8s::on_open());
                    }
                }
                Msg::Trailer { json } => {
                    if let Ok(mut t) = serde_json::from_str::<Value>(&json) {
                        if t["state"] == "checking" {
                            let (d, n) = (
                                t["done"].as_f64().unwrap_or(0.0),
                                t["total"].as_f64().unwrap_or(0.0),
                            );
                            let pct = if n > 0.0 {
                                (d * 100.0 / n).floor()
                            } else {
                                0.0
                            };
                            t["state"] = Value::String(format!("checking… {pct} %"));
                        }
                        if t["state"] == "mismatch" {
                            if let Some(p) = self.summary["status"]["problems"].as_array_mut() {
                                p.push(Value::String(format!(
                                    "the SHA-256 trailer does not match: stored {}, computed {}",
                                    text(&t["storedSha256"]),
                                    text(&t["computedSha256"])
                                )));
                            }
                        }
                        self.summary["status"]["trailer"] = t;
                    }
                }
                Msg::Answer { what, json } => {
                    let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                    self.progress = None;
                    if !self.sql_busy {
                        self.busy = false;
                    }
                    match what.as_str() {
                        "children" | "search" => {
                            if self.is_current(&v) {
                                let offset = v["offset"].as_u64().unwrap_or(0) as usize;
                                let rows = v["children"].as_array().cloned().unwrap_or_default();
                                self.pending.remove(&(offset / PAGE));
                                self.chunks.insert(offset / PAGE, rows);
                                self.level = v;
                                self.fill_view();
                            }
                        }
                        "sql" => {
                            self.sql_busy = false;
                            self.busy = false;
                            self.sql_error = None;
                            self.sql_result = v;
                        }
                        "value" => {
                            self.value = v;
                            self.history = Value::Null;
                            self.diff_pick.clear();
                        }
                        "history" => {
                            self.history = v;
                            self.diff_pick.clear();
                        }
                        "v2" => self.v2 = v,
                        "wal" => self.wal = v,
                        "integrity" => self.integrity = v,
                        w if w.starts_with("k8s") || w == "encryption" => {
                            for m in self.k8s.answer(w, v) {
                                self.send(m);
                            }
                        }
                        _ => self.info = v,
                    }
                }
                Msg::Download {
                    name,
                    message,
                    blob,
                } => {
                    self.busy = false;
                    if let Some(handle) = self.save_handle.take() {
                        // The file chosen before the export: the Blob is streamed into it.
                        self.note = Some(format!("saving {name}…"));
                        let link = ctx.link().clone();
                        wasm_bindgen_futures::spawn_local(async move {
                            let size = blob.size();
                            link.send_message(Msg::Saved(match write_to(&handle, &blob).await {
                                Ok(()) => format!(
                                    "{name}: {message}; written to the chosen file ({} bytes)",
                                    size
                                ),
                                Err(e) => format!("could not write {name}: {}", js_text(&e)),
                            }));
                        });
                    } else {
                        self.note = Some(match save(&name, &blob) {
                            Ok(()) => format!("{name}: {message}"),
                            Err(e) => format!("could not save {name}: {e:?}"),
                        });
                    }
                }
                Msg::Failed { what, message } => {
                    self.busy = false;
                    self.progress = None;
                    self.save_handle = None;
                    if what == "sql" || (what == "sqlite" && self.sql_busy) {
                        self.sql_busy = false;
                        self.sql_error = Some(message);
                    } else if matches!(self.view, View::Loaded) {
                        self.note = Some(message);
                    } else {
                        self.view = View::Failed(message);
                    }
                }
                Msg::DragOver(on) => {
                    let changed = self.dragging != on;
                    self.dragging = on;
                    return changed;
                }
                Msg::Tab(t) => {
                    self.tab = t;
                    match t {
                        Tab::Leases => self.send(query("leases", "", 0)),
                        Tab::Members => self.send(query("members", "", 0)),
                        Tab::Auth => self.send(query("auth", "", 0)),
                        Tab::Kubernetes => {
                            for m in self.k8s.enter() {
                                self.send(m);
                            }
                        }
                        Tab::V2 => self.send(query("v2", "", 0)),
                        Tab::Wal if self.wal.is_null() => self.send(query("wal", "", 0)),
                        Tab::Integrity if self.integrity.is_null() => {
                            self.send(query("integrity", "", 0))
                        }
                        _ => {}
                    }
                }
                Msg::Level { key } => self.navigate(Nav::Level(key)),
                Msg::Progress { label, done, total } => {
                    if matches!(self.view, View::Loaded) {
                        // Cancel during a job (an index build, an export) reopens the input.
                        self.busy = true;
                    }
                    self.progress = Some((label, done, total));
                }
                Msg::Scroll(top) => {
                    self.scroll_top = top;
                    self.fill_view();
                }
                Msg::Select(i) => self.open_row(i),
                Msg::ListKey(e) => {
                    let total = self.level["total"].as_u64().unwrap_or(0) as usize;
                    let page = (LIST_H / ROW_H) as usize;
                    let last = total.saturating_sub(1);
                    let sel = self.selected.min(last);
                    let next = match e.key().as_str() {
                        "ArrowDown" => Some((sel + 1).min(last)),
                        "ArrowUp" => Some(sel.saturating_sub(1)),
                        "PageDown" => Some((sel + page).min(last)),
                        "PageUp" => Some(sel.saturating_sub(page)),
                        "Home" => Some(0),
                        "End" => Some(last),
                        _ => None,
                    };
                    if let Some(n) = next {
                        e.prevent_default();
                        self.selected = n;
                        self.reveal(n);
                    } else if e.key() == "Enter" {
                        e.prevent_default();
                        self.open_row(sel);
                    } else if e.key() == "Backspace" {
                        e.prevent_default();
                        let parent = match &self.nav {
                            Nav::Level(k) => parent_prefix(k),
                            Nav::Search { .. } => String::new(),
                        };
                        self.navigate(Nav::Level(parent));
                    } else {
                        return false;
                    }
                }
                Msg::Copy(what) => {
                    let v = &self.value;
                    let text_to_copy = match what {
                        "key" => v["keyText"].as_str().map(str::to_string),
                        _ => {
                            let view = self.current_view();
                            v[view].as_str().map(str::to_string)
                        }
                    };
                    if let Some(t) = text_to_copy {
                        let ok = copy_text(&t);
                        self.note = Some(if ok {
                            format!("copied the {what} ({} characters)", t.chars().count())
                        } else {
                            "this browser does not allow copying here".into()
                        });
                    }
                }
                Msg::SqlText(t) => {
                    self.sql_text = t;
                    return false;
                }
                Msg::SqlRun => {
                    self.sql_busy = true;
                    self.sql_error = None;
                    self.send(request(
                        protocol::SQL_QUERY,
                        &[
                            ("sql", self.sql_text.as_str().into()),
                            ("limit", (SQL_ROWS as f64).into()),
                        ],
                    ));
                }
                Msg::SqliteDownload => {
                    let redact = self.redact;
                    let name = if redact {
                        format!("{}-redacted.sqlite", self.stem())
                    } else {
                        format!("{}.sqlite", self.stem())
                    };
                    self.start_export(
                        ctx,
                        name,
                        "building the SQLite database with sql.js…".into(),
                        request(protocol::SQLITE, &[("redact", redact.into())]),
                    );
                }
                Msg::Picked { handle, req } => {
                    // A real file handle goes to the worker, which writes the export into it
                    // while making it (where the browser has JSPI); otherwise the page writes
                    // the finished Blob into it.
                    if let Some(h) = &handle {
                        let real = h
                            .dyn_ref::<Object>()
                            .is_some_and(|o| o.to_string() == "[object FileSystemFileHandle]");
                        if real {
                            let _ = Reflect::set(&req, &"saveHandle".into(), h);
                        }
                    }
                    self.save_handle = handle;
                    self.send(req);
                }
                Msg::PickCancelled => {
                    self.busy = false;
                    self.note = Some("not saved (no file was chosen)".into());
                }
                Msg::Saved(text) => {
                    self.busy = false;
                    self.save_handle = None;
                    self.note = Some(text);
                }
                Msg::History { key } => self.send(query("history", &key, 0)),
                Msg::V2 { key } => self.send(query("v2", &key, 0)),
                Msg::WalPage(offset) => self.send(query("wal", "", offset)),
                Msg::Snapshot { latest_only } => {
                    let redact = self.redact && self.summary.get("v2").is_none();
                    let stem = if redact {
                        format!("{}-redacted", self.stem())
                    } else {
                        self.stem()
                    };
                    let name = if latest_only {
                        format!("{stem}-compacted.db")
                    } else if stem.ends_with("-v2") {
                        format!("{stem}-migrated.db")
                    } else {
                        format!("{stem}.db")
                    };
                    self.start_export(
                        ctx,
                        name,
                        "writing the snapshot…".into(),
                        request(
                            protocol::SNAPSHOT,
                            &[
                                ("latestOnly", latest_only.into()),
                                ("redact", redact.into()),
                            ],
                        ),
                    );
                }
                Msg::JsonSelection => {
                    let redact = self.redact;
                    let mut stem = self.stem();
                    if redact {
                        stem.push_str("-redacted");
                    }
                    let (name, fields) = match &self.nav {
                        Nav::Level(key) => {
                            let shown = self.level["prefix"].as_str().unwrap_or("");
                            let part: String = shown
                                .chars()
                                .map(|c| {
                                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                                        c
                                    } else {
                                        '_'
                                    }
                                })
                                .collect::<String>()
                                .trim_matches('_')
                                .chars()
                                .take(60)
                                .collect();
                            let name = if part.is_empty() {
                                format!("{stem}-keys.json")
                            } else {
                                format!("{stem}-{part}.json")
                            };
                            (name, vec![("key", JsValue::from(key.as_str()))])
                        }
                        Nav::Search { mode, pattern } => (
                            format!("{stem}-search.json"),
                            vec![
                                ("key", JsValue::from("")),
                                ("mode", mode.as_str().into()),
                                ("pattern", pattern.as_str().into()),
                            ],
                        ),
                    };
                    let mut fields = fields;
                    fields.push(("redact", redact.into()));
                    self.start_export(
                        ctx,
                        name,
                        "writing the JSON…".into(),
                        request(protocol::JSON, &fields),
                    );
                }
                Msg::ValueView(v) => self.value_view = v,
                Msg::Sql { dialect, schema } => {
                    let redact = self.redact;
                    let stem = if redact {
                        format!("{}-redacted", self.stem())
                    } else {
                        self.stem()
                    };
                    let name = format!("{stem}-{schema}.{dialect}.sql");
                    self.start_export(
                        ctx,
                        name,
                        format!("writing the {dialect} SQL ({schema} schema)…"),
                        request(
                            protocol::SQL,
                            &[
                                ("dialect", dialect.into()),
                                ("schema", schema.into()),
                                ("redact", redact.into()),
                            ],
                        ),
                    );
                }
                Msg::SearchMode(m) => self.search_mode = m,
                Msg::Cancel => {
                    self.progress = None;
                    self.sql_busy = false;
                    // The worker cannot be interrupted mid-call: end it and start a new one.
                    if let Some(w) = self.worker.take() {
                        w.terminate();
                    }
                    self.ready = false;
                    self.queued.clear();
                    match Worker::new(&worker_url()) {
                        Ok(w) => {
                            if let Some(cb) = &self._onmessage {
                                w.set_onmessage(Some(cb.as_ref().unchecked_ref()));
                            }
                            self.worker = Some(w);
                        }
                        Err(e) => {
                            self.worker_error = Some(format!("the worker did not restart: {e:?}"))
                        }
                    }
                    // The new worker has no EncryptionConfiguration.
                    self.k8s.enc_desc = None;
                    if self.busy && matches!(self.view, View::Loaded) {
                        // An export was cancelled: open the same input again.
                        self.busy = false;
                        self.note = Some("cancelled; reopening the input…".into());
                        if let Some(m) = self.last_open.clone() {
                            self.send(m);
                        }
                    } else {
                        self.busy = false;
                        self.view = View::Failed("cancelled".into());
                        self.last_open = None;
                    }
                }
                Msg::DiffPick(i) => {
                    if let Some(at) = self.diff_pick.iter().position(|&x| x == i) {
                        self.diff_pick.remove(at);
                    } else {
                        self.diff_pick.push(i);
                        if self.diff_pick.len() > 2 {
                            self.diff_pick.remove(0);
                        }
                    }
                }
                Msg::SearchText(t) => {
                    self.search_text = t;
                    return false;
                }
                Msg::Search => self.navigate(Nav::Search {
                    mode: self.search_mode.clone(),
                    pattern: self.search_text.clone(),
                }),
                Msg::K8s(m) => {
                    let (reqs, note) = self.k8s.update(m, ctx.link());
                    if note.is_some() {
                        self.note = note;
                    }
                    for r in reqs {
                        self.send(r);
                    }
                }
                Msg::Reveal(on) => {
                    self.reveal = on;
                    let mut again = self.k8s.refresh();
                    if let Some(k) = self.value["key"].as_str() {
                        again.push(query("value", k, 0));
                    }
                    if let Some(k) = self.history["key"].as_str() {
                        again.push(query("history", k, 0));
                    }
                    for r in again {
                        self.send(r);
                    }
                }
                Msg::Redact(on) => self.redact = on,
            }
            let _ = ctx;
            true
        }

        /// Positions the key list's rows (the CSP forbids style attributes, not the CSSOM): the
        /// spacer gets the height of all rows, each rendered row its place.
        fn rendered(&mut self, _ctx: &Context<Self>, _first: bool) {
            if self.tab == Tab::Kubernetes {
                crate::k8s::size_bars();
            }
            let Some(list) = self.list_ref.cast::<web_sys::Element>() else {
                return;
            };
            let Some(spacer) = list.first_element_child() else {
                return;
            };
            let set = |el: &web_sys::Element, prop: &str, px: &str| {
                if let Some(h) = el.dyn_ref::<web_sys::HtmlElement>() {
                    let _ = h.style().set_property(prop, &format!("{px}px"));
                }
            };
            if let Some(h) = spacer.get_attribute("data-height") {
                set(&spacer, "height", &h);
            }
            let rows = spacer.children();
            for i in 0..rows.length() {
                if let Some(row) = rows.item(i) {
                    if let Some(n) = row
                        .get_attribute("data-row")
                        .and_then(|r| r.parse::<f64>().ok())
                    {
                        set(&row, "top", &(n * ROW_H).to_string());
                    }
                }
            }
        }

        fn view(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let onchange = link.batch_callback(|e: Event| {
                let input: HtmlInputElement = e.target_unchecked_into();
                input.files().and_then(|l| l.get(0)).map(Msg::Open)
            });
            let onfolder = link.batch_callback(|e: Event| {
                let input: HtmlInputElement = e.target_unchecked_into();
                let list = input.files()?;
                let files: Vec<(String, File)> = (0..list.length())
                    .filter_map(|i| list.get(i))
                    .map(|f| {
                        let rel = Reflect::get(&f, &"webkitRelativePath".into())
                            .ok()
                            .and_then(|v| v.as_string())
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| f.name());
                        (rel, f)
                    })
                    .collect();
                (!files.is_empty()).then_some(Msg::OpenFolder(files))
            });
            let ondragover = link.callback(|e: DragEvent| {
                e.prevent_default();
                Msg::DragOver(true)
            });
            let ondragleave = link.callback(|_: DragEvent| Msg::DragOver(false));
            let drop_link = link.clone();
            let ondrop = link.batch_callback(move |e: DragEvent| {
                e.prevent_default();
                // A dropped folder: its entries must be taken now, inside the event; they are
                // walked afterwards.
                let entries = dropped_entries(&e);
                if entries.iter().any(|en| en.is_directory()) {
                    let l = drop_link.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        l.send_message(match walk_entries(entries).await {
                            Ok(files) if !files.is_empty() => Msg::OpenFolder(files),
                            Ok(_) => Msg::Failed { what: String::new(), message: "the dropped folder is empty".into() },
                            Err(e) => Msg::Failed {
                                what: String::new(),
                                message: format!("could not read the dropped folder ({e}); use \"Choose a data dir…\" instead"),
                            },
                        });
                    });
                    return vec![Msg::DragOver(false)];
                }
                let file = e
                    .data_transfer()
                    .and_then(|dt| dt.files())
                    .and_then(|l| l.get(0));
                vec![Msg::DragOver(false)]
                    .into_iter()
                    .chain(file.map(Msg::Open))
                    .collect::<Vec<_>>()
            });
            let onsample = link.callback(|_: MouseEvent| Msg::OpenSample);
            let zone_class = if self.dragging {
                "drop dragging"
            } else {
                "drop"
            };
            html! {
                <main>
                    <header>
                        <h1>{ "etcdscope" }</h1>
                        <p class="tagline">{ "Open etcd snapshots, db files and data directories in this page. Nothing is uploaded: the files are read here, by this tab, and no request leaves it." }</p>
                    </header>
                    <section id="drop" class={zone_class} {ondragover} {ondragleave} {ondrop}>
                        <p>{ "Drop a v3 snapshot (" }<code>{ "etcdctl snapshot save" }</code>{ ") or a " }<code>{ "member/snap/db" }</code>{ " file here, or" }</p>
                        <label class="button">
                            { "Choose a file…" }
                            <input id="file" type="file" {onchange} />
                        </label>
                        <label class="button">
                            { "Choose a data dir…" }
                            <input id="folder" type="file" webkitdirectory=true multiple=true onchange={onfolder} />
                        </label>
                        <button id="sample" onclick={onsample}>{ "Try a sample" }</button>
                    </section>
                    if let Some(e) = &self.worker_error {
                        <p class="error">{ e }</p>
                    }
                    { self.view_body(ctx) }
                </main>
            }
        }
    }

    impl App {
        fn view_body(&self, ctx: &Context<Self>) -> Html {
            match &self.view {
                View::Empty => html! {
                    <section id="empty" class="empty">
                        <h2>{ "Nothing open yet" }</h2>
                        <p>{ "Drop one of these on the box above, or choose it:" }</p>
                        <ul>
                            <li>{ "a v3 snapshot, as " }<code>{ "etcdctl snapshot save" }</code>{ " writes it" }</li>
                            <li>{ "a raw " }<code>{ "member/snap/db" }</code>{ " file" }</li>
                            <li>{ "a data dir (a folder: the data dir, its " }<code>{ "member/" }</code>{ " or any parent) — v2 and v3" }</li>
                            <li>{ "a " }<code>{ ".tar" }</code>{ ", " }<code>{ ".tar.gz" }</code>{ " or " }<code>{ ".zip" }</code>{ " of any of those (k3s writes zipped snapshots)" }</li>
                        </ul>
                        <p class="muted">{ "Or press “Try a sample” to open a small snapshot made by a real etcd." }</p>
                    </section>
                },
                View::Loading(name) => html! {
                    <div id="loading" class="note">
                        { format!("Reading {name}… ") }
                        { self.view_progress() }
                        <button id="cancel" onclick={ctx.link().callback(|_| Msg::Cancel)}>{ "Cancel" }</button>
                    </div>
                },
                View::Failed(message) => html! {
                    <section id="error" class="error">
                        <h2>{ "Could not read this input" }</h2>
                        <pre>{ message }</pre>
                    </section>
                },
                View::Loaded => {
                    let link = ctx.link();
                    let has_v3 = self.summary.get("status").is_some();
                    let has_v2 = self.summary.get("v2").is_some();
                    let tab = |t: Tab, label: &'static str, id: &'static str| {
                        let class = if self.tab == t { "tab active" } else { "tab" };
                        html! { <button id={id} class={class} onclick={link.callback(move |_| Msg::Tab(t))}>{ label }</button> }
                    };
                    html! {
                        <>
                            <nav class="tabs">
                                { tab(Tab::Summary, "Summary", "tab-summary") }
                                if has_v3 {
                                    { tab(Tab::Keys, "Keys", "tab-keys") }
                                    { tab(Tab::Leases, "Leases", "tab-leases") }
                                    { tab(Tab::Members, "Members", "tab-members") }
                                    { tab(Tab::Auth, "Auth", "tab-auth") }
                                }
                                if has_v3 && self.k8s.available() {
                                    { tab(Tab::Kubernetes, "Kubernetes", "tab-k8s") }
                                }
                                if has_v3 || has_v2 {
                                    { tab(Tab::Sql, "SQL console", "tab-sql") }
                                }
                                if has_v2 {
                                    { tab(Tab::V2, "v2 store", "tab-v2") }
                                    { tab(Tab::Wal, "WAL timeline", "tab-wal") }
                                }
                                if self.summary["dataDir"].as_bool() == Some(true) {
                                    { tab(Tab::Integrity, "Integrity", "tab-integrity") }
                                }
                                if has_v3 && (self.k8s.available() || self.reveal || self.value["masked"].as_bool() == Some(true)) {
                                    <label class="toggle" title="Secret data is masked in every view until this is ticked">
                                        <input id="reveal" type="checkbox" checked={self.reveal}
                                            onchange={link.callback(|e: Event| {
                                                let i: HtmlInputElement = e.target_unchecked_into();
                                                Msg::Reveal(i.checked())
                                            })} />
                                        { " Reveal secrets" }
                                    </label>
                                }
                            </nav>
                            if self.note.is_some() || self.progress.is_some() {
                                <div id="note" class="note">
                                    { self.note.clone().unwrap_or_default() }
                                    { self.view_progress() }
                                    if self.busy {
                                        { " " }
                                        <button id="cancel" onclick={link.callback(|_| Msg::Cancel)}>{ "Cancel" }</button>
                                    }
                                </div>
                            }
                            { match self.tab {
                                Tab::Summary => self.view_summary(ctx),
                                Tab::Keys => self.view_keys(ctx),
                                Tab::V2 => self.view_v2(ctx),
                                Tab::Wal => self.view_wal(ctx),
                                Tab::Integrity => self.view_integrity(),
                                Tab::Sql => self.view_sql(ctx),
                                Tab::Kubernetes => self.k8s.view(link, self.reveal),
                                _ => html! { <pre id="info">{ serde_json::to_string_pretty(&self.info).unwrap_or_default() }</pre> },
                            } }
                        </>
                    }
                }
            }
        }

        /// The running job's progress bar (bytes read of those expected; no value = unknown).
        fn view_progress(&self) -> Html {
            let Some((label, done, total)) = &self.progress else {
                return html! {};
            };
            if *total > 0.0 {
                // The total is an estimate: stay below the end until the job answers.
                let shown = done.min(total * 0.99);
                html! {
                    <div id="progress" class="progress">
                        <span id="progress-label">{ label }</span>
                        <progress max={total.to_string()} value={shown.to_string()}></progress>
                        <span class="muted">{ format!("{} of {}", bytes(*done as u64), bytes(*total as u64)) }</span>
                    </div>
                }
            } else {
                html! {
                    <div id="progress" class="progress">
                        <span id="progress-label">{ label }</span>
                        <progress></progress>
                    </div>
                }
            }
        }

        fn view_summary(&self, ctx: &Context<Self>) -> Html {
            let s = &self.summary;
            let link = ctx.link();
            let mut rows = vec![("Input", fact(s, &["name"])), ("Kind", fact(s, &["kind"]))];
            let st = &s["status"];
            let members = |list: &Value| -> String {
                let m = list.as_array().cloned().unwrap_or_default();
                let names: Vec<String> = m
                    .iter()
                    .map(|x| format!("{} ({})", text(&x["name"]), text(&x["id"])))
                    .collect();
                format!("{}: {}", m.len(), names.join(", "))
            };
            if s.get("status").is_some() {
                let mut versions = vec![format!("schema {}", text(&st["schema"]))];
                for (label, k) in [("cluster", "clusterVersion"), ("storage", "storageVersion")] {
                    if let Some(v) = st["meta"][k].as_str() {
                        versions.push(format!("{label} {v}"));
                    }
                }
                let page = st["pages"]["pageSize"].as_u64().unwrap_or(0);
                let free = st["pages"]["free"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_mul(page);
                rows.extend([
                    ("Versions", versions.join(" · ")),
                    (
                        "Space",
                        format!(
                            "live {} · history {} · free pages {} · file {}",
                            bytes(st["liveBytes"].as_u64().unwrap_or(0)),
                            bytes(st["historyBytes"].as_u64().unwrap_or(0)),
                            bytes(free),
                            bytes(st["fileSize"].as_u64().unwrap_or(0))
                        ),
                    ),
                    (
                        "Members",
                        match s.get("membersError") {
                            Some(e) => format!("unreadable: {}", text(e)),
                            None => members(&s["members"]),
                        },
                    ),
                    (
                        "Consistent index",
                        fact(s, &["status", "meta", "consistentIndex"]),
                    ),
                    ("Revision", fact(s, &["status", "revision"])),
                    (
                        "Oldest revision held",
                        fact(s, &["status", "oldestRevision"]),
                    ),
                    (
                        "Compacted at",
                        fact(s, &["status", "meta", "finishedCompactRevision"]),
                    ),
                    ("Live keys", fact(s, &["status", "liveKeys"])),
                    ("Revisions held", fact(s, &["status", "revisions"])),
                    ("Leases", fact(s, &["status", "leases"])),
                    ("Hash (etcdctl)", fact(s, &["status", "hash"])),
                    ("SHA-256 trailer", fact(s, &["status", "trailer", "state"])),
                    ("File size", fact(s, &["status", "fileSize"])),
                ]);
            }
            if s.get("v2").is_some() {
                rows.extend([
                    ("Cluster ID", fact(s, &["v2", "clusterId"])),
                    ("Member ID (WAL)", fact(s, &["v2", "memberId"])),
                    ("Members (v2 store)", members(&s["v2"]["members"])),
                    (
                        "Cluster version (v2 store)",
                        fact(s, &["v2", "clusterVersion"]),
                    ),
                    ("v2 store index", fact(s, &["v2", "storeIndex"])),
                    (
                        "v2 keys besides membership",
                        fact(s, &["v2", "nonMembershipKeys"]),
                    ),
                    ("Last WAL index", fact(s, &["v2", "lastWalIndex"])),
                    ("Snapshot used", fact(s, &["v2", "snapshot"])),
                    ("Torn WAL tail", fact(s, &["v2", "tornTail"])),
                ]);
            }
            let mut problems = s["status"]["problems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(e) = s["v2Error"].as_str() {
                problems.insert(0, Value::String(format!("the v2 store could not be rebuilt: {e} (the v3 db was opened; the Integrity tab has the rest)")));
            }
            let migrate = s.get("v2").is_some();
            html! {
                <section id="summary">
                    <table class="facts">
                        { for rows.iter().map(|(k, v)| html! {
                            <tr><th>{ *k }</th><td data-fact={*k}>{ v }</td></tr>
                        }) }
                    </table>
                    if !problems.is_empty() {
                        <ul class="error">{ for problems.iter().map(|p| html! { <li>{ text(p) }</li> }) }</ul>
                    }
                    <p class="downloads">
                        <label class="toggle" title="Secret data and stringData values become <redacted> in the snapshot and SQL downloads (metadata kept; the result still decodes and restores)">
                            <input id="redact" type="checkbox" checked={self.redact}
                                onchange={link.callback(|e: Event| {
                                    let i: HtmlInputElement = e.target_unchecked_into();
                                    Msg::Redact(i.checked())
                                })} />
                            { " Redact Secrets in the downloads below" }
                        </label>
                    </p>
                    <p class="downloads">
                        <button id="download-snapshot" disabled={self.busy}
                            onclick={link.callback(|_| Msg::Snapshot { latest_only: false })}>
                            { if migrate { "Download v3 snapshot (migrate v2 → v3)" } else { "Download a rewritten snapshot" } }
                        </button>
                        if !migrate {
                            <button id="download-latest" disabled={self.busy}
                                onclick={link.callback(|_| Msg::Snapshot { latest_only: true })}>
                                { "Download latest revisions only (compacted)" }
                            </button>
                        }
                    </p>
                    <p class="downloads">
                        { for [("sqlite", "etcd"), ("postgres", "etcd"), ("sqlite", "kine"), ("postgres", "kine")].into_iter().map(|(d, sc)| html! {
                            <button id={format!("download-sql-{d}-{sc}")} disabled={self.busy}
                                onclick={link.callback(move |_| Msg::Sql { dialect: d, schema: sc })}>
                                { format!("SQL: {} · {} schema", if d == "sqlite" { "SQLite" } else { "PostgreSQL" }, sc) }
                            </button>
                        }) }
                    </p>
                    <p class="downloads">
                        <button id="download-sqlite" disabled={self.busy}
                            onclick={link.callback(|_| Msg::SqliteDownload)}>
                            { "SQLite database (.sqlite, etcd schema, built with sql.js)" }
                        </button>
                    </p>
                    <details>
                        <summary>{ "Full summary (JSON)" }</summary>
                        <pre id="status-json">{ serde_json::to_string_pretty(s).unwrap_or_default() }</pre>
                    </details>
                </section>
            }
        }

        fn view_keys(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let lv = &self.level;
            let total = lv["total"].as_u64().unwrap_or(0) as usize;
            let searching = matches!(self.nav, Nav::Search { .. });
            let parent = match &self.nav {
                Nav::Level(k) if !k.is_empty() => Some(parent_prefix(k)),
                _ => None,
            };
            let onmode = link.callback(|e: Event| {
                let sel: web_sys::HtmlSelectElement = e.target_unchecked_into();
                Msg::SearchMode(sel.value())
            });
            let ontext = link.callback(|e: InputEvent| {
                let input: HtmlInputElement = e.target_unchecked_into();
                Msg::SearchText(input.value())
            });
            let onsearch = link.callback(|_: MouseEvent| Msg::Search);
            let onkey =
                link.batch_callback(|e: KeyboardEvent| (e.key() == "Enter").then_some(Msg::Search));
            let onscroll = link.callback(|e: Event| {
                let el: web_sys::Element = e.target_unchecked_into();
                Msg::Scroll(f64::from(el.scroll_top()))
            });
            let onlistkey = link.callback(Msg::ListKey);
            let (from, to) = self.visible();
            let empty = !lv.is_null() && total == 0;
            html! {
                <section id="keys-view" class="split">
                    <div class="tree">
                        <div id="search" class="search">
                            <select id="search-mode" onchange={onmode}>
                                <option value="substring" selected={self.search_mode == "substring"}>{ "contains" }</option>
                                <option value="prefix" selected={self.search_mode == "prefix"}>{ "starts with" }</option>
                                <option value="regex" selected={self.search_mode == "regex"}>{ "regex" }</option>
                            </select>
                            <input id="search-text" type="search" placeholder="search keys" value={self.search_text.clone()} oninput={ontext} onkeydown={onkey} />
                            <button id="search-go" onclick={onsearch}>{ "Search" }</button>
                        </div>
                        <p class="crumbs">
                            <button id="tree-root" onclick={link.callback(|_| Msg::Level { key: String::new() })}>{ "(all keys)" }</button>
                            if let Some(p) = parent {
                                <button id="tree-up" title="Backspace" onclick={link.callback(move |_| Msg::Level { key: p.clone() })}>{ "↑ up" }</button>
                            }
                            <code id="prefix">{ text(&lv["prefix"]) }</code>
                            <span class="muted" id="count">{ if searching {
                                format!(" {total} matches")
                            } else {
                                format!(" {} entries, {} keys", total, lv["keys"])
                            } }</span>
                            if !empty {
                                <button id="download-json" disabled={self.busy}
                                    title="These keys with their values, in etcdctl's `get -w json` layout (keys and values in base64); Secret data redacted when the Summary tab says so"
                                    onclick={link.callback(|_| Msg::JsonSelection)}>
                                    { "Download JSON" }
                                </button>
                            }
                        </p>
                        if empty {
                            <p class="empty" id="keys-empty">{ if searching { "No live key matches." } else { "No live keys here at the current revision." } }</p>
                        }
                        <div id="children" class="vlist" tabindex="0" ref={self.list_ref.clone()}
                            {onscroll} onkeydown={onlistkey}
                            aria-label="keys (arrows move, Enter opens, Backspace goes up)">
                            <div class="spacer" data-height={(total as f64 * ROW_H).to_string()}>
                                { for (from..to).map(|i| {
                                    let sel = if i == self.selected { " selected" } else { "" };
                                    match self.row(i) {
                                        Some(c) => {
                                            let dir = c["dir"].as_bool().unwrap_or(false);
                                            let class = format!("row {}{sel}", if dir { "dir" } else { "leaf" });
                                            html! {
                                                <div {class} data-row={i.to_string()}
                                                    onclick={link.callback(move |_| Msg::Select(i))}>
                                                    <span class="name">{ text(&c["name"]) }</span>
                                                    <span class="num">{ if dir { c["count"].to_string() } else { String::new() } }</span>
                                                    <span class="num">{ bytes(c["bytes"].as_u64().unwrap_or(0)) }</span>
                                                </div>
                                            }
                                        }
                                        None => html! {
                                            <div class={format!("row loading{sel}")} data-row={i.to_string()}><span class="name muted">{ "…" }</span></div>
                                        },
                                    }
                                }) }
                            </div>
                        </div>
                        <p class="muted hint">{ "↑ ↓ move · Enter opens · Backspace goes up" }</p>
                    </div>
                    { self.view_value(ctx) }
                </section>
            }
        }

        /// The value view shown: the chosen one if the value has it, else the first it has.
        fn current_view(&self) -> &'static str {
            let views = self.value_views();
            if views.contains(&self.value_view) {
                self.value_view
            } else {
                views.first().copied().unwrap_or("hex")
            }
        }

        fn value_views(&self) -> Vec<&'static str> {
            ["yaml", "text", "json", "protobuf", "hex"]
                .into_iter()
                .filter(|k| !self.value[*k].is_null())
                .collect()
        }

        fn view_sql(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let oninput = link.callback(|e: InputEvent| {
                let t: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
                Msg::SqlText(t.value())
            });
            let onkey = link.batch_callback(|e: KeyboardEvent| {
                ((e.ctrl_key() || e.meta_key()) && e.key() == "Enter").then_some(Msg::SqlRun)
            });
            let r = &self.sql_result;
            let columns = r["columns"].as_array().cloned().unwrap_or_default();
            let rows = r["rows"].as_array().cloned().unwrap_or_default();
            html! {
                <section id="sql-view">
                    <p class="muted">{ "SQL over this input, in SQLite (sql.js, inside this page): tables etcd_kv (current keys), etcd_history, etcd_leases, etcd_members, etcd_meta, etcd_users, etcd_roles. The database is built on the first query. Ctrl+Enter runs. Kubernetes Secret data reads <redacted> here unless “Reveal secrets” is ticked." }</p>
                    <textarea id="sql-query" rows="5" spellcheck="false" value={self.sql_text.clone()} {oninput} onkeydown={onkey} />
                    <p>
                        <button id="sql-run" disabled={self.sql_busy} onclick={link.callback(|_| Msg::SqlRun)}>{ if self.sql_busy { "Running…" } else { "Run" } }</button>
                        <span class="muted">{ format!(" shows at most {SQL_ROWS} rows") }</span>
                    </p>
                    if let Some(e) = &self.sql_error {
                        <pre id="sql-error" class="error">{ e }</pre>
                    }
                    if !r.is_null() {
                        <p class="muted" id="sql-status">{ format!("{} row{}{}", rows.len(), if rows.len() == 1 { "" } else { "s" },
                            if r["truncated"].as_bool() == Some(true) { format!(" (the first {SQL_ROWS})") } else { String::new() }) }</p>
                        if columns.is_empty() {
                            <p class="empty">{ "The statement returned no columns." }</p>
                        } else {
                            <div class="sqlwrap">
                                <table id="sql-result" class="rows">
                                    <tr>{ for columns.iter().map(|c| html! { <th>{ text(c) }</th> }) }</tr>
                                    { for rows.iter().map(|row| html! {
                                        <tr>{ for row.as_array().cloned().unwrap_or_default().iter().map(|c| html! {
                                            <td class={if c.is_null() { "null" } else { "" }}>{ if c.is_null() { "NULL".to_string() } else { text(c) } }</td>
                                        }) }</tr>
                                    }) }
                                </table>
                            </div>
                        }
                    }
                </section>
            }
        }

        fn view_value(&self, ctx: &Context<Self>) -> Html {
            let v = &self.value;
            if v.is_null() {
                return html! { <div class="value empty">{ "Pick a key to see its value (click it, or move with ↑ ↓ and press Enter)." }</div> };
            }
            let link = ctx.link();
            let key = text(&v["key"]);
            let views = self.value_views();
            let current = self.current_view();
            let history = self.history["revisions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            html! {
                <div class="value" id="value">
                    <h3 id="value-key">{ text(&v["keyText"]) }</h3>
                    <p class="muted" id="value-meta">
                        { format!("{} · {} · mod_revision {} · create_revision {} · version {} · lease {}",
                            text(&v["kind"]), bytes(v["size"].as_u64().unwrap_or(0)),
                            v["meta"]["mod_revision"], v["meta"]["create_revision"],
                            v["meta"]["version"], text(&v["meta"]["lease"])) }
                    </p>
                    if let Some(env) = v["envelope"].as_str() {
                        <p id="value-envelope" class="note">{ env }</p>
                    }
                    if let Some(notes) = v["notes"].as_array().filter(|n| !n.is_empty()) {
                        <ul class="note" id="value-notes">{ for notes.iter().map(|n| html! { <li>{ text(n) }</li> }) }</ul>
                    }
                    if v["masked"].as_bool() == Some(true) {
                        <p class="note" id="value-masked">{ "A Secret: its data is masked, and the text, JSON, protobuf and hex views are hidden. Tick “Reveal secrets” to see them." }</p>
                    }
                    <p>
                        { for views.iter().map(|name| {
                            let n: &'static str = name;
                            html! { <button id={format!("view-{n}")} class={if n == current { "tab active" } else { "tab" }} onclick={link.callback(move |_| Msg::ValueView(n))}>{ n }</button> }
                        }) }
                        <button id="history-button" onclick={link.callback(move |_| Msg::History { key: key.clone() })}>{ "History" }</button>
                        <button id="copy-key" class="quiet" onclick={link.callback(|_| Msg::Copy("key"))}>{ "Copy key" }</button>
                        <button id="copy-value" class="quiet" onclick={link.callback(|_| Msg::Copy("value"))}>{ "Copy value" }</button>
                    </p>
                    if v["truncated"].as_bool() == Some(true) {
                        <p class="muted">{ "Showing the first 256 KiB." }</p>
                    }
                    <pre id="value-body">{ text(&v[current]) }</pre>
                    if !history.is_empty() {
                        <p class="muted">{ "Pick two revisions to compare them." }</p>
                        <table id="history" class="rows">
                            <tr><th>{ "diff" }</th><th>{ "revision" }</th><th>{ "" }</th><th>{ "version" }</th><th>{ "size" }</th></tr>
                            { for history.iter().enumerate().map(|(i, h)| html! {
                                <tr onclick={link.callback(move |_| Msg::DiffPick(i))}>
                                    <td><input type="checkbox" class="pick" checked={self.diff_pick.contains(&i)} /></td>
                                    <td>{ text(&h["revision"]) }</td>
                                    <td>{ if h["deleted"].as_bool() == Some(true) { "deleted" } else { "put" } }</td>
                                    <td>{ h["version"].to_string() }</td>
                                    <td>{ bytes(h["value_len"].as_u64().unwrap_or(0)) }</td>
                                </tr>
                            }) }
                        </table>
                    }
                    if self.diff_pick.len() == 2 {
                        <pre id="diff">{ self.diff_text(&history) }</pre>
                    }
                </div>
            }
        }

        /// The diff of the two picked history entries, older first.
        fn diff_text(&self, history: &[Value]) -> String {
            let mut picked = self.diff_pick.clone();
            picked.sort_unstable();
            let value = |i: usize| {
                history
                    .get(i)
                    .and_then(|h| h["value"].as_str())
                    .and_then(|b| web::session::unb64(b).ok())
                    .unwrap_or_default()
            };
            let rev = |i: usize| {
                history
                    .get(i)
                    .map(|h| text(&h["revision"]))
                    .unwrap_or_default()
            };
            format!(
                "--- revision {}\n+++ revision {}\n{}",
                rev(picked[0]),
                rev(picked[1]),
                web::session::diff_values(&value(picked[0]), &value(picked[1]))
            )
        }

        /// The WAL timeline, a page of rows at a time: index, term, what the entry does, where
        /// it is (segment, byte offset).
        fn view_wal(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let w = &self.wal;
            if w.is_null() {
                return html! { <p class="muted">{ "reading the WAL…" }</p> };
            }
            let total = w["total"].as_u64().unwrap_or(0) as usize;
            let offset = w["offset"].as_u64().unwrap_or(0) as usize;
            let rows = w["rows"].as_array().cloned().unwrap_or_default();
            let segments = w["segments"].as_array().cloned().unwrap_or_default();
            let prev = offset.saturating_sub(PAGE);
            let next = offset + PAGE;
            let shown = |v: &Value| {
                v.as_str().map(str::to_string).unwrap_or_else(|| {
                    if v.is_null() {
                        String::new()
                    } else {
                        v.to_string()
                    }
                })
            };
            html! {
                <section id="wal-view">
                    <p class="muted" id="wal-facts">{ format!(
                        "{total} entries in {} segment(s); committed through index {}{}{}",
                        segments.len(),
                        shown(&w["commit"]),
                        if w["overwritten"].as_u64().unwrap_or(0) > 0 { format!("; {} overwritten by a later leader", w["overwritten"]) } else { String::new() },
                        w["torn"].as_str().map(|t| format!("; torn tail: {t}")).unwrap_or_default(),
                    ) }</p>
                    <p class="crumbs">
                        <button id="wal-prev" disabled={offset == 0} onclick={link.callback(move |_| Msg::WalPage(prev))}>{ "← earlier" }</button>
                        <span class="muted" id="wal-range">{ format!(" rows {}–{} of {total} ", if total == 0 { 0 } else { offset + 1 }, (offset + rows.len()).min(total)) }</span>
                        <button id="wal-next" disabled={next >= total} onclick={link.callback(move |_| Msg::WalPage(next))}>{ "later →" }</button>
                    </p>
                    <table class="rows" id="wal-rows">
                        <tr><th>{ "index" }</th><th>{ "term" }</th><th>{ "kind" }</th><th>{ "op" }</th><th>{ "key / detail" }</th><th>{ "size" }</th><th>{ "where" }</th></tr>
                        { for rows.iter().map(|r| {
                            let mut what = shown(&r["key"]);
                            if let Some(end) = r["range_end"].as_str() {
                                what = format!("[{what}, {end})");
                            }
                            for extra in [r["member_id"].as_str().map(|m| format!("member={m}")), r["detail"].as_str().map(str::to_string), r["error"].as_str().map(str::to_string)].into_iter().flatten() {
                                if !what.is_empty() { what.push(' '); }
                                what.push_str(&extra);
                            }
                            let class = if r["error"].is_string() { "bad" } else if r["uncommitted"].as_bool() == Some(true) { "uncommitted" } else { "" };
                            html! {
                                <tr class={class}>
                                    <td class="num">{ shown(&r["index"]) }</td>
                                    <td class="num">{ shown(&r["term"]) }</td>
                                    <td>{ shown(&r["kind"]) }</td>
                                    <td>{ shown(&r["op"]) }</td>
                                    <td class="name">{ what }{ if r["uncommitted"].as_bool() == Some(true) { " (uncommitted)" } else { "" } }</td>
                                    <td class="num">{ shown(&r["value_size"]) }</td>
                                    <td class="muted">{ format!("{} @{}", shown(&r["file"]), shown(&r["offset"])) }</td>
                                </tr>
                            }
                        }) }
                    </table>
                </section>
            }
        }

        /// The integrity report: the verdict, then every finding in `etcdscope check`'s order
        /// (the same words), the v2 nodes that block etcd 3.6 under their finding.
        fn view_integrity(&self) -> Html {
            let r = &self.integrity;
            if r.is_null() {
                return html! { <p class="muted">{ "checking every .snap file, the WAL and the db…" }</p> };
            }
            let ok = r["ok"].as_bool() == Some(true);
            let keys = r["v2Keys"].as_array().cloned().unwrap_or_default();
            let key_count = r["v2KeyCount"].as_u64().unwrap_or(0);
            let others = r["otherWarnings"].as_array().cloned().unwrap_or_default();
            html! {
                <section id="integrity-view">
                    <p id="integrity-verdict" class={if ok { "verdict ok" } else { "verdict failed" }}>
                        { if ok { "No damage found".to_string() } else { text(&r["verdict"]) } }
                        <span class="muted">{ format!(" · {} damaged place(s), {} warning(s)", r["damage"], r["warnings"]) }</span>
                    </p>
                    <table class="rows" id="integrity-rows">
                        <tr><th>{ "part" }</th><th>{ "result" }</th><th>{ "what was found" }</th></tr>
                        { for r["findings"].as_array().cloned().unwrap_or_default().iter().map(|f| {
                            let level = f["level"].as_str().unwrap_or("").to_string();
                            let data = level == "data";
                            html! {
                                <>
                                <tr class={format!("finding {level}")}>
                                    <td>{ text(&f["area"]) }</td>
                                    <td class="level">{ match level.as_str() { "ok" => "ok", "warning" => "warning", "damage" => "DAMAGE", "data" => "v2 data", _ => "not checked" } }</td>
                                    <td class="name">{ text(&f["text"]) }</td>
                                </tr>
                                if data {
                                    <tr><td></td><td></td><td>
                                        <ul id="integrity-keys" class="keys">{ for keys.iter().map(|k| html! { <li>{ text(k) }</li> }) }</ul>
                                        if key_count > keys.len() as u64 {
                                            <p class="muted">{ format!("… and {} more", key_count - keys.len() as u64) }</p>
                                        }
                                    </td></tr>
                                }
                                </>
                            }
                        }) }
                    </table>
                    if !others.is_empty() {
                        <ul class="muted">{ for others.iter().map(|w| html! { <li>{ format!("warning: {}", text(w)) }</li> }) }</ul>
                    }
                    <p class="muted">{ "The same check as " }<code>{ "etcdscope check DIR" }</code>{ ": every .snap file's CRC, every WAL frame and its CRC chain, the v2 store etcd 3.6 checks before it starts, and a checked walk of every page of the v3 db." }</p>
                </section>
            }
        }

        fn view_v2(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let node = &self.v2;
            let kids = node["nodes"].as_array().cloned().unwrap_or_default();
            html! {
                <section id="v2-view">
                    <p class="crumbs">
                        <button onclick={link.callback(|_| Msg::V2 { key: String::new() })}>{ "/" }</button>
                        <code>{ text(&node["key"]) }</code>
                    </p>
                    if let Some(v) = node["value"].as_str() {
                        <pre id="v2-value">{ v }</pre>
                    }
                    <table class="rows" id="v2-children">
                        { for kids.iter().map(|c| {
                            let k = text(&c["key"]);
                            let key = web::session::b64_text(&k);
                            let dir = c["dir"].as_bool().unwrap_or(false);
                            html! {
                                <tr class={if dir { "dir" } else { "leaf" }} onclick={link.callback(move |_| Msg::V2 { key: key.clone() })}>
                                    <td class="name">{ if dir { format!("{k}/") } else { k.clone() } }</td>
                                    <td class="num">{ c["modifiedIndex"].to_string() }</td>
                                    <td>{ c["value"].as_str().map(|v| v.chars().take(80).collect::<String>()).unwrap_or_default() }</td>
                                </tr>
                            }
                        }) }
                    </table>
                </section>
            }
        }
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    yew::Renderer::<imp::App>::new().render();
}
