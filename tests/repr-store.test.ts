/**
 * Layer stores ([N, L, D]) written by extract text/audio, read by readStore and numpy, checked by validate;
 * and stores made by the previous version (fixtures/stores) still reading, validating and training.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudioEncoder } from "../src/audio/encoder.js";
import { extractAudio } from "../src/extract/audio.js";
import { representationSettings } from "../src/extract/run.js";
import { embedTexts, extractText } from "../src/extract/text.js";
import { readStore } from "../src/store/read.js";
import { validateStores } from "../src/store/validate.js";
import { trainProbe } from "../src/train/probe.js";
import { demoAudio, demoModelCopies, demoRows, failedChecks } from "./helpers/repr-ref.js";
import { DEMO_INDEX, FIXTURES, removeDir, tempDir } from "./helpers/paths.js";

const demoIds = demoRows.map((r) => r.utter_id);


let dir: string;
let textModel: string;
let audioModel: string;
beforeAll(async () => {
  dir = await tempDir("repr-store-");
  ({ text: textModel, audio: audioModel } = await demoModelCopies(dir));
});
afterAll(() => removeDir(dir));

function numpy(code: string): unknown {
  return JSON.parse(execFileSync("python3", ["-c", `import numpy as np, json\n${code}`]).toString());
}

describe("layer stores", () => {
  it("extract text --layers all: embeddings.npy [N, 3, 32], meta.layers, readStore and numpy agree, validate passes", async () => {
    const out = path.join(dir, "text-layers");
    const s = await extractText({ csv: DEMO_INDEX, out, model: textModel, offline: true, layers: "all", batchSize: 8 });
    expect(s.meta).toMatchObject({ n: 24, d: 32, layers: [0, 1, 2], pooling: "mean", dtype: "float32" });
    expect(s.meta.hidden_states).toMatchObject({ num_hidden_layers: 2, rule: "post-ln-text" });
    const store = await readStore(out);
    expect(store.layers).toEqual([0, 1, 2]);
    expect(store.embeddings.length).toBe(24 * 3 * 32);
    const texts = readFileSync(DEMO_INDEX, "utf8");
    expect(store.ids).toEqual(demoIds);
    // The same numbers as the library computes for those texts directly.
    const { parse } = await import("csv-parse/sync");
    const rows = parse(texts, { columns: true }) as { text: string }[];
    const direct = await embedTexts(rows.map((r) => r.text), { model: textModel, offline: true, layers: "all" });
    expect(Array.from(store.embeddings)).toEqual(Array.from(direct.embeddings));
    // Layer 2 is the last layer: the plain store's vectors.
    const plain = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "text-plain"), model: textModel, offline: true });
    const p = await readStore(plain.outDir);
    expect(p.layers).toBeUndefined();
    let worst = 0;
    for (let i = 0; i < 24; i++) for (let h = 0; h < 32; h++) worst = Math.max(worst, Math.abs(store.embeddings[(i * 3 + 2) * 32 + h] - p.embeddings[i * 32 + h]));
    expect(worst).toBeLessThan(1e-6);
    expect(numpy(`a = np.load("${out}/embeddings.npy"); print(json.dumps([list(a.shape), str(a.dtype), float(a[5, 1, 7])]))`)).toEqual([
      [24, 3, 32],
      "float32",
      store.embeddings[(5 * 3 + 1) * 32 + 7],
    ]);
    const r = await validateStores([out], DEMO_INDEX);
    expect(failedChecks(r)).toEqual([]);
    expect(r.stores[0].checks.find((c) => c.name === "finite values")!.message).toContain(`all ${24 * 3 * 32} values`);
  });

  for (const batching of ["exact", "reference"] as const) {
    it(`extract audio --layers 0,2 (${batching}): [N, 2, 32] equal to the encoder's own layers; validate passes`, async () => {
      const out = path.join(dir, `audio-layers-${batching}`);
      const s = await extractAudio({ csv: DEMO_INDEX, out, model: audioModel, offline: true, layers: "0,2", batching, batchSize: 4 });
      expect(s.meta).toMatchObject({ n: 24, d: 32, layers: [0, 2], batching });
      expect(s.meta.hidden_states?.rule).toBe("post-ln-speech");
      const store = await readStore(out);
      const enc = await AudioEncoder.load({ model: audioModel, offline: true, layers: [0, 2], batching });
      try {
        const res = await enc.embedFiles(demoAudio, 4);
        res.vectors.forEach((v, i) => expect(Array.from(store.embeddings.subarray(i * 64, (i + 1) * 64)), `row ${i}`).toEqual(Array.from(v!)));
      } finally {
        await enc.dispose();
      }
      expect(failedChecks(await validateStores([out], DEMO_INDEX))).toEqual([]);
    });
  }

  it("validate catches a layer store whose shape disagrees with meta.layers", async () => {
    const out = path.join(dir, "text-layers");
    const meta = JSON.parse(readFileSync(path.join(out, "meta.json"), "utf8"));
    const bad = path.join(dir, "text-layers-bad");
    execFileSync("cp", ["-r", out, bad]);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path.join(bad, "meta.json"), JSON.stringify({ ...meta, layers: [0, 2] }));
    const r = await validateStores([bad], DEMO_INDEX);
    expect(failedChecks(r).join("\n")).toMatch(/shape and dtype: <f4 \(24, 3, 32\); expected <f4 \(24, 2, 32\)/);
    await expect(readStore(bad)).rejects.toThrow(/shape \(24, 3, 32\), meta\.json describes \[N, 2, 32\]/);
  });

  it("training refuses a store with several layers per row, naming the shape", async () => {
    await expect(
      trainProbe({ csv: DEMO_INDEX, features: `text=${path.join(dir, "text-layers")}`, head: "linear", out: path.join(dir, "run-layers"), settings: { epochs: 1 } }),
    ).rejects.toThrow(/"text" holds 3 encoder layers \(hidden states 0-2\) and --head linear takes one vector per utterance: pick a layer with --layers K/);
  });

  it("a default extraction writes the same files and meta.json fields as the previous version", async () => {
    const s = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "text-default"), model: textModel, offline: true });
    const v1 = JSON.parse(readFileSync(path.join(FIXTURES, "stores", "v1-text", "meta.json"), "utf8"));
    // Since the v1 fixtures, text stores also count truncation (CONTRACTS: texts.csv and meta.totals); nothing else is new.
    expect(Object.keys(s.meta).sort()).toEqual([...Object.keys(v1), "totals"].sort());
    expect(Object.keys(s.meta.settings).sort()).toEqual(Object.keys(v1.settings).sort());
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(s.outDir).sort()).toEqual([...readdirSync(path.join(FIXTURES, "stores", "v1-text")), "texts.csv"].sort());
  });

  it("default options add nothing to the fingerprint (stores made before keep resuming and being up to date)", () => {
    expect(representationSettings({ layers: null, pooling: "mean", defaultPooling: "mean", dtype: "float32" })).toEqual({});
    expect(representationSettings({ layers: [0, 1], pooling: "none", defaultPooling: "mean", dtype: "float16", compat: "seq-reference" })).toEqual({
      layers: [0, 1],
      pooling: "none",
      store_dtype: "float16",
      compat: "seq-reference",
    });
  });
});

describe("stores made by the previous version", () => {
  const v1 = (name: string) => path.join(FIXTURES, "stores", name);
  it("read, validate (per-utterance files included) and train unchanged", async () => {
    for (const name of ["v1-text", "v1-audio"]) {
      const store = await readStore(v1(name));
      expect(store).toMatchObject({ n: 24, d: 32 });
      expect(store.layers).toBeUndefined();
      expect(store.meta.layers).toBeUndefined();
      expect(store.embeddings.length).toBe(24 * 32);
    }
    const r = await validateStores([v1("v1-text"), v1("v1-audio")], DEMO_INDEX);
    expect(failedChecks(r)).toEqual([]);
    expect(r.stores[1].checks.map((c) => c.name)).toContain("per-utterance files");
    const res = await trainProbe({
      csv: DEMO_INDEX,
      features: `audio=${v1("v1-audio")},text=${v1("v1-text")}`,
      head: "concat-linear",
      out: path.join(dir, "run-v1"),
      settings: { epochs: 2 },
    });
    expect(res.summary).toMatch(/test acc \d/);
  });
});
