// Browser tests: the built page in real headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core. Usage:
//   node tests/e2e.mjs dist                      # served on 127.0.0.1 with the production CSP
//   node tests/e2e.mjs dist-single/etcdscope.html # opened from file:// (the single-file build)
// Prints one line per check and `N passed, N failed`; exits 1 when anything failed.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.argv[2] ?? "dist";
const fixture = path.resolve(process.argv[3] ?? path.join(here, "fixtures/v3/basic"));
// A real etcd snapshot of kube-apiserver values (crates/kube/tests/data/make-snapshot.sh).
const k8sSnapshot = path.resolve(here, "../crates/kube/tests/data/k8s-snapshot.db");
const k8sData = path.resolve(here, "../crates/kube/tests/data");
// The CLI (cargo build -p cli), to check the page's redacted snapshot.
const cli = path.resolve(here, "../target/debug/etcdscope");
const shots = path.resolve(here, "../target/e2e");
fs.mkdirSync(shots, { recursive: true });

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; " +
  "worker-src 'self'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; " +
  "base-uri 'none'; form-action 'none'";
const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json", ".png": "image/png",
  ".svg": "image/svg+xml", ".ico": "image/x-icon" };

/** Serves `root` on 127.0.0.1 (an ephemeral port) with the CSP header on every response. */
export function serve(dir, port = 0) {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    let rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (rel.endsWith("/")) rel += "index.html";
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { "Content-Security-Policy": CSP });
      return res.end("not found");
    }
    res.writeHead(200, {
      "Content-Type": MIME[path.extname(file)] ?? "application/octet-stream",
      "Content-Security-Policy": CSP,
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "no-store",
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

/** Runs the real etcdctl (ETCDCTL_API=3); null when it is not installed. Throws on failure. */
function etcdctl(args) {
  if (!fs.existsSync("/usr/bin/etcdctl")) return null;
  const r = spawnSync("/usr/bin/etcdctl", args, { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/**
 * Restores `snapshot` with the real etcdctl, starts the real etcd on it and returns what
 * `etcdctl get "" --from-key -w json` answers (null when etcd is not installed).
 */
async function etcdServes(snapshot, dir) {
  if (!fs.existsSync("/usr/bin/etcd") || !fs.existsSync("/usr/bin/etcdctl")) return null;
  const [peer, client] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const data = path.join(dir, "restored-data");
  fs.rmSync(data, { recursive: true, force: true });
  etcdctl(["snapshot", "restore", snapshot, "--data-dir", data, "--name", "m1",
    "--initial-cluster", `m1=${peer}`, "--initial-advertise-peer-urls", peer]);
  const log = fs.openSync(path.join(dir, "etcd.log"), "w");
  const etcd = spawn("/usr/bin/etcd", ["--name", "m1", "--data-dir", data,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `m1=${peer}`,
    "--listen-client-urls", client, "--advertise-client-urls", client], { stdio: ["ignore", log, log] });
  try {
    for (let i = 0; i < 100; i++) {
      const r = spawnSync("/usr/bin/etcdctl", ["--endpoints", client, "--command-timeout=2s", "get", "", "--from-key", "-w", "json"],
        { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
      if (r.status === 0) return JSON.parse(r.stdout);
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`etcd did not serve the restored snapshot: ${fs.readFileSync(path.join(dir, "etcd.log"), "utf8").slice(-2000)}`);
  } finally {
    etcd.kill("SIGKILL");
    fs.closeSync(log);
  }
}

async function main() {
  let server = null;
  let url;
  const resolved = path.resolve(target);
  if (fs.statSync(resolved).isDirectory()) {
    server = await serve(resolved);
    url = `http://127.0.0.1:${server.address().port}/`;
  } else {
    url = pathToFileURL(resolved).href;
  }
  const origin = url.startsWith("http") ? new URL(url).origin : null;
  // E2E_NO_JSPI=1 (http only): the worker runs as in a browser without JSPI (Firefox and Safari
  // today): WebAssembly.Suspending and WebAssembly.promising are removed before worker_io.js
  // looks for them, so it reads with FileReaderSync and builds exports as Blobs.
  const noJspi = process.env.E2E_NO_JSPI === "1" && origin !== null;
  const mode = (origin ? "http" : "file") + (noJspi ? "-nojspi" : "");

  // Inputs: the real etcd 3.4.23 snapshot, the raw db (gunzipped), a truncated copy.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "etcdscope-e2e-"));
  const snapshot = path.join(fixture, "snapshot.db");
  const rawDb = path.join(tmp, "db");
  fs.writeFileSync(rawDb, zlib.gunzipSync(fs.readFileSync(path.join(fixture, "raw.db.gz"))));
  const torn = path.join(tmp, "torn.db");
  fs.writeFileSync(torn, fs.readFileSync(snapshot).subarray(0, 100_000));
  const expected = JSON.parse(fs.readFileSync(path.join(fixture, "expected/status.json"), "utf8"));
  const expectedRaw = JSON.parse(fs.readFileSync(path.join(fixture, "expected/status-raw.json"), "utf8"));
  const keysOnly = JSON.parse(fs.readFileSync(path.join(fixture, "expected/get-keys-only.json"), "utf8"));
  // The page shows keys as text with control bytes, backslashes and invalid UTF-8 escaped.
  const shown = (bytes) => {
    const text = bytes.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(bytes)) throw new Error("fixture's first key is not UTF-8");
    return text.replace(/[\u0000-\u001f\u007f-\u009f\\]/g, (c) => c === "\\" ? "\\\\" :
      [...Buffer.from(c, "utf8")].map((b) => "\\x" + b.toString(16).padStart(2, "0")).join(""));
  };
  const firstKey = shown(Buffer.from(keysOnly.kvs[0].key, "base64"));
  const facts = JSON.parse(fs.readFileSync(path.join(fixture, "expected/facts.json"), "utf8"));
  // A v2 data dir on disk: the committed fixture with its WAL segments un-gzipped.
  const v2src = path.join(here, "fixtures/v2/snapped/member");
  const v2dir = path.join(tmp, "v2-data");
  for (const sub of ["wal", "snap"]) {
    const from = path.join(v2src, sub);
    if (!fs.existsSync(from)) continue;
    fs.mkdirSync(path.join(v2dir, "member", sub), { recursive: true });
    for (const f of fs.readdirSync(from)) {
      const bytes = fs.readFileSync(path.join(from, f));
      const [name, data] = f.endsWith(".gz") ? [f.slice(0, -3), zlib.gunzipSync(bytes)] : [f, bytes];
      fs.writeFileSync(path.join(v2dir, "member", sub, name), data);
    }
  }

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "etcdscope-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    acceptDownloads: true,
  });
  const requests = [];
  const foreign = [];
  context.on("request", (r) => requests.push(r.url()));
  await context.route("**/*", async (route) => {
    const u = route.request().url();
    const local = origin ? u.startsWith(origin + "/") : (u === url || u.startsWith("blob:") || u.startsWith("data:"));
    if (local && noJspi && u === `${origin}/worker_io.js`) {
      const response = await route.fetch();
      return route.fulfill({ response, body: "delete WebAssembly.Suspending; delete WebAssembly.promising;\n" + await response.text() });
    }
    if (local) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error" || /Content Security Policy/i.test(m.text())) consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  let passed = 0, failed = 0;
  const check = async (name, fn) => {
    try {
      await fn();
      passed++;
      console.log(`ok   ${mode}: ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${mode}: ${name}\n     ${String(e.message ?? e).split("\n").join("\n     ")}`);
      await page.screenshot({ path: path.join(shots, `${mode}-fail-${failed}.png`) }).catch(() => {});
    }
  };
  const eq = (got, want, what) => {
    if (String(got) !== String(want)) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  const fact = (k) => page.locator(`td[data-fact="${k}"]`).innerText({ timeout: 20_000 });
  // The summary is shown first; the SHA-256 trailer is checked after it ("checking… N %").
  const waitFor = (name) => page.waitForFunction((n) => {
    const td = document.querySelector('td[data-fact="Input"]');
    const trailer = document.querySelector('td[data-fact="SHA-256 trailer"]');
    return td && td.textContent === n && !(trailer && trailer.textContent.startsWith("checking"));
  }, name, { timeout: 20_000 });

  // The integrity report: the page's findings and v2 node list against `etcdscope check DIR`'s
  // lines (the same words; the CLI names the member dir by its path, the page by the folder).
  const sameIntegrity = async (dir) => {
    await page.click("#tab-summary");
    const name = await fact("Input");
    await page.click("#tab-integrity");
    await page.locator("#integrity-rows tr.finding").first().waitFor({ timeout: 30_000 });
    const shownLevel = { "v2 data": "DATA", "not checked": "not checked:", DAMAGE: "DAMAGE", ok: "ok", warning: "warning" };
    const ours = [];
    for (const row of await page.locator("#integrity-rows tr.finding").all()) {
      const [area, level, what] = await row.locator("td").allInnerTexts();
      ours.push(`${area} ${shownLevel[level] ?? level} ${what}`);
    }
    const keys = await page.locator("#integrity-keys li").allInnerTexts();
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const r = spawnSync(cli, ["check", dir], { encoding: "utf8" });
    const lines = r.stdout.split("\n");
    const theirs = lines.filter((l) => /^(snap|wal|v2|db) /.test(l))
      .map((l) => l.replace(/^(\S+)\s+(not checked:|\S+)\s+/, "$1 $2 ").split(`${dir}/member`).join(`${name}/member`));
    const theirKeys = lines.filter((l) => l.startsWith("        ")).map((l) => l.trim());
    eq(JSON.stringify(ours), JSON.stringify(theirs), "findings = etcdscope check's");
    eq(JSON.stringify(keys), JSON.stringify(theirKeys), "v2 nodes listed = etcdscope check's");
    const verdict = await page.locator("#integrity-verdict").innerText();
    if (r.status === 0 !== verdict.startsWith("No damage found")) throw new Error(`verdict "${verdict}" but etcdscope check exited ${r.status}`);
    return { ours, verdict };
  };

  // The worker's I/O counters (web/worker_io.js); the newest worker (a cancel starts another).
  const ioStats = () => page.workers().at(-1).evaluate(() => ({ ...etcdscopeIO.stats, supported: etcdscopeIO.supported }));

  await check("page loads and renders; the empty state says what to drop", async () => {
    await page.goto(url);
    await page.locator("h1", { hasText: "etcdscope" }).waitFor({ timeout: 20_000 });
    const empty = await page.locator("#empty").innerText({ timeout: 20_000 });
    for (const w of ["snapshot", "member/snap/db", "data dir", ".tar.gz", ".zip", "Try a sample"]) {
      if (!empty.includes(w)) throw new Error(`empty state lacks ${w}: ${empty}`);
    }
  });

  // Records every progress label shown (the bars of short jobs flash by).
  await page.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const l = document.querySelector("#progress-label");
      const bar = document.querySelector("#progress progress");
      if (l && !window.__progress.includes(l.textContent)) window.__progress.push(l.textContent);
      if (bar && bar.value > 0) window.__progressMoved = true;
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const progressSeen = () => page.evaluate(() => window.__progress.slice());

  await check("Try a sample: etcdctl's hash and revision, trailer ok, keys listed", async () => {
    await page.click("#sample");
    await waitFor("sample-etcd-3.4.23.db");
    eq(await fact("Revision"), expected.revision, "revision");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
    eq(await fact("SHA-256 trailer"), "ok", "trailer");
    eq(await fact("Kind"), "v3 snapshot", "kind");
    // Members as real etcdctl listed them (the id read as text: it is past 2^53).
    const list = fs.readFileSync(path.join(fixture, "expected/member-list.json"), "utf8");
    const id = BigInt(list.match(/"ID":(\d+)/)[1]).toString(16);
    eq(await fact("Members"), `1: ${JSON.parse(list).members[0].name} (${id})`, "members = etcdctl member list");
    // The revision range: the oldest revision held, as etcdscope status reads it in the file.
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const ours = JSON.parse(spawnSync(cli, ["status", snapshot, "-w", "json"], { encoding: "utf8" }).stdout);
    eq(await fact("Oldest revision held"), String(ours.oldestRevision), "oldest revision held");
    const versions = await fact("Versions");
    if (!versions.startsWith("schema 3.4") || !versions.includes("cluster 3.4.0")) throw new Error(`versions: ${versions}`);
    const space = await fact("Space");
    if (!/^live [\d.]+ k?B · history [\d.]+ k?B · free pages [\d.]+ k?B · file 467.0 kB$/.test(space)) throw new Error(`space: ${space}`);
  });

  await check("key tree, value viewer and history (sample)", async () => {
    await page.click("#tab-keys");
    const row = (name) => page.locator("#children .row", { has: page.locator(".name", { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) });
    eq(await page.locator("#children .row .name").first().innerText(), firstKey, "first entry");
    await row("/").click();
    await row("big/").click();
    await row("value-20k").click();
    eq(await page.locator("#value-key").innerText(), "/big/value-20k", "key");
    const meta = await page.locator("#value-meta").innerText();
    if (!meta.includes("20.5 kB") || !meta.includes(`mod_revision ${facts.revisions.big20k}`)) throw new Error(`meta: ${meta}`);
    await page.click("#history-button");
    await page.locator("#history tr").nth(1).waitFor({ timeout: 20_000 });
  });

  await check("Download JSON of the keys shown: all keys equal real etcdctl's get -w json; a search gives its matches", async () => {
    await page.click("#tab-keys");
    await page.click("#tree-root");
    await page.locator("#children .row .name").first().waitFor({ timeout: 20_000 });
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-json")]);
    eq(dl.suggestedFilename(), `sample-etcd-3.4.23-rev${expected.revision}-keys.json`, "download name");
    const file = path.join(tmp, dl.suggestedFilename());
    await dl.saveAs(file);
    const got = JSON.parse(fs.readFileSync(file, "utf8"));
    const want = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(fixture, "expected/get-current.json.gz"))).toString("utf8"));
    eq(got.header.revision, want.header.revision, "revision");
    eq(got.count, want.kvs.length, "count");
    eq(JSON.stringify(got.kvs), JSON.stringify(want.kvs), "kvs (keys, revisions, versions, values, leases)");
    // The matches of a search.
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/app/");
    await page.click("#search-go");
    await page.waitForFunction(() => /matches/.test(document.querySelector("#count")?.textContent ?? ""), null, { timeout: 20_000 });
    const [dl2] = await Promise.all([page.waitForEvent("download"), page.click("#download-json")]);
    const file2 = path.join(tmp, dl2.suggestedFilename());
    await dl2.saveAs(file2);
    const hits = JSON.parse(fs.readFileSync(file2, "utf8"));
    const wantApp = want.kvs.filter((kv) => Buffer.from(kv.key, "base64").toString("latin1").startsWith("/app/"));
    if (wantApp.length === 0) throw new Error("the fixture has no /app/ keys");
    eq(JSON.stringify(hits.kvs), JSON.stringify(wantApp), "the search's keys and values");
    await page.click("#tree-root");
  });

  await check("key search: substring, prefix and regex with a result count", async () => {
    const want = keysOnly.kvs.map((kv) => Buffer.from(kv.key, "base64").toString("latin1"));
    const search = async (mode, text) => {
      await page.selectOption("#search-mode", mode);
      await page.fill("#search-text", text);
      await page.click("#search-go");
      await page.waitForFunction((p) => document.querySelector("#prefix")?.textContent === p, `${mode}: ${text}`, { timeout: 20_000 });
      const count = Number((await page.locator("#count").innerText()).trim().split(" ")[0]);
      return { count, names: await page.locator("#children .row .name").allInnerTexts() };
    };
    const re = await search("regex", "^/app/config/(api|web)/env$");
    eq(re.names.join(" "), "/app/config/api/env /app/config/web/env", "regex matches");
    const sub = await search("substring", "tls.conf");
    eq(sub.count, want.filter((k) => k.includes("tls.conf")).length, "substring count");
    const pre = await search("prefix", "/leases/");
    eq(pre.count, want.filter((k) => k.startsWith("/leases/")).length, "prefix count");
  });

  await check("history diff of two revisions (a key overwritten at revision 357)", async () => {
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/app/config/worker/logging.yaml");
    await page.click("#search-go");
    await page.locator("#children .row .name", { hasText: "/app/config/worker/logging.yaml" }).click();
    await page.click("#history-button");
    const rows = page.locator("#history tr");
    await rows.nth(2).waitFor({ timeout: 20_000 });
    await rows.nth(1).click();
    await rows.nth(2).click();
    const diff = await page.locator("#diff").innerText({ timeout: 20_000 });
    if (!diff.includes("+++ revision 357_0") || !/^[-+] /m.test(diff)) throw new Error(diff);
    await page.screenshot({ path: path.join(shots, `${mode}-keys.png`), fullPage: true });
    await page.click("#tab-summary");
  });

  await check("key list: virtualized rows, keyboard (arrows, Enter, Backspace), copy buttons", async () => {
    await page.click("#tab-keys");
    await page.click("#tree-root");
    await page.waitForFunction(() => document.querySelector("#prefix")?.textContent === "", null, { timeout: 20_000 });
    await page.locator("#children .row.dir").first().waitFor({ timeout: 20_000 });
    const total = Number((await page.locator("#count").innerText()).trim().split(" ")[0]);
    const rendered = await page.locator("#children .row").count();
    if (rendered > Math.min(total, Math.ceil(520 / 26) + 16)) throw new Error(`${rendered} rows rendered of ${total}`);
    // Walk down to the "/" directory with the arrow keys and open it with Enter.
    const names = await page.locator("#children .row .name").allInnerTexts();
    const slash = names.indexOf("/");
    if (slash < 0) throw new Error(`no "/" entry: ${names.join(" ")}`);
    await page.focus("#children");
    await page.keyboard.press("Home");
    for (let i = 0; i < slash; i++) await page.keyboard.press("ArrowDown");
    eq(await page.locator("#children .row.selected .name").innerText(), "/", "selected row");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#prefix")?.textContent === "/", null, { timeout: 20_000 });
    await page.keyboard.press("Backspace");
    await page.waitForFunction(() => document.querySelector("#prefix")?.textContent === "", null, { timeout: 20_000 });
    // End reaches the last entry; Enter on a key opens its value.
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/app/config/api/env");
    await page.click("#search-go");
    await page.waitForFunction(() => document.querySelector("#prefix")?.textContent === "prefix: /app/config/api/env", null, { timeout: 20_000 });
    await page.locator("#children .row.leaf").first().waitFor({ timeout: 20_000 });
    await page.focus("#children");
    await page.keyboard.press("End");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#value-key")?.textContent === "/app/config/api/env", null, { timeout: 20_000 });
    if (origin) await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
    await page.click("#copy-key");
    const note = await page.locator("#note").innerText({ timeout: 10_000 });
    if (!note.includes("copied the key")) throw new Error(`note: ${note}`);
    if (origin) eq(await page.evaluate(() => navigator.clipboard.readText()), "/app/config/api/env", "clipboard");
    await page.click("#copy-value");
    if (origin) {
      const v = await page.evaluate(() => navigator.clipboard.readText());
      eq(v, await page.locator("#value-body").innerText(), "copied value");
    }
  });

  await check("SQL console (sql.js in the worker): a query over the loaded data, errors shown", async () => {
    await page.click("#tab-sql");
    await page.fill("#sql-query", "SELECT count(*) AS n FROM etcd_kv;");
    await page.click("#sql-run");
    const cell = await page.locator("#sql-result tr:nth-child(2) td").first().innerText({ timeout: 30_000 });
    eq(cell, keysOnly.count, "count(*) of etcd_kv = etcdctl's key count");
    await page.fill("#sql-query", "SELECT key_text FROM etcd_kv WHERE key_text LIKE '/app/config/api/%' ORDER BY key;");
    await page.click("#sql-run");
    await page.waitForFunction(() => document.querySelectorAll("#sql-result tr").length > 2, null, { timeout: 20_000 });
    const keys = await page.locator("#sql-result td").allInnerTexts();
    const want = keysOnly.kvs.map((kv) => Buffer.from(kv.key, "base64").toString("latin1")).filter((k) => k.startsWith("/app/config/api/"));
    eq(keys.join(" "), want.join(" "), "keys under /app/config/api/");
    await page.fill("#sql-query", "SELECT nope FROM etcd_kv;");
    await page.click("#sql-run");
    const err = await page.locator("#sql-error").innerText({ timeout: 20_000 });
    if (!err.includes("no such column")) throw new Error(`error: ${err}`);
    await page.screenshot({ path: path.join(shots, `${mode}-sql.png`), fullPage: true });
    await page.click("#tab-summary");
  });

  await check("download the .sqlite (sql.js); real sqlite3 opens it", async () => {
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click("#download-sqlite")]);
    eq(dl.suggestedFilename(), `sample-etcd-3.4.23-rev${expected.revision}.sqlite`, "download name");
    const file = path.join(tmp, dl.suggestedFilename());
    await dl.saveAs(file);
    eq(fs.readFileSync(file).subarray(0, 16).toString("latin1"), "SQLite format 3\0", "header");
    if (!fs.existsSync("/usr/bin/sqlite3")) return;
    const r = spawnSync("sqlite3", [file, "PRAGMA integrity_check; SELECT count(*) FROM etcd_kv;"], { encoding: "utf8" });
    if (r.status !== 0 || r.stderr) throw new Error(`sqlite3: ${r.stderr}`);
    eq(r.stdout.trim().split("\n").join(" "), `ok ${keysOnly.count}`, "integrity and key count");
  });

  await check("download a compacted snapshot; real etcdctl accepts it", async () => {
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-latest")]);
    eq(dl.suggestedFilename(), `sample-etcd-3.4.23-rev${expected.revision}-compacted.db`, "download name");
    const file = path.join(tmp, "latest.db");
    await dl.saveAs(file);
    const st = etcdctl(["snapshot", "status", "-w", "json", file]);
    if (st === null) return; // etcdctl not installed: the CLI tests cover it
    eq(JSON.parse(st).revision, expected.revision, "etcdctl snapshot status revision");
    etcdctl(["snapshot", "restore", file, "--data-dir", path.join(tmp, "restored")]);
  });

  await check("large outputs go to a file chosen with showSaveFilePicker, streamed from the Blob", async () => {
    // A stand-in for the browser's picker (headless Chromium cannot show one) that records
    // what is written; "large" is lowered to 0 bytes for the test.
    await page.evaluate(() => {
      window.__picked = { name: null, bytes: 0, closed: false };
      window.ETCDSCOPE_PICKER_MIN_BYTES = 0;
      window.showSaveFilePicker = async (opts) => {
        window.__picked.name = opts.suggestedName;
        return { createWritable: async () => new WritableStream({
          write(chunk) { window.__picked.bytes += chunk.byteLength; },
          close() { window.__picked.closed = true; },
        }) };
      };
    });
    try {
      await page.click("#download-latest");
      await page.waitForFunction(() => window.__picked.closed, null, { timeout: 30_000 });
      const picked = await page.evaluate(() => window.__picked);
      eq(picked.name, `sample-etcd-3.4.23-rev${expected.revision}-compacted.db`, "suggested name");
      eq(picked.bytes, fs.statSync(path.join(tmp, "latest.db")).size, "bytes written = the download's size");
      const note = await page.locator("#note").innerText({ timeout: 10_000 });
      if (!note.includes("written to the chosen file")) throw new Error(`note: ${note}`);
    } finally {
      await page.evaluate(() => { delete window.showSaveFilePicker; delete window.ETCDSCOPE_PICKER_MIN_BYTES; });
    }
  });

  // The handle the picker would give, here a file of the origin-private file system (a real
  // FileSystemFileHandle, which headless Chromium can make without a dialog). Not on file://,
  // whose opaque origin has no such storage.
  if (origin && !noJspi) await check("with a real file handle the worker writes the export into it while making it", async () => {
    await page.evaluate(async () => {
      const dir = await navigator.storage.getDirectory();
      window.__opfsName = null;
      window.ETCDSCOPE_PICKER_MIN_BYTES = 0;
      window.showSaveFilePicker = async (opts) => {
        window.__opfsName = opts.suggestedName;
        return dir.getFileHandle("export-test.db", { create: true });
      };
    });
    try {
      const before = await ioStats();
      await page.click("#download-latest");
      await page.waitForFunction(() => /written to the chosen file while it was made/.test(document.querySelector("#note")?.textContent ?? ""), null, { timeout: 30_000 });
      const b64 = await page.evaluate(async () => {
        const f = await (await (await navigator.storage.getDirectory()).getFileHandle("export-test.db")).getFile();
        const bytes = new Uint8Array(await f.arrayBuffer());
        let s = "";
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      });
      const written = Buffer.from(b64, "base64");
      const expectedBytes = fs.readFileSync(path.join(tmp, "latest.db"));
      eq(written.length, expectedBytes.length, "bytes in the chosen file");
      eq(Buffer.compare(written, expectedBytes), 0, "the file equals the download");
      const after = await ioStats();
      if (!(after.asyncWrites > before.asyncWrites)) throw new Error(`not streamed by the worker: ${JSON.stringify(after)}`);
    } finally {
      await page.evaluate(async () => {
        delete window.showSaveFilePicker; delete window.ETCDSCOPE_PICKER_MIN_BYTES;
        await (await navigator.storage.getDirectory()).removeEntry("export-test.db").catch(() => {});
      });
    }
  });

  await check("download SQL (SQLite, etcd and kine schemas); real sqlite3 loads it", async () => {
    const load = async (id, query) => {
      const [dl] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
      const file = path.join(tmp, dl.suggestedFilename());
      await dl.saveAs(file);
      if (!fs.existsSync("/usr/bin/sqlite3")) return null;
      const db = file + ".sqlite";
      const r = spawnSync("sqlite3", [db, `.read ${file}`, query], { encoding: "utf8" });
      if (r.status !== 0 || r.stderr) throw new Error(`sqlite3: ${r.stderr}`);
      return r.stdout.trim();
    };
    const kv = await load("#download-sql-sqlite-etcd", "SELECT count(*) FROM etcd_kv;");
    if (kv !== null) eq(kv, keysOnly.count, "etcd_kv rows = etcdctl's key count");
    const kine = await load("#download-sql-sqlite-kine", "SELECT count(*) > 0 FROM kine;");
    if (kine !== null) eq(kine, "1", "kine rows");
  });

  await check("progress bars were shown for the exports", async () => {
    const seen = await progressSeen();
    for (const want of ["writing the snapshot", "writing the SQL", "building the SQLite database"]) {
      if (!seen.includes(want)) throw new Error(`no "${want}" bar; seen: ${seen.join(" | ")}`);
    }
  });

  await check("raw protobuf view: Kubernetes values (k8s\\0 envelope) and encrypted ones (k8s:enc:); the Kubernetes tab", async () => {
    await page.setInputFiles("#file", k8sSnapshot);
    await waitFor("k8s-snapshot.db");
    await page.click("#tab-keys");
    const open = async (key) => {
      await page.selectOption("#search-mode", "prefix");
      await page.fill("#search-text", key);
      await page.click("#search-go");
      await page.locator("#children .row .name", { hasText: key }).click({ timeout: 20_000 });
      await page.waitForFunction((k) => document.querySelector("#value-key")?.textContent === k, key, { timeout: 20_000 });
    };
    await open("/registry/pods/default/nameValue");
    const env = await page.locator("#value-envelope").innerText();
    if (!/^Kubernetes v1 Pod \(protobuf, \d+ bytes\)$/.test(env)) throw new Error(`envelope: ${env}`);
    await page.click("#view-protobuf");
    const body = await page.locator("#value-body").innerText();
    for (const w of ["apiVersion: v1", "kind: Pod", '1: "nameValue"', '3: "namespaceValue"']) {
      if (!body.includes(w)) throw new Error(`protobuf view lacks ${w}: ${body.slice(0, 400)}`);
    }
    await open("/registry/deployments/default/nameValue");
    if (!(await page.locator("#value-envelope").innerText()).startsWith("Kubernetes apps/v1 Deployment")) throw new Error("deployment envelope");
    await open("/registry/secrets/default/nameValue");
    const enc = await page.locator("#value-envelope").innerText();
    if (!enc.includes("provider aescbc v1") || !enc.includes('"key1"')) throw new Error(`encrypted: ${enc}`);
    await page.click("#view-protobuf");
    if (!(await page.locator("#value-body").innerText()).includes("ciphertext: 64 bytes")) throw new Error("ciphertext size");
    await page.screenshot({ path: path.join(shots, `${mode}-protobuf.png`), fullPage: true });
    // The Kubernetes mode: resource types with their object counts.
    await page.click("#tab-k8s");
    await page.click("#k8s-browse");
    await page.click("#k8s-types-crumb");
    await page.locator("#k8s-list tr.dir").first().waitFor({ timeout: 20_000 });
    const rows = await page.locator("#k8s-list tr.dir").evaluateAll((trs) => trs.map((tr) =>
      [tr.querySelector(".name").textContent, Number(tr.querySelector(".num").textContent)]));
    const types = Object.fromEntries(rows);
    const want = { pods: 1, deployments: 1, configmaps: 2, secrets: 4, events: 40, leases: 1, "widgets.example.com": 1 };
    for (const [t, n] of Object.entries(want)) {
      if (types[t] !== n) throw new Error(`k8s types: ${t} = ${types[t]} in ${JSON.stringify(types)}`);
    }
    await page.click("#tab-summary");
  });

  // The Kubernetes mode (the k8s fixture is open): browse, Secrets masked, decryption, bars,
  // deleted objects and their export, a redacted snapshot.
  const k8sList = (name) => page.locator("#k8s-list tr", { has: page.locator(".name", { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) });
  const k8sOpen = async (type, ns, name) => {
    await page.click("#tab-k8s");
    await page.click("#k8s-browse");
    await page.click("#k8s-types-crumb");
    await k8sList(type).click({ timeout: 20_000 });
    if (ns !== null) {
      // A type with one namespace lists its objects at once.
      await page.locator("#k8s-count").waitFor({ timeout: 20_000 });
    }
    await k8sList(name).click({ timeout: 20_000 });
    await page.waitForFunction((n) => (document.querySelector("#k8s-object-key")?.textContent || "").endsWith("/" + n), name, { timeout: 20_000 });
  };
  const k8sBody = () => page.locator("#k8s-body").innerText({ timeout: 20_000 });

  await check("Kubernetes mode: pods → default → nameValue as YAML (kind: Pod, resourceVersion \"4\"), JSON and raw", async () => {
    await k8sOpen("pods", "default", "nameValue");
    const yaml = await k8sBody();
    for (const w of ["kind: Pod", 'resourceVersion: "4"', "apiVersion: v1"]) {
      if (!yaml.includes(w)) throw new Error(`YAML lacks ${w}: ${yaml.slice(0, 300)}`);
    }
    const meta = await page.locator("#k8s-object-meta").innerText();
    if (!meta.includes("revision 4") || !meta.includes("stored as protobuf v1/Pod")) throw new Error(`meta: ${meta}`);
    await page.click("#k8s-view-json");
    const json = await k8sBody();
    if (!json.includes('\n    "kind": "Pod"') || !json.includes('"resourceVersion": "4"')) throw new Error(`JSON: ${json.slice(0, 300)}`);
    await page.click("#k8s-view-raw");
    const raw = await k8sBody();
    if (!raw.includes("kind: Pod") || !raw.includes('1: "nameValue"')) throw new Error(`raw: ${raw.slice(0, 300)}`);
    await page.click("#k8s-view-yaml");
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-object.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-object-dark.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
  });

  await check("Kubernetes mode: a long namespace is paged (events in busy, 15 a page)", async () => {
    await page.evaluate(() => { window.ETCDSCOPE_K8S_PAGE = 15; });
    try {
      await page.click("#k8s-types-crumb");
      await k8sList("events").click({ timeout: 20_000 });
      const pager = () => page.locator(".pager .muted").innerText({ timeout: 20_000 });
      eq((await pager()).trim(), "1–15 of 40", "first page");
      eq(await page.locator("#k8s-list tr").count(), 15, "rows on a page");
      if (!(await page.locator("#k8s-prev").isDisabled())) throw new Error("previous enabled on the first page");
      await page.click("#k8s-next");
      await page.waitForFunction(() => document.querySelector(".pager .muted")?.textContent.trim() === "16–30 of 40", null, { timeout: 20_000 });
      await page.click("#k8s-next");
      await page.waitForFunction(() => document.querySelector(".pager .muted")?.textContent.trim() === "31–40 of 40", null, { timeout: 20_000 });
      if (!(await page.locator("#k8s-next").isDisabled())) throw new Error("next enabled on the last page");
      const names = await page.locator("#k8s-list .name").allInnerTexts();
      eq(names.length, 10, "rows on the last page");
      await k8sList(names[0]).click();
      await page.waitForFunction((n) => (document.querySelector("#k8s-object-key")?.textContent || "") === "/registry/events/busy/" + n, names[0], { timeout: 20_000 });
      if (!(await k8sBody()).includes("kind: Event")) throw new Error("event YAML");
    } finally {
      await page.evaluate(() => { delete window.ETCDSCOPE_K8S_PAGE; });
    }
  });

  await check("Secrets are masked in every view until \"Reveal secrets\" (Kubernetes mode and the Keys tab)", async () => {
    eq(await page.locator("#reveal").isChecked(), false, "reveal after a load");
    await k8sOpen("secrets", "default", "plain");
    let yaml = await k8sBody();
    if (!yaml.includes("dataKey: \"<masked: 1 bytes>\"") || yaml.includes("stringDataValue") || yaml.includes("Ag==")) throw new Error(`masked: ${yaml}`);
    if (await page.locator("#k8s-view-raw").count()) throw new Error("raw view of a masked Secret");
    await page.locator("#k8s-masked").waitFor({ timeout: 5_000 });
    await page.click("#reveal");
    await page.waitForFunction(() => (document.querySelector("#k8s-body")?.textContent || "").includes("stringDataValue"), null, { timeout: 20_000 });
    yaml = await k8sBody();
    if (!yaml.includes("dataKey: Ag==")) throw new Error(`revealed: ${yaml}`);
    await page.click("#reveal");
    await page.waitForFunction(() => !(document.querySelector("#k8s-body")?.textContent || "").includes("stringDataValue"), null, { timeout: 20_000 });
    // The Keys tab's viewer: only the masked YAML; no text, hex or protobuf view.
    await page.click("#tab-keys");
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/registry/secrets/default/plain");
    await page.click("#search-go");
    await page.locator("#children .row .name", { hasText: "/registry/secrets/default/plain" }).click({ timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector("#value-key")?.textContent === "/registry/secrets/default/plain", null, { timeout: 20_000 });
    await page.locator("#value-masked").waitFor({ timeout: 5_000 });
    const body = await page.locator("#value-body").innerText();
    if (!body.includes("<masked:") || body.includes("stringDataValue")) throw new Error(`keys viewer: ${body}`);
    for (const v of ["hex", "text", "protobuf", "json"]) {
      if (await page.locator(`#view-${v}`).count()) throw new Error(`a ${v} view of a masked Secret`);
    }
    await page.click("#history-button");
    await page.locator("#history tr").nth(1).waitFor({ timeout: 20_000 });
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-keys-masked.png`), fullPage: true });
    await page.click("#reveal");
    await page.locator("#view-hex").waitFor({ timeout: 20_000 });
    await page.click("#view-text").catch(() => {});
    await page.click("#reveal");
    await page.locator("#value-masked").waitFor({ timeout: 20_000 });
    if (await page.locator("#view-hex").count()) throw new Error("hex view after hiding again");
    // The SQL console: <redacted> until revealed.
    await page.click("#tab-sql");
    const clear = async (want, what) => {
      await page.fill("#sql-query", "SELECT instr(value, CAST('stringDataValue' AS BLOB)) > 0, instr(value, CAST('<redacted>' AS BLOB)) > 0 FROM etcd_kv WHERE key_text = '/registry/secrets/default/plain';");
      await page.click("#sql-run");
      const row = () => [...(document.querySelectorAll("#sql-result tr")[1]?.querySelectorAll("td") ?? [])].map((td) => td.textContent).join(" ");
      await page.waitForFunction((w) => [...(document.querySelectorAll("#sql-result tr")[1]?.querySelectorAll("td") ?? [])]
        .map((td) => td.textContent).join(" ") === w, want, { timeout: 30_000 })
        .catch(async () => { throw new Error(`${what}: got ${await page.evaluate(row)}, want ${want}`); });
    };
    await clear("0 1", "console without Reveal (clear, redacted)");
    await page.click("#reveal");
    await clear("1 0", "console with Reveal");
    await page.click("#reveal");
  });

  await check("decryption: a bad EncryptionConfiguration names the line; config.yaml decrypts secrets/s1; Forget", async () => {
    await page.click("#tab-k8s");
    await page.click("#k8s-decrypt");
    await page.fill("#enc-text", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n            - name: k\n              secret: c2hvcnQ=\n");
    await page.click("#enc-load");
    const err = await page.locator("#enc-error").innerText({ timeout: 20_000 });
    if (!/line \d+/.test(err) || !err.includes("secret")) throw new Error(`error: ${err}`);
    await page.setInputFiles("#enc-file", path.join(k8sData, "encryption/config.yaml"));
    const desc = await page.locator("#enc-describe").innerText({ timeout: 20_000 });
    if (!desc.includes("aesgcm") || desc.includes("6MaDJn52")) throw new Error(`describe: ${desc}`);
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-decryption.png`), fullPage: true });
    await k8sOpen("secrets", "default", "s1");
    const yaml = await k8sBody();
    if (!yaml.includes("kind: Secret") || !yaml.includes("<masked:")) throw new Error(`s1: ${yaml.slice(0, 300)}`);
    const meta = await page.locator("#k8s-object-meta").innerText();
    if (!meta.includes("encrypted (aesgcm")) throw new Error(`meta: ${meta}`);
    // Nothing of it is kept by the page.
    const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
    if (stored.includes("gcm256") || stored.includes("6MaDJn52")) throw new Error("the config was stored");
    await page.click("#k8s-decrypt");
    await page.click("#enc-forget");
    await page.locator("#enc-text").waitFor({ timeout: 20_000 });
    await k8sOpen("secrets", "default", "s1");
    const notes = await page.locator("#k8s-notes").innerText({ timeout: 20_000 });
    if (!notes.includes("EncryptionConfiguration")) throw new Error(`notes after Forget: ${notes}`);
  });

  await check("what fills the db: bars by type and namespace; largest objects open the object", async () => {
    await page.click("#k8s-analysis");
    await page.locator("#k8s-bars-type .barrow").first().waitFor({ timeout: 20_000 });
    const all = await page.locator("#k8s-all").innerText();
    if (!all.startsWith("51 objects, 1 deleted but held, 55 revisions")) throw new Error(`all: ${all}`);
    const labels = await page.locator("#k8s-bars-type .barrow .label").allInnerTexts();
    eq(labels[0], "pods", "largest type");
    const nsLabels = await page.locator("#k8s-bars-ns .barrow .label").allInnerTexts();
    if (!nsLabels.includes("busy")) throw new Error(`namespaces: ${nsLabels}`);
    const width = (sel) => page.locator(sel).first().evaluate((e) => e.getBoundingClientRect().width);
    const track = await width("#k8s-bars-type .track");
    const live = await width("#k8s-bars-type .bar.live");
    const hist = await width("#k8s-bars-type .bar.hist");
    if (!(live > 0 && hist > 0 && live + hist <= track + 1 && live + hist > track * 0.9)) throw new Error(`bar widths: live ${live}, history ${hist}, track ${track}`);
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-bars.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-bars-dark.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
    await page.locator("#k8s-largest tr", { hasText: "/registry/deployments/default/nameValue" }).click();
    await page.waitForFunction(() => document.querySelector("#k8s-object-key")?.textContent === "/registry/deployments/default/nameValue", null, { timeout: 20_000 });
    if (!(await k8sBody()).includes("kind: Deployment")) throw new Error("deployment YAML");
    await page.click("#k8s-analysis");
    await page.locator("#k8s-most-revisions tr", { hasText: "/registry/pods/default/nameValue" }).click();
    await page.waitForFunction(() => document.querySelector("#k8s-object-key")?.textContent === "/registry/pods/default/nameValue", null, { timeout: 20_000 });
    // A deleted object in the list: its last held revision.
    await page.click("#k8s-analysis");
    await page.locator("#k8s-most-revisions tr", { hasText: "/registry/configmaps/team-a/gone" }).click();
    const gone = await page.locator("#k8s-object-deleted").innerText({ timeout: 20_000 });
    if (!gone.includes("Deleted at revision 9")) throw new Error(`deleted note: ${gone}`);
    if (!(await k8sBody()).includes("kind: ConfigMap")) throw new Error("deleted ConfigMap YAML");
  });

  await check("deleted but held: configmaps team-a/gone; its export as stored equals the ConfigMap's bytes", async () => {
    await page.click("#k8s-deleted-tab");
    const row = page.locator("#k8s-deleted tr", { hasText: "gone" });
    await row.waitFor({ timeout: 20_000 });
    const cells = await row.locator("td").allInnerTexts();
    eq(cells.slice(0, 3).join(" "), "configmaps team-a gone", "row");
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 20_000 }), row.locator("button[id^=export-raw]").click()]);
    eq(dl.suggestedFilename(), `gone@${cells[3]}.pb`, "file name");
    const file = path.join(tmp, dl.suggestedFilename());
    await dl.saveAs(file);
    if (!fs.readFileSync(file).equals(fs.readFileSync(path.join(k8sData, "core.v1.ConfigMap.pb")))) throw new Error("exported bytes differ from core.v1.ConfigMap.pb");
    const [y] = await Promise.all([page.waitForEvent("download", { timeout: 20_000 }), row.locator("button[id^=export-yaml]").click()]);
    const yfile = path.join(tmp, y.suggestedFilename());
    await y.saveAs(yfile);
    const yaml = fs.readFileSync(yfile, "utf8");
    if (!yaml.includes("kind: ConfigMap") || !yaml.includes(`resourceVersion: "${cells[3]}"`)) throw new Error(`YAML export: ${yaml.slice(0, 300)}`);
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-deleted.png`), fullPage: true });
  });

  await check("\"Redact Secrets\" snapshot and SQL downloads: the CLI reads <redacted> in secrets/plain, sqlite3 too", async () => {
    await page.click("#tab-summary");
    await page.check("#redact");
    await page.screenshot({ path: path.join(shots, `${mode}-k8s-summary.png`), fullPage: true });
    const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 30_000 }), page.click("#download-snapshot")]);
    const [sqlDl] = await Promise.all([page.waitForEvent("download", { timeout: 30_000 }), page.click("#download-sql-sqlite-etcd")]);
    await page.uncheck("#redact");
    const sqlFile = path.join(tmp, sqlDl.suggestedFilename());
    await sqlDl.saveAs(sqlFile);
    if (!sqlDl.suggestedFilename().includes("-redacted")) throw new Error(`SQL name: ${sqlDl.suggestedFilename()}`);
    if (fs.existsSync("/usr/bin/sqlite3")) {
      const q = "SELECT instr(value, CAST('stringDataValue' AS BLOB)) > 0, instr(value, CAST('<redacted>' AS BLOB)) > 0 FROM etcd_kv WHERE key_text = '/registry/secrets/default/plain';";
      const r = spawnSync("sqlite3", [sqlFile + ".sqlite", `.read ${sqlFile}`, q], { encoding: "utf8" });
      if (r.status !== 0 || r.stderr) throw new Error(`sqlite3: ${r.stderr}`);
      eq(r.stdout.trim(), "0|1", "redacted SQL (clear, redacted)");
    }
    if (!dl.suggestedFilename().includes("-redacted")) throw new Error(`name: ${dl.suggestedFilename()}`);
    const file = path.join(tmp, dl.suggestedFilename());
    await dl.saveAs(file);
    const original = fs.readFileSync(k8sSnapshot);
    if (fs.readFileSync(file).includes(Buffer.from("stringDataValue"))) throw new Error("the clear value is still in the snapshot");
    if (!original.includes(Buffer.from("stringDataValue"))) throw new Error("fixture changed: no clear value to redact");
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const r = spawnSync(cli, ["k8s", file, "get", "secret", "plain", "-n", "default", "-o", "json", "--reveal-secrets"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`etcdscope: ${r.stderr}`);
    const obj = JSON.parse(r.stdout);
    eq(obj.data.dataKey, "PHJlZGFjdGVkPg==", "redacted data");
    eq(obj.metadata.name, "nameValue", "metadata kept");
    const st = etcdctl(["snapshot", "status", "-w", "json", file]);
    if (st !== null && !(JSON.parse(st).revision > 0)) throw new Error(`etcdctl: ${st}`);
  });

  await check("file picker: snapshot file read by slices in the worker (JSPI: suspended BYOB reads)", async () => {
    const before = await ioStats();
    await page.setInputFiles("#file", snapshot);
    await waitFor("snapshot.db");
    eq(await fact("Revision"), expected.revision, "revision");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
    eq(await fact("File size"), fs.statSync(snapshot).size, "file size");
    eq(await fact("SHA-256 trailer"), "ok", "trailer");
    // Chromium has JSPI: the worker's reads went through the suspending BYOB reader (unless
    // the run hides JSPI: then FileReaderSync).
    const after = await ioStats();
    eq(after.supported, !noJspi, "JSPI in this Chromium");
    if (noJspi ? after.asyncReads !== 0 : !(after.asyncReads > before.asyncReads)) throw new Error(`reads: ${JSON.stringify(after)}`);
  });

  await check("without JSPI the worker reads with FileReaderSync and gives the same answers", async () => {
    const w = page.workers().at(-1);
    await w.evaluate(() => { etcdscopeIO.jspi = false; });
    try {
      const before = await ioStats();
      await page.setInputFiles("#file", []);
      await page.setInputFiles("#file", snapshot);
      await waitFor("snapshot.db");
      eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
      eq(await fact("SHA-256 trailer"), "ok", "trailer");
      await page.click("#tab-keys");
      await page.locator("#children .row .name").first().waitFor({ timeout: 20_000 });
      eq((await ioStats()).asyncReads, before.asyncReads, "suspended reads while JSPI is off");
      await page.click("#tab-summary");
    } finally {
      await w.evaluate(() => { etcdscopeIO.jspi = etcdscopeIO.supported; });
    }
  });

  await check("file picker: raw member/snap/db (no trailer)", async () => {
    await page.setInputFiles("#file", rawDb);
    await waitFor("db");
    eq(await fact("Kind"), "v3 db", "kind");
    eq(await fact("SHA-256 trailer"), "absent", "trailer");
    eq(await fact("Hash (etcdctl)"), expectedRaw.hash, "hash");
    eq(await fact("Revision"), expectedRaw.revision, "revision");
  });

  await check("drag and drop of a file (real drag events through CDP)", async () => {
    await page.setInputFiles("#file", []);
    const cdp = await context.newCDPSession(page);
    const box = await page.locator("#drop").boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: [snapshot], dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) {
      await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    }
    await waitFor("snapshot.db");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
  });

  await check("folder picker: a v2 data dir, its v2 store, and the migrated snapshot", async () => {
    await page.setInputFiles("#folder", v2dir);
    await page.locator('td[data-fact="v2 keys besides membership"]').waitFor({ timeout: 30_000 });
    const n = Number(await fact("v2 keys besides membership"));
    if (!(n > 0)) throw new Error(`v2 keys: ${n}`);
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const dirStatus = JSON.parse(spawnSync(cli, ["status", v2dir, "-w", "json"], { encoding: "utf8" }).stdout);
    eq(await fact("Cluster ID"), dirStatus.cluster_id, "cluster id = etcdscope status's");
    eq(await fact("Member ID (WAL)"), dirStatus.member_id, "member id = etcdscope status's");
    eq(await fact("Members (v2 store)"), `${dirStatus.members.length}: ${dirStatus.members.map((m) => `${m.name} (${m.id})`).join(", ")}`, "v2 members");
    await page.click("#tab-v2");
    await page.locator("#v2-children tr").first().waitFor({ timeout: 20_000 });
    const names = await page.locator("#v2-children td.name").allInnerTexts();
    if (!names.includes("/dir1/")) throw new Error(`v2 root: ${names.join(" ")}`);
    // The WAL timeline: the same entries as `etcdscope wal DIR -w json`.
    await page.click("#tab-wal");
    await page.locator("#wal-rows tr td").first().waitFor({ timeout: 20_000 });
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const w = spawnSync(cli, ["wal", v2dir, "-w", "json"], { encoding: "utf8" });
    if (w.status !== 0) throw new Error(`etcdscope wal: ${w.stderr}`);
    const cliRows = w.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const facts = await page.locator("#wal-facts").innerText();
    if (!facts.startsWith(`${cliRows.length} entries`)) throw new Error(`WAL facts: ${facts} (CLI: ${cliRows.length} entries)`);
    const firstCells = await page.locator("#wal-rows tr").nth(1).locator("td").allInnerTexts();
    eq(firstCells[0], cliRows[0].index, "first entry's index");
    eq(firstCells[3], cliRows[0].op, "first entry's op");
    await page.screenshot({ path: path.join(shots, `${mode}-wal.png`), fullPage: false });
    const integ = await sameIntegrity(v2dir);
    if (!integ.ours.some((f) => f.startsWith("v2 DATA"))) throw new Error(`no v2 DATA finding: ${integ.ours.join(" | ")}`);
    await page.click("#tab-summary");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-snapshot")]);
    const file = path.join(tmp, "migrated.db");
    await dl.saveAs(file);
    const st = etcdctl(["snapshot", "status", "-w", "json", file]);
    if (st !== null && !(JSON.parse(st).totalKey > n / 2)) throw new Error(`status: ${st}`);
    // Real etcd restores it, starts on it and serves the keys our reader sees in it.
    const served = await etcdServes(file, tmp);
    if (served === null) return;
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: cargo build -p cli`);
    const r = spawnSync(cli, ["get", file, "", "--from-key", "-w", "json"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`etcdscope get: ${r.stderr}`);
    const ours = JSON.parse(r.stdout);
    if (!(served.kvs?.length > n / 2)) throw new Error(`etcd serves ${served.kvs?.length} keys for ${n} v2 keys`);
    eq(JSON.stringify(served.kvs), JSON.stringify(ours.kvs), "keys and values etcd serves = what etcdscope reads in the download");
  });

  await check("a data dir with a damaged WAL: its db still opens; the integrity report names the damage", async () => {
    // The v2 fixture with the v3 fixture's db beside it and a byte flipped a third into the
    // WAL (a CRC mismatch in the middle of the log, not a torn tail).
    const bad = path.join(tmp, "v2-bad");
    fs.cpSync(v2dir, bad, { recursive: true });
    fs.writeFileSync(path.join(bad, "member/snap/db"), fs.readFileSync(rawDb));
    const walDir = path.join(bad, "member/wal");
    const seg = path.join(walDir, fs.readdirSync(walDir).filter((f) => f.endsWith(".wal")).sort()[0]);
    const bytes = fs.readFileSync(seg);
    bytes[Math.floor(bytes.length / 3)] ^= 0x55;
    fs.writeFileSync(seg, bytes);
    await page.setInputFiles("#folder", bad);
    await page.locator("#tab-integrity").waitFor({ timeout: 30_000 });
    eq(await fact("Revision"), expectedRaw.revision, "the db's revision");
    const problems = await page.locator("#summary ul.error").innerText();
    if (!problems.includes("the v2 store could not be rebuilt: v2-bad/member/wal/")) throw new Error(`summary: ${problems}`);
    const integ = await sameIntegrity(bad);
    if (!integ.ours.some((f) => f.startsWith("wal DAMAGE v2-bad/member/wal/") && f.includes("offset"))) throw new Error(`no WAL damage named: ${integ.ours.join(" | ")}`);
    if (!integ.verdict.includes("damaged place")) throw new Error(`verdict: ${integ.verdict}`);
    await page.screenshot({ path: path.join(shots, `${mode}-integrity.png`), fullPage: false });
    await page.click("#tab-summary");
  });

  await check("drag and drop of a data dir folder (http) / a clear fallback message (file://)", async () => {
    const cdp = await context.newCDPSession(page);
    const box = await page.locator("#drop").boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const data = { items: [], files: [v2dir], dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) {
      await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    }
    if (origin) {
      await waitFor("v2-data");
      if (!(Number(await fact("v2 keys besides membership")) > 0)) throw new Error("no v2 keys");
    } else {
      // Chromium refuses to list a dropped folder on file:// (opaque origin).
      const msg = await page.locator("#error pre, #note").first().innerText({ timeout: 20_000 });
      if (!msg.includes("Choose a data dir")) throw new Error(msg);
    }
  });

  await check("archives: a .tar.gz of a v2 data dir and a .zip (deflated) of a snapshot", async () => {
    const tgz = path.join(tmp, "datadir.tar.gz");
    const t = spawnSync("tar", ["czf", tgz, "-C", v2dir, "member"]);
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    await page.setInputFiles("#file", tgz);
    await page.locator('td[data-fact="v2 keys besides membership"]').waitFor({ timeout: 30_000 });
    if (!(Number(await fact("v2 keys besides membership")) > 0)) throw new Error("no v2 keys");
    const zip = path.join(tmp, "k3s-snapshot.zip");
    const py = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\nz.write(sys.argv[2], 'on-demand-node1-1700000000')\nz.close()";
    const z = spawnSync("python3", ["-c", py, zip, snapshot]);
    if (z.status !== 0) throw new Error(`zip: ${z.stderr}`);
    await page.setInputFiles("#file", zip);
    await waitFor("k3s-snapshot.zip/on-demand-node1-1700000000");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
    eq(await fact("SHA-256 trailer"), "ok", "trailer");
  });

  await check("cancel a long load; the page stays usable", async () => {
    const big = path.join(tmp, "zeros.gz");
    const g = spawnSync("sh", ["-c", `head -c 400000000 /dev/zero | gzip -1 > '${big}'`]);
    if (g.status !== 0) throw new Error(`gzip: ${g.stderr}`);
    await page.setInputFiles("#file", big);
    await page.waitForFunction(() => document.querySelector("#progress progress")?.value > 0, null, { timeout: 20_000 });
    const label = await page.locator("#progress-label").innerText();
    if (!label.startsWith("unpacking zeros.gz")) throw new Error(`progress label: ${label}`);
    await page.screenshot({ path: path.join(shots, `${mode}-progress.png`) });
    await page.click("#cancel", { timeout: 10_000 });
    eq(await page.locator("#error pre").innerText({ timeout: 10_000 }), "cancelled", "message");
    await page.click("#sample");
    await waitFor("sample-etcd-3.4.23.db");
  });

  await check("a torn file is refused with a message naming it", async () => {
    await page.setInputFiles("#file", torn);
    const msg = await page.locator("#error pre").innerText({ timeout: 20_000 });
    if (!msg.includes("torn.db")) throw new Error(`message does not name the file: ${msg}`);
  });

  await page.click("#sample");
  await waitFor("sample-etcd-3.4.23.db").catch(() => {});
  await page.screenshot({ path: path.join(shots, `${mode}.png`), fullPage: true });

  await check("light and dark themes follow prefers-color-scheme", async () => {
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "dark" });
    eq(await bg(), "rgb(21, 23, 28)", "dark background");
    await page.click("#tab-keys");
    await page.locator("#children .row").first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: path.join(shots, `${mode}-dark.png`), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
    eq(await bg(), "rgb(255, 255, 255)", "light background");
  });

  // For the record: the worker's reads, and any that stalled and were read again
  // (web/worker_io.js); not asserted.
  console.log(`     ${mode}: the worker's I/O: ${JSON.stringify(await ioStats().catch(() => null))}`);

  await check("no request leaves the page's origin", async () => {
    if (foreign.length) throw new Error(`foreign requests: ${foreign.join(", ")}`);
    if (origin) {
      const others = requests.filter((u) => !u.startsWith(origin + "/"));
      if (others.length) throw new Error(`requests outside ${origin}: ${others.join(", ")}`);
    }
  });

  await check("no console errors or CSP violations", async () => {
    if (consoleErrors.length) throw new Error(consoleErrors.join("\n"));
  });

  console.log(`${mode}: ${requests.length} requests in all`);
  await context.close();
  if (server) server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(e); process.exit(1); });
}
