/**
 * Fusion heads end to end on real sequence stores: text and audio extracted with --pooling none from the demo
 * corpus (tiny random models), a fusion-decoder trained on them through the store's streaming reader, then
 * prediction (the encoders give frames and tokens again) and predict --explain on the command line.
 */
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, open, writeFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { predict } from "../src/predict/predict.js";
import { openSequenceStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import { runEmofeat } from "./helpers/cli.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");

describe("fusion-decoder on sequence stores, end to end", () => {
  let dir: string;
  let run: string;
  let stores: { audio: string; text: string };
  beforeAll(async () => {
    dir = await tempDir("emofeat-fusion-e2e-");
    stores = { audio: path.join(dir, "audio-seq"), text: path.join(dir, "text-seq") };
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: stores.text, pooling: "none" });
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: stores.audio, pooling: "none" });
    run = path.join(dir, "run");
    await trainProbe({
      csv: DEMO_INDEX,
      features: `audio=${stores.audio},text=${stores.text}`,
      head: "fusion-decoder",
      out: run,
      settings: { epochs: 2, lr: 1e-3, fusion: { dModel: 16, attnHeads: 2, blocks: 1, decoderLayers: 1 } },
    });
  });
  afterAll(() => removeDir(dir));

  it("predicts from audio files and texts what the head gives on the stored frames and tokens", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const rows = index.utterances.slice(0, 6);
    const preds = await predict(run, rows.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile })), { offline: true });
    // Reference: head.onnx on the stores' own sequences, one utterance at a time (no padding).
    const [a, t] = await Promise.all([openSequenceStore(stores.audio), openSequenceStore(stores.text)]);
    const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
    let maxDiff = 0;
    for (const p of preds) {
      const ia = a.ids.indexOf(p.id!);
      const [fa] = await a.read([ia]);
      const [ft] = await t.read([t.ids.indexOf(p.id!)]);
      const ta = fa.length / a.d;
      const tt = ft.length / t.d;
      const r = await session.run({
        audio: new ort.Tensor("float32", fa, [1, ta, a.d]),
        "audio.mask": new ort.Tensor("float32", new Float32Array(ta).fill(1), [1, ta]),
        text: new ort.Tensor("float32", ft, [1, tt, t.d]),
        "text.mask": new ort.Tensor("float32", new Float32Array(tt).fill(1), [1, tt]),
      });
      const probs = r.probs.data as Float32Array;
      Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - probs[j]))));
      expect(p.beta).toBeCloseTo((r.beta.data as Float32Array)[0], 5);
    }
    await session.release();
    await Promise.all([a.close(), t.close()]);
    console.log(`predict vs head.onnx on stored sequences: max |diff| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it("CLI predict --explain: JSON and heat maps with token strings and frame times", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const u = index.utterances[0];
    const out = path.join(dir, "explain");
    const r = await runEmofeat(["predict", "--run", run, "--audio", u.audioFile!, "--text", u.text, "--explain", out, "--offline"]);
    expect(r.code).toBe(0);
    const id = path.basename(u.audioFile!, ".wav");
    expect(r.stdout).toMatch(new RegExp(`^${id}: (angry|happy|neutral|sad), beta 0\\.\\d{4} -> `));
    const e = JSON.parse(readFileSync(path.join(out, `${id}.json`), "utf8"));
    expect(e.positions.text[0]).toBe("[CLS]");
    expect(e.positions.text[e.positions.text.length - 1]).toBe("[SEP]");
    expect(e.positions.audio[1]).toMatch(/^0\.0\d s$/);
    expect(e.blocks[0].audio_to_text).toHaveLength(e.positions.audio.length);
    for (const f of [".block0.audio_to_text.png", ".block0.text_to_audio.png", ".decoder0.png"]) expect(existsSync(path.join(out, id + f)), f).toBe(true);

    // Again into the same folder: its own files are replaced. Someone's own file of the same name is not.
    const args = ["predict", "--run", run, "--audio", u.audioFile!, "--text", u.text, "--offline"];
    expect((await runEmofeat([...args, "--explain", out])).code).toBe(0);
    const mine = path.join(dir, "explain-mine");
    await mkdir(mine);
    await writeFile(path.join(mine, `${id}.json`), '{"my": "notes"}\n');
    const refused = await runEmofeat([...args, "--explain", mine]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`^emofeat: --explain: .*${id}\\.json exists and is not an explanation written by emofeat`));
    expect(readFileSync(path.join(mine, `${id}.json`), "utf8")).toBe('{"my": "notes"}\n');
    // Two ids that give one file name (on a case-insensitive file system too) are refused, not overwritten.
    const csv = path.join(dir, "collide.csv");
    await writeFile(csv, `utter_id,audio_path,text\nA/b,${u.audioFile},one\na_b,${u.audioFile},two\n`);
    const collide = await runEmofeat(["predict", "--run", run, "--csv", csv, "--offline", "--explain", path.join(dir, "explain-collide")]);
    expect(collide.code).toBe(2);
    expect(collide.stderr).toMatch(/utterances "A\/b" and "a_b" would both be written as a_b\.\*/);
  });

  it("train refuses a sequence store whose frames.npy or lengths.npy changed after extraction, naming the store", async () => {
    for (const file of ["frames.npy", "lengths.npy"]) {
      const edited = path.join(dir, `text-seq-edited-${file}`);
      await cp(stores.text, edited, { recursive: true });
      // Same size, shape and total frames: only the hash can tell. frames: one bit of one float; lengths (int64
      // after the 128-byte header): one frame moved from the second utterance to the first.
      const fh = await open(path.join(edited, file), "r+");
      const b = Buffer.alloc(16);
      await fh.read(b, 0, 16, 128);
      if (file === "frames.npy") b[4] ^= 1;
      else {
        b.writeBigInt64LE(b.readBigInt64LE(0) + 1n, 0);
        b.writeBigInt64LE(b.readBigInt64LE(8) - 1n, 8);
      }
      await fh.write(b, 0, 16, 128);
      await fh.close();
      await expect(
        trainProbe({ csv: DEMO_INDEX, features: `audio=${stores.audio},text=${edited}`, head: "fusion-decoder", out: path.join(dir, "runs", `bad-${file}`), settings: { epochs: 1 } }),
      ).rejects.toThrow(new RegExp(`text-seq-edited-${file.replace(".", "\\.")}: ${file.replace(".", "\\.")} is not the file its meta\\.json describes`));
      expect(existsSync(path.join(dir, "runs", `bad-${file}`))).toBe(false);
    }
  });
});
