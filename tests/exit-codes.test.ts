/**
 * One exit-code scheme for every command (README): 0 ok, 1 usage, 2 bad input or data, 3 too many failed rows,
 * 130 interrupted (tested with SIGTERM in outputs.test.ts). Also: -q everywhere, one --threads wording, the cap.
 * In-process (runEmofeatInProcess): the codes come from runCli, which main.ts hands to the process.
 */
import { cp, mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../src/cli/program.js";
import { runEmofeatInProcess as cli } from "./helpers/cli.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";
import { writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { loadSynth } from "./helpers/synth.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
const WAV = path.join(ROOT, "samples", "demo", "wav", "demo_s1_001.wav");

function leaves(cmd: Command): Command[] {
  return cmd.commands.length === 0 ? [cmd] : cmd.commands.flatMap(leaves);
}

describe("exit codes of every command", () => {
  let dir: string;
  let fx: ProbeFixture;
  let textStore: string;
  let run: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-exit-");
    fx = await writeProbeFixture(path.join(dir, "fx"), await loadSynth());
    textStore = path.join(dir, "text");
    run = path.join(dir, "run");
  });
  afterAll(() => removeDir(dir));

  const expectCode = async (args: string[], code: number, msg?: RegExp) => {
    const r = await cli(args);
    expect(r.code, `${args.join(" ")}\n${r.stderr}`).toBe(code);
    if (msg) expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/unexpected error/);
    return r;
  };

  it("merge and status on a file instead of the --out folder: one line, exit 2", async () => {
    const file = path.join(dir, "not-a-folder.txt");
    await writeFile(file, "x\n");
    for (const cmd of ["merge", "status"]) await expectCode([cmd, file], 2, /^emofeat: .*not-a-folder\.txt: is a file, not the --out folder of a sharded extraction\n$/);
  });

  it("index and split", async () => {
    const src = path.join(dir, "meta.csv");
    await writeFile(src, "utter_id,label,text,session\n" + [...Array(12)].map((_, i) => `u${i},${["a", "b"][i % 2]},t,S${i % 4}`).join("\n") + "\n");
    await expectCode(["index", "generic", "--csv", src, "--out", path.join(dir, "i1"), "-q"], 0);
    await expectCode(["index", "generic", "--csv", src, "--out", path.join(dir, "i2"), "--split", "80/10"], 1, /three non-negative numbers/);
    await expectCode(["index", "iemocap", "--root", dir, "--out", path.join(dir, "i3"), "--classes", "5"], 1);
    await expectCode(["index", "urdu", "--root", path.join(dir, "nope"), "--out", path.join(dir, "i4")], 2, /no such folder/);
    await expectCode(["split", src, "--out", path.join(dir, "s.csv"), "-q"], 0);
    await expectCode(["split", src, "--out", path.join(dir, "s2.csv"), "--ratios", "0/50/50"], 1, /train part must be greater than 0/);
    await expectCode(["split", path.join(dir, "missing.csv"), "--out", path.join(dir, "s3.csv")], 2, /no such file/);
  });

  it("extract text and audio (3 when more rows fail than --max-failures allows)", async () => {
    await expectCode(["extract", "text", "--csv", DEMO_INDEX, "--out", textStore, "-q"], 1, /required option '--model/);
    await expectCode(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", textStore, "--max-len", "2"], 1);
    await expectCode(["extract", "text", "--csv", path.join(dir, "nope.csv"), "--model", DEMO_MODEL, "--out", textStore], 2);
    const ok = await expectCode(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", textStore, "--max-failures", "0"], 0);
    expect(ok.stderr).toMatch(/written: 24 x 32 float32 .*; 0 of 24 rows failed\n/);
    expect(ok.stderr).toMatch(/text: 24 texts; --max-len 128 cut 0 of them \(per text: texts\.csv\)/);

    const csv = await writeIndex(dir, [
      { utter_id: "good", audio_path: WAV },
      { utter_id: "gone", audio_path: path.join(dir, "missing.wav") },
    ], "audio.csv");
    const audio = path.join(dir, "audio");
    const r = await expectCode(["extract", "audio", "--csv", csv, "--model", DEMO_WAVLM, "--out", audio, "--max-failures", "0"], 3, /1 of 2 rows failed, more than --max-failures 0 allows/);
    expect(r.stderr).toMatch(/1 of 2 row\(s\) failed, see .*failures\.csv/);
    await expectCode(["extract", "audio", "--csv", csv, "--model", DEMO_WAVLM, "--out", audio, "--max-failures", "50%", "-q"], 0); // up to date, 1 of 2 = 50%
    await expectCode(["extract", "audio", "--csv", csv, "--model", DEMO_WAVLM, "--out", audio, "--max-failures", "ten"], 1, /count \(e\.g\. 10\) or a percentage/);
    // Without --max-failures, a run whose every row failed is not a success.
    const allBad = await writeIndex(dir, [{ utter_id: "gone", audio_path: path.join(dir, "missing.wav") }], "all-bad.csv");
    await expectCode(["extract", "audio", "--csv", allBad, "--model", DEMO_WAVLM, "--out", path.join(dir, "all-bad"), "-q"], 3, /every row failed \(1 of 1\)/);
    await expectCode(["extract", "audio", "--csv", allBad, "--model", DEMO_WAVLM, "--out", path.join(dir, "all-bad"), "--max-failures", "100%", "-q"], 0);
  });

  it("validate, train, runs summarize and predict", async () => {
    await expectCode(["validate", textStore], 1, /required option '--csv/);
    await expectCode(["validate", textStore, "--csv", DEMO_INDEX, "-q"], 0);
    await expectCode(["validate", path.join(dir, "nope"), "--csv", DEMO_INDEX, "-q"], 2);

    await expectCode(["train", "--csv", fx.csv, "--features", fx.text, "--out", run, "--head", "nope"], 1);
    await expectCode(["train", "--csv", fx.csv, "--features", "text=", "--out", run], 1, /no folder after "="/);
    await expectCode(["train", "--csv", fx.csv, "--features", "--classes", "a,,b", "--out", run], 1);
    await expectCode(["train", "--csv", fx.csv, "--features", path.join(dir, "nope"), "--out", run], 2, /nope: not a feature store \(does not exist\)/);
    await expectCode(["train", "--csv", fx.csv, "--features", fx.text, "--head", "linear", "--epochs", "1", "--out", run, "-q"], 0);

    await expectCode(["runs", "summarize", run, "--format", "xml"], 1);
    const missing = await expectCode(["runs", "summarize", path.join(dir, "no-such-run")], 2, /no-such-run: does not exist/);
    expect(missing.stderr).toMatch(/^skipped .*no-such-run: does not exist\n/);
    await expectCode(["runs", "summarize", run, path.join(dir, "no-such-run"), "-q"], 0);
    // A damaged run is skipped with its reason; the others are still summarized.
    const damaged = path.join(dir, "damaged-run");
    await cp(run, damaged, { recursive: true });
    await writeFile(path.join(damaged, "metrics.json"), "{");
    const partial = await expectCode(["runs", "summarize", damaged, run], 0);
    expect(partial.stderr).toMatch(/^skipped .*damaged-run: .*damaged-run\/metrics\.json: not valid JSON/);
    expect(partial.stdout.trim().split("\n")).toHaveLength(3); // header, rule, the intact run

    await expectCode(["report", run, "--out", path.join(dir, "r.html"), "--projection", "tsne"], 1, /--projection: unknown "tsne"/);
    await expectCode(["report", path.join(dir, "nope"), "--out", path.join(dir, "r.html"), "-q"], 2);

    await expectCode(["predict", "--run", run], 1, /give either --text\/--audio/);
    await expectCode(["predict", "--run", run, "--text", "hi", "--out", "x.csv"], 1, /--out goes with --csv/);
    await expectCode(["predict", "--run", path.join(dir, "nope"), "--text", "hi"], 2, /missing/);
  });
});

describe("options shared by every command", () => {
  it("-q on every command, one wording of --threads", () => {
    const program = buildProgram();
    const threadsHelp = new Set<string>();
    for (const c of leaves(program)) {
      const flags = c.options.map((o) => o.flags);
      expect(flags.some((f) => f.startsWith("-q, --quiet")), `${c.name()}: ${flags.join(" ")}`).toBe(true);
      const t = c.options.find((o) => o.long === "--threads");
      if (t) threadsHelp.add(t.description);
    }
    expect(threadsHelp.size).toBe(1);
    expect([...threadsHelp][0]).toMatch(/default: one per physical core/);
  });

  it("option errors commander finds are one line in emofeat's form, exit 1, on nested commands too", async () => {
    for (const args of [
      ["trian"],
      ["index", "generic", "--csv", "x.csv", "--out", "y", "--bogus"],
      ["extract", "audio", "--csv", "x", "--model", "m", "--out", "o", "--max-failures", "abc"],
      ["runs", "summarize", "--format", "xml", "r"],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(/^emofeat: [^\n]+ \(run with --help for usage\)\n$/);
    }
  });

  it("--threads above the cores is capped with a warning", async () => {
    const dir = await tempDir("emofeat-threads-");
    try {
      await mkdir(dir, { recursive: true });
      const r = await cli(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", path.join(dir, "s"), "--threads", "1000", "-q"]);
      expect(r.code).toBe(0);
      const cores = os.availableParallelism();
      expect(r.stderr).toBe(`emofeat: warning: --threads 1000: this machine has ${cores} CPU core(s); using ${cores}\n`);
    } finally {
      await removeDir(dir);
    }
  });
});
