/**
 * Every encoder layer, against PyTorch's output_hidden_states (scripts/gen/repr_fixtures.py): the layer
 * boundaries found in the ONNX graphs by module path, and every hidden state of the tiny BERT, RoBERTa
 * (weights in an external data file), WavLM Base-shaped (post-LN) and WavLM Large-shaped (pre-LN) models,
 * pooled each way and as sequences, for text and both audio batching modes plus seq-reference.
 *
 * Tolerance: 1e-5 relative to each (item, layer) block's largest value. Measured: text <= 3.8e-7; audio exact
 * <= 2.3e-6; the pre-LN model in padded modes <= 2.8e-6. The post-LN model in padded modes (reference batches,
 * seq-reference) reaches 1.2e-5 on the 0.3 s clip's frame just past its conv-formula length: GroupNorm
 * normalises each channel over the whole padded batch, and onnxruntime and torch sum those 24,000 samples in
 * different orders; that case is bounded at 5e-5 (the existing padded-batch tests use 1e-4 absolute).
 */
import { readFile } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudioEncoder } from "../src/audio/encoder.js";
import { env } from "../src/env.js";
import { hiddenStatesModel, planHiddenStates } from "../src/models/hidden-states.js";
import { UsageError } from "../src/errors.js";
import { resolveLayers } from "../src/models/layer-spec.js";
import { TextEncoder } from "../src/text/encoder.js";
import { decodeModelView, encodeModel } from "../src/train/onnx/proto.js";
import { sha256File } from "../src/util/fs.js";
import { synthWav, writeTemp } from "./helpers/audio-synth.js";
import { copiedModel, FIXTURES, removeDir, tempDir, tinyBert30522 } from "./helpers/paths.js";
import { audioRef, concat, POOL_FILE, refArray, textRef, worstRelative } from "./helpers/repr-ref.js";

const MODELS = path.join(FIXTURES, "models");

let dir: string;
const folders: Record<string, string> = {};
beforeAll(async () => {
  dir = await tempDir("repr-layers-");
  folders["tiny-bert-30522"] = await tinyBert30522({ copyOnnx: true });
  for (const m of ["tiny-roberta", "tiny-wavlm", "tiny-wavlm-mask", "tiny-wavlm-large", "tiny-wavlm-opset17", "tiny-wavlm-large-opset17"])
    folders[m] = await copiedModel(path.join(MODELS, m), dir);
});
afterAll(async () => {
  await removeDir(dir);
  await removeDir(folders["tiny-bert-30522"]);
});

describe("layer boundaries in the ONNX graph", () => {
  const plan = async (name: string, layers: number, stable?: boolean) =>
    planHiddenStates(decodeModelView(await readFile(path.join(MODELS, name, "onnx", "model.onnx"))), layers, name, stable);

  it("BERT and RoBERTa: embeddings LayerNorm, then each layer's output LayerNorm (post-LN)", async () => {
    const bert = await plan("tiny-bert-30522", 2);
    expect(bert.rule).toBe("post-ln-text");
    expect(bert.tensors).toEqual(["/embeddings/LayerNorm/Add_1_output_0", "/encoder/layer.0/output/LayerNorm/Add_1_output_0", "last_hidden_state"]);
    // An export of a model inside another module (BertForSequenceClassification: /bert/encoder/...) works too.
    const view = decodeModelView(await readFile(path.join(MODELS, "tiny-bert-30522", "onnx", "model.onnx")));
    const prefixed = { ...view, nodes: view.nodes.map((n) => ({ ...n, name: n.name.startsWith("/") ? `/bert${n.name}` : n.name })) };
    expect(planHiddenStates(prefixed, 2, "m")).toMatchObject({ prefix: "/bert/", tensors: bert.tensors });
    const roberta = await plan("tiny-roberta", 3);
    expect(roberta.rule).toBe("post-ln-text");
    expect(roberta.tensors.length).toBe(4);
    expect(roberta.tensors.at(-1)).toBe("last_hidden_state");
  });

  it("WavLM Base: encoder LayerNorm, then each layer's final_layer_norm; Large (pre-LN): residual Adds, final LayerNorm last", async () => {
    const base = await plan("tiny-wavlm-mask", 2, false);
    expect(base.rule).toBe("post-ln-speech");
    expect(base.tensors).toEqual(["/encoder/layer_norm/Add_1_output_0", "/encoder/layers.0/final_layer_norm/Add_1_output_0", "last_hidden_state"]);
    const large = await plan("tiny-wavlm-large", 3, true);
    expect(large.rule).toBe("pre-ln-speech");
    expect(large.tensors).toEqual(["/encoder/Add_output_0", "/encoder/layers.0/Add_1_output_0", "/encoder/layers.1/Add_1_output_0", "last_hidden_state"]);
    // The config and the graph must agree on the layer type.
    await expect(plan("tiny-wavlm-large", 3, false)).rejects.toThrow(/do_stable_layer_norm=false, but .* does not feed layer 0 \(pre-LN\)/);
  });

  it("names what it looked for when a graph has no module paths, and when layers are missing", async () => {
    const plain = decodeModelView(
      encodeModel({
        graphName: "g",
        nodes: [{ opType: "Relu", inputs: ["x"], outputs: ["y"], name: "relu0" }],
        inputs: [{ name: "x", elemType: "float32", shape: [1, 4] }],
        outputs: [{ name: "y", elemType: "float32", shape: [1, 4] }],
        initializers: [],
      }),
    );
    expect(() => planHiddenStates(plain, 12, "m")).toThrow(/cannot find the encoder's layer boundaries .*'\/encoder\/layer\.N\/output\/LayerNorm\/\.\.\.'.*'\/encoder\/layers\.N\/final_layer_norm\/\.\.\.'.*N = 0\.\.11 \(num_hidden_layers in config\.json\).*no module-path names/s);
    const bert = decodeModelView(await readFile(path.join(MODELS, "tiny-bert-30522", "onnx", "model.onnx")));
    expect(() => planHiddenStates(bert, 4, "m")).toThrow(/found 2 of 4 layers/);
  });

  it("caches the edited model beside the original, keyed by its sha256; external data stays shared", async () => {
    const folder = folders["tiny-roberta"];
    const onnx = path.join(folder, "onnx", "model.onnx");
    const sha = await sha256File(onnx);
    const first = await hiddenStatesModel(onnx, sha, 3, "tiny-roberta");
    expect(first.created).toBe(true);
    expect(first.file).toBe(path.join(folder, "onnx", `model.hidden-states-v1-${sha.slice(0, 16)}.onnx`));
    // Only the graph is copied: the weights stay in model.onnx_data, which the edited file references.
    expect(statSync(first.file).size).toBeLessThan(statSync(onnx).size + 4096);
    expect(statSync(path.join(MODELS, "tiny-roberta", "onnx", "model.onnx_data")).size).toBeGreaterThan(100_000);
    const again = await hiddenStatesModel(onnx, sha, 3, "tiny-roberta");
    expect(again).toMatchObject({ created: false, file: first.file });
    const view = decodeModelView(await readFile(first.file));
    expect(view.outputs.map((o) => o.name)).toEqual(["last_hidden_state", "hidden_states.0", "hidden_states.1", "hidden_states.2", "hidden_states.3"]);
    expect(JSON.parse(view.metadata["emofeat.hidden_states"])).toMatchObject({ source_sha256: sha, rule: "post-ln-text" });
    expect(existsSync(first.file + ".json")).toBe(true);
  });
});

describe("read-only model folders", () => {
  // Root ignores permissions, so this can only run as another user (as in CI).
  it.skipIf(process.getuid?.() === 0)("write the model with hidden states to the cache, with a copy of the external data", async () => {
    const { chmod, cp } = await import("node:fs/promises");
    const src = path.join(dir, "readonly", "tiny-roberta");
    await cp(path.join(MODELS, "tiny-roberta"), src, { recursive: true });
    await chmod(path.join(src, "onnx"), 0o555);
    const saved = env.cacheDir;
    env.cacheDir = path.join(dir, "cache");
    try {
      const onnx = path.join(src, "onnx", "model.onnx");
      const sha = await sha256File(onnx);
      const m = await hiddenStatesModel(onnx, sha, 3, "ro");
      expect(m.file).toBe(path.join(dir, "cache", "hidden-states", sha, `model.hidden-states-v1-${sha.slice(0, 16)}.onnx`));
      expect(existsSync(path.join(dir, "cache", "hidden-states", sha, "model.onnx_data"))).toBe(true);
      const enc = await TextEncoder.load({ model: src, maxLen: 24, layers: "all", offline: true });
      try {
        expect(enc.hiddenStates?.file).toMatch(/cache\/hidden-states\//);
        expect((await enc.embed(["hello"])).length).toBe(4 * 32);
      } finally {
        await enc.dispose();
      }
    } finally {
      env.cacheDir = saved;
      await chmod(path.join(src, "onnx"), 0o755);
    }
  });
});

describe("--layers syntax", () => {
  it("last, all, lists and ranges; out-of-range and malformed specs are refused", () => {
    expect(resolveLayers("last", 12, "m")).toBeNull();
    expect(resolveLayers(undefined, 12, "m")).toBeNull();
    expect(resolveLayers("all", 2, "m")).toEqual([0, 1, 2]);
    expect(resolveLayers("0,4-8,12", 12, "m")).toEqual([0, 4, 5, 6, 7, 8, 12]);
    expect(resolveLayers("8, 2,2-3", 12, "m")).toEqual([2, 3, 8]);
    expect(() => resolveLayers("13", 12, "m")).toThrow(/13 out of range; m has 12 layers, so hidden_states indices run 0\.\.12/);
    expect(() => resolveLayers("5-3", 12, "m")).toThrow(/runs backwards/);
    expect(() => resolveLayers("first", 12, "m")).toThrow(/expected last, all, or a list/);
  });
});

describe("text: every hidden state against torch", () => {
  for (const name of ["tiny-bert-30522", "tiny-roberta"]) {
    const ref = textRef.models[name];
    const L = ref.layers;
    for (const pooling of ["mean", "cls", "max", "mean+std", "none"] as const) {
      it(`${name}: --layers all, pooling ${pooling}: every layer within 1e-5`, async () => {
        const enc = await TextEncoder.load({ model: folders[name], maxLen: ref.max_len, layers: "all", pooling, offline: true });
        try {
          expect(enc.layers).toEqual(Array.from({ length: L }, (_, i) => i));
          expect(ref.texts.map((t) => enc.tokenize(t))).toEqual(ref.input_ids);
          const want = await refArray(ref.files[POOL_FILE[pooling]]);
          if (pooling === "none") {
            const seqs = await enc.sequences(ref.texts, 3);
            expect(seqs.map((s) => s.length / (L * ref.hidden_size))).toEqual(ref.lengths);
            expect(worstRelative(concat(seqs), want, ref.lengths, L, ref.hidden_size)).toBeLessThan(1e-5);
          } else {
            const got = await enc.embed(ref.texts, 3);
            expect(worstRelative(got, want, ref.texts.map(() => 1), L, enc.layerWidth)).toBeLessThan(1e-5);
          }
        } finally {
          await enc.dispose();
        }
      });
    }
  }

  it("--layers L equals the plain last_hidden_state; --layers last keeps the old path", async () => {
    const ref = textRef.models["tiny-roberta"];
    const last = await TextEncoder.load({ model: folders["tiny-roberta"], maxLen: ref.max_len, offline: true });
    const lastIdx = await TextEncoder.load({ model: folders["tiny-roberta"], maxLen: ref.max_len, layers: [ref.layers - 1], offline: true });
    try {
      expect(last.layers).toBeNull();
      expect(last.hiddenStates).toBeNull();
      expect(lastIdx.hiddenStates).toMatchObject({ num_hidden_layers: 3, rule: "post-ln-text" });
      const a = await last.embed(ref.texts);
      const b = await lastIdx.embed(ref.texts);
      expect(worstRelative(a, b, ref.texts.map(() => 1), 1, 32)).toBeLessThan(1e-6);
    } finally {
      await last.dispose();
      await lastIdx.dispose();
    }
  });
});

describe("audio: every hidden state against torch, both batching modes and seq-reference", () => {
  let files: string[];
  beforeAll(() => {
    files = audioRef.clips.map((c) => writeTemp(dir, `${c.id}.wav`, synthWav(c)));
  });
  const modes = [
    ["exact", { batching: "exact" }],
    ["reference", { batching: "reference" }],
    ["seq-reference", { compat: "seq-reference" }],
  ] as const;
  type Mode = (typeof modes)[number];
  /** Model `name`'s every layer in one mode and pooling, held to `refName`'s torch hidden states within `tol`. */
  async function expectLayers(name: string, refName: string, [mode, opts]: Mode, pooling: "mean" | "max" | "mean+std" | "none", tol: number) {
    const ref = audioRef.models[refName];
    const enc = await AudioEncoder.load({ model: folders[name], maxSeconds: audioRef.maxSeconds, layers: "all", pooling, offline: true, ...opts });
    try {
      const res = await enc.embedFiles(files, audioRef.batchSize);
      expect(res.errors.filter(Boolean)).toEqual([]);
      const want = await refArray(ref.modes[mode].files[POOL_FILE[pooling]]);
      const rows = pooling === "none" ? ref.modes[mode].lengths : files.map(() => 1);
      if (pooling === "none") expect(res.lengths).toEqual(ref.modes[mode].lengths);
      const err = worstRelative(concat(res.vectors as Float32Array[]), want, rows, ref.layers, enc.layerWidth);
      expect(err, `${name} ${mode} ${pooling}`).toBeLessThan(tol);
    } finally {
      await enc.dispose();
    }
  }
  for (const name of ["tiny-wavlm-mask", "tiny-wavlm-large"]) {
    for (const m of modes) {
      const tol = name === "tiny-wavlm-mask" && m[0] !== "exact" ? 5e-5 : 1e-5;
      it(`${name} (${name.endsWith("large") ? "pre-LN" : "post-LN"}), ${m[0]}: mean, max, mean+std and frames of every layer within ${tol}`, async () => {
        for (const pooling of ["mean", "max", "mean+std", "none"] as const) await expectLayers(name, name, m, pooling, tol);
      });
    }
  }

  // The same two models exported with opset 17 (scripts/gen/opset17_fixtures.py): every LayerNorm is one
  // LayerNormalization node, as in newer Optimum exports, so the layer boundaries are other tensors.
  for (const [name, same, stable] of [["tiny-wavlm-opset17", "tiny-wavlm-mask", false], ["tiny-wavlm-large-opset17", "tiny-wavlm-large", true]] as const) {
    it(`${name} (LayerNormalization nodes, ${stable ? "pre-LN" : "post-LN"}): the same hidden states as ${same}'s torch reference, exact and reference batching`, async () => {
      const ref = audioRef.models[same];
      const plan = planHiddenStates(decodeModelView(await readFile(path.join(MODELS, name, "onnx", "model.onnx"))), ref.layers - 1, name, stable);
      expect(plan.rule).toBe(stable ? "pre-ln-speech" : "post-ln-speech");
      if (stable) expect(plan.tensors[0]).toBe("/encoder/Add_output_0");
      else expect(plan.tensors.slice(0, -1)).toEqual(["/encoder/layer_norm/LayerNormalization_output_0", "/encoder/layers.0/final_layer_norm/LayerNormalization_output_0"]);
      for (const m of modes.slice(0, 2))
        for (const pooling of ["mean", "none"] as const) await expectLayers(name, same, m, pooling, !stable && m[0] !== "exact" ? 5e-5 : 1e-5);
    });
  }

  it("the model without an attention_mask input gives the same layers in exact mode", async () => {
    const enc = await AudioEncoder.load({ model: folders["tiny-wavlm"], maxSeconds: audioRef.maxSeconds, layers: "all", offline: true });
    try {
      expect(enc.takesAttentionMask).toBe(false);
      const res = await enc.embedFiles(files, audioRef.batchSize);
      const want = await refArray(audioRef.models["tiny-wavlm-mask"].modes.exact.files.mean);
      expect(worstRelative(concat(res.vectors as Float32Array[]), want, files.map(() => 1), 3, 32)).toBeLessThan(1e-5);
    } finally {
      await enc.dispose();
    }
  });

  it("refuses cls pooling for speech and seq-reference with --batching exact", async () => {
    await expect(AudioEncoder.load({ model: folders["tiny-wavlm"], pooling: "cls", offline: true })).rejects.toThrow(/speech frames have no such token/);
    await expect(AudioEncoder.load({ model: folders["tiny-wavlm"], compat: "seq-reference", batching: "exact", offline: true })).rejects.toThrow(
      /cannot run with --batching exact/,
    );
    // Bad option values and combinations are usage errors (exit 1), out-of-range layers included.
    await expect(AudioEncoder.load({ model: folders["tiny-wavlm"], pooling: "cls", offline: true })).rejects.toBeInstanceOf(UsageError);
    await expect(AudioEncoder.load({ model: folders["tiny-wavlm"], compat: "seq-reference", batching: "exact", offline: true })).rejects.toBeInstanceOf(UsageError);
    await expect(AudioEncoder.load({ model: folders["tiny-wavlm"], layers: "0,9", offline: true })).rejects.toThrow(UsageError);
    expect(() => resolveLayers("13", 12, "m")).toThrow(UsageError);
  });
});
