// Drop-to-summary benchmark of the page in headless Chromium (measured, not asserted).
//   node tests/bench-page.mjs DIST RUNS DB...
//   node tests/bench-page.mjs DIST RUNS --k8s DB   (Kubernetes decoding in the worker, below)
//   node tests/bench-page.mjs DIST RUNS --export DB   (a large SQL export: Blob vs chosen file)
// For each db file, RUNS fresh browsers: the file is given to the page's file picker (the same
// path as a drop: the worker gets the File and reads it by slices), then the time until the
// summary is shown, until the first level of the key tree is listed, and until the SHA-256
// trailer is checked; memory: the worker's wasm memory (it only grows: its peak), the page's JS
// heap (peak of samples every 50 ms) and the RSS of the tab's renderer processes (page + worker +
// everything the browser keeps for them; peak of the same samples). Prints a Markdown table with
// the median of the runs (memory: the largest).
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { serve } from "./e2e.mjs";

const [dist = "dist", runsArg = "3", ...dbs] = process.argv.slice(2);
const RUNS = Number(runsArg);

/** Descendant processes of `root` (pid → parent from /proc/<pid>/stat). */
function descendants(root) {
  const parent = new Map();
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* gone */ }
  }
  const out = [];
  const walk = (pid) => { for (const [c, pp] of parent) if (pp === pid) { out.push(c); walk(c); } };
  walk(root);
  return out;
}

/** Anonymous resident memory of a process (heaps, wasm memories; not file pages the browser maps). */
function rssKiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/RssAnon:\s+(\d+)/);
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

function browserPid(profile) {
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const c = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (c.includes(`--user-data-dir=${profile}`)) return Number(p);
    } catch { /* gone */ }
  }
  return null;
}

/** A fresh headless Chromium (own profile) with the page loaded and its worker started. */
async function open(url) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "etcdscope-bench-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url);
  await page.locator("#sample").waitFor({ timeout: 30_000 });
  while (page.workers().length === 0) await page.waitForTimeout(20);
  await page.waitForTimeout(300); // the worker has started
  return { profile, context, page };
}

async function once(url, db) {
  const { profile, context, page } = await open(url);
  try {
    const cdp = await context.newCDPSession(page);
    const browser = browserPid(profile);
    const renderers = () => (browser ? descendants(browser) : []).filter((pid) => {
      try { return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer"); } catch { return false; }
    });
    const rssNow = () => renderers().reduce((a, pid) => a + rssKiB(pid), 0) * 1024;
    // BENCH_NO_JSPI=1: the worker reads with FileReaderSync even where JSPI is available.
    if (process.env.BENCH_NO_JSPI) await page.workers()[0].evaluate(() => { etcdscopeIO.jspi = false; });
    const rssIdle = rssNow();
    let heapPeak = 0, rssPeak = 0, sampling = true;
    const timeline = []; // [ms since the file was given, renderers' anon RSS] (BENCH_TIMELINE=1 prints it)
    const sampler = (async () => {
      while (sampling) {
        try { heapPeak = Math.max(heapPeak, (await cdp.send("Runtime.getHeapUsage")).usedSize); } catch { /* closing */ }
        const rss = rssNow();
        rssPeak = Math.max(rssPeak, rss);
        if (typeof t0 === "number") timeline.push([performance.now() - t0, rss]);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const name = path.basename(db);
    var t0 = performance.now();
    await page.setInputFiles("#file", db);
    await page.waitForFunction((n) => document.querySelector('td[data-fact="Input"]')?.textContent === n,
      name, { timeout: 600_000, polling: "raf" });
    const summary = performance.now() - t0;
    const wasmAtSummary = await page.workers()[0].evaluate(() => wasm_bindgen.wasm_memory_bytes());
    const ioAtSummary = await page.workers()[0].evaluate(() => JSON.stringify(etcdscopeIO.stats));
    await page.click("#tab-keys");
    await page.waitForFunction(() => {
      const r = document.querySelector("#children .row .name");
      return r && r.textContent !== "…";
    }, null, { timeout: 600_000, polling: "raf" });
    const level = performance.now() - t0;
    await page.click("#tab-summary");
    await page.waitForFunction(() => {
      const t = document.querySelector('td[data-fact="SHA-256 trailer"]')?.textContent ?? "";
      return t !== "" && !t.startsWith("checking");
    }, null, { timeout: 600_000, polling: "raf" });
    const trailer = performance.now() - t0;
    const facts = await page.evaluate(() => ({
      keys: document.querySelector('td[data-fact="Live keys"]')?.textContent,
      trailerState: document.querySelector('td[data-fact="SHA-256 trailer"]')?.textContent,
    }));
    // Scrolling: all keys as one flat list (a substring every key has), then a jump to its middle.
    await page.click("#tab-keys");
    await page.selectOption("#search-mode", "prefix");
    await page.fill("#search-text", "/");
    const t1 = performance.now();
    await page.click("#search-go");
    await page.waitForFunction(() => /matches/.test(document.querySelector("#count")?.textContent ?? "") &&
      document.querySelector("#children .row .name")?.textContent !== "…", null, { timeout: 600_000, polling: "raf" });
    const search = performance.now() - t1;
    const t2 = performance.now();
    await page.evaluate(() => { const el = document.querySelector("#children"); el.scrollTop = el.scrollHeight / 2; });
    await page.waitForFunction(() => {
      const el = document.querySelector("#children");
      const r = document.querySelector(`#children .row[data-row="${Math.floor(el.scrollTop / 26) + 3}"] .name`);
      return r && r.textContent !== "…";
    }, null, { timeout: 600_000, polling: "raf" });
    const jump = performance.now() - t2;
    const rows = await page.locator("#children .row").count();
    sampling = false;
    await sampler;
    if (process.env.BENCH_TIMELINE) {
      const marks = { summary, level, trailer };
      for (let i = 0; i < timeline.length; i += 4) {
        const [t, rss] = timeline[i];
        const phase = t < summary ? "summary" : t < level ? "tree" : t < trailer ? "trailer" : "search";
        console.error(`  ${(t / 1000).toFixed(2)} s ${phase.padEnd(8)} ${mb(rss)}`);
      }
      void marks;
    }
    const wasm = await page.workers()[0].evaluate(() => wasm_bindgen.wasm_memory_bytes());
    const io = await page.workers()[0].evaluate(() => JSON.stringify(etcdscopeIO.stats));
    console.error(`bench page: the worker's reads: ${io} (${ioAtSummary} at the summary)`);
    return { summary, level, trailer, search, jump, rows, wasm, heapPeak, rssPeak, rssIdle, ...facts };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// Kubernetes decoding in the worker: the db is opened as a user would, then the worker decodes
// every live object under /registry and makes its YAML (what the object view shows), timed in
// the worker (`wasm_bindgen.k8s_decode_bench()`). Meanwhile the page counts its animation
// frames and the longest gap between two: the UI thread stays free while the worker works.
async function k8sOnce(url, db) {
  const { context, profile, page } = await open(url);
  try {
    const name = path.basename(db);
    await page.setInputFiles("#file", db);
    await page.waitForFunction((n) => document.querySelector('td[data-fact="Input"]')?.textContent === n,
      name, { timeout: 600_000, polling: "raf" });
    // Let the trailer check finish so it does not share the worker with the decoding.
    await page.waitForFunction(() => {
      const t = document.querySelector('td[data-fact="SHA-256 trailer"]')?.textContent ?? "";
      return t !== "" && !t.startsWith("checking");
    }, null, { timeout: 600_000, polling: "raf" });
    await page.evaluate(() => {
      const f = { frames: 0, maxGap: 0, last: performance.now(), on: true };
      window.__frames = f;
      const tick = (t) => {
        f.frames++;
        f.maxGap = Math.max(f.maxGap, t - f.last);
        f.last = t;
        if (f.on) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const t0 = performance.now();
    const r = JSON.parse(await page.workers()[0].evaluate(() => wasm_bindgen.k8s_decode_bench()));
    const wall = performance.now() - t0;
    const frames = await page.evaluate(() => { window.__frames.on = false; return window.__frames; });
    const wasm = await page.workers()[0].evaluate(() => wasm_bindgen.wasm_memory_bytes());
    if (r.error) throw new Error(r.error);
    return { ...r, wall, frames: frames.frames, maxGap: frames.maxGap, wasm };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// A large export from the page: the db is opened as a user would, then the SQL of it (SQLite
// dialect, etcd schema) is made twice: as a download (the worker collects it in 4 MiB Blob
// parts, the page saves the Blob) and into a file handle as the save picker would give it (a
// file of the origin-private file system; the worker writes each 4 MiB while it makes them).
// Time from the click until the file is complete; peak anonymous RSS of the renderers and of
// the browser process (which holds Blob data) during it.
async function exportOnce(url, db) {
  const { context, profile, page } = await open(url);
  try {
    const browser = browserPid(profile);
    const procs = () => (browser ? [browser, ...descendants(browser)] : []);
    const isRenderer = (pid) => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer"); } catch { return false; } };
    const name = path.basename(db);
    await page.setInputFiles("#file", db);
    await page.waitForFunction(() => {
      const t = document.querySelector('td[data-fact="SHA-256 trailer"]')?.textContent ?? "";
      return t !== "" && !t.startsWith("checking");
    }, null, { timeout: 600_000, polling: "raf" });
    const measure = async (fn) => {
      let rend = 0, brow = 0, on = true;
      const sampler = (async () => {
        while (on) {
          const ps = procs();
          rend = Math.max(rend, ps.filter(isRenderer).reduce((a, p) => a + rssKiB(p), 0) * 1024);
          brow = Math.max(brow, rssKiB(browser) * 1024);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const t0 = performance.now();
      const bytes = await fn();
      const ms = performance.now() - t0;
      on = false;
      await sampler;
      return { ms, bytes, rend, brow };
    };
    // Into the file first: the Blob of a download stays in the browser process after it.
    await page.evaluate(async () => {
      const d = await navigator.storage.getDirectory();
      window.ETCDSCOPE_PICKER_MIN_BYTES = 0;
      window.showSaveFilePicker = async () => d.getFileHandle("bench-export.sql", { create: true });
    });
    const streamed = await measure(async () => {
      await page.click("#download-sql-sqlite-etcd");
      await page.waitForFunction(() => /written to the chosen file/.test(document.querySelector("#note")?.textContent ?? ""), null, { timeout: 600_000, polling: 100 });
      return page.evaluate(async () => (await (await (await navigator.storage.getDirectory()).getFileHandle("bench-export.sql")).getFile()).size);
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcdscope-export-"));
    // As in a browser without the File System Access API (the page would ask where to save).
    await page.evaluate(() => { window.showSaveFilePicker = undefined; });
    const blob = await measure(async () => {
      const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 600_000 }), page.click("#download-sql-sqlite-etcd")]);
      const file = path.join(dir, "out.sql");
      await dl.saveAs(file);
      return fs.statSync(file).size;
    });
    fs.rmSync(dir, { recursive: true, force: true });
    const io = await page.workers()[0].evaluate(() => JSON.stringify(etcdscopeIO.stats));
    console.error(`bench page export: ${name}: the worker's I/O ${io}`);
    return { blob, streamed };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;

const server = await serve(dist);
const url = `http://127.0.0.1:${server.address().port}/`;
if (dbs[0] === "--export") {
  const db = dbs[1];
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await exportOnce(url, db);
    for (const [k, v] of Object.entries(r)) console.error(`bench page export: run ${i + 1}: ${k}: ${s(v.ms)}, ${mb(v.bytes)}, renderers ${mb(v.rend)}, browser process ${mb(v.brow)}`);
    runs.push(r);
  }
  console.log("| SQL of the db (SQLite, etcd schema) | size | time (median) | renderers' anon RSS peak | browser process anon RSS peak |");
  console.log("|---|---|---|---|---|");
  for (const [k, label] of [["blob", "download (Blob parts)"], ["streamed", "into the chosen file while made"]]) {
    const xs = runs.map((r) => r[k]);
    console.log(`| ${label} | ${mb(xs[0].bytes)} | ${s(median(xs.map((x) => x.ms)))} | ${mb(Math.max(...xs.map((x) => x.rend)))} | ${mb(Math.max(...xs.map((x) => x.brow)))} |`);
  }
  console.log(`${path.basename(db)}; median of ${RUNS} runs (memory: the largest run)`);
  server.close();
  process.exit(0);
}
if (dbs[0] === "--k8s") {
  const db = dbs[1];
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await k8sOnce(url, db);
    console.error(`bench page k8s: run ${i + 1}: ${r.decoded} of ${r.objects} objects decoded in ${(r.ms / 1000).toFixed(2)} s (${Math.round(r.objects / (r.ms / 1000))}/s); ${r.frames} frames, longest gap ${r.maxGap.toFixed(0)} ms`);
    runs.push(r);
  }
  const m = (k) => median(runs.map((r) => r[k]));
  console.log("| db | objects | decoded | YAML made | decoding in the worker | objects per second | page frames meanwhile | longest frame gap | worker wasm memory |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(`| ${path.basename(db)} | ${runs[0].objects} | ${runs[0].decoded} | ${mb(runs[0].yaml_bytes)} | ${s(m("ms"))} | ${Math.round(runs[0].objects / (m("ms") / 1000))} | ${m("frames")} | ${m("maxGap").toFixed(0)} ms | ${mb(Math.max(...runs.map((r) => r.wasm)))} |`);
  console.log(`median of ${RUNS} runs`);
  server.close();
  process.exit(0);
}
const lines = [
  "| db | size | live keys | summary | first tree level | trailer checked | flat list of all keys | jump to its middle | rows in the DOM | worker wasm memory | page JS heap | renderers' anon RSS: idle → peak |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const db of dbs) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await once(url, db);
    console.error(`bench page: ${path.basename(db)} run ${i + 1}: summary ${s(r.summary)}, first level ${s(r.level)}, trailer ${s(r.trailer)} (${r.trailerState}), wasm ${mb(r.wasm)}, renderers' anonymous RSS ${mb(r.rssIdle)} idle, ${mb(r.rssPeak)} peak`);
    runs.push(r);
  }
  const m = (k) => median(runs.map((r) => r[k]));
  const max = (k) => Math.max(...runs.map((r) => r[k]));
  lines.push(`| ${path.basename(db)} | ${mb(fs.statSync(db).size)} | ${runs[0].keys} | ${s(m("summary"))} | ${s(m("level"))} | ${s(m("trailer"))} (${runs[0].trailerState}) | ${s(m("search"))} | ${s(m("jump"))} | ${max("rows")} | ${mb(max("wasm"))} | ${mb(max("heapPeak"))} | ${mb(max("rssIdle"))} → ${mb(max("rssPeak"))} |`);
}
server.close();
console.log(lines.join("\n"));
console.log(`median of ${RUNS} runs each (memory: the largest run)`);
