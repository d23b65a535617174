//! The UI thread: drop zone, pickers, "Try a sample", and the summary the worker sends back.
//! Nothing is parsed here; the worker does all reading.

#[cfg(target_arch = "wasm32")]
mod imp {
    use js_sys::{Object, Reflect};
    use serde_json::Value;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{DragEvent, Event, File, HtmlInputElement, MessageEvent, Worker};
    use yew::prelude::*;

    use web::protocol;

    /// Where the worker's loader is: the single-file build sets `ETCDSCOPE_WORKER_URL` to a
    /// `blob:` URL; the Trunk build serves `worker_loader.js` beside the page.
    fn worker_url() -> String {
        Reflect::get(&js_sys::global(), &"ETCDSCOPE_WORKER_URL".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| "./worker_loader.js".to_string())
    }

    pub enum Msg {
        WorkerReady,
        Open(File),
        OpenSample,
        Summary { json: String },
        Failed { message: String },
        DragOver(bool),
    }

    enum View {
        Empty,
        Loading(String),
        Summary { pretty: String, facts: Value },
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
    }

    fn request(kind: &str, file: Option<&File>) -> JsValue {
        let obj = Object::new();
        let _ = Reflect::set(&obj, &"kind".into(), &kind.into());
        if let Some(f) = file {
            let _ = Reflect::set(&obj, &"file".into(), f);
            let _ = Reflect::set(&obj, &"name".into(), &f.name().into());
        }
        obj.into()
    }

    impl App {
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
            }
        }

        fn update(&mut self, _ctx: &Context<Self>, msg: Msg) -> bool {
            match msg {
                Msg::WorkerReady => {
                    self.ready = true;
                    for m in std::mem::take(&mut self.queued) {
                        self.send(m);
                    }
                    true
                }
                Msg::Open(file) => {
                    self.view = View::Loading(file.name());
                    self.send(request(protocol::OPEN_FILE, Some(&file)));
                    true
                }
                Msg::OpenSample => {
                    self.view = View::Loading(web::SAMPLE_NAME.to_string());
                    self.send(request(protocol::OPEN_SAMPLE, None));
                    true
                }
                Msg::Summary { json } => {
                    // serde_json keeps u64/i64 exact, unlike JSON.parse.
                    let facts = serde_json::from_str(&json).unwrap_or(Value::Null);
                    self.view = View::Summary {
                        pretty: json,
                        facts,
                    };
                    true
                }
                Msg::Failed { message } => {
                    self.view = View::Failed(message);
                    true
                }
                Msg::DragOver(on) => {
                    let changed = self.dragging != on;
                    self.dragging = on;
                    changed
                }
            }
        }

        fn view(&self, ctx: &Context<Self>) -> Html {
            let link = ctx.link();
            let onchange = link.batch_callback(|e: Event| {
                let input: HtmlInputElement = e.target_unchecked_into();
                input.files().and_then(|l| l.get(0)).map(Msg::Open)
            });
            let ondragover = link.callback(|e: DragEvent| {
                e.prevent_default();
                Msg::DragOver(true)
            });
            let ondragleave = link.callback(|_: DragEvent| Msg::DragOver(false));
            let ondrop = link.batch_callback(|e: DragEvent| {
                e.prevent_default();
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
                        <p class="tagline">{ "Open etcd snapshots and db files in this page. Nothing is uploaded: the file is read here, by this tab, and no request leaves it." }</p>
                    </header>
                    <section id="drop" class={zone_class} {ondragover} {ondragleave} {ondrop}>
                        <p>{ "Drop a v3 snapshot (" }<code>{ "etcdctl snapshot save" }</code>{ ") or a " }<code>{ "member/snap/db" }</code>{ " file here, or" }</p>
                        <label class="button">
                            { "Choose a file…" }
                            <input id="file" type="file" {onchange} />
                        </label>
                        <button id="sample" onclick={onsample}>{ "Try a sample" }</button>
                    </section>
                    if let Some(e) = &self.worker_error {
                        <p class="error">{ e }</p>
                    }
                    { self.view_result() }
                </main>
            }
        }
    }

    fn fact(facts: &Value, path: &[&str]) -> String {
        let mut v = facts;
        for p in path {
            v = &v[*p];
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => "—".to_string(),
            other => other.to_string(),
        }
    }

    impl App {
        fn view_result(&self) -> Html {
            match &self.view {
                View::Empty => html! {},
                View::Loading(name) => html! {
                    <p id="loading">{ format!("Reading {name}…") }</p>
                },
                View::Failed(message) => html! {
                    <section id="error" class="error">
                        <h2>{ "Could not read this input" }</h2>
                        <pre>{ message }</pre>
                    </section>
                },
                View::Summary { pretty, facts } => {
                    let rows = [
                        ("Input", fact(facts, &["name"])),
                        ("Kind", fact(facts, &["kind"])),
                        ("Revision", fact(facts, &["status", "revision"])),
                        (
                            "Compacted at",
                            fact(facts, &["status", "meta", "finishedCompactRevision"]),
                        ),
                        ("Live keys", fact(facts, &["status", "liveKeys"])),
                        ("Revisions held", fact(facts, &["status", "revisions"])),
                        ("Leases", fact(facts, &["status", "leases"])),
                        ("Hash (etcdctl)", fact(facts, &["status", "hash"])),
                        (
                            "SHA-256 trailer",
                            fact(facts, &["status", "trailer", "state"]),
                        ),
                        ("File size", fact(facts, &["status", "fileSize"])),
                    ];
                    let keys = facts["firstKeys"].as_array().cloned().unwrap_or_default();
                    html! {
                        <section id="summary">
                            <h2>{ "Summary" }</h2>
                            <table class="facts">
                                { for rows.iter().map(|(k, v)| html! {
                                    <tr><th>{ *k }</th><td data-fact={*k}>{ v }</td></tr>
                                }) }
                            </table>
                            <h3>{ format!("First {} keys", keys.len()) }</h3>
                            <ul id="keys">
                                { for keys.iter().map(|k| html! { <li>{ k.as_str().unwrap_or_default() }</li> }) }
                            </ul>
                            <details>
                                <summary>{ "Full status (JSON)" }</summary>
                                <pre id="status-json">{ pretty }</pre>
                            </details>
                        </section>
                    }
                }
            }
        }
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    yew::Renderer::<imp::App>::new().render();
}
