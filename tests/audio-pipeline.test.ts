/**
 * The whole audio pipeline on the tiny ONNX encoders against the torch reference, for both batching modes and
 * do_normalize true/false. The harness below calls transformers.js directly; the AudioEncoder replaces it.
 *
 * Tolerances: exact mode runs each clip alone through the same float32 graph as torch, so the only
 * differences are kernel summation order (ORT vs torch), ~1e-6 on values of order 1: 1e-5 abs.
 * Reference mode adds padded batches of up to 12 s with masked softmax, where ORT's and torch's reductions
 * over 600 frames differ more; 1e-4 abs as the issue sets.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { AutoModel, env, Tensor } from "@huggingface/transformers";
import { loadClip } from "../src/audio/clip.js";
import {
  convGeometryFrom,
  convOutputLength,
  extractFeatures,
  featureExtractorConfigFrom,
  maskedMeanPool,
  referenceFrameMask,
} from "../src/audio/preprocess.js";
import { synthWav, tempDir, writeTemp } from "./helpers/audio-synth.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const pipeline = JSON.parse(readFileSync(path.join(ROOT, "fixtures/reference/audio/pipeline.json"), "utf8")) as {
  targetSampleRate: number;
  maxSeconds: number;
  batchSize: number;
  clips: { id: string; sampleRate: number; channels: number; frames: number; seed: number; kind: string }[];
  embeddings: Record<string, Record<"normalize" | "raw", { reference: number[][]; exact: number[][] }>>;
};

env.allowRemoteModels = false;

type Model = Awaited<ReturnType<typeof AutoModel.from_pretrained>>;

async function run(model: Model, inputNames: string[], clips: Float32Array[], doNormalize: boolean) {
  const b = extractFeatures(clips, { doNormalize, paddingValue: 0 });
  const feeds: Record<string, Tensor> = { input_values: new Tensor("float32", b.inputValues, [b.batchSize, b.length]) };
  if (inputNames.includes("attention_mask")) feeds.attention_mask = new Tensor("int64", b.attentionMask, [b.batchSize, b.length]);
  const out = (await model(feeds)) as { last_hidden_state: Tensor };
  const [B, T, H] = out.last_hidden_state.dims as number[];
  return { batch: b, hidden: out.last_hidden_state.data as Float32Array, B, T, H };
}

function maxDiff(got: Float32Array[], want: number[][]): number {
  let m = 0;
  got.forEach((g, i) => g.forEach((v, h) => (m = Math.max(m, Math.abs(v - want[i][h])))));
  return m;
}

let clips: Float32Array[] = [];

beforeAll(async () => {
  const dir = tempDir();
  const loaded = await Promise.all(
    pipeline.clips.map((c) =>
      loadClip(writeTemp(dir, `${c.id}.wav`, synthWav(c)), { targetSampleRate: pipeline.targetSampleRate, maxSeconds: pipeline.maxSeconds }),
    ),
  );
  clips = loaded.map((l) => l.samples);
});

for (const name of ["tiny-wavlm", "tiny-wavlm-mask"]) {
  describe(`${name}: audio pipeline parity with torch`, () => {
    const folder = path.join(ROOT, "fixtures/models", name);
    const config = JSON.parse(readFileSync(path.join(folder, "config.json"), "utf8"));
    const fe = featureExtractorConfigFrom(JSON.parse(readFileSync(path.join(folder, "preprocessor_config.json"), "utf8")));
    const geometry = convGeometryFrom(config);
    let model: Model;
    let inputNames: string[];

    beforeAll(async () => {
      model = await AutoModel.from_pretrained(folder, { dtype: "fp32" });
      inputNames = (model as unknown as { sessions: { model: { inputNames: string[] } } }).sessions.model.inputNames;
    });

    it("loads as a WavLM model whose ONNX inputs say whether to pass attention_mask", () => {
      expect(model.constructor.name).toBe("WavLMModel");
      expect(inputNames).toEqual(name.endsWith("mask") ? ["input_values", "attention_mask"] : ["input_values"]);
      expect(fe.doNormalize).toBe(true);
    });

    for (const norm of ["normalize", "raw"] as const) {
      it(`exact mode (each clip alone, conv-formula frames), do_normalize ${norm === "normalize"}: within 1e-5`, async () => {
        const got: Float32Array[] = [];
        for (const clip of clips) {
          const r = await run(model, inputNames, [clip], norm === "normalize");
          expect(r.T).toBe(convOutputLength(clip.length, geometry));
          got.push(maskedMeanPool(r.hidden, r.T, r.H));
        }
        const d = maxDiff(got, pipeline.embeddings[name][norm].exact);
        expect(d).toBeLessThanOrEqual(1e-5);
      });

      it(`reference mode (batches of ${pipeline.batchSize}, padded, round(linspace) frame mask), do_normalize ${norm === "normalize"}: within 1e-4`, async () => {
        const got: Float32Array[] = [];
        for (let b0 = 0; b0 < clips.length; b0 += pipeline.batchSize) {
          const batch = clips.slice(b0, b0 + pipeline.batchSize);
          const r = await run(model, inputNames, batch, norm === "normalize");
          batch.forEach((clip, i) => {
            const mask = referenceFrameMask(clip.length, r.batch.length, r.T);
            got.push(maskedMeanPool(r.hidden, r.T, r.H, mask, i * r.T * r.H));
          });
        }
        const want = pipeline.embeddings[name][norm].reference;
        expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-4);
        // The modes really differ on padded clips (GroupNorm sees the padding), so each test checks its own mode.
        expect(maxDiff(got, pipeline.embeddings[name][norm].exact)).toBeGreaterThan(1e-2);
      });
    }
  });
}
