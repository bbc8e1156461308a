/**
 * Sequence stores (pooling none: one [T_i, D] matrix of frames or tokens per utterance) as training inputs.
 *
 * The reader itself belongs to the store (src/store, CONTRACTS.md: `openSequenceStore(dir)` ->
 * SequenceStoreReader, streamed from disk); training only needs the interface below. Until that reader is in
 * this build, `openSequenceStore` here says so instead of guessing the format.
 */
import { EmofeatError } from "../errors.js";
import type { StoreMeta } from "../store/meta.js";
import type { SequenceInput } from "./batches.js";

/** CONTRACTS.md: the store's streaming reader of a sequence store. */
export interface SequenceStoreReader {
  ids: string[];
  lengths: Int32Array;
  n: number;
  d: number;
  layers?: number[];
  meta: StoreMeta;
  /** One [T_i * (L) * D] array per row, read from disk. */
  read(rows: number[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export type SequenceStoreOpener = (dir: string) => Promise<SequenceStoreReader>;

export const openSequenceStore: SequenceStoreOpener = async (dir) => {
  throw new EmofeatError(
    `${dir} is a sequence store (pooling none); reading sequence stores for training needs the store's sequence reader, which this build does not have yet`,
  );
};

/** A dataset input over a reader: rows of the dataset -> stored rows; every value read is checked finite. */
export function sequenceInput(reader: SequenceStoreReader, dir: string, storedRows: number[]): SequenceInput {
  if (reader.layers && reader.layers.length > 0)
    throw new EmofeatError(`${dir}: a sequence store with several layers (${reader.layers.join(", ")}); the fusion heads take one layer per store`);
  return {
    rows: Int32Array.from(storedRows),
    source: {
      d: reader.d,
      lengths: reader.lengths,
      async read(rows: number[]) {
        const out = await reader.read(rows);
        out.forEach((a, i) => {
          for (let k = 0; k < a.length; k++)
            if (!Number.isFinite(a[k]))
              throw new EmofeatError(`${dir}: the sequence of "${reader.ids[rows[i]]}" holds a non-finite value (position ${Math.floor(k / reader.d)}); re-extract it or run emofeat validate`);
        });
        return out;
      },
    },
  };
}
