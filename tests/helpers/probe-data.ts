/**
 * Small feature stores and an index for probe tests, written directly in the store format (no extraction):
 * the synthetic set of fixtures/reference/train split into an "audio" store (dims 0-19) and a "text" store
 * (dims 20-39), 4 sessions, labels named after emotions.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { encodeNpy } from "../../src/store/npy.js";
import { STORE_FORMAT, type StoreMeta } from "../../src/store/meta.js";
import { writeIndex, type Row } from "./csv.js";
import type { Synth } from "./synth.js";

export const EMOTIONS = ["angry", "happy", "neutral", "sad"];

/** meta.json of a test store (no real model behind it). */
export function testStoreMeta(
  modality: "text" | "audio",
  n: number,
  d: number,
  o: { indexSha?: string; failures?: number; pooling?: string; fingerprint?: string; layers?: number[]; embeddingsSha256?: string } = {},
): StoreMeta {
  return {
    format: STORE_FORMAT,
    format_version: 1,
    modality,
    model: { id: `test/${modality}-model`, source: "hub", file: "onnx/model.onnx", sha256: "0".repeat(64), dtype: "fp32" },
    device: "cpu",
    pooling: o.pooling ?? "mean",
    ...(modality === "text" ? { max_len: 128 } : { sr: 16000, max_seconds: 10 }),
    settings: {},
    dtype: "float32",
    ...(o.layers ? { layers: o.layers } : {}),
    n,
    d,
    embeddings_sha256: o.embeddingsSha256 ?? "test",
    index: { path: "index.csv", sha256: o.indexSha ?? "", rows: n },
    failures: o.failures ?? 0,
    layout: "matrix",
    fingerprint: o.fingerprint ?? `test-${modality}`,
    tool: { name: "emofeat", version: "test" },
    created: "2026-01-01T00:00:00.000Z",
  };
}

export async function writeStore(
  dir: string,
  ids: string[],
  x: Float32Array,
  d: number,
  modality: "text" | "audio",
  indexSha = "",
  failures: { utterId: string; row: number; reason: string }[] = [],
  /** A layer store: x is row-major [N, layers.length, d] and meta.json lists the hidden-state indices. */
  layers?: number[],
): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (failures.length > 0)
    await writeFile(path.join(dir, "failures.csv"), "utter_id,row,reason\n" + failures.map((f) => `${f.utterId},${f.row},${f.reason}\n`).join(""));
  const npy = encodeNpy(x, layers ? [ids.length, layers.length, d] : [ids.length, d]);
  await writeFile(path.join(dir, "embeddings.npy"), npy);
  await writeFile(path.join(dir, "ids.txt"), ids.map((i) => i + "\n").join(""));
  const meta = testStoreMeta(modality, ids.length, d, { indexSha, failures: failures.length, layers, embeddingsSha256: createHash("sha256").update(npy).digest("hex") });
  await writeFile(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2));
  return dir;
}

function columns(s: Synth, from: number, to: number, rows: number[]): Float32Array {
  const w = to - from;
  const out = new Float32Array(rows.length * w);
  rows.forEach((r, i) => out.set(s.x.subarray(r * s.d + from, r * s.d + to), i * w));
  return out;
}

export interface ProbeFixture {
  csv: string;
  audio: string;
  text: string;
  ids: string[];
}

/** Index + two stores. `dropFromAudio` utterances are absent from the audio store (all but the last recorded as failed). */
export async function writeProbeFixture(dir: string, s: Synth, o: { dropFromAudio?: number[]; noVal?: boolean } = {}): Promise<ProbeFixture> {
  await mkdir(dir, { recursive: true });
  const ids = s.y.map((_, i) => `utt_${String(i).padStart(4, "0")}`);
  const rows: Row[] = ids.map((id, i) => ({
    utter_id: id,
    session: `Session${(i % 4) + 1}`,
    text: "t",
    label: EMOTIONS[s.y[i]],
    split: o.noVal && s.split[i] === "val" ? "train" : s.split[i],
  }));
  const csv = await writeIndex(dir, rows);
  const sha = createHash("sha256").update(await readFile(csv)).digest("hex");
  const all = ids.map((_, i) => i);
  const drop = new Set(o.dropFromAudio ?? []);
  const audioRows = all.filter((i) => !drop.has(i));
  const failed = (o.dropFromAudio ?? []).slice(0, -1).map((i) => ({ utterId: ids[i], row: i + 1, reason: "could not decode the audio" }));
  const audio = await writeStore(path.join(dir, "features", "audio"), audioRows.map((i) => ids[i]), columns(s, 0, 20, audioRows), 20, "audio", sha, failed);
  const text = await writeStore(path.join(dir, "features", "text"), ids, columns(s, 20, 40, all), 20, "text", sha);
  return { csv, audio, text, ids };
}
