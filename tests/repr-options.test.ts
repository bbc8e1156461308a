/**
 * Pooling edge cases, float16 (conversion against numpy, stores), --compat seq-reference stores,
 * per-utterance layouts of layer and sequence stores, and encoderForStore rebuilding each kind of store.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudioEncoder } from "../src/audio/encoder.js";
import { extractAudio } from "../src/extract/audio.js";
import { runExtraction } from "../src/extract/run.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { pool, poolLayers } from "../src/pooling.js";
import { encoderForStore } from "../src/predict/encoders.js";
import { openSequenceStore, readStore, readStoreMeta } from "../src/store/read.js";
import { validateStores } from "../src/store/validate.js";
import { float16ToFloat32, float32ToFloat16 } from "../src/util/float16.js";
import { DEMO_INDEX, removeDir, tempDir } from "./helpers/paths.js";
import { REPR, demoAudio, demoModelCopies, demoRows, failedChecks } from "./helpers/repr-ref.js";
import { runEmofeatInProcess } from "./helpers/cli.js";

const rows = demoRows;

let dir: string;
let textModel: string;
let audioModel: string;
beforeAll(async () => {
  dir = await tempDir("repr-opt-");
  ({ text: textModel, audio: audioModel } = await demoModelCopies(dir));
});
afterAll(() => removeDir(dir));

describe("pooling edge cases", () => {
  it("an all-masked item gives zeros in every mode; one real position gives std 0 (torch would give NaN)", () => {
    const h = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i - 5);
    const mask = [0, 0, 0, 1, 0, 0];
    expect(Array.from(pool("mean", h, [2, 3, 2], mask))).toEqual([0, 0, 1, 2]);
    expect(Array.from(pool("max", h, [2, 3, 2], mask))).toEqual([0, 0, 1, 2]);
    expect(Array.from(pool("mean+std", h, [2, 3, 2], mask))).toEqual([0, 0, 0, 0, 1, 2, 0, 0]);
    // Sample standard deviation (n - 1), as torch.std: values 1, 3, 5 -> 2.
    expect(Array.from(pool("mean+std", Float32Array.from([1, 3, 5]), [1, 3, 1], null))).toEqual([3, 2]);
    // Max respects the mask even where padded values are larger.
    expect(Array.from(pool("max", Float32Array.from([1, 9, 2]), [1, 3, 1], [1, 0, 1]))).toEqual([2]);
    // Layers are interleaved per item: [B, L, W].
    expect(Array.from(poolLayers("mean", [Float32Array.from([1, 3]), Float32Array.from([10, 30])], [2, 1, 1], null))).toEqual([1, 10, 3, 30]);
  });
});

describe("float16", () => {
  it("rounds like numpy's astype(float16): nearest even, subnormals, overflow to Infinity", () => {
    const ref = JSON.parse(readFileSync(path.join(REPR, "float16.json"), "utf8")) as { float32_bits: number[]; bits: number[] };
    const values = new Float32Array(Uint32Array.from(ref.float32_bits).buffer);
    const got = float32ToFloat16(values);
    const wrong = ref.bits.map((b, i) => (got[i] === b ? -1 : i)).filter((i) => i >= 0);
    expect(wrong.map((i) => `${values[i]}: ${got[i]} vs numpy ${ref.bits[i]}`)).toEqual([]);
    const back = float16ToFloat32(got);
    // Normal range: relative error at most 2^-11.
    for (let i = 0; i < values.length; i++)
      if (Math.abs(values[i]) >= 2 ** -14 && Math.abs(values[i]) <= 65504) expect(Math.abs(back[i] - values[i]) / Math.abs(values[i])).toBeLessThanOrEqual(2 ** -11);
  });

  it("--store-dtype float16: '<f2' on disk, numpy's rounding of the float32 store, widened by the readers, validated", async () => {
    const f32 = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "t32"), model: textModel, offline: true, layers: "all", layout: "per-utterance" });
    const f16 = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "t16"), model: textModel, offline: true, layers: "all", storeDtype: "float16", layout: "per-utterance" });
    expect(f16.meta.dtype).toBe("float16");
    const py = JSON.parse(
      execFileSync("python3", [
        "-c",
        `import numpy as np, json
a = np.load("${f32.outDir}/embeddings.npy"); b = np.load("${f16.outDir}/embeddings.npy")
one = np.load("${f16.outDir}/per_utterance/${rows[3].utter_id}.npy")
print(json.dumps({"dtype": str(b.dtype), "shape": list(b.shape), "same": bool((a.astype(np.float16) == b).all()), "one": [str(one.dtype), list(one.shape)],
  "rel": float(np.max(np.abs(b.astype(np.float32) - a) / np.abs(a)))}))`,
      ]).toString(),
    );
    expect(py).toMatchObject({ dtype: "float16", shape: [24, 3, 32], same: true, one: ["float16", [3, 32]] });
    expect(py.rel).toBeLessThanOrEqual(2 ** -11);
    const a = await readStore(f32.outDir);
    const b = await readStore(f16.outDir);
    expect(Array.from(b.embeddings)).toEqual(Array.from(float16ToFloat32(float32ToFloat16(a.embeddings))));
    expect(failedChecks(await validateStores([f16.outDir], DEMO_INDEX))).toEqual([]);
    // Sequence stores too: openSequenceStore widens.
    const seq = await extractAudio({ csv: DEMO_INDEX, out: path.join(dir, "a16seq"), model: audioModel, offline: true, pooling: "none", storeDtype: "float16" });
    const r = await openSequenceStore(seq.outDir);
    const enc = await AudioEncoder.load({ model: audioModel, offline: true, pooling: "none" });
    try {
      const want = (await enc.embedFiles(demoAudio.slice(0, 3))).vectors;
      const got = await r.read([0, 1, 2]);
      got.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(float16ToFloat32(float32ToFloat16(want[i]!)))));
    } finally {
      await r.close();
      await enc.dispose();
    }
    expect(failedChecks(await validateStores([seq.outDir], DEMO_INDEX))).toEqual([]);
  });

  it("a value beyond float16's range stops the run, naming the row", async () => {
    const index = await loadIndex(DEMO_INDEX);
    await expect(
      runExtraction({
        index,
        outDir: path.join(dir, "overflow"),
        modality: "text",
        fingerprintSettings: { t: 1 },
        batches: [[0, 1]],
        dim: 2,
        processBatch: async (positions) => ({ positions, vectors: Float32Array.from([1, 2, 3, 70000]), failures: [] }),
        meta: { model: { id: "m", source: "local", file: "f", sha256: "0", dtype: "fp32" }, device: "cpu", pooling: "mean", settings: {} },
        dtype: "float16",
      }),
    ).rejects.toThrow(/row 2 \(demo_s1_002\): the value 70000 is beyond float16's range \(\+-65504\); use --store-dtype float32/);
  });
});

describe("--compat seq-reference and per-utterance layer stores", () => {
  it("seq-reference: each clip padded to max_seconds, real frames kept; per-utterance files [T_i, L, D]; validate passes", async () => {
    const out = path.join(dir, "seqref");
    const s = await extractAudio({ csv: DEMO_INDEX, out, model: audioModel, offline: true, pooling: "none", compat: "seq-reference", maxSeconds: 3, layers: "1,2", layout: "per-utterance" });
    expect(s.meta).toMatchObject({ compat: "seq-reference", batching: "reference", layers: [1, 2], pooling: "none", max_seconds: 3 });
    const enc = await AudioEncoder.load({ model: audioModel, offline: true, pooling: "none", compat: "seq-reference", maxSeconds: 3, layers: "1,2" });
    const r = await openSequenceStore(out);
    const first = r.lengths[0];
    try {
      const res = await enc.embedFiles(demoAudio, 16);
      expect(Array.from(r.lengths)).toEqual(res.lengths);
      const got = await r.read([0, 11]);
      expect(Array.from(got[0])).toEqual(Array.from(res.vectors[0]!));
      expect(Array.from(got[1])).toEqual(Array.from(res.vectors[11]!));
      // Padding to 3 s changes the frames (WavLM's GroupNorm sees the zeros): not the exact-mode numbers.
      const exact = await AudioEncoder.load({ model: audioModel, offline: true, pooling: "none", layers: "1,2" });
      try {
        const e = (await exact.embedFiles([demoAudio[0]])).vectors[0]!;
        expect(e.length).toBe(res.vectors[0]!.length);
        expect(Math.max(...e.map((v, i) => Math.abs(v - res.vectors[0]![i])))).toBeGreaterThan(1e-3);
      } finally {
        await exact.dispose();
      }
    } finally {
      await r.close();
      await enc.dispose();
    }
    expect(failedChecks(await validateStores([out], DEMO_INDEX))).toEqual([]);
    const py = execFileSync("python3", ["-c", `import numpy as np; print(np.load("${out}/per_utterance/${rows[0].utter_id}.npy").shape)`]).toString().trim();
    expect(py).toBe(`(${first}, 2, 32)`);
  });
});

describe("encoderForStore rebuilds the store's representation", () => {
  it("text layer store (mean+std) and text sequence store: the rebuilt encoder reproduces the stored rows", async () => {
    const pooled = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "efs-text"), model: textModel, offline: true, layers: "0,2", pooling: "mean+std" });
    expect(pooled.meta).toMatchObject({ d: 64, layers: [0, 2], pooling: "mean+std" });
    const store = await readStore(pooled.outDir);
    const enc = await encoderForStore(await readStoreMeta(pooled.outDir), { storeName: "text", offline: true });
    try {
      expect(enc).toMatchObject({ dim: 64, layers: [0, 2], pooling: "mean+std", rowSize: 128 });
      const res = await enc.encode(rows.slice(0, 5).map((r) => r.text));
      expect(Array.from(res.embeddings)).toEqual(Array.from(store.embeddings.subarray(0, 5 * 128)));
      await expect(enc.encodeSequences(["x"])).rejects.toThrow(/is a pooled store \(pooling mean\+std\)/);
    } finally {
      await enc.dispose();
    }
    const seq = await extractText({ csv: DEMO_INDEX, out: path.join(dir, "efs-text-seq"), model: textModel, offline: true, pooling: "none", layers: "all" });
    const senc = await encoderForStore(seq.meta, { storeName: "text" });
    const r = await openSequenceStore(seq.outDir);
    try {
      const res = await senc.encodeSequences([rows[4].text, rows[9].text]);
      const want = await r.read([4, 9]);
      expect(res.lengths).toEqual([r.lengths[4], r.lengths[9]]);
      res.sequences.forEach((q, i) => expect(Array.from(q!)).toEqual(Array.from(want[i])));
      await expect(senc.encode(["x"])).rejects.toThrow(/is a sequence store/);
    } finally {
      await r.close();
      await senc.dispose();
    }
  });

  it("audio layer store (max pooling) and seq-reference sequence store; an unreadable clip is an error, not a guess", async () => {
    const pooled = await extractAudio({ csv: DEMO_INDEX, out: path.join(dir, "efs-audio"), model: audioModel, offline: true, layers: "all", pooling: "max" });
    const store = await readStore(pooled.outDir);
    const enc = await encoderForStore(pooled.meta, { storeName: "audio" });
    try {
      const res = await enc.encode([demoAudio[2], path.join(dir, "nope.wav")]);
      expect(Array.from(res.embeddings.subarray(0, 96))).toEqual(Array.from(store.embeddings.subarray(2 * 96, 3 * 96)));
      expect(res.errors[0]).toBeNull();
      expect(res.errors[1]?.message).toMatch(/nope\.wav/);
    } finally {
      await enc.dispose();
    }
    const seq = await extractAudio({ csv: DEMO_INDEX, out: path.join(dir, "efs-audio-seq"), model: audioModel, offline: true, pooling: "none", compat: "seq-reference", maxSeconds: 3 });
    const senc = await encoderForStore(seq.meta, { storeName: "audio" });
    const r = await openSequenceStore(seq.outDir);
    try {
      const res = await senc.encodeSequences([demoAudio[6]]);
      expect(Array.from(res.sequences[0]!)).toEqual(Array.from((await r.read([6]))[0]));
    } finally {
      await r.close();
      await senc.dispose();
    }
  });
});

describe("CLI", () => {
  it("extract audio --layers all --pooling none --store-dtype float16; bad --layers values are usage errors", async () => {
    const out = path.join(dir, "cli-seq");
    const r = await runEmofeatInProcess(["extract", "audio", "--csv", DEMO_INDEX, "--model", audioModel, "--offline", "--layers", "all", "--pooling", "none", "--store-dtype", "float16", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/written: \d+ frames of 24 rows x 3 layers x 32 float16 \(audio, .*pooling none\)/);
    const bad = await runEmofeatInProcess(["extract", "text", "--csv", DEMO_INDEX, "--model", textModel, "--offline", "--layers", "1,x", "--out", path.join(dir, "cli-bad")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--layers "1,x": expected last, all, or a list/);
    // A backwards range is refused while the options are parsed (exit 1), like a syntax error, not after loading the model.
    const back = await runEmofeatInProcess(["extract", "audio", "--csv", DEMO_INDEX, "--model", audioModel, "--offline", "--layers", "2-1", "--out", path.join(dir, "cli-back")]);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/--layers "2-1": range 2-1 runs backwards/);
  });
});
