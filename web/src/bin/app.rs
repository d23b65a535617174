//! The UI thread: inputs (file, folder, drop, sample), the summary, the key tree, values and
//! their history, leases/members/auth, the v2 store, and snapshot downloads. Nothing is parsed
//! here; the worker reads and answers (JSON text, parsed with serde_json so 64-bit numbers stay
//! exact).

#[cfg(target_arch = "wasm32")]
mod imp {
    use js_sys::{Array, Object, Reflect};
    use serde_json::Value;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Blob, DragEvent, Event, File, HtmlInputElement, MessageEvent, Worker};
    use yew::prelude::*;

    use web::protocol;

    /// Rows per page of a key-tree level.
    const PAGE: usize = 200;

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
        V2,
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
            message: String,
        },
        DragOver(bool),
        Tab(Tab),
        Level {
            key: String,
            offset: usize,
        },
        Value {
            key: String,
        },
        History {
            key: String,
        },
        V2 {
            key: String,
        },
        Snapshot {
            latest_only: bool,
        },
        ValueView(&'static str),
        Search {
            offset: usize,
        },
        SearchMode(String),
        SearchText(String),
        DiffPick(usize),
        Cancel,
        Sql {
            dialect: &'static str,
            schema: &'static str,
        },
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
        note: Option<String>,
        busy: bool,
        search_mode: String,
        search_text: String,
        diff_pick: Vec<usize>,
        /// The request that opened the current input (re-sent after a cancel of an export).
        last_open: Option<JsValue>,
    }

    fn request(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
        let obj = Object::new();
        let _ = Reflect::set(&obj, &"kind".into(), &kind.into());
        for (k, v) in fields {
            let _ = Reflect::set(&obj, &(*k).into(), v);
        }
        obj.into()
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

    fn bytes(n: u64) -> String {
        match n {
            0..=9_999 => format!("{n} B"),
            10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
            10_000_000..=9_999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
            _ => format!("{:.2} GB", n as f64 / 1e9),
        }
    }

    fn text(v: &Value) -> String {
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
            match (&self.worker, self.ready) {
                (Some(w), true) => {
                    if let Err(e) = w.post_message(&msg) {
                        self.view = View::Failed(format!("could not reach the worker: {e:?}"));
                    }
                }
                _ => self.queued.push(msg),
            }
        }

        fn reset(&mut self) {
            self.summary = Value::Null;
            self.level = Value::Null;
            self.value = Value::Null;
            self.history = Value::Null;
            self.info = Value::Null;
            self.v2 = Value::Null;
            self.note = None;
            self.tab = Tab::Summary;
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
                    protocol::ANSWER => Msg::Answer {
                        what: get("what"),
                        json: get("json"),
                    },
                    protocol::DOWNLOAD => {
                        match Reflect::get(&data, &"blob".into()).map(|b| b.dyn_into::<Blob>()) {
                            Ok(Ok(blob)) => Msg::Download {
                                name: get("name"),
                                message: get("message"),
                                blob,
                            },
                            _ => Msg::Failed {
                                message: "the worker sent no file".into(),
                            },
                        }
                    }
                    _ => Msg::Failed {
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
                value_view: "text",
                history: Value::Null,
                info: Value::Null,
                v2: Value::Null,
                note: None,
                busy: false,
                search_mode: "substring".into(),
                search_text: String::new(),
                diff_pick: Vec::new(),
                last_open: None,
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
                    if self.summary.get("status").is_some() {
                        self.send(query("children", "", 0));
                    }
                }
                Msg::Answer { what, json } => {
                    let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                    match what.as_str() {
                        "children" | "search" => self.level = v,
                        "value" => {
                            self.value = v;
                            self.history = Value::Null;
                        }
                        "history" => {
                            self.history = v;
                            self.diff_pick.clear();
                        }
                        "v2" => self.v2 = v,
                        _ => self.info = v,
                    }
                }
                Msg::Download {
                    name,
                    message,
                    blob,
                } => {
                    self.busy = false;
                    self.note = Some(match save(&name, &blob) {
                        Ok(()) => format!("{name}: {message}"),
                        Err(e) => format!("could not save {name}: {e:?}"),
                    });
                }
                Msg::Failed { message } => {
                    self.busy = false;
                    if matches!(self.view, View::Loaded) {
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
                        Tab::V2 => self.send(query("v2", "", 0)),
                        _ => {}
                    }
                }
                Msg::Level { key, offset } => self.send(query("children", &key, offset)),
                Msg::Value { key } => self.send(query("value", &key, 0)),
                Msg::History { key } => self.send(query("history", &key, 0)),
                Msg::V2 { key } => self.send(query("v2", &key, 0)),
                Msg::Snapshot { latest_only } => {
                    self.busy = true;
                    self.note = Some("writing the snapshot…".into());
                    self.send(request(
                        protocol::SNAPSHOT,
                        &[("latestOnly", latest_only.into())],
                    ));
                }
                Msg::ValueView(v) => self.value_view = v,
                Msg::Sql { dialect, schema } => {
                    self.busy = true;
                    self.note = Some(format!("writing the {dialect} SQL ({schema} schema)…"));
                    self.send(request(
                        protocol::SQL,
                        &[("dialect", dialect.into()), ("schema", schema.into())],
                    ));
                }
                Msg::SearchMode(m) => self.search_mode = m,
                Msg::Cancel => {
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
                Msg::Search { offset } => self.send(request(
                    protocol::QUERY,
                    &[
                        ("what", "search".into()),
                        ("key", "".into()),
                        ("mode", self.search_mode.as_str().into()),
                        ("pattern", self.search_text.as_str().into()),
                        ("offset", (offset as f64).into()),
                        ("limit", (PAGE as f64).into()),
                    ],
                )),
            }
            let _ = ctx;
            true
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
                            Ok(_) => Msg::Failed { message: "the dropped folder is empty".into() },
                            Err(e) => Msg::Failed {
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
                View::Empty => html! {},
                View::Loading(name) => html! {
                    <p id="loading">
                        { format!("Reading {name}… ") }
                        <button id="cancel" onclick={ctx.link().callback(|_| Msg::Cancel)}>{ "Cancel" }</button>
                    </p>
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
                                if has_v2 {
                                    { tab(Tab::V2, "v2 store", "tab-v2") }
                                }
                            </nav>
                            if let Some(n) = &self.note {
                                <p id="note" class="note">
                                    { n }
                                    if self.busy {
                                        { " " }
                                        <button id="cancel" onclick={link.callback(|_| Msg::Cancel)}>{ "Cancel" }</button>
                                    }
                                </p>
                            }
                            { match self.tab {
                                Tab::Summary => self.view_summary(ctx),
                                Tab::Keys => self.view_keys(ctx),
                                Tab::V2 => self.view_v2(ctx),
                                _ => html! { <pre id="info">{ serde_json::to_string_pretty(&self.info).unwrap_or_default() }</pre> },
                            } }
                        </>
                    }
                }
            }
        }

        fn view_summary(&self, ctx: &Context<Self>) -> Html {
            let s = &self.summary;
            let link = ctx.link();
            let mut rows = vec![("Input", fact(s, &["name"])), ("Kind", fact(s, &["kind"]))];
            if s.get("status").is_some() {
                rows.extend([
                    ("Revision", fact(s, &["status", "revision"])),
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
            let problems = s["status"]["problems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
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
            let prefix_key = text(&lv["prefixKey"]);
            let offset = lv["offset"].as_u64().unwrap_or(0) as usize;
            let total = lv["total"].as_u64().unwrap_or(0) as usize;
            let kids = lv["children"].as_array().cloned().unwrap_or_default();
            let up = {
                let pk = prefix_key.clone();
                link.callback(move |_| Msg::Level {
                    key: parent_prefix(&pk),
                    offset: 0,
                })
            };
            let searching = lv["search"].as_bool() == Some(true);
            let page = |o: usize| {
                let pk = prefix_key.clone();
                if searching {
                    link.callback(move |_| Msg::Search { offset: o })
                } else {
                    link.callback(move |_| Msg::Level {
                        key: pk.clone(),
                        offset: o,
                    })
                }
            };
            let onmode = link.callback(|e: Event| {
                let sel: web_sys::HtmlSelectElement = e.target_unchecked_into();
                Msg::SearchMode(sel.value())
            });
            let ontext = link.callback(|e: InputEvent| {
                let input: HtmlInputElement = e.target_unchecked_into();
                Msg::SearchText(input.value())
            });
            let onsearch = link.callback(|_: MouseEvent| Msg::Search { offset: 0 });
            let onkey = link.batch_callback(|e: KeyboardEvent| {
                (e.key() == "Enter").then_some(Msg::Search { offset: 0 })
            });
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
                            <button id="tree-root" onclick={link.callback(|_| Msg::Level { key: String::new(), offset: 0 })}>{ "(all keys)" }</button>
                            if !prefix_key.is_empty() {
                                <button id="tree-up" onclick={up}>{ "↑ up" }</button>
                            }
                            <code id="prefix">{ text(&lv["prefix"]) }</code>
                            <span class="muted">{ format!(" {} entries, {} keys", total, lv["keys"]) }</span>
                        </p>
                        <table id="children" class="rows">
                            { for kids.iter().map(|c| {
                                let key = text(&c["key"]);
                                let dir = c["dir"].as_bool().unwrap_or(false);
                                let onclick = if dir {
                                    link.callback(move |_| Msg::Level { key: key.clone(), offset: 0 })
                                } else {
                                    link.callback(move |_| Msg::Value { key: key.clone() })
                                };
                                html! {
                                    <tr class={if dir { "dir" } else { "leaf" }} {onclick}>
                                        <td class="name">{ text(&c["name"]) }</td>
                                        <td class="num">{ if dir { c["count"].to_string() } else { String::new() } }</td>
                                        <td class="num">{ bytes(c["bytes"].as_u64().unwrap_or(0)) }</td>
                                    </tr>
                                }
                            }) }
                        </table>
                        if total > PAGE {
                            <p class="pager">
                                <button disabled={offset == 0} onclick={page(offset.saturating_sub(PAGE))}>{ "‹ previous" }</button>
                                { format!(" {}–{} of {} ", offset + 1, (offset + PAGE).min(total), total) }
                                <button disabled={offset + PAGE >= total} onclick={page(offset + PAGE)}>{ "next ›" }</button>
                            </p>
                        }
                    </div>
                    { self.view_value(ctx) }
                </section>
            }
        }

        fn view_value(&self, ctx: &Context<Self>) -> Html {
            let v = &self.value;
            if v.is_null() {
                return html! { <div class="value muted">{ "Pick a key to see its value." }</div> };
            }
            let link = ctx.link();
            let key = text(&v["key"]);
            let views: Vec<&'static str> = ["text", "json", "hex"]
                .into_iter()
                .filter(|k| !v[*k].is_null())
                .collect();
            let current = if views.contains(&self.value_view) {
                self.value_view
            } else {
                views.first().copied().unwrap_or("hex")
            };
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
                    <p>
                        { for views.iter().map(|name| {
                            let n: &'static str = name;
                            html! { <button class={if n == current { "tab active" } else { "tab" }} onclick={link.callback(move |_| Msg::ValueView(n))}>{ n }</button> }
                        }) }
                        <button id="history-button" onclick={link.callback(move |_| Msg::History { key: key.clone() })}>{ "History" }</button>
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

    /// The file-system entries of a drop (taken during the event).
    fn dropped_entries(e: &DragEvent) -> Vec<web_sys::FileSystemEntry> {
        let Some(items) = e.data_transfer().map(|dt| dt.items()) else {
            return Vec::new();
        };
        (0..items.length())
            .filter_map(|i| items.get(i))
            .filter_map(|it| it.webkit_get_as_entry().ok().flatten())
            .collect()
    }

    /// Every file below the dropped entries, with its path relative to the drop.
    async fn walk_entries(
        roots: Vec<web_sys::FileSystemEntry>,
    ) -> Result<Vec<(String, File)>, String> {
        use wasm_bindgen_futures::JsFuture;
        let err = |e: JsValue| {
            Reflect::get(&e, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .unwrap_or_else(|| format!("{e:?}"))
        };
        let mut out = Vec::new();
        let mut stack: Vec<(web_sys::FileSystemEntry, String)> = roots
            .into_iter()
            .map(|e| {
                let n = e.name();
                (e, n)
            })
            .collect();
        while let Some((entry, path)) = stack.pop() {
            if entry.is_directory() {
                let dir: web_sys::FileSystemDirectoryEntry = entry.unchecked_into();
                let reader = dir.create_reader();
                loop {
                    let p = js_sys::Promise::new(&mut |res, rej| {
                        let _ = reader.read_entries_with_callback_and_callback(&res, &rej);
                    });
                    let batch = Array::from(&JsFuture::from(p).await.map_err(err)?);
                    if batch.length() == 0 {
                        break;
                    }
                    for child in batch.iter() {
                        let child: web_sys::FileSystemEntry = child.unchecked_into();
                        let name = child.name();
                        stack.push((child, format!("{path}/{name}")));
                    }
                }
            } else {
                let fe: web_sys::FileSystemFileEntry = entry.unchecked_into();
                let p = js_sys::Promise::new(&mut |res, rej| {
                    fe.file_with_callback_and_callback(&res, &rej);
                });
                let file: File = JsFuture::from(p).await.map_err(err)?.unchecked_into();
                out.push((path, file));
            }
            if out.len() > 100_000 {
                return Err("more than 100000 files".into());
            }
        }
        Ok(out)
    }

    /// The prefix one level up: `/a/b/` → `/a/`, `/a/` → `/`, `/` → `` (base64 in, base64 out).
    fn parent_prefix(b64key: &str) -> String {
        let Ok(mut k) = web::session::unb64(b64key) else {
            return String::new();
        };
        k.pop();
        match k.iter().rposition(|&b| b == b'/') {
            Some(i) => web::session::b64_bytes(&k[..=i]),
            None => String::new(),
        }
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    yew::Renderer::<imp::App>::new().render();
}
