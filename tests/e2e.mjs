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
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.argv[2] ?? "dist";
const fixture = path.resolve(process.argv[3] ?? path.join(here, "fixtures/v3/basic"));
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
  const mode = origin ? "http" : "file";

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
  await context.route("**/*", (route) => {
    const u = route.request().url();
    const local = origin ? u.startsWith(origin + "/") : (u === url || u.startsWith("blob:") || u.startsWith("data:"));
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
  const waitFor = (name) => page.waitForFunction((n) => {
    const td = document.querySelector('td[data-fact="Input"]');
    return td && td.textContent === n;
  }, name, { timeout: 20_000 });

  await check("page loads and renders", async () => {
    await page.goto(url);
    await page.locator("h1", { hasText: "etcdscope" }).waitFor({ timeout: 20_000 });
  });

  await check("Try a sample: etcdctl's hash and revision, trailer ok, keys listed", async () => {
    await page.click("#sample");
    await waitFor("sample-etcd-3.4.23.db");
    eq(await fact("Revision"), expected.revision, "revision");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
    eq(await fact("SHA-256 trailer"), "ok", "trailer");
    eq(await fact("Kind"), "v3 snapshot", "kind");
  });

  await check("key tree, value viewer and history (sample)", async () => {
    await page.click("#tab-keys");
    const row = (name) => page.locator("#children tr", { has: page.locator("td.name", { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) });
    eq(await page.locator("#children td.name").first().innerText(), firstKey, "first entry");
    await row("/").click();
    await row("big/").click();
    await row("value-20k").click();
    eq(await page.locator("#value-key").innerText(), "/big/value-20k", "key");
    const meta = await page.locator("#value-meta").innerText();
    if (!meta.includes("20.5 kB") || !meta.includes(`mod_revision ${facts.revisions.big20k}`)) throw new Error(`meta: ${meta}`);
    await page.click("#history-button");
    await page.locator("#history tr").nth(1).waitFor({ timeout: 20_000 });
  });

  await check("key search: substring, prefix and regex with a result count", async () => {
    const want = keysOnly.kvs.map((kv) => Buffer.from(kv.key, "base64").toString("latin1"));
    const search = async (mode, text) => {
      await page.selectOption("#search-mode", mode);
      await page.fill("#search-text", text);
      await page.click("#search-go");
      await page.waitForFunction((p) => document.querySelector("#prefix")?.textContent === p, `${mode}: ${text}`, { timeout: 20_000 });
      return page.locator("#children td.name").allInnerTexts();
    };
    const re = await search("regex", "^/app/config/(api|web)/env$");
    eq(re.join(" "), "/app/config/api/env /app/config/web/env", "regex matches");
    const sub = await search("substring", "tls.conf");
    eq(sub.length, want.filter((k) => k.includes("tls.conf")).length, "substring count");
    const pre = await search("prefix", "/leases/");
    eq(pre.length, want.filter((k) => k.startsWith("/leases/")).length, "prefix count");
  });

  await check("history diff of two revisions (a key overwritten at revision 357)", async () => {
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/app/config/worker/logging.yaml");
    await page.click("#search-go");
    await page.locator("#children td.name", { hasText: "/app/config/worker/logging.yaml" }).click();
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

  await check("file picker: snapshot file read by slices in the worker", async () => {
    await page.setInputFiles("#file", snapshot);
    await waitFor("snapshot.db");
    eq(await fact("Revision"), expected.revision, "revision");
    eq(await fact("Hash (etcdctl)"), expected.hash, "hash");
    eq(await fact("File size"), fs.statSync(snapshot).size, "file size");
    eq(await fact("SHA-256 trailer"), "ok", "trailer");
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
    await page.click("#tab-v2");
    await page.locator("#v2-children tr").first().waitFor({ timeout: 20_000 });
    const names = await page.locator("#v2-children td.name").allInnerTexts();
    if (!names.includes("/dir1/")) throw new Error(`v2 root: ${names.join(" ")}`);
    await page.click("#tab-summary");
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-snapshot")]);
    const file = path.join(tmp, "migrated.db");
    await dl.saveAs(file);
    const st = etcdctl(["snapshot", "status", "-w", "json", file]);
    if (st !== null && !(JSON.parse(st).totalKey > n / 2)) throw new Error(`status: ${st}`);
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
