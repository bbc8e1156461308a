import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { EmofeatError } from "../errors.js";
import { exists } from "../util/fs.js";
import { STORE_FILES, STORE_FORMAT, type Failure, type StoreMeta } from "./meta.js";
import { readNpy } from "./npy.js";

export interface FeatureStore {
  dir: string;
  meta: StoreMeta;
  ids: string[];
  /** Row-major [n, d], or [n, layers.length, d] for layer stores. */
  embeddings: Float32Array;
  n: number;
  /** Per-layer width for layer stores. */
  d: number;
  /** Layer stores: the hidden-state indices along the middle axis (meta.layers). */
  layers?: number[];
  failures: Failure[];
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
 * Loads a feature store into memory. Only basic consistency is checked here (shape vs ids);
 * `validateStores` checks everything.
 */
export async function readStore(dir: string): Promise<FeatureStore> {
  const meta = await readStoreMeta(dir);
  const [{ data, shape }, ids, failures] = await Promise.all([
    readNpy(path.join(dir, STORE_FILES.embeddings)),
    readIds(dir),
    readFailures(dir),
  ]);
  const layers = meta.layers;
  const want = layers ? `[N, ${layers.length}, D] (meta.json lists ${layers.length} layers)` : "[N, D]";
  if (shape.length !== (layers ? 3 : 2) || (layers && shape[1] !== layers.length))
    throw new EmofeatError(`${dir}/embeddings.npy: shape (${shape.join(", ")}), expected ${want}`);
  if (shape[0] !== ids.length)
    throw new EmofeatError(`${dir}: embeddings.npy has ${shape[0]} rows but ids.txt has ${ids.length} ids`);
  return { dir, meta, ids, embeddings: data, n: shape[0], d: shape[shape.length - 1], failures, ...(layers ? { layers: [...layers] } : {}) };
}
