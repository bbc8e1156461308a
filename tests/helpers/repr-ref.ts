/**
 * The references of scripts/gen/repr_fixtures.py (torch hidden_states of the tiny encoders, pooled per layer and
 * as sequences) and the error measure the representation tests use.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { readNpy } from "../../src/store/npy.js";
import type { ValidationReport } from "../../src/store/validate.js";
import { copiedModel, DEMO_INDEX, DEMO_MODEL, FIXTURES, ROOT } from "./paths.js";

export const REPR = path.join(FIXTURES, "reference", "repr");

export interface TextRef {
  max_len: number;
  texts: string[];
  input_ids: number[][];
  lengths: number[];
  layers: number;
  hidden_size: number;
  files: Record<"frames" | "mean" | "cls" | "max" | "meanstd", string>;
}

export interface AudioRef {
  targetSampleRate: number;
  maxSeconds: number;
  batchSize: number;
  clips: { id: string; sampleRate: number; channels: number; frames: number; seed: number; kind: string }[];
  models: Record<string, { layers: number; modes: Record<string, { lengths: number[]; files: Record<"frames" | "mean" | "max" | "meanstd", string> }> }>;
}

export const textRef = JSON.parse(readFileSync(path.join(REPR, "text.json"), "utf8")) as { models: Record<string, TextRef> };
export const audioRef = JSON.parse(readFileSync(path.join(REPR, "audio.json"), "utf8")) as AudioRef;

export async function refArray(file: string): Promise<Float32Array> {
  return (await readNpy(path.join(REPR, file))).data;
}

/** The reference file of a pooling mode. */
export const POOL_FILE = { mean: "mean", cls: "cls", max: "max", "mean+std": "meanstd", none: "frames" } as const;

/**
 * Worst relative error over items and layers: data laid out as items of rows[i] rows of [L, W] values; for each
 * (item, layer) block, max |got - want| / max |want| (the block's own scale, floored at 1e-6).
 */
export function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>, rows: readonly number[], L: number, W: number): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  let base = 0;
  for (const r of rows) {
    for (let l = 0; l < L; l++) {
      let scale = 1e-6;
      let err = 0;
      for (let t = 0; t < r; t++)
        for (let w = 0; w < W; w++) {
          const k = base + (t * L + l) * W + w;
          scale = Math.max(scale, Math.abs(want[k]));
          err = Math.max(err, Math.abs(got[k] - want[k]));
        }
      worst = Math.max(worst, err / scale);
    }
    base += r * L * W;
  }
  return worst;
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The demo index's rows and audio files, in index order. */
export const demoRows = parse(readFileSync(DEMO_INDEX), { columns: true }) as { utter_id: string; text: string; audio_path: string }[];
export const demoAudio = demoRows.map((r) => path.join(path.dirname(DEMO_INDEX), r.audio_path));

/** "check: message" of every failed check. */
export const failedChecks = (r: ValidationReport) => r.stores.flatMap((s) => s.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`));

/** Copies of the demo models in `dir` (so --layers caches land there, not in the repository). */
export async function demoModelCopies(dir: string): Promise<{ text: string; audio: string }> {
  return { text: await copiedModel(DEMO_MODEL, dir), audio: await copiedModel(path.join(ROOT, "models", "tiny-wavlm-demo"), dir) };
}
