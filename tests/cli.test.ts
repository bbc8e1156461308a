import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../src/cli/program.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT, removeDir, tempDir } from "./helpers/paths.js";
import { cliCommand, runEmofeat, runEmofeatInProcess } from "./helpers/cli.js";


const cli = (args: string[], env: Record<string, string> = {}) => runEmofeat(args, { env });
// Where the process itself is not the point (messages, exit codes), in-process is a second faster per call.
const inProcess = (args: string[]) => runEmofeatInProcess(args);

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

describe("CLI", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => removeDir(dir));

  it("every command has a description and help", () => {
    const cmds = allCommands(buildProgram());
    expect(cmds.map((c) => c.name())).toEqual(expect.arrayContaining(["extract", "text", "validate"]));
    for (const c of cmds) {
      expect(c.description(), c.name()).not.toBe("");
      expect(c.helpInformation()).toContain("--help");
    }
  });

  it("--help exits 0 and explains the defaults", async () => {
    const r = await inProcess(["extract", "text", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--max-len <tokens>.*\(default: 128\)/s);
    expect(r.stdout).toMatch(/--pooling <mode>.*"mean", "cls"/s);
  });

  it("stops on index errors with every row listed, exit 2, and writes nothing", async () => {
    const csv = await writeIndex(dir, [
      { utter_id: "a", text: "fine" },
      { utter_id: "b", text: "" },
      { utter_id: "c", text: "ok", split: "training" },
    ]);
    const out = path.join(dir, "never");
    const r = await inProcess(["extract", "text", "--csv", csv, "--model", DEMO_MODEL, "--out", out, "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${csv}: invalid index: 2 problem(s)`);
    expect(r.stderr).toMatch(/row 2, line 3, column "text": empty text for "b"/);
    expect(r.stderr).toMatch(/row 3, line 4, column "split": unknown split "training"/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(existsSync(out)).toBe(false);
  });

  it("a reader that closes the pipe early (`| true`) ends the output quietly, without a stack trace", () => {
    const { file, args } = cliCommand();
    const cmd = [file, ...args, "extract", "audio", "--help"].map((a) => `'${a}'`).join(" ");
    // `true` exits without reading, so the help text meets a closed pipe (EPIPE).
    const r = spawnSync("bash", ["-c", `${cmd} | true; echo "status=\${PIPESTATUS[0]}"`], { encoding: "utf8" });
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.stdout.trim()).toBe("status=0");
  });

  it("names the missing file of a local model folder", async () => {
    const model = path.join(dir, "broken-model");
    await cp(DEMO_MODEL, model, { recursive: true });
    await rm(path.join(model, "tokenizer.json"));
    const r = await inProcess(["extract", "text", "--csv", DEMO_INDEX, "--model", model, "--out", path.join(dir, "x"), "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`model folder ${model} is missing:`);
    expect(r.stderr).toContain("tokenizer.json (the tokenizer)");
    const q8 = await inProcess(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--dtype", "q8", "--out", path.join(dir, "x"), "-q"]);
    expect(q8.stderr).toContain("onnx/model_quantized.onnx (the q8 ONNX weights (--dtype q8))");
  });

  it("--offline with an uncached hub id says what is missing, without touching the network", async () => {
    const r = await cli(["extract", "text", "--csv", DEMO_INDEX, "--model", "Xenova/bert-base-uncased", "--offline", "--out", path.join(dir, "y"), "-q"], {
      EMOFEAT_CACHE_DIR: path.join(dir, "empty-cache"),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--offline: model "Xenova/bert-base-uncased" is not in the cache (${path.join(dir, "empty-cache", "Xenova/bert-base-uncased")})`);
    expect(r.stderr).toContain("onnx/model.onnx");
  });

  it("--device cuda explains how to install the CUDA provider", async () => {
    const r = await inProcess(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--device", "cuda", "--out", path.join(dir, "z"), "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CUDA execution provider is not installed/);
    expect(r.stderr).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js");
  });

  it("extracts and validates end to end, printing plain progress lines off a terminal", async () => {
    const out = path.join(dir, "e2e");
    const r = await cli(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/extract text: 24\/24 rows \(100\.0%\), [\d.]+ rows\/s, 0 failed, done/);
    expect(r.stderr).toContain(`${out}: written: 24 x 32 float32`);
    expect(r.stderr).toMatch(/^emofeat: running on (cpu|cuda) \(auto: /m); // --device auto (the default) says which
    const v = await inProcess(["validate", out, "--csv", DEMO_INDEX]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim().endsWith("valid")).toBe(true);
    await writeFile(path.join(out, "ids.txt"), "");
    expect((await inProcess(["validate", out, "--csv", DEMO_INDEX])).code).toBe(2);
  });
});
