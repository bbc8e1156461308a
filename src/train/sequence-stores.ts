/**
 * Sequence stores (pooling none: one [T_i, D] matrix of frames or tokens per utterance, CONTRACTS.md) as
 * training inputs: the store's streaming reader (src/store/read.ts, `openSequenceStore`) behind the engine's
 * SequenceSource, with every value checked as it is read and, for stores of several layers, one layer taken.
 */
import { EmofeatError } from "../errors.js";
import { openSequenceStore, type SequenceStoreReader } from "../store/read.js";
import type { SequenceInput } from "./batches.js";

export type { SequenceStoreReader };
export type SequenceStoreOpener = (dir: string) => Promise<SequenceStoreReader>;
export { openSequenceStore };

/**
 * A dataset input over a reader: rows of the dataset -> stored rows. Layer stores ([T, L, D] per row) give
 * the layer at `layerPositions` (exactly one); every value read is checked finite.
 */
export function sequenceInput(reader: SequenceStoreReader, dir: string, storedRows: number[], layerPositions?: number[]): SequenceInput {
  const layers = reader.layers?.length ?? 1;
  const pick = layers > 1 ? layerPositions : [0];
  if (!pick || pick.length !== 1)
    throw new EmofeatError(
      `${dir}: a sequence store with ${layers} layers (hidden states ${reader.layers!.join(", ")}); the fusion heads (the only heads that train on sequence stores) take one layer per store: pick it with --layers K; the other heads need a pooled store`,
    );
  const at = pick[0];
  const d = reader.d;
  return {
    rows: Int32Array.from(storedRows),
    source: {
      d,
      lengths: reader.lengths,
      async read(rows: number[]) {
        const out = (await reader.read(rows)).map((a) => {
          if (layers === 1) return a;
          const t = a.length / (layers * d);
          const one = new Float32Array(t * d);
          for (let i = 0; i < t; i++) one.set(a.subarray((i * layers + at) * d, (i * layers + at + 1) * d), i * d);
          return one;
        });
        out.forEach((a, i) => {
          for (let k = 0; k < a.length; k++)
            if (!Number.isFinite(a[k]))
              throw new EmofeatError(`${dir}: the sequence of "${reader.ids[rows[i]]}" holds a non-finite value (position ${Math.floor(k / d)}); re-extract it or run emofeat validate`);
        });
        return out;
      },
    },
  };
}
