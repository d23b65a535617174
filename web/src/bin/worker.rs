//! The worker: every byte of the user's data is read and parsed here, off the UI thread.
//! It reads `File`s by slices ([`web::blob::BlobSource`]), keeps the open input in a
//! [`web::session::Session`] and answers the page's questions with JSON text.

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::cell::RefCell;

    use std::sync::Arc;

    use js_sys::{Array, Object, Reflect};
    use storage::ReadAt;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{Blob, DedicatedWorkerGlobalScope, File};

    use web::archive::{self, Kind, Member, Spill};
    use web::blob::{BlobParts, BlobSource, BlobSpill, CacheConfig, Written};
    use web::protocol;
    use web::session::{unb64, Session};
    use web::{progress, sqljs};

    /// The sample behind "Try a sample": a real etcd 3.4.23 snapshot (tests/fixtures/v3/basic).
    static SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/v3/basic/snapshot.db");

    /// The open input: the sample (bytes in the wasm) or the user's files.
    enum Open {
        Sample(Session<&'static [u8]>),
        Files(Session<Box<dyn ReadAt>>),
    }

    #[wasm_bindgen]
    extern "C" {
        /// Queues a request of the worker to itself (`web/worker_io.js`), after `delay_ms`.
        #[wasm_bindgen(js_namespace = etcdscopeIO)]
        fn enqueue(data: &JsValue, delay_ms: f64);
        /// Makes the next request wait for `job` (requests run one at a time).
        #[wasm_bindgen(js_namespace = etcdscopeIO)]
        fn track(job: &js_sys::Promise);
    }

    /// Starts `job` in the background; the next request of the page waits for it.
    fn spawn_tracked(job: impl std::future::Future<Output = ()> + 'static) {
        let p = wasm_bindgen_futures::future_to_promise(async move {
            job.await;
            Ok(JsValue::UNDEFINED)
        });
        track(&p);
    }

    /// The SHA-256 trailer being checked, one step per request (`TRAILER_STEP`).
    struct TrailerJob {
        generation: u64,
        name: String,
        hasher: sha2::Sha256,
        pos: u64,
        total: u64,
        started: f64,
    }

    /// The worker's own request: the next step of the trailer check.
    const TRAILER_STEP: &str = "trailer-step";

    thread_local! {
        static OPEN: RefCell<Option<Open>> = const { RefCell::new(None) };
        static TRAILER: RefCell<Option<TrailerJob>> = const { RefCell::new(None) };
        /// Counts opened inputs (a background job of an earlier input stops when it changes).
        static GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        /// The open input as an SQLite database in sql.js (built on first use).
        /// The flag: Secret data redacted in it (the console without "Reveal secrets", the
        /// download with "Redact Secrets").
        static DB: RefCell<Option<(bool, sqljs::Database)>> = const { RefCell::new(None) };
        /// The EncryptionConfiguration the user gave (only ever in this worker's memory).
        static ENC: RefCell<Option<kube::encryption::EncryptionConfig>> = const { RefCell::new(None) };
    }

    /// Runs `f` with the decode options of a request: the loaded EncryptionConfiguration and
    /// whether Secret data is revealed.
    fn with_decode<T>(reveal: bool, f: impl FnOnce(&kube::object::Options<'_>) -> T) -> T {
        ENC.with(|e| {
            let enc = e.borrow();
            f(&kube::object::Options {
                encryption: enc.as_ref(),
                reveal_secrets: reveal,
                mask_prefixes: &[],
            })
        })
    }

    fn post(v: &JsValue) {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        if let Err(e) = scope.post_message(v) {
            web_sys::console::error_1(&e);
        }
    }

    fn report_progress(label: &str, done: u64, total: u64) {
        post(&reply(&[
            ("kind", protocol::PROGRESS.into()),
            ("label", label.into()),
            ("done", (done as f64).into()),
            ("total", (total as f64).into()),
        ]));
    }

    /// Forgets the SQLite database of the previous input.
    fn drop_db() {
        if let Some((_, db)) = DB.with(|d| d.borrow_mut().take()) {
            db.dispose();
        }
    }

    fn reply(fields: &[(&str, JsValue)]) -> JsValue {
        let obj = Object::new();
        for (k, v) in fields {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&obj, &JsValue::from_str(k), v);
        }
        obj.into()
    }

    fn field(data: &JsValue, name: &str) -> JsValue {
        Reflect::get(data, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    }

    fn failed(name: &str, message: String) -> JsValue {
        reply(&[
            ("kind", protocol::FAILED.into()),
            ("name", name.into()),
            ("message", message.into()),
        ])
    }

    fn json_reply(kind: &str, what: &str, v: Result<serde_json::Value, String>) -> JsValue {
        match v.and_then(|v| serde_json::to_string(&v).map_err(|e| e.to_string())) {
            Ok(json) => reply(&[
                ("kind", kind.into()),
                ("what", what.into()),
                ("json", json.into()),
            ]),
            Err(m) => failed(what, m),
        }
    }

    fn blob_source(f: &Blob) -> Result<BlobSource, String> {
        BlobSource::new(f.clone(), CacheConfig::default())
    }

    /// Decompressed archives may be large: they go to a Blob (not wasm memory), up to this.
    const UNPACK_LIMIT: u64 = 1 << 40;

    /// Opens a file: a v3 snapshot/db, or an archive (gzip, tar, zip) of one or of a data dir.
    fn open_source(
        name: &str,
        src: BlobSource,
        depth: u32,
    ) -> Result<Session<Box<dyn ReadAt>>, String> {
        match archive::sniff(&src) {
            Kind::Gzip if depth < 2 => {
                progress::begin_positioned(&format!("unpacking {name}"), src.size());
                let inner = BlobSpill
                    .spill(&mut |out| archive::gunzip(&src, out, UNPACK_LIMIT).map(|_| ()))
                    .map_err(|e| format!("{name}: {e}"))?;
                let inner_name = name
                    .strip_suffix(".tgz")
                    .map(|b| format!("{b}.tar"))
                    .or_else(|| name.strip_suffix(".gz").map(str::to_string))
                    .unwrap_or_else(|| name.to_string());
                open_source(&inner_name, inner, depth + 1)
            }
            Kind::Tar => {
                let members = archive::tar_members(&src).map_err(|e| format!("{name}: {e}"))?;
                open_members(name, Arc::new(src), members, false)
            }
            Kind::Zip => {
                let members = archive::zip_members(&src).map_err(|e| format!("{name}: {e}"))?;
                open_members(name, Arc::new(src), members, true)
            }
            _ => Session::open_v3(name, Box::new(src) as Box<dyn ReadAt>),
        }
    }

    /// An archive's files: one file is opened as a v3 snapshot/db; several as a data dir
    /// (the members under `.../wal/` and `.../snap/`).
    fn open_members(
        name: &str,
        src: Arc<BlobSource>,
        members: Vec<Member>,
        zip: bool,
    ) -> Result<Session<Box<dyn ReadAt>>, String> {
        let open = |m: &Member| -> Result<Box<dyn ReadAt>, String> {
            archive::open_member(&src, m, zip, &mut BlobSpill, UNPACK_LIMIT)
                .map(|o| Box::new(o) as Box<dyn ReadAt>)
                .map_err(|e| format!("{name}: {e}"))
        };
        let in_data_dir = |p: &str| p.contains("wal/") || p.contains("snap/");
        if members.len() == 1 {
            let m = &members[0];
            return Session::open_v3(&format!("{name}/{}", m.path), open(m)?);
        }
        let dir: Vec<&Member> = members.iter().filter(|m| in_data_dir(&m.path)).collect();
        if !dir.is_empty() {
            let mut files = Vec::new();
            for m in dir {
                files.push((m.path.clone(), open(m)?));
            }
            return Session::open_files(name, files);
        }
        match members
            .iter()
            .find(|m| m.path.ends_with(".db") || m.path.ends_with("/db"))
        {
            Some(m) => Session::open_v3(&format!("{name}/{}", m.path), open(m)?),
            None => Err(format!(
                "{name}: an archive of {} files, none of them an etcd snapshot, db or data dir",
                members.len()
            )),
        }
    }

    fn with_session<T>(
        f: impl FnOnce(&mut dyn SessionOps) -> Result<T, String>,
    ) -> Result<T, String> {
        OPEN.with(|o| match &mut *o.borrow_mut() {
            Some(Open::Sample(s)) => f(s),
            Some(Open::Files(s)) => f(s),
            None => Err("nothing is open".into()),
        })
    }

    /// A question from the page.
    struct Query {
        what: String,
        key: Vec<u8>,
        offset: usize,
        limit: usize,
        mode: String,
        pattern: String,
        /// A namespace (None: cluster-scoped objects).
        ns: Option<Vec<u8>>,
        reveal: bool,
    }

    /// The session calls the page uses, independent of the byte source.
    trait SessionOps {
        /// Bytes the summary is expected to read (for the progress bar).
        fn status_estimate(&self) -> u64;
        fn summary_unverified(&self) -> Result<serde_json::Value, String>;
        fn has_trailer(&self) -> bool;
        fn trailer_covers(&self) -> u64;
        fn hash_part(&self, h: &mut sha2::Sha256, from: u64, to: u64) -> Result<(), String>;
        fn trailer_result(&self, h: sha2::Sha256) -> Result<serde_json::Value, String>;
        /// Bytes of the v3 file (one walk or one hash of it reads about this many).
        fn walk_estimate(&self) -> u64;
        fn query(
            &mut self,
            q: &Query,
            opts: &kube::object::Options<'_>,
        ) -> Result<serde_json::Value, String>;
        fn snapshot(
            &self,
            latest_only: bool,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String>;
        fn sql(
            &self,
            dialect: &str,
            schema: &str,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String>;
        fn selection_json(
            &mut self,
            prefix: &[u8],
            search: Option<(&str, &str)>,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String>;
        fn k8s_export(
            &self,
            key: &[u8],
            main: i64,
            sub: i64,
            format: &str,
            opts: &kube::object::Options<'_>,
        ) -> Result<(String, Vec<u8>, &'static str), String>;
    }

    impl<S: storage::ReadAt> SessionOps for Session<S> {
        fn status_estimate(&self) -> u64 {
            Session::status_estimate(self)
        }
        fn summary_unverified(&self) -> Result<serde_json::Value, String> {
            Session::summary_unverified(self)
        }
        fn has_trailer(&self) -> bool {
            Session::has_trailer(self)
        }
        fn trailer_covers(&self) -> u64 {
            Session::trailer_covers(self)
        }
        fn hash_part(&self, h: &mut sha2::Sha256, from: u64, to: u64) -> Result<(), String> {
            Session::hash_part(self, h, from, to)
        }
        fn trailer_result(&self, h: sha2::Sha256) -> Result<serde_json::Value, String> {
            Session::trailer_result(self, h)
        }
        fn walk_estimate(&self) -> u64 {
            Session::status_estimate(self) / if self.has_trailer() { 2 } else { 1 }
        }
        fn query(
            &mut self,
            q: &Query,
            opts: &kube::object::Options<'_>,
        ) -> Result<serde_json::Value, String> {
            match q.what.as_str() {
                "children" => self.children(&q.key, q.offset, q.limit),
                "search" => self.search(&q.mode, &q.pattern, q.offset, q.limit),
                "value" => self.value(&q.key, opts),
                "history" => self.history(&q.key, opts),
                "k8s-types" => self.k8s_types(),
                "k8s-namespaces" => self.k8s_namespaces(&q.key),
                "k8s-objects" => self.k8s_objects(&q.key, q.ns.as_deref(), q.offset, q.limit),
                "k8s-object" => self.k8s_object(&q.key, opts),
                "k8s-deleted" => self.k8s_deleted(),
                "k8s-decode-all" => self.k8s_decode_all(opts),
                "leases" => self.leases(),
                "members" => self.members(),
                "auth" => self.auth(),
                "k8s" => self.k8s_analyze(),
                "v2" => self.v2_node(&q.key),
                "wal" => self.wal_rows(q.offset, q.limit),
                "integrity" => self.integrity(),
                other => Err(format!("unknown query {other:?}")),
            }
        }
        fn snapshot(
            &self,
            latest_only: bool,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String> {
            Session::snapshot(self, latest_only, redact, out)
        }
        fn sql(
            &self,
            dialect: &str,
            schema: &str,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String> {
            Session::sql(self, dialect, schema, redact, out)
        }
        fn selection_json(
            &mut self,
            prefix: &[u8],
            search: Option<(&str, &str)>,
            redact: bool,
            out: &mut dyn std::io::Write,
        ) -> Result<String, String> {
            Session::selection_json(self, prefix, search, redact, out)
        }
        fn k8s_export(
            &self,
            key: &[u8],
            main: i64,
            sub: i64,
            format: &str,
            opts: &kube::object::Options<'_>,
        ) -> Result<(String, Vec<u8>, &'static str), String> {
            Session::k8s_export(self, key, main, sub, format, opts)
        }
    }

    fn opened(result: Result<Open, String>, name: &str) -> JsValue {
        match result {
            Ok(open) => {
                OPEN.with(|o| *o.borrow_mut() = Some(open));
                let started = js_sys::Date::now();
                let summary = with_session(|s| {
                    progress::begin(&format!("checking {name}"), s.walk_estimate());
                    s.summary_unverified()
                });
                let read = progress::done();
                progress::end();
                match summary {
                    Ok(mut v) => {
                        v["bytesRead"] = serde_json::json!(read);
                        v["walkMs"] = serde_json::json!(js_sys::Date::now() - started);
                        let trailer = with_session(|s| Ok(s.has_trailer())).unwrap_or(false);
                        if trailer {
                            v["status"]["trailer"]["state"] = serde_json::json!("checking");
                        }
                        let json = serde_json::to_string(&v).unwrap_or_default();
                        let summary = reply(&[
                            ("kind", protocol::SUMMARY.into()),
                            ("name", name.into()),
                            ("json", json.into()),
                        ]);
                        if !trailer {
                            return summary;
                        }
                        // The summary is shown now; the trailer is hashed after it, in steps
                        // between which the page's questions are answered. The page asks for
                        // the first tree level as soon as it has the summary: that goes first.
                        start_trailer(name);
                        summary
                    }
                    Err(m) => failed(name, m),
                }
            }
            Err(m) => failed(name, m),
        }
    }

    fn start_trailer(name: &str) {
        use sha2::Digest;
        let Ok(total) = with_session(|s| Ok(s.trailer_covers())) else {
            return;
        };
        TRAILER.with(|t| {
            *t.borrow_mut() = Some(TrailerJob {
                generation: GENERATION.with(|g| g.get()),
                name: name.to_string(),
                hasher: sha2::Sha256::new(),
                pos: 0,
                total,
                started: js_sys::Date::now(),
            })
        });
        enqueue(&reply(&[("kind", TRAILER_STEP.into())]), 250.0);
    }

    /// Hashes the next 32 MiB of the db part for the SHA-256 trailer, posting its progress,
    /// and queues the next step (after the page's questions that came meanwhile); gives up
    /// quietly when another input was opened meanwhile.
    fn trailer_step() -> Option<JsValue> {
        const STEP: u64 = 32 << 20;
        let mut job = TRAILER.with(|t| t.borrow_mut().take())?;
        if GENERATION.with(|g| g.get()) != job.generation {
            return None;
        }
        if job.pos < job.total {
            let to = (job.pos + STEP).min(job.total);
            if let Err(e) = with_session(|s| s.hash_part(&mut job.hasher, job.pos, to)) {
                return Some(failed(&job.name, e));
            }
            job.pos = to;
            let checking =
                serde_json::json!({ "state": "checking", "done": job.pos, "total": job.total });
            post(&json_reply(protocol::TRAILER, "trailer", Ok(checking)));
            if job.pos < job.total {
                TRAILER.with(|t| *t.borrow_mut() = Some(job));
                enqueue(&reply(&[("kind", TRAILER_STEP.into())]), 0.0);
                return None;
            }
        }
        let started = job.started;
        Some(json_reply(
            protocol::TRAILER,
            "trailer",
            with_session(|s| s.trailer_result(job.hasher)).map(|mut t| {
                t["ms"] = serde_json::json!(js_sys::Date::now() - started);
                t
            }),
        ))
    }

    /// Answers a request; `None` when the answer comes later (sql.js jobs post it themselves).
    fn handle(data: JsValue) -> Option<JsValue> {
        let kind = field(&data, "kind").as_string().unwrap_or_default();
        if kind.starts_with("open") {
            drop_db();
            GENERATION.with(|g| g.set(g.get() + 1));
        }
        match kind.as_str() {
            protocol::SQLITE => {
                let redact = field(&data, "redact").as_bool().unwrap_or(false);
                let name = field(&data, "name").as_string().unwrap_or_default();
                spawn_tracked(async move {
                    post(&sqlite_download(redact, name).await);
                });
                None
            }
            protocol::SQL_QUERY => {
                let text = field(&data, "sql").as_string().unwrap_or_default();
                let limit = field(&data, "limit")
                    .as_f64()
                    .unwrap_or(1000.0)
                    .clamp(1.0, 100_000.0) as usize;
                // Secret data stays masked in the console until revealed.
                let redact = !field(&data, "reveal").as_bool().unwrap_or(false);
                spawn_tracked(async move {
                    let v = match sqlite_db(redact).await {
                        Ok(()) => DB.with(|d| match &*d.borrow() {
                            Some((_, db)) => db.query(&text, limit),
                            None => Err("no database".into()),
                        }),
                        Err(e) => Err(e),
                    };
                    post(&json_reply(protocol::ANSWER, "sql", v));
                });
                None
            }
            TRAILER_STEP => trailer_step(),
            _ => Some(handle_sync(&kind, data)),
        }
    }

    /// Builds the SQLite database of the open input in sql.js, once (again when `redact`
    /// differs from the built one's).
    async fn sqlite_db(redact: bool) -> Result<(), String> {
        if DB.with(|d| matches!(&*d.borrow(), Some((r, _)) if *r == redact)) {
            return Ok(());
        }
        drop_db();
        let db = sqljs::open_memory().await?;
        let r = with_session(|s| {
            progress::begin("building the SQLite database", s.status_estimate());
            let mut sink = sqljs::ExecSink::new(&db);
            let msg = s.sql("sqlite", "etcd", redact, &mut sink)?;
            sink.finish()?;
            Ok(msg)
        });
        progress::end();
        match r {
            Ok(_) => {
                DB.with(|d| *d.borrow_mut() = Some((redact, db)));
                Ok(())
            }
            Err(e) => {
                db.dispose();
                Err(e)
            }
        }
    }

    /// `name`: the download's name (the page's).
    async fn sqlite_download(redact: bool, name: String) -> JsValue {
        if let Err(e) = sqlite_db(redact).await {
            return failed("sqlite", e);
        }
        let bytes = DB.with(|d| match &*d.borrow() {
            Some((_, db)) => db.to_bytes(),
            None => Err("no database".into()),
        });
        match bytes {
            Ok(bytes) => {
                let parts = Array::of1(&bytes);
                let opts = web_sys::BlobPropertyBag::new();
                opts.set_type("application/vnd.sqlite3");
                match Blob::new_with_u8_array_sequence_and_options(&parts, &opts) {
                    Ok(blob) => reply(&[
                        ("kind", protocol::DOWNLOAD.into()),
                        ("name", name.as_str().into()),
                        (
                            "message",
                            format!("SQLite database (etcd schema), {} bytes", bytes.length())
                                .into(),
                        ),
                        ("blob", blob.into()),
                    ]),
                    Err(e) => failed("sqlite", format!("Blob: {e:?}")),
                }
            }
            Err(e) => failed("sqlite", e),
        }
    }

    /// Runs an export (`make` writes it and returns its description) into the file the user
    /// chose (`saveWriter`, where the request may suspend) or into Blob parts; the reply names
    /// it by the request's `name` (the page's download name). A failed export leaves the chosen
    /// file as it was.
    fn export(
        data: &JsValue,
        what: &str,
        mime: &str,
        make: impl FnOnce(&mut dyn SessionOps, &mut BlobParts) -> Result<String, String>,
    ) -> JsValue {
        let mut parts = BlobParts::streaming(field(data, "saveWriter"));
        let r = with_session(|s| make(s, &mut parts));
        let r = match r {
            Ok(message) => parts.finish(mime, true).map(|w| (message, w)),
            Err(e) => {
                let _ = parts.finish(mime, false);
                Err(e)
            }
        };
        match r {
            Ok((message, written)) => {
                let name = field(data, "name").as_string().unwrap_or_default();
                download(name, message, written)
            }
            Err(m) => failed(what, m),
        }
    }

    /// The reply for a finished export.
    fn download(name: String, message: String, written: Written) -> JsValue {
        match written {
            Written::Blob(blob) => reply(&[
                ("kind", protocol::DOWNLOAD.into()),
                ("name", name.into()),
                ("message", message.into()),
                ("blob", blob.into()),
            ]),
            Written::Saved(bytes) => reply(&[
                ("kind", protocol::DOWNLOAD.into()),
                ("name", name.into()),
                ("message", message.into()),
                ("saved", (bytes as f64).into()),
            ]),
        }
    }

    fn handle_sync(kind: &str, data: JsValue) -> JsValue {
        match kind {
            protocol::OPEN_SAMPLE => opened(
                Session::open_v3(web::SAMPLE_NAME, SAMPLE).map(Open::Sample),
                web::SAMPLE_NAME,
            ),
            protocol::OPEN_FILE => {
                let name = field(&data, "name").as_string().unwrap_or_default();
                let Ok(blob) = field(&data, "file").dyn_into::<Blob>() else {
                    return failed(&name, "the message carried no file".into());
                };
                progress::begin(&format!("reading {name}"), blob.size() as u64);
                let r = blob_source(&blob)
                    .map_err(|e| format!("{name}: {e}"))
                    .and_then(|src| open_source(&name, src, 0))
                    .map(Open::Files);
                opened(r, &name)
            }
            protocol::OPEN_FILES => {
                let name = field(&data, "name").as_string().unwrap_or_default();
                let files = Array::from(&field(&data, "files"));
                let paths = Array::from(&field(&data, "paths"));
                let mut list = Vec::new();
                for i in 0..files.length() {
                    let Ok(f) = files.get(i).dyn_into::<File>() else {
                        continue;
                    };
                    let path = paths.get(i).as_string().unwrap_or_else(|| f.name());
                    match blob_source(&f) {
                        Ok(src) => list.push((path, src)),
                        Err(e) => return failed(&name, format!("{path}: {e}")),
                    }
                }
                let total: u64 = list.iter().map(|(_, s)| s.size()).sum();
                progress::begin(&format!("reading {name}"), total);
                // One file that is not in a data dir layout: open it as a v3 file.
                let r = if list.len() == 1
                    && !list[0].0.contains("/snap/")
                    && !list[0].0.contains("/wal/")
                {
                    let (path, src) = list.remove(0);
                    open_source(&path, src, 0)
                } else {
                    let boxed = list
                        .into_iter()
                        .map(|(p, s)| (p, Box::new(s) as Box<dyn ReadAt>))
                        .collect();
                    Session::open_files(&name, boxed)
                };
                opened(r.map(Open::Files), &name)
            }
            protocol::QUERY => {
                let what = field(&data, "what").as_string().unwrap_or_default();
                let key = match unb64(&field(&data, "key").as_string().unwrap_or_default()) {
                    Ok(k) => k,
                    Err(e) => return failed(&what, e),
                };
                let q = Query {
                    what: what.clone(),
                    key,
                    offset: field(&data, "offset").as_f64().unwrap_or(0.0) as usize,
                    limit: field(&data, "limit")
                        .as_f64()
                        .unwrap_or(200.0)
                        .min(10_000.0) as usize,
                    mode: field(&data, "mode").as_string().unwrap_or_default(),
                    pattern: field(&data, "pattern").as_string().unwrap_or_default(),
                    ns: field(&data, "ns").as_string().and_then(|n| unb64(&n).ok()),
                    reveal: field(&data, "reveal").as_bool().unwrap_or(false),
                };
                let v = with_decode(q.reveal, |opts| with_session(|s| s.query(&q, opts)));
                progress::end();
                json_reply(protocol::ANSWER, &what, v)
            }
            protocol::SNAPSHOT => {
                let latest_only = field(&data, "latestOnly").as_bool().unwrap_or(false);
                let redact = field(&data, "redact").as_bool().unwrap_or(false);
                export(&data, "snapshot", "application/octet-stream", |s, out| {
                    progress::begin("writing the snapshot", 3 * s.status_estimate());
                    s.snapshot(latest_only, redact, out)
                })
            }
            protocol::SQL => {
                let dialect = field(&data, "dialect").as_string().unwrap_or_default();
                let schema = field(&data, "schema").as_string().unwrap_or_default();
                let redact = field(&data, "redact").as_bool().unwrap_or(false);
                export(&data, "sql", "application/sql", |s, out| {
                    progress::begin("writing the SQL", 2 * s.status_estimate());
                    s.sql(&dialect, &schema, redact, out)
                })
            }
            protocol::JSON => {
                let prefix = match unb64(&field(&data, "key").as_string().unwrap_or_default()) {
                    Ok(k) => k,
                    Err(e) => return failed("json", e),
                };
                let mode = field(&data, "mode").as_string();
                let pattern = field(&data, "pattern").as_string().unwrap_or_default();
                let redact = field(&data, "redact").as_bool().unwrap_or(false);
                export(&data, "json", "application/json", |s, out| {
                    progress::begin("writing the JSON", s.walk_estimate());
                    let search = mode.as_deref().map(|m| (m, pattern.as_str()));
                    s.selection_json(&prefix, search, redact, out)
                })
            }
            protocol::ENCRYPTION => {
                let answer = match field(&data, "text").as_string() {
                    Some(text) => match kube::encryption::EncryptionConfig::parse(&text) {
                        Ok(cfg) => {
                            let describe = cfg.describe();
                            ENC.with(|e| *e.borrow_mut() = Some(cfg));
                            serde_json::json!({ "describe": describe })
                        }
                        Err(e) => serde_json::json!({ "error": e.to_string() }),
                    },
                    None => {
                        ENC.with(|e| *e.borrow_mut() = None);
                        serde_json::json!({ "describe": null })
                    }
                };
                json_reply(protocol::ANSWER, "encryption", Ok(answer))
            }
            protocol::K8S_EXPORT => {
                let key = match unb64(&field(&data, "key").as_string().unwrap_or_default()) {
                    Ok(k) => k,
                    Err(e) => return failed("k8s-export", e),
                };
                let num = |k: &str| field(&data, k).as_f64().unwrap_or(0.0) as i64;
                let format = field(&data, "format").as_string().unwrap_or_default();
                let reveal = field(&data, "reveal").as_bool().unwrap_or(false);
                let r = with_decode(reveal, |opts| {
                    with_session(|s| s.k8s_export(&key, num("main"), num("sub"), &format, opts))
                });
                let r = r.and_then(|(name, bytes, mime)| {
                    let parts = Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
                    let opts = web_sys::BlobPropertyBag::new();
                    opts.set_type(mime);
                    Blob::new_with_u8_array_sequence_and_options(&parts, &opts)
                        .map(|b| (name, bytes.len(), b))
                        .map_err(|e| format!("Blob: {e:?}"))
                });
                match r {
                    Ok((name, len, blob)) => reply(&[
                        ("kind", protocol::DOWNLOAD.into()),
                        ("name", name.into()),
                        ("message", format!("{len} bytes").into()),
                        ("blob", blob.into()),
                    ]),
                    Err(e) => failed("k8s-export", e),
                }
            }
            other => failed("", format!("unknown request {other:?}")),
        }
    }

    /// For the page benchmark (`wasm_bindgen.k8s_decode_bench()` in the worker): every live
    /// Kubernetes object of the open input decoded and made into YAML, timed here. JSON text:
    /// `{objects, decoded, yaml_bytes, ms}` or `{error}`.
    #[wasm_bindgen]
    pub fn k8s_decode_bench() -> String {
        let t0 = js_sys::Date::now();
        let q = Query {
            what: "k8s-decode-all".into(),
            key: Vec::new(),
            offset: 0,
            limit: 0,
            mode: String::new(),
            pattern: String::new(),
            ns: None,
            reveal: false,
        };
        let r = with_session(|s| s.query(&q, &kube::object::Options::default()));
        let ms = js_sys::Date::now() - t0;
        match r {
            Ok(mut v) => {
                v["ms"] = ms.into();
                v.to_string()
            }
            Err(e) => serde_json::json!({ "error": e }).to_string(),
        }
    }

    /// The worker's wasm memory in bytes (it only grows, so this is also its peak); the page
    /// benchmark reads it (`wasm_bindgen.wasm_memory_bytes()` in the worker).
    #[wasm_bindgen]
    pub fn wasm_memory_bytes() -> f64 {
        (core::arch::wasm32::memory_size(0) as f64) * 65536.0
    }

    /// A request of the page (or of the worker itself), run by `web/worker_io.js` one at a
    /// time: as a promising call where the browser has JSPI, so reads and writes may suspend.
    #[wasm_bindgen]
    pub fn etcdscope_handle(data: JsValue) {
        web::io::enter_request(|| {
            let answer = handle(data);
            progress::end();
            if let Some(answer) = answer {
                post(&answer);
            }
        });
    }

    pub fn start() {
        std::panic::set_hook(Box::new(|info| {
            web_sys::console::error_1(&format!("etcdscope worker panicked: {info}").into());
        }));
        progress::set_reporter(report_progress, js_sys::Date::now);
        // Requests arrive through `etcdscope_handle` (web/worker_io.js queues them).
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.post_message(&reply(&[("kind", protocol::READY.into())]));
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    imp::start();
}
