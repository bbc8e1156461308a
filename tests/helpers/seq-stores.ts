/**
 * Sequence stores (pooling none) for training tests, held in memory: a store folder with meta.json, ids.txt
 * (and failures.csv) so the join and run-directory code see a real store, and an opener that serves its
 * sequences from memory through the SequenceStoreReader interface of CONTRACTS.md (the store's own reader
 * belongs to the representations work). The opener records every read, so tests can show training reads
 * batch by batch.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { StoreMeta } from "../../src/store/meta.js";
import type { SequenceStoreOpener, SequenceStoreReader } from "../../src/train/sequence-stores.js";
import { testStoreMeta } from "./probe-data.js";

export interface MemorySequenceStore {
  dir: string;
  ids: string[];
  d: number;
  rows: Float32Array[];
}

export async function writeSequenceStore(dir: string, ids: string[], rows: Float32Array[], d: number, modality: "audio" | "text"): Promise<MemorySequenceStore> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "ids.txt"), ids.map((i) => i + "\n").join(""));
  const meta = testStoreMeta(modality, ids.length, d, { pooling: "none", fingerprint: `test-${modality}-seq` });
  await writeFile(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2));
  return { dir, ids, d, rows };
}

export interface ReadLog {
  calls: number;
  rows: number;
  maxRowsPerCall: number;
  open: number;
}

/** Serves the given stores from memory by folder; other folders are refused as the real opener would. */
export function memoryOpener(stores: MemorySequenceStore[]): { open: SequenceStoreOpener; log: ReadLog } {
  const log: ReadLog = { calls: 0, rows: 0, maxRowsPerCall: 0, open: 0 };
  const open: SequenceStoreOpener = async (dir) => {
    const s = stores.find((x) => path.resolve(x.dir) === path.resolve(dir));
    if (!s) throw new Error(`no in-memory sequence store for ${dir}`);
    log.open++;
    const lengths = Int32Array.from(s.rows, (r) => r.length / s.d);
    const offsets = new Float64Array(lengths.length);
    lengths.forEach((_, i) => (offsets[i] = i === 0 ? 0 : offsets[i - 1] + lengths[i - 1]));
    const reader: SequenceStoreReader = {
      dir: s.dir,
      ids: s.ids,
      lengths,
      offsets,
      n: s.ids.length,
      d: s.d,
      meta: { pooling: "none" } as StoreMeta,
      async read(rows) {
        log.calls++;
        log.rows += rows.length;
        log.maxRowsPerCall = Math.max(log.maxRowsPerCall, rows.length);
        return rows.map((r) => s.rows[r]);
      },
      async close() {
        log.open--;
      },
    };
    return reader;
  };
  return { open, log };
}
