/**
 * A stand-in gated fusion head (the fusion stream's heads are not on main yet): beta = sigmoid(w_g [a; t] + b_g),
 * probs = softmax(W (beta a + (1 - beta) t) + b), exported with outputs logits, probs and beta like a run's
 * head.onnx. Serve must pass `beta` through wherever a prediction goes; `gate()` recomputes beta in plain JS
 * from the same parameters, as the independent reference.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { GraphBuilder } from "../../src/train/graph/builder.js";
import { encodeModel } from "../../src/train/onnx/proto.js";

export interface GatedHead {
  wg: Float32Array;
  bg: number;
  /** beta for one row, in float64 from the parameters. */
  gate(a: ArrayLike<number>, t: ArrayLike<number>): number;
}

/** Writes `run/head.onnx` as a gated head over inputs `audio` and `text` of width `dim`, `classes` outputs. */
export async function writeGatedHead(run: string, dim: number, classes: number, seed = 7): Promise<GatedHead> {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.6;
  const values = new Map<string, Float32Array>([
    ["gate.weight", Float32Array.from({ length: 2 * dim }, rand)],
    ["gate.bias", Float32Array.of(0.1)],
    ["out.weight", Float32Array.from({ length: classes * dim }, rand)],
    ["out.bias", Float32Array.from({ length: classes }, rand)],
  ]);
  const g = new GraphBuilder({ dtype: "float32", mode: "infer", paramValues: values });
  const a = g.input("audio", ["N", dim]);
  const t = g.input("text", ["N", dim]);
  const wg = g.param("gate.weight", [1, 2 * dim], { kind: "constant", value: 0 });
  const bg = g.param("gate.bias", [1], { kind: "constant", value: 0 });
  const beta = g.sigmoid(g.linear(g.concat([a, t], 1), wg, bg));
  const fused = g.add(g.mul(beta, a), g.mul(g.sub(g.scalar(1), beta), t));
  const logits = g.linear(fused, g.param("out.weight", [classes, dim], { kind: "constant", value: 0 }), g.param("out.bias", [classes], { kind: "constant", value: 0 }));
  g.output(logits, "logits");
  g.output(g.softmax(logits, -1), "probs");
  g.output(beta, "beta");
  const bytes = encodeModel(g.toModel("gated_test_head"));
  await writeFile(path.join(run, "head.onnx"), bytes);
  // The run records the sha256 of the head it exported (predict refuses a changed head): record this one's.
  const configFile = path.join(run, "config.json");
  const config = JSON.parse(await readFile(configFile, "utf8"));
  config.files = { ...config.files, "head.onnx": createHash("sha256").update(bytes).digest("hex") };
  await writeFile(configFile, JSON.stringify(config, null, 2) + "\n");
  const w = values.get("gate.weight")!;
  return {
    wg: w,
    bg: 0.1,
    gate(av, tv) {
      let z = Math.fround(0.1);
      for (let i = 0; i < dim; i++) z += w[i] * av[i] + w[dim + i] * tv[i];
      return 1 / (1 + Math.exp(-z));
    },
  };
}
