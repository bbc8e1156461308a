/**
 * Cross-validation folds trained as separate processes (`train --folds session --fold auto` in four concurrent
 * Slurm array tasks) and `runs merge`: the same metrics, epochs, predictions and plots as a single-process run
 * with the same seeds; a missing or foreign fold stops the merge.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainProbe } from "../src/train/probe.js";
import { mergeFolds } from "../src/train/merge-folds.js";
import { runEmofeat } from "./helpers/cli.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { loadSynth } from "./helpers/synth.js";
import { loadLayerSynth, writeLayerFixture } from "./helpers/layer-data.js";

let dir: string;
let fx: ProbeFixture;
beforeAll(async () => {
  dir = await tempDir("emofeat-folds-");
  fx = await writeProbeFixture(dir, await loadSynth());
});
afterAll(() => removeDir(dir));

const read = (run: string, f: string) => readFileSync(path.join(run, f), "utf8");
const json = (run: string, f: string) => JSON.parse(read(run, f));
/** epochs.csv without its seconds column (timings differ between runs). */
const epochsWithoutTime = (run: string) =>
  read(run, "epochs.csv")
    .trim()
    .split("\n")
    .map((l) => l.split(",").filter((_, i) => i !== 9).join(","));

describe("folds as separate processes", () => {
  const args = (out: string) => ["train", "--csv", fx.csv, "--features", `text=${fx.text}`, "--head", "mlp", "--folds", "session", "--seeds", "2", "--epochs", "3", "--out", out];

  it("four concurrent array tasks with --fold auto, merged, equal the single-process cross-validation", async () => {
    const out = path.join(dir, "loso-folds");
    const tasks = await Promise.all(
      [0, 1, 2, 3].map((k) =>
        runEmofeat([...args(out), "--fold", "auto", "-q"], {
          env: { SLURM_ARRAY_TASK_ID: String(k), SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "3", SLURM_ARRAY_TASK_COUNT: "4" },
        }),
      ),
    );
    tasks.forEach((t, k) => expect(t.code, `fold ${k}: ${t.stderr}`).toBe(0));
    expect(tasks[2].stdout).toMatch(/fold 2 \(Session3\) of 4-fold session CV: test acc/);
    for (const k of [0, 1, 2, 3]) expect(json(path.join(out, "folds", String(k)), "config.json").fold).toEqual({ index: k, name: `Session${k + 1}` });

    const merged = await mergeFolds({ out });
    expect(merged.summary).toMatch(/4-fold session CV, merged from its folds: test acc/);
    const single = path.join(dir, "loso-single");
    await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out: single, protocol: { kind: "session-folds", val: "stratified" }, seeds: 2, settings: { epochs: 3 } });

    const [a, b] = [json(out, "metrics.json"), json(single, "metrics.json")];
    for (const m of [a, b]) for (const s of m.seeds) delete s.seconds;
    expect(a).toEqual(b);
    expect(a.seeds[0].folds.map((f: { fold: string }) => f.fold)).toEqual(["Session1", "Session2", "Session3", "Session4"]);
    expect(read(out, "predictions.csv")).toBe(read(single, "predictions.csv"));
    expect(epochsWithoutTime(out)).toEqual(epochsWithoutTime(single));
    for (const plot of ["confusion.svg", "curves.svg"]) expect(read(out, plot), plot).toBe(read(single, plot));
    const [ca, cb] = [json(out, "config.json"), json(single, "config.json")];
    expect(ca.merged_folds).toBe(4);
    for (const c of [ca, cb]) for (const k of ["created", "command", "merged_folds"]) delete c[k];
    expect(ca).toEqual(cb);
    expect(existsSync(path.join(out, "folds", "3", "fold.json"))).toBe(true); // the folds stay
  });

  it("a missing fold, or one trained with other options, stops the merge and nothing is written", async () => {
    const src = path.join(dir, "loso-folds", "folds");
    const missing = path.join(dir, "loso-missing");
    await cp(src, path.join(missing, "folds"), { recursive: true });
    await rm(path.join(missing, "folds", "2"), { recursive: true });
    const r = await runEmofeat(["runs", "merge", missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot merge the folds of .*: 1 problem\(s\); nothing was written\n {2}- folds\/2: missing \(fold Session3 not trained yet\)/);
    expect(existsSync(path.join(missing, "metrics.json"))).toBe(false);

    const foreign = path.join(dir, "loso-foreign");
    await cp(src, path.join(foreign, "folds"), { recursive: true });
    await rm(path.join(foreign, "folds", "1"), { recursive: true });
    await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out: foreign, protocol: { kind: "session-folds", val: "stratified" }, seeds: 2, settings: { epochs: 2 }, fold: 1 });
    await expect(mergeFolds({ out: foreign })).rejects.toThrow(/folds\/1: trained with other options than folds\/0/);
    expect(existsSync(path.join(foreign, "metrics.json"))).toBe(false);
  });

  it("weighted-layers: the layer weights (from every fold's parameters) and their plot equal the single process's", async () => {
    const lx = await writeLayerFixture(path.join(dir, "layers"), await loadLayerSynth());
    const base = { csv: lx.csv, features: `audio=${lx.layered}`, head: "weighted-layers" as const, protocol: { kind: "session-folds" as const, val: "stratified" as const }, seeds: 2, settings: { epochs: 2 } };
    const out = path.join(dir, "wl-folds");
    for (const fold of [0, 1, 2, 3]) await trainProbe({ ...base, out, fold });
    await mergeFolds({ out });
    const single = path.join(dir, "wl-single");
    await trainProbe({ ...base, out: single });
    const [a, b] = [json(out, "metrics.json"), json(single, "metrics.json")];
    expect(a.layer_weights.mean.length).toBeGreaterThan(1);
    for (const m of [a, b]) for (const s of m.seeds) delete s.seconds;
    expect(a).toEqual(b);
    expect(read(out, "layer_weights.svg")).toBe(read(single, "layer_weights.svg"));
  });

  it("beta-gate: beta.csv, metrics.json's beta and the beta plot of the merged folds equal the single process's", async () => {
    const base = { csv: fx.csv, features: `audio=${fx.audio},text=${fx.text}`, head: "beta-gate" as const, protocol: { kind: "session-folds" as const, val: "stratified" as const }, seeds: 1, settings: { epochs: 2 } };
    const out = path.join(dir, "gate-folds");
    for (const fold of [0, 1, 2, 3]) await trainProbe({ ...base, out, fold });
    await mergeFolds({ out });
    const single = path.join(dir, "gate-single");
    await trainProbe({ ...base, out: single });
    const [a, b] = [json(out, "metrics.json"), json(single, "metrics.json")];
    expect(Object.keys(a.beta.mean_by_class.test).length).toBeGreaterThan(1);
    for (const m of [a, b]) for (const s of m.seeds) delete s.seconds;
    expect(a).toEqual(b);
    expect(read(out, "beta.csv").trim().split("\n").length).toBeGreaterThan(1);
    for (const f of ["beta.csv", "beta.svg"]) expect(read(out, f), f).toBe(read(single, f));
  });

  it("--fold needs --folds session, and a fold number the data has", async () => {
    const base = { csv: fx.csv, features: `text=${fx.text}`, head: "mlp" as const, settings: { epochs: 1 } };
    await expect(trainProbe({ ...base, out: path.join(dir, "nf"), fold: 0 })).rejects.toThrow(/--fold .* needs --folds session/);
    await expect(trainProbe({ ...base, out: path.join(dir, "nf"), protocol: { kind: "session-folds", val: "stratified" }, fold: 4 })).rejects.toThrow(
      /--fold 4: the data has 4 folds, numbered 0-3 \(0: Session1, 1: Session2, 2: Session3, 3: Session4\)/,
    );
  });
});
