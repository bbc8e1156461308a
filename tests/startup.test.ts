/**
 * Start-up cost: commands and library entry points that run no model must not load transformers.js (about
 * a second to import) or onnxruntime-node; the subpath exports point at real modules.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILD_DIR } from "./helpers/build-cli.js";
import { runEmofeat } from "./helpers/cli.js";
import { DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const TRACE = path.join(ROOT, "tests", "helpers", "module-trace.mjs");
const HEAVY = ["@huggingface/transformers", "onnxruntime-node", "onnxruntime-common", "sharp", "fastify"];

async function packagesIn(file: string): Promise<string[]> {
  return [...new Set((await readFile(file, "utf8")).split("\n").filter(Boolean))].sort();
}

describe("start-up", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => removeDir(dir));

  it("`extract text --help` loads no model runtime and shows the measured defaults", async () => {
    const trace = path.join(dir, "help.txt");
    const r = await runEmofeat(["extract", "text", "--help"], { nodeArgs: ["--import", TRACE], env: { EMOFEAT_TRACE_FILE: trace } });
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, " ");
    expect(help).toMatch(/--batch-size <n> texts per encoder call .*?\(default: 16\) -h, --help/);
    expect(help).toMatch(/--device <device> where the encoder runs: auto = CUDA .*?\(choices: "auto", "cpu", "cuda", default: "auto"\)/);
    const loaded = await packagesIn(trace);
    expect(loaded).toContain("commander"); // the trace works
    for (const p of HEAVY) expect(loaded, p).not.toContain(p);
  });

  it("no export loads a model runtime on import (the subpaths exist); running a model loads both", async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { exports: Record<string, { types: string; default: string }> };
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== ".");
    expect(subpaths).toEqual(expect.arrayContaining(["./store", "./metrics", "./train", "./audio", "./recipes"]));
    const built: string[] = [];
    for (const [k, v] of Object.entries(pkg.exports)) {
      const rel = v.default.replace(/^\.\/dist\//, "");
      expect(v.types, k).toBe(v.default.replace(/\.js$/, ".d.ts"));
      expect(() => readFileSync(path.join(ROOT, "src", rel.replace(/\.js$/, ".ts"))), k).not.toThrow();
      built.push(path.join(BUILD_DIR, rel));
    }
    const run = async (code: string, trace: string) => {
      await promisify(execFile)(process.execPath, ["--import", TRACE, "--input-type=module", "-e", code], { env: { ...process.env, EMOFEAT_TRACE_FILE: trace } });
      return packagesIn(trace);
    };
    const light = await run(built.map((f) => `await import(${JSON.stringify(f)});`).join(""), path.join(dir, "exports.txt"));
    expect(light).toContain("csv-parse");
    for (const p of HEAVY) expect(light, p).not.toContain(p);
    const root = JSON.stringify(built[0]);
    const used = await run(`const m = await import(${root}); await m.embedTexts(["hello"], { model: ${JSON.stringify(DEMO_MODEL)}, offline: true });`, path.join(dir, "used.txt"));
    expect(used).toEqual(expect.arrayContaining(["@huggingface/transformers", "onnxruntime-node"]));
  });

});
