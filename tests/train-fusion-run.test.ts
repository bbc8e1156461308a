/**
 * The fusion heads through trainProbe and the CLI: run directory with beta (metrics.json, beta.csv, plot),
 * the exported head, sequence stores read batch by batch, folds and seeds, and clear errors.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "csv-parse/sync";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../src/errors.js";
import { Explainer } from "../src/predict/explain.js";
import { readStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import type { HeadLabels, RunMetrics } from "../src/train/run-dir.js";
import { summarizeRuns } from "../src/train/summarize.js";
import { runEmofeat } from "./helpers/cli.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { EMOTIONS, writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { memoryOpener, writeSequenceStore, type MemorySequenceStore } from "./helpers/seq-stores.js";
import { loadSynth, type Synth } from "./helpers/synth.js";
import { Rng } from "../src/train/rng.js";

const readJson = <T>(f: string) => JSON.parse(readFileSync(f, "utf8")) as T;
const small = { dModel: 8, attnHeads: 2 };

describe("fusion heads: runs", () => {
  let dir: string;
  let s: Synth;
  let fx: ProbeFixture;
  let seqStores: MemorySequenceStore[];
  const dropped = [5, 600];
  beforeAll(async () => {
    dir = await tempDir("emofeat-fusion-run-");
    s = await loadSynth();
    fx = await writeProbeFixture(dir, s, { dropFromAudio: dropped });
    // Sequence stores from the same rows: each utterance's vector repeated over 1-6 frames / 1-4 tokens, plus noise.
    const rng = new Rng(3);
    const seq = (from: number, len: (i: number) => number) =>
      fx.ids.map((_, i) => {
        const n = len(i);
        const out = new Float32Array(n * 20);
        for (let t = 0; t < n; t++) for (let k = 0; k < 20; k++) out[t * 20 + k] = s.x[i * s.d + from + k] + 0.3 * rng.uniform(-1, 1);
        return out;
      });
    seqStores = [
      await writeSequenceStore(path.join(dir, "features", "audio-seq"), fx.ids, seq(0, (i) => 1 + ((i * 7) % 6)), 20, "audio"),
      await writeSequenceStore(path.join(dir, "features", "text-seq"), fx.ids, seq(20, (i) => 1 + ((i * 3) % 4)), 20, "text"),
    ];
  });
  afterAll(() => removeDir(dir));

  it("beta-gate: metrics.json beta per class and split, beta.csv, the beta plot, and a head.onnx that outputs beta", async () => {
    const out = path.join(dir, "runs", "gate");
    const res = await trainProbe({ csv: fx.csv, features: `audio=${fx.audio},text=${fx.text}`, head: "beta-gate", out, settings: { epochs: 3, fusion: small } });
    for (const f of ["beta.csv", "beta.svg", "beta.png", "head.onnx", "labels.json", "confusion.svg", "curves.svg"]) expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(res.config.arch.fusion).toMatchObject({ dModel: 8, project: true, gate: "vector", blocks: 0, fuseLength: "text" });
    expect(res.config.settings.select).toBe("best-val-accuracy");

    const rows = parse(readFileSync(path.join(out, "beta.csv")), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0])).toEqual(["utter_id", "split", "seed", "fold", "label", "beta"]);
    expect(rows.length).toBe(1000 - dropped.length);
    expect(new Set(rows.map((r) => r.utter_id)).size).toBe(rows.length);
    for (const r of rows) {
      expect(Number(r.beta)).toBeGreaterThan(0);
      expect(Number(r.beta)).toBeLessThan(1);
      expect(EMOTIONS).toContain(r.label);
    }
    // metrics.json: the mean of beta.csv per true class and split.
    const m = readJson<RunMetrics>(path.join(out, "metrics.json"));
    for (const split of ["train", "val", "test"] as const)
      for (const label of EMOTIONS) {
        const vs = rows.filter((r) => r.split === split && r.label === label).map((r) => Number(r.beta));
        expect(m.beta!.mean_by_class[split]![label]).toBeCloseTo(vs.reduce((a, b) => a + b, 0) / vs.length, 6);
      }

    // The exported head gives the betas of beta.csv and the reported test accuracy.
    const labels = readJson<HeadLabels>(path.join(out, "labels.json"));
    expect(labels.outputs.beta).toBe("beta");
    const [audio, text] = await Promise.all([readStore(fx.audio), readStore(fx.text)]);
    const test = rows.filter((r) => r.split === "test");
    const pick = (st: typeof audio) => {
      const x = new Float32Array(test.length * 20);
      test.forEach((r, i) => {
        const k = st.ids.indexOf(r.utter_id);
        x.set(st.embeddings.subarray(k * 20, k * 20 + 20), i * 20);
      });
      return new ort.Tensor("float32", x, [test.length, 20]);
    };
    const session = await ort.InferenceSession.create(path.join(out, "head.onnx"));
    expect(session.outputNames).toContain("beta");
    const r = await session.run({ audio: pick(audio), text: pick(text) });
    await session.release();
    const beta = r.beta.data as Float32Array;
    test.forEach((row, i) => expect(beta[i]).toBeCloseTo(Number(row.beta), 5));
    const probs = r.probs.data as Float32Array;
    let hits = 0;
    test.forEach((row, i) => {
      const p = Array.from(probs.subarray(i * 4, i * 4 + 4));
      if (EMOTIONS[p.indexOf(Math.max(...p))] === row.label) hits++;
    });
    expect(hits / test.length).toBeCloseTo(m.test.accuracy, 10);

    const svg = readFileSync(path.join(out, "beta.svg"), "utf8");
    for (const l of EMOTIONS) expect(svg).toContain(`>${l}<`);
    expect(svg).toMatch(/mean 0\.\d{3} \(n=\d+\)/);
  });

  it("fusion-decoder on sequence stores: batches read from the store as training goes, attention maps in the exported head", async () => {
    const { open, log } = memoryOpener(seqStores);
    const out = path.join(dir, "runs", "dec-seq");
    const res = await trainProbe({
      csv: fx.csv,
      features: `audio=${seqStores[0].dir},text=${seqStores[1].dir}`,
      head: "fusion-decoder",
      out,
      settings: { epochs: 2, batchSize: 32, lr: 1e-3, fusion: { ...small, blocks: 1, decoderLayers: 1 } },
      openSequenceStore: open,
    });
    expect(res.config.arch.inputs.map((i) => i.sequence)).toEqual([true, true]);
    expect(res.config.arch.fusion!.fuseLength).toBe("both");
    expect(log.open).toBe(0); // readers closed
    // Never more than a batch (training) or an evaluation chunk at once, and each row read once per use: both
    // stores x (2 epochs x (500 train + 150 validation rows) + the final train/val/test evaluation).
    expect(log.maxRowsPerCall).toBeLessThanOrEqual(64);
    expect(log.rows).toBe(2 * (2 * (500 + 150) + 1000));
    const labels = readJson<HeadLabels>(path.join(out, "labels.json"));
    expect(labels.inputs.map((i) => i.sequence)).toEqual([true, true]);
    expect(labels.outputs.attention).toEqual(
      expect.arrayContaining(["attn.blocks.0.a_to_t", "attn.blocks.0.t_to_a", "attn.decoder.layers.0.multihead_attn"]),
    );
    const session = await ort.InferenceSession.create(path.join(out, "head.onnx"));
    expect(session.inputNames).toEqual(["audio", "audio.mask", "text", "text.mask"]);
    await session.release();
    const m = readJson<RunMetrics>(path.join(out, "metrics.json"));
    expect(m.test.n).toBe(350);
    expect(Object.keys(m.beta!.mean_by_class.test!).sort()).toEqual([...EMOTIONS].sort());
  });

  it("explains an utterance of a sequence run: attention maps as JSON (rows sum to 1) and PNG heat maps", async () => {
    const run = path.join(dir, "runs", "dec-seq");
    const ex = await Explainer.load(run, { threads: 1 });
    const row = 7;
    const frames = seqStores[0].rows[row];
    const tokens = seqStores[1].rows[row];
    const ta = frames.length / 20;
    const tt = tokens.length / 20;
    const tokenLabels = Array.from({ length: tt }, (_, i) => ["[CLS]", "i", "can't", "[SEP]"][i]);
    const frameLabels = Array.from({ length: ta }, (_, i) => `${(0.02 * i).toFixed(2)} s`);
    const outDir = path.join(dir, "explain");
    const [e] = await ex.explain([{ id: fx.ids[row], inputs: { audio: { values: frames, labels: frameLabels }, text: { values: tokens, labels: tokenLabels } } }], outDir);
    await ex.dispose();
    expect(e.positions).toEqual({ audio: frameLabels, text: tokenLabels });
    expect(e.blocks).toHaveLength(1);
    const sums = (m: number[][]) => m.map((r) => r.reduce((a, b) => a + b, 0));
    expect(e.blocks[0].audio_to_text).toHaveLength(ta);
    expect(e.blocks[0].text_to_audio).toHaveLength(tt);
    for (const v of [...sums(e.blocks[0].audio_to_text), ...sums(e.blocks[0].text_to_audio)]) expect(v).toBeCloseTo(1, 5);
    expect(e.decoder[0].positions).toEqual([...frameLabels, ...tokenLabels]);
    expect(e.decoder[0].emotion_to_position).toHaveLength(4);
    for (const v of sums(e.decoder[0].emotion_to_position)) expect(v).toBeCloseTo(1, 5);
    expect(Object.values(e.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(e.files).toEqual([`${fx.ids[row]}.json`, `${fx.ids[row]}.block0.audio_to_text.png`, `${fx.ids[row]}.block0.text_to_audio.png`, `${fx.ids[row]}.decoder0.png`]);
    for (const f of e.files) expect(existsSync(path.join(outDir, f)), f).toBe(true);
    expect(readJson<{ label: string }>(path.join(outDir, e.files[0])).label).toBe(e.label);
    await expect(Explainer.load(path.join(dir, "runs", "gate"))).rejects.toThrow(/--explain .* needs a fusion head trained on sequence stores/);
  });

  it("folds and seeds: beta.csv per seed and fold; runs summarize lists fusion runs", async () => {
    const out = path.join(dir, "runs", "gate-loso");
    await trainProbe({
      csv: fx.csv,
      features: `audio=${fx.audio},text=${fx.text}`,
      head: "beta-gate",
      out,
      protocol: { kind: "session-folds", val: "stratified" },
      seeds: 2,
      settings: { epochs: 1, fusion: { ...small, gate: "scalar" } },
    });
    const rows = parse(readFileSync(path.join(out, "beta.csv")), { columns: true }) as Record<string, string>[];
    expect(new Set(rows.map((r) => r.seed))).toEqual(new Set(["0", "1"]));
    expect(new Set(rows.map((r) => r.fold))).toEqual(new Set(["Session1", "Session2", "Session3", "Session4"]));
    expect(rows.filter((r) => r.split === "test").length).toBe(2 * (1000 - dropped.length));
    const { rows: table } = await summarizeRuns([path.join(dir, "runs", "gate"), out]);
    expect(table.map((r) => r.model)).toEqual(["beta-gate", "beta-gate"]);
    expect(table[1].seeds).toBe(2);
  });

  it("refuses other numbers of stores, swapped modalities, sequence stores for probes and fusion flags for probes", async () => {
    const { open } = memoryOpener(seqStores);
    const o = (features: string, head: "fusion" | "mlp" | "concat-mlp" = "fusion", extra = {}) =>
      trainProbe({ csv: fx.csv, features, head, out: path.join(dir, "runs", "bad"), openSequenceStore: open, settings: { epochs: 1, fusion: small }, ...extra });
    await expect(o(`text=${fx.text}`)).rejects.toThrow(/--head fusion takes exactly two feature stores, audio first and text second .*got 1 \(text\)/);
    await expect(o(`audio=${fx.audio},text=${fx.text},t2=${fx.text}`)).rejects.toThrow(/exactly two feature stores.*got 3 \(audio, text, t2\)/);
    await expect(o(`text=${fx.text},audio=${fx.audio}`)).rejects.toThrow(/"text" holds text and "audio" audio; swap them/);
    await expect(trainProbe({ csv: fx.csv, features: `a=${seqStores[0].dir},t=${seqStores[1].dir}`, head: "concat-mlp", out: path.join(dir, "runs", "bad"), openSequenceStore: open })).rejects.toThrow(
      /--head concat-mlp takes one vector per utterance, but store "a" holds sequences/,
    );
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out: path.join(dir, "runs", "bad"), settings: { fusion: { dModel: 8 } } })).rejects.toThrow(
      /--d-model applies to the fusion heads/,
    );
    await expect(o(`audio=${fx.audio},text=${fx.text}`, "fusion", { settings: { fusion: { dModel: 10, attnHeads: 4 } } })).rejects.toThrow(/--d-model 10 must be divisible by --attn-heads 4/);
    // --hidden has no place in these heads (their classifier is d wide): refused, not silently ignored.
    await expect(o(`audio=${fx.audio},text=${fx.text}`, "fusion", { settings: { hidden: 512, fusion: small } })).rejects.toThrow(/--hidden belongs to the mlp heads; --head fusion works at --d-model width/);
    expect(existsSync(path.join(dir, "runs", "bad"))).toBe(false);
  });

  it("CLI: fusion flags reach the head; a bad combination is one line, a usage error", async () => {
    const out = path.join(dir, "runs", "cli-fusion");
    const ok = await runEmofeat(["train", "--csv", fx.csv, "--features", `audio=${fx.audio},text=${fx.text}`, "--head", "fusion", "--d-model", "8", "--attn-heads", "2", "--blocks", "1", "--gate", "scalar", "--dropout", "0.1", "--epochs", "1", "--out", out, "-q"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^cli-fusion: fusion on audio\+text, 4 classes, split: test acc/);
    const cfg = readJson<{ arch: { fusion: Record<string, unknown> } }>(path.join(out, "config.json"));
    expect(cfg.arch.fusion).toMatchObject({ dModel: 8, attnHeads: 2, blocks: 1, gate: "scalar", dropout: 0.1 });
    const bad = await runEmofeat(["train", "--csv", fx.csv, "--features", `audio=${fx.audio},text=${fx.text}`, "--head", "fusion", "--dropout", "0.1,0.2", "--out", path.join(dir, "x")]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr.trim().split("\n").pop()).toBe("emofeat: --head fusion takes one dropout probability (--dropout p)");
  });
});
