/**
 * The synthetic pooled layer store of fixtures/reference/layers (scripts/gen/layers_fixtures.py), written as
 * a feature store [N, L, D] with meta.layers, plus an index with 4 sessions.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { readNpy } from "../../src/store/npy.js";
import { writeIndex, type Row } from "./csv.js";
import { EMOTIONS, writeStore } from "./probe-data.js";

export const LAYER_FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/reference/layers");

export interface LayerTrajectory {
  name: string;
  base: "linear" | "mlp";
  layer_norm: boolean;
  hidden: number;
  lr: number;
  weight_decay: number;
  batch_size: number;
  train_rows: number;
  init: Record<string, number[]>;
  final: Record<string, number[]>;
  losses: number[];
  logits_init: number[];
  logits_final: number[];
  softmax_final: number[];
}

export interface LayerSynth {
  /** Row-major [n, numLayers, d]. */
  x: Float32Array;
  n: number;
  numLayers: number;
  d: number;
  numClasses: number;
  layers: number[];
  y: number[];
  split: ("train" | "val" | "test")[];
  trajectories: LayerTrajectory[];
}

export async function loadLayerSynth(): Promise<LayerSynth> {
  const { data, shape } = await readNpy(path.join(LAYER_FIXTURES, "layers_x.npy"));
  const j = JSON.parse(readFileSync(path.join(LAYER_FIXTURES, "layers.json"), "utf8"));
  if (shape.join(",") !== [j.n, j.num_layers, j.d].join(",")) throw new Error(`layers_x.npy shape ${shape} does not match layers.json`);
  return { x: data, n: j.n, numLayers: j.num_layers, d: j.d, numClasses: j.num_classes, layers: j.layers, y: j.y, split: j.split, trajectories: j.trajectories };
}

export interface LayerFixture {
  csv: string;
  /** The layer store [N, L, D]. */
  layered: string;
  /** Layer position 2 alone as an old-style [N, D] store. */
  flat: string;
  ids: string[];
}

export async function writeLayerFixture(dir: string, s: LayerSynth): Promise<LayerFixture> {
  await mkdir(dir, { recursive: true });
  const ids = s.y.map((_, i) => `utt_${String(i).padStart(4, "0")}`);
  const rows: Row[] = ids.map((id, i) => ({ utter_id: id, session: `Ses0${(i % 4) + 1}`, text: "t", label: EMOTIONS[s.y[i]], split: s.split[i] }));
  const csv = await writeIndex(dir, rows);
  const sha = createHash("sha256").update(await readFile(csv)).digest("hex");
  const layered = await writeStore(path.join(dir, "features", "audio-layers"), ids, s.x, s.d, "audio", sha, [], s.layers);
  const flatX = new Float32Array(s.n * s.d);
  for (let i = 0; i < s.n; i++) flatX.set(s.x.subarray((i * s.numLayers + 2) * s.d, (i * s.numLayers + 3) * s.d), i * s.d);
  const flat = await writeStore(path.join(dir, "features", "audio-flat"), ids, flatX, s.d, "audio", sha);
  return { csv, layered, flat, ids };
}
