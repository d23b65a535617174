// Serves a built dist/ on 127.0.0.1 with the production CSP (used by `cargo xtask serve`).
//   node tests/serve.mjs dist [PORT]
import { serve } from "./e2e.mjs";
const [dir = "dist", port = "8080"] = process.argv.slice(2);
const server = await serve(dir, Number(port));
console.log(`etcdscope: http://127.0.0.1:${server.address().port}/  (Ctrl-C stops)`);
