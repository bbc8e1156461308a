// node --import ./tests/helpers/module-trace.mjs ... with EMOFEAT_TRACE_FILE=<file>: appends to that file the
// name of every npm package the process loads (ESM imports through a resolve hook, CommonJS requires through
// require.cache at exit), one per line, so tests can check what start-up loads.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const file = process.env.EMOFEAT_TRACE_FILE;
if (!file) throw new Error("module-trace.mjs needs EMOFEAT_TRACE_FILE");
const name = (p) => {
  const parts = p.split(/node_modules[\\/]/).pop().split(/[\\/]/);
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
};
// The hook runs on the loader thread; it writes synchronously, so nothing is lost when the process exits.
register(
  "data:text/javascript," +
    encodeURIComponent(`
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes("node_modules")) {
    const parts = r.url.split("node_modules/").pop().split("/");
    appendFileSync(file, (parts[0].startsWith("@") ? parts[0] + "/" + parts[1] : parts[0]) + "\\n");
  }
  return r;
}`),
  { parentURL: import.meta.url, data: { file } },
);
const require = createRequire(import.meta.url);
process.on("exit", () => {
  const names = new Set(Object.keys(require.cache).filter((k) => k.includes("node_modules")).map(name));
  appendFileSync(file, [...names].map((n) => n + "\n").join(""));
});
