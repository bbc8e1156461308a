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
  /** Row-major [n, d]. */
  embeddings: Float32Array;
  n: number;
  d: number;
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
 * Loads a feature store into memory. Checked here: embeddings.npy is the file meta.json describes (its sha256,
 * hashed from the bytes read) and its shape matches the ids; `validateStores` checks everything else.
 */
export async function readStore(dir: string): Promise<FeatureStore> {
  const meta = await readStoreMeta(dir);
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
  if (shape.length !== 2) throw new EmofeatError(`${dir}/embeddings.npy: shape (${shape.join(", ")}), expected [N, D]`);
  if (shape[0] !== ids.length)
    throw new EmofeatError(`${dir}: embeddings.npy has ${shape[0]} rows but ids.txt has ${ids.length} ids`);
  return { dir, meta, ids, embeddings: data, n: shape[0], d: shape[1], failures, sha256: sha256! };
}
