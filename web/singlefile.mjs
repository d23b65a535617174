// Builds the single self-contained page that works from file:// (an air-gapped laptop, an email
// attachment, a USB stick): everything Trunk put in dist/ inlined into one HTML file.
//   node web/singlefile.mjs dist dist-single/etcdscope.html
// A normal Trunk dist cannot run from file:// (module scripts and wasm fetches are blocked for
// origin 'null'), so here: the stylesheet is inlined, the app's ES-module glue runs as an inline
// module that instantiates the wasm from bytes embedded as base64, and the worker (no-modules glue
// + its wasm) becomes a blob: URL. The CSP allows exactly these inline scripts by hash, and no
// network access at all (connect-src 'none').
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";

const [dist, out] = process.argv.slice(2);
if (!dist || !out) {
  console.error("usage: node web/singlefile.mjs DIST_DIR OUT.html");
  process.exit(2);
}
const index = fs.readFileSync(path.join(dist, "index.html"), "utf8");
const attr = (re, what) => {
  const m = index.match(re);
  if (!m) throw new Error(`dist/index.html: no ${what}`);
  return m[1];
};
const file = (href) => path.join(dist, href.replace(/^\.?\//, ""));
const appJs = attr(/data-app-js="([^"]+)"/, "data-app-js (boot script)");
const appWasm = attr(/data-app-wasm="([^"]+)"/, "data-app-wasm (boot script)");
const cssHref = attr(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/, "stylesheet");
const title = attr(/<title>([^<]*)<\/title>/, "title");

const glue = fs.readFileSync(file(appJs), "utf8");
if (!/export \{[^}]*__wbg_init as default[^}]*\};/.test(glue)) throw new Error(`${appJs}: unexpected wasm-bindgen glue`);
const b64 = (p) => fs.readFileSync(p).toString("base64");
const decode = "Uint8Array.from(atob(s), (c) => c.charCodeAt(0))";
// JSON text is a JS literal; "</" is escaped so no literal can close the <script> element.
const literal = (v) => JSON.stringify(v).replaceAll("</", "<\\/");

// sql.js inside the worker: its glue first (defines initSqlJs), its wasm as base64 that the worker
// passes as wasmBinary (nothing is fetched from file://).
const sqlJs = fs.readFileSync(path.join(dist, "sql-wasm.js"), "utf8");
const sqlWasm = b64(path.join(dist, "sql-wasm.wasm"));
const workerSrc = sqlJs + `\n;self.ETCDSCOPE_SQL_WASM_B64 = ${literal(sqlWasm)};\n` +
  fs.readFileSync(path.join(dist, "worker_io.js"), "utf8") + "\n;" +
  fs.readFileSync(path.join(dist, "worker.js"), "utf8") +
  `\n;etcdscopeIO.start(((s) => ${decode})(${literal(b64(path.join(dist, "worker_bg.wasm")))}));\n`;
const workerScript = `globalThis.ETCDSCOPE_WORKER_URL = URL.createObjectURL(new Blob([${literal(workerSrc)}], { type: "text/javascript" }));\n`;
const appScript = glue.replaceAll("</script", "<\\/script") +
  `\nawait __wbg_init({ module_or_path: ((s) => ${decode})(${literal(b64(file(appWasm)))}) });\n`;
const css = fs.readFileSync(file(cssHref), "utf8").replaceAll("</style", "<\\/style");

const hash = (s) => `'sha256-${crypto.createHash("sha256").update(s, "utf8").digest("base64")}'`;
const csp = [
  "default-src 'none'",
  `script-src ${hash(workerScript)} ${hash(appScript)} 'wasm-unsafe-eval'`,
  `style-src ${hash(css)}`,
  "worker-src blob:",
  "connect-src 'none'",
  "img-src data: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body>
<noscript>etcdscope needs JavaScript and WebAssembly; it reads your file inside this page.</noscript>
<script>${workerScript}</script>
<script type="module">${appScript}</script>
</body>
</html>
`;
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, html);
console.log(`${out}: ${html.length} bytes`);
