/**
 * A quick build of src/ for running the CLI as a real process: esbuild (the transpiler tsx uses, so tests see
 * the same JavaScript as before) turns every src/*.ts into dist-test/*.js without type checking (`npm test`
 * type-checks first). Starting `node dist-test/cli/main.js` takes about 0.2 s against about 1.5 s through
 * tsx, which compiles the whole import graph again in every child process.
 *
 * dist-test/ sits directly under the repository root, like dist/, because src/version.ts reads
 * `../package.json` relative to itself. It is git-ignored and rebuilt whenever a source file is newer.
 */
import { build } from "esbuild";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./paths.js";

export const BUILD_DIR = path.join(ROOT, "dist-test");
export const BUILT_CLI = path.join(BUILD_DIR, "cli", "main.js");
const STAMP = path.join(BUILD_DIR, ".built");

function sources(): string[] {
  const src = path.join(ROOT, "src");
  return readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => path.join(src, f));
}

/** Builds dist-test/ unless it is newer than every source file; returns the CLI entry point. */
export async function buildCli(): Promise<string> {
  const files = sources();
  const newest = Math.max(...files.map((f) => statSync(f).mtimeMs), statSync(path.join(ROOT, "package.json")).mtimeMs);
  const stamp = existsSync(STAMP) ? Number(statSync(STAMP).mtimeMs) : 0;
  // The stamp also records the file list, so a deleted or renamed source file triggers a clean rebuild.
  const list = files.map((f) => path.relative(ROOT, f)).sort().join("\n");
  if (stamp > newest && existsSync(BUILT_CLI) && readStamp() === list) return BUILT_CLI;
  // Built beside, then swapped in, so a process started meanwhile never sees half a build.
  const tmp = `${BUILD_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await build({
    entryPoints: files,
    outdir: tmp,
    outbase: path.join(ROOT, "src"),
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "inline",
    logLevel: "error",
  });
  writeFileSync(path.join(tmp, ".built"), list);
  rmSync(BUILD_DIR, { recursive: true, force: true });
  renameSync(tmp, BUILD_DIR);
  return BUILT_CLI;
}

function readStamp(): string {
  try {
    return readFileSync(STAMP, "utf8");
  } catch {
    return "";
  }
}
