/** The synthetic probe data set of fixtures/reference/train (written by scripts/gen/train_fixtures.py). */
import { readFileSync } from "node:fs";
import path from "node:path";
import { readNpy } from "../../src/store/npy.js";
import type { Dataset } from "../../src/train/engine.js";

export const TRAIN_FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/reference/train");

export interface Synth {
  x: Float32Array;
  n: number;
  d: number;
  y: number[];
  split: ("train" | "val" | "test")[];
  numClasses: number;
  reference: { test_accuracy_mean: number; test_accuracy_std: number; runs: { seed: number; test: { accuracy: number } }[] };
}

export async function loadSynth(): Promise<Synth> {
  const { data, shape } = await readNpy(path.join(TRAIN_FIXTURES, "synth_x.npy"));
  const meta = JSON.parse(readFileSync(path.join(TRAIN_FIXTURES, "synth.json"), "utf8"));
  return { x: data, n: shape[0], d: shape[1], y: meta.y, split: meta.split, numClasses: meta.num_classes, reference: meta.reference_mlp };
}

export function synthSplit(s: Synth, which: "train" | "val" | "test"): Dataset {
  const idx = s.split.map((v, i) => (v === which ? i : -1)).filter((i) => i >= 0);
  const x = new Float32Array(idx.length * s.d);
  idx.forEach((r, i) => x.set(s.x.subarray(r * s.d, (r + 1) * s.d), i * s.d));
  return { x: [x], y: Int32Array.from(idx, (r) => s.y[r]), n: idx.length };
}
