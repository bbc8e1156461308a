import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { EmofeatError } from "../errors.js";
import { exists, isDirectory } from "../util/fs.js";
import { isSequenceStore, STORE_FILES, STORE_FORMAT, type Failure, type StoreMeta } from "./meta.js";
import { openNpy, readFloatRange, readNpy, readNpyInt64, type NpyFile } from "./npy.js";

export interface FeatureStore {
  dir: string;
  meta: StoreMeta;
  ids: string[];
  /** Row-major [n, d], or [n, layers, d] when `layers` is set; float16 stores are widened to float32. */
  embeddings: Float32Array;
  n: number;
  /** Width of one layer's vector. */
  d: number;
  /** Hugging Face hidden_states indices of the layer axis (meta.layers); absent for [n, d] stores. */
  layers?: number[];
  failures: Failure[];
  /** sha256 of embeddings.npy as read (checked against meta.embeddings_sha256). */
  sha256: string;
}

export async function readStoreMeta(dir: string): Promise<StoreMeta> {
  const metaPath = path.join(dir, STORE_FILES.meta);
  let text: string;
  try {
    text = await readFile(metaPath, "utf8");
  } catch {
    const partial = await exists(path.join(dir, STORE_FILES.partial));
    throw new EmofeatError(
      partial
        ? `${dir}: not a complete feature store (no meta.json; an unfinished extraction is in ${STORE_FILES.partial}/ — run the same extract command again to resume it)`
        : !(await exists(dir))
          ? `${dir}: not a feature store (does not exist)`
          : !(await isDirectory(dir))
            ? `${dir}: not a feature store (a file, not a store folder)`
            : `${dir}: not a feature store (no meta.json)`,
    );
  }
  let meta: StoreMeta;
  try {
    meta = JSON.parse(text) as StoreMeta;
  } catch (err) {
    throw new EmofeatError(`${metaPath}: not valid JSON: ${(err as Error).message}`);
  }
  if (meta.format !== STORE_FORMAT) throw new EmofeatError(`${metaPath}: format is "${meta.format}", expected "${STORE_FORMAT}"`);
  return meta;
}

export async function readIds(dir: string): Promise<string[]> {
  const text = await readFile(path.join(dir, STORE_FILES.ids), "utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export async function readFailures(dir: string): Promise<Failure[]> {
  const file = path.join(dir, STORE_FILES.failures);
  if (!(await exists(file))) return [];
  const rows = parse(await readFile(file), { columns: true, bom: true }) as Record<string, string>[];
  return rows.map((r) => ({ utterId: r.utter_id, row: Number(r.row), reason: r.reason }));
}

/**
 * Loads a pooled feature store into memory ([N, D] or [N, L, D]). Checked here: embeddings.npy is the file
 * meta.json describes (its sha256, hashed from the bytes read, no second pass) and its shape matches the ids and
 * meta; `validateStores` checks everything else. Sequence stores are read with openSequenceStore.
 */
export async function readStore(dir: string): Promise<FeatureStore> {
  const meta = await readStoreMeta(dir);
  if (isSequenceStore(meta))
    throw new EmofeatError(
      `${dir} is a sequence store (--pooling none: ${meta.total_frames ?? "?"} frames of ${meta.n} utterances in frames.npy), ` +
        `not one vector per utterance; read it with openSequenceStore, or extract again with a pooling mode (mean, max, mean+std...)`,
    );
  const [{ data, shape, sha256 }, ids, failures] = await Promise.all([
    readNpy(path.join(dir, STORE_FILES.embeddings), { hash: true }),
    readIds(dir),
    readFailures(dir),
  ]);
  if (sha256 !== meta.embeddings_sha256)
    throw new EmofeatError(
      `${dir}: embeddings.npy is not the file its meta.json describes (sha256 ${sha256!.slice(0, 12)}..., meta.json records ` +
        `${String(meta.embeddings_sha256).slice(0, 12)}...): it was changed after extraction. Re-extract the store (emofeat validate shows what differs).`,
    );
  const want = meta.layers ? `[N, ${meta.layers.length}, ${meta.d}] (N, layers, D)` : "[N, D]";
  const shapeOk = meta.layers ? shape.length === 3 && shape[1] === meta.layers.length && shape[2] === meta.d : shape.length === 2;
  if (!shapeOk) throw new EmofeatError(`${dir}/embeddings.npy: shape (${shape.join(", ")}), meta.json describes ${want}`);
  if (shape[0] !== ids.length)
    throw new EmofeatError(`${dir}: embeddings.npy has ${shape[0]} rows but ids.txt has ${ids.length} ids`);
  return {
    dir,
    meta,
    ids,
    embeddings: data,
    n: shape[0],
    d: shape[shape.length - 1],
    ...(meta.layers ? { layers: [...meta.layers] } : {}),
    failures,
    sha256: sha256!,
  };
}

/** Streams the utterances of a sequence store (--pooling none) from disk; nothing but the lengths is held in memory. */
export interface SequenceStoreReader {
  dir: string;
  ids: string[];
  /** Frames (tokens) per utterance, T_i. */
  lengths: Int32Array;
  n: number;
  /** Width of one layer's frame vector. */
  d: number;
  /** Hugging Face hidden_states indices of the layer axis; absent for [sum T, D] stores. */
  layers?: number[];
  meta: StoreMeta;
  /** Row offset (in frames) of every utterance in frames.npy. */
  offsets: Float64Array;
  /** One array per requested row: [T_i * (layers) * d] values, row-major [T_i, (L,) d], float16 widened. */
  read(rows: readonly number[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** Opens a sequence store for streamed reads: checks the shapes of frames.npy and lengths.npy against meta.json and ids.txt. */
export async function openSequenceStore(dir: string): Promise<SequenceStoreReader> {
  const meta = await readStoreMeta(dir);
  if (!isSequenceStore(meta))
    throw new EmofeatError(`${dir} is a pooled store (pooling ${meta.pooling}: one vector per utterance in embeddings.npy); read it with readStore`);
  const ids = await readIds(dir);
  const { data: lengthList, shape: lshape } = await readNpyInt64(path.join(dir, STORE_FILES.lengths));
  if (lshape.length !== 1 || lshape[0] !== ids.length)
    throw new EmofeatError(`${dir}/lengths.npy: shape (${lshape.join(", ")}), expected (${ids.length},) for the ${ids.length} ids`);
  const bad = lengthList.findIndex((v) => v < 0 || v > 0x7fffffff);
  if (bad >= 0) throw new EmofeatError(`${dir}/lengths.npy: row ${bad + 1} (${ids[bad]}) has length ${lengthList[bad]}`);
  const lengths = Int32Array.from(lengthList);
  const offsets = new Float64Array(ids.length);
  let total = 0;
  lengths.forEach((t, i) => {
    offsets[i] = total;
    total += t;
  });
  const frames: NpyFile = await openNpy(path.join(dir, STORE_FILES.frames), ["<f4", "<f2"]);
  try {
    const shape = frames.header.shape;
    const want = meta.layers ? [total, meta.layers.length, meta.d] : [total, meta.d];
    if (shape.length !== want.length || shape.some((v, i) => v !== want[i]))
      throw new EmofeatError(
        `${dir}/frames.npy: shape (${shape.join(", ")}), expected (${want.join(", ")}) from lengths.npy (sum ${total}) and meta.json`,
      );
  } catch (err) {
    await frames.fh.close();
    throw err;
  }
  const rowSize = (meta.layers?.length ?? 1) * meta.d;
  return {
    dir,
    ids,
    lengths,
    n: ids.length,
    d: meta.d,
    ...(meta.layers ? { layers: [...meta.layers] } : {}),
    meta,
    offsets,
    async read(rows) {
      const out: Float32Array[] = [];
      for (const r of rows) {
        if (!Number.isInteger(r) || r < 0 || r >= ids.length) throw new RangeError(`${dir}: no row ${r} (the store has ${ids.length})`);
        out.push(await readFloatRange(frames, offsets[r] * rowSize, lengths[r] * rowSize));
      }
      return out;
    },
    close: () => frames.fh.close(),
  };
}
