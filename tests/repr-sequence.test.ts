/**
 * Sequence stores (--pooling none): frames.npy + lengths.npy (+ special.npy for text) written by extract text and
 * audio, read by numpy (np.split) and streamed by openSequenceStore, checked row by row by validate, resumable.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuiltinFrameExtractor } from "../src/audio/builtin.js";
import { AudioEncoder } from "../src/audio/encoder.js";
import { convOutputLength } from "../src/audio/preprocess.js";
import { extractAudio } from "../src/extract/audio.js";
import { InterruptedError } from "../src/extract/run.js";
import { extractText } from "../src/extract/text.js";
import { parseNpyHeader } from "../src/store/npy.js";
import { openSequenceStore, readStore } from "../src/store/read.js";
import { validateStores } from "../src/store/validate.js";
import { TextEncoder } from "../src/text/encoder.js";
import { trainProbe } from "../src/train/probe.js";
import { float16ToFloat32, float32ToFloat16 } from "../src/util/float16.js";
import { sha256File } from "../src/util/fs.js";
import { writeIndex } from "./helpers/csv.js";
import { demoAudio, demoModelCopies, demoRows, failedChecks } from "./helpers/repr-ref.js";
import { DEMO_INDEX, removeDir, tempDir } from "./helpers/paths.js";

const rows = demoRows;
const failedNames = (r: Awaited<ReturnType<typeof validateStores>>) => r.stores.flatMap((s) => s.checks.filter((c) => !c.ok).map((c) => c.name));

let dir: string;
let textModel: string;
let audioModel: string;
beforeAll(async () => {
  dir = await tempDir("repr-seq-");
  ({ text: textModel, audio: audioModel } = await demoModelCopies(dir));
});
afterAll(() => removeDir(dir));

describe("text sequence stores", () => {
  let out: string;
  let seqs: Float32Array[];
  beforeAll(async () => {
    out = path.join(dir, "text-seq");
    await extractText({ csv: DEMO_INDEX, out, model: textModel, offline: true, pooling: "none", batchSize: 5, layout: "per-utterance" });
    const enc = await TextEncoder.load({ model: textModel, offline: true, pooling: "none" });
    try {
      seqs = await enc.sequences(rows.map((r) => r.text));
    } finally {
      await enc.dispose();
    }
  });

  it("frames.npy holds every token (specials included), lengths.npy the counts; numpy splits it back", async () => {
    const meta = JSON.parse(readFileSync(path.join(out, "meta.json"), "utf8"));
    const lengths = seqs.map((s) => s.length / 32);
    expect(meta).toMatchObject({ pooling: "none", n: 24, d: 32, total_frames: lengths.reduce((a, b) => a + b, 0), special_tokens: { prefix: [101], suffix: [102] } });
    expect(existsSync(path.join(out, "embeddings.npy"))).toBe(false);
    const py = JSON.parse(
      execFileSync("python3", [
        "-c",
        `import numpy as np, json
f = np.load("${out}/frames.npy", mmap_mode="r"); n = np.load("${out}/lengths.npy"); s = np.load("${out}/special.npy")
parts = np.split(f, np.cumsum(n)[:-1]); sp = np.split(s, np.cumsum(n)[:-1])
one = np.load("${out}/per_utterance/${rows[7].utter_id}.npy")
print(json.dumps({"shape": list(f.shape), "dtype": str(n.dtype), "lengths": n.tolist(), "p7": [float(x) for x in parts[7][2, :3]],
  "specials": sorted(set((int(x[0]), int(x[-1]), int(x[1:-1].sum())) for x in sp)), "one": list(one.shape), "same": bool((one == parts[7]).all())}))`,
      ]).toString(),
    );
    expect(py.shape).toEqual([meta.total_frames, 32]);
    expect(py.dtype).toBe("int64");
    expect(py.lengths).toEqual(lengths);
    expect(py.p7).toEqual(Array.from(seqs[7].subarray(64, 67)));
    expect(py.specials).toEqual([[1, 1, 0]]); // [CLS] first, [SEP] last, nothing else flagged
    expect(py.one).toEqual([lengths[7], 32]);
    expect(py.same).toBe(true);
  });

  it("openSequenceStore streams rows in any order from disk, equal to the encoder's token states", async () => {
    const r = await openSequenceStore(out);
    try {
      expect(r.ids).toEqual(rows.map((x) => x.utter_id));
      expect(Array.from(r.lengths)).toEqual(seqs.map((s) => s.length / 32));
      const got = await r.read([23, 0, 7]);
      expect(Array.from(got[0])).toEqual(Array.from(seqs[23]));
      expect(Array.from(got[1])).toEqual(Array.from(seqs[0]));
      // Rows are read when asked for, not loaded at open: a change on disk after opening is what read() sees.
      const copy = path.join(dir, "text-seq-copy");
      cpSync(out, copy, { recursive: true });
      const r2 = await openSequenceStore(copy);
      const file = path.join(copy, "frames.npy");
      const bytes = readFileSync(file);
      const off = parseNpyHeader(bytes).dataOffset + r2.offsets[5] * 32 * 4;
      bytes.writeFloatLE(1234.5, off);
      writeFileSync(file, bytes);
      expect((await r2.read([5]))[0][0]).toBe(1234.5);
      await r2.close();
      await expect(r.read([24])).rejects.toThrow(/no row 24/);
    } finally {
      await r.close();
    }
  });

  it("validate checks lengths, offsets, special tokens, finiteness and ids of every row", async () => {
    expect(failedChecks(await validateStores([out], DEMO_INDEX))).toEqual([]);
    const copy = (name: string) => {
      const d = path.join(dir, name);
      cpSync(out, d, { recursive: true });
      return d;
    };
    const rehash = async (d: string, key: string, file: string) => {
      const meta = JSON.parse(readFileSync(path.join(d, "meta.json"), "utf8"));
      meta[key] = await sha256File(path.join(d, file));
      writeFileSync(path.join(d, "meta.json"), JSON.stringify(meta));
    };

    // A NaN in one token of row 4: named by row and id.
    const nan = copy("seq-nan");
    const f = readFileSync(path.join(nan, "frames.npy"));
    const r0 = await openSequenceStore(nan);
    const off = parseNpyHeader(f).dataOffset + (r0.offsets[3] + 2) * 32 * 4 + 12;
    await r0.close();
    f.writeFloatLE(Number.NaN, off);
    writeFileSync(path.join(nan, "frames.npy"), f);
    await rehash(nan, "embeddings_sha256", "frames.npy");
    let r = await validateStores([nan], DEMO_INDEX);
    expect(failedNames(r)).toEqual(["finite values", "per-utterance files"]);
    expect(failedChecks(r)[0]).toMatch(/1 row\(s\) with NaN\/Inf: row 4 \(demo_s1_004\)/);
    expect(failedChecks(r)[1]).toMatch(/demo_s1_004\.npy differs from row 4 of frames\.npy/);

    // Lengths moved between two rows (same sum): the special-token pattern no longer lines up.
    const shifted = copy("seq-shift");
    const lb = readFileSync(path.join(shifted, "lengths.npy"));
    const lo = parseNpyHeader(lb).dataOffset;
    lb.writeBigInt64LE(lb.readBigInt64LE(lo + 8 * 2) + 1n, lo + 8 * 2);
    lb.writeBigInt64LE(lb.readBigInt64LE(lo + 8 * 3) - 1n, lo + 8 * 3);
    writeFileSync(path.join(shifted, "lengths.npy"), lb);
    await rehash(shifted, "lengths_sha256", "lengths.npy");
    r = await validateStores([shifted], DEMO_INDEX);
    expect(failedNames(r)).toEqual(["special tokens", "per-utterance files"]);
    expect(failedChecks(r)[0]).toMatch(/2 row\(s\) whose first 1 \/ last 1 positions are not the special tokens: row 3 \(demo_s1_003\), row 4/);

    // One length too many: the sum no longer matches frames.npy.
    const longer = copy("seq-long");
    const lb2 = readFileSync(path.join(longer, "lengths.npy"));
    lb2.writeBigInt64LE(lb2.readBigInt64LE(lo) + 1n, lo);
    writeFileSync(path.join(longer, "lengths.npy"), lb2);
    r = await validateStores([longer], DEMO_INDEX);
    expect(failedNames(r)).toEqual(["lengths sha256", "offsets", "frames.npy shape and dtype"]);
  });

  it("--layers all gives frames [sum T, 3, 32]; readStore and training refuse a sequence store with a clear message", async () => {
    const layered = path.join(dir, "text-seq-layers");
    const s = await extractText({ csv: DEMO_INDEX, out: layered, model: textModel, offline: true, pooling: "none", layers: "all" });
    expect(s.meta).toMatchObject({ layers: [0, 1, 2], d: 32 });
    const r = await openSequenceStore(layered);
    try {
      const [row] = await r.read([7]);
      // The last layer of each token is the plain sequence store's token.
      const T = seqs[7].length / 32;
      let worst = 0;
      for (let t = 0; t < T; t++) for (let h = 0; h < 32; h++) worst = Math.max(worst, Math.abs(row[(t * 3 + 2) * 32 + h] - seqs[7][t * 32 + h]));
      expect(worst).toBeLessThan(1e-6);
    } finally {
      await r.close();
    }
    expect(failedChecks(await validateStores([layered], DEMO_INDEX))).toEqual([]);
    await expect(readStore(layered)).rejects.toThrow(/is a sequence store \(--pooling none: \d+ frames of 24 utterances in frames\.npy\)/);
    await expect(trainProbe({ csv: DEMO_INDEX, features: `text=${layered}`, head: "linear", out: path.join(dir, "run-seq") })).rejects.toThrow(/sequence store.*the other heads need a pooled store/);
  });

  it("an interrupted sequence extraction resumes to the same bytes", async () => {
    const words = "why would you do that to me again and again i really cannot believe it".split(" ");
    const csv = await writeIndex(dir, Array.from({ length: 120 }, (_, i) => ({ utter_id: `s${i}`, text: words.slice(0, 1 + (i * 7) % words.length).join(" ") })), "seq.csv");
    const full = path.join(dir, "seq-full");
    const part = path.join(dir, "seq-part");
    await extractText({ csv, out: full, model: textModel, offline: true, pooling: "none", layers: "0,2", batchSize: 8, flushRows: 8 });
    const ctrl = new AbortController();
    const run = extractText({
      csv, out: part, model: textModel, offline: true, pooling: "none", layers: "0,2", batchSize: 8, flushRows: 8, signal: ctrl.signal,
      onProgress: (e) => e.phase === "extract" && e.done >= 40 && ctrl.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    expect(existsSync(path.join(part, "frames.npy"))).toBe(false);
    const s = await extractText({ csv, out: part, model: textModel, offline: true, pooling: "none", layers: "0,2", batchSize: 8, flushRows: 8 });
    expect(s.resumedRows).toBeGreaterThanOrEqual(40);
    for (const f of ["frames.npy", "lengths.npy", "special.npy", "ids.txt"])
      expect((await readFile(path.join(part, f))).equals(await readFile(path.join(full, f))), f).toBe(true);
  });
});

describe("audio sequence stores", () => {
  for (const batching of ["exact", "reference"] as const) {
    it(`${batching}: each clip's ${batching === "exact" ? "own frames" : "real frames of its padded batch"}, equal to the encoder's; validate passes`, async () => {
      const out = path.join(dir, `audio-seq-${batching}`);
      const s = await extractAudio({ csv: DEMO_INDEX, out, model: audioModel, offline: true, pooling: "none", batching, batchSize: 4 });
      const enc = await AudioEncoder.load({ model: audioModel, offline: true, pooling: "none", batching });
      const r = await openSequenceStore(out);
      try {
        const res = await enc.embedFiles(demoAudio, 4);
        expect(Array.from(r.lengths)).toEqual(res.lengths);
        if (batching === "exact") expect(res.lengths).toEqual(res.clips.map((c) => convOutputLength(c!.samples.length, enc.geometry)));
        const got = await r.read(rows.map((_, i) => i));
        got.forEach((g, i) => expect(Array.from(g), `row ${i}`).toEqual(Array.from(res.vectors[i]!)));
        expect(s.meta).toMatchObject({ pooling: "none", total_frames: res.lengths.reduce((a, b) => a + b, 0) });
        expect(s.meta.special_tokens).toBeUndefined();
      } finally {
        await r.close();
        await enc.dispose();
      }
      expect(existsSync(path.join(out, "special.npy"))).toBe(false);
      expect(failedChecks(await validateStores([out], DEMO_INDEX))).toEqual([]);
    });
  }

  it("a row whose audio cannot be used goes to failures.csv; the other rows' frames are unaffected", async () => {
    const csv = await writeIndex(dir, [
      { utter_id: "a", audio_path: demoAudio[0] },
      { utter_id: "gone", audio_path: path.join(dir, "missing.wav") },
      { utter_id: "b", audio_path: demoAudio[5] },
    ], "seq-bad.csv");
    const out = path.join(dir, "audio-seq-bad");
    const s = await extractAudio({ csv, out, model: audioModel, offline: true, pooling: "none" });
    expect(s.meta).toMatchObject({ n: 2, failures: 1 });
    expect(readFileSync(path.join(out, "failures.csv"), "utf8")).toMatch(/gone,2,/);
    const r = await openSequenceStore(out);
    try {
      expect(r.ids).toEqual(["a", "b"]);
      const whole = await openSequenceStore(path.join(dir, "audio-seq-exact"));
      const [a, b] = await whole.read([0, 5]);
      await whole.close();
      const got = await r.read([0, 1]);
      expect(Array.from(got[0])).toEqual(Array.from(a));
      expect(Array.from(got[1])).toEqual(Array.from(b));
    } finally {
      await r.close();
    }
    expect(failedChecks(await validateStores([out], csv))).toEqual([]);
  });

  it("builtin:fbank --pooling none: every clip's 100 Hz filterbank frames, as the extractor computes them", async () => {
    const out = path.join(dir, "fbank-seq");
    const s = await extractAudio({ csv: DEMO_INDEX, out, model: "builtin:fbank", pooling: "none", storeDtype: "float16" });
    expect(s.meta).toMatchObject({ pooling: "none", d: 80, dtype: "float16" });
    const f = await BuiltinFrameExtractor.load({ model: "builtin:fbank" });
    const r = await openSequenceStore(out);
    try {
      const clip = await f.loadClip(demoAudio[3]);
      const frames = f.frames(clip.samples);
      expect(r.lengths[3]).toBe(frames.frames);
      expect(Array.from((await r.read([3]))[0])).toEqual(Array.from(float16ToFloat32(float32ToFloat16(frames.data))));
    } finally {
      await r.close();
    }
    expect(failedChecks(await validateStores([out], DEMO_INDEX))).toEqual([]);
    await expect(extractAudio({ csv: DEMO_INDEX, out: path.join(dir, "fbank-layers"), model: "builtin:fbank", layers: "all" })).rejects.toThrow(
      /--layers all \(there are no encoder layers\)/,
    );
  });
});
