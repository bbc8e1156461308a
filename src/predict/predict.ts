/**
 * Prediction with a trained run: the run's feature-store encoders (rebuilt from the stores' meta.json) turn
 * utterances into embeddings, and the exported head (head.onnx) turns those into class probabilities.
 */
import type ort from "onnxruntime-node";
import type { Device } from "../backends/onnx.js";
import { EmofeatError, UsageError } from "../errors.js";
import type { StoreMeta } from "../store/meta.js";
import { createSession, floatTensor } from "../train/graph/session.js";
import { gatherRows } from "../train/layer-select.js";
import { readHeadLabels, readRunConfig, readRunFile, readRunStoreMeta, RUN_FILES, type HeadLabels, type RunConfig } from "../train/run-dir.js";
import { encoderForStore, type Encoder } from "./encoders.js";

export interface PredictInput {
  /** Optional id carried into the result (e.g. utter_id). */
  id?: string;
  text?: string;
  /** Audio file path. */
  audio?: string;
}

export interface Prediction {
  id?: string;
  /** The most probable class; null when the input could not be encoded (see `error`). */
  label: string | null;
  /** Probability per class, in the run's label order; null with `error`. */
  probabilities: Record<string, number> | null;
  /** Why this input could not be encoded (e.g. an unreadable audio file). */
  error?: string;
}

export interface PredictorOptions {
  /** Replacement model folders / hub ids per store name (same files as at extraction). */
  models?: Record<string, string>;
  offline?: boolean;
  device?: Device;
  threads?: number;
}

export class Predictor {
  private constructor(
    readonly runDir: string,
    readonly config: RunConfig,
    readonly head: HeadLabels,
    private readonly session: ort.InferenceSession,
    private readonly encoders: Encoder[],
    private readonly storeMetas: StoreMeta[],
  ) {}

  get labels(): string[] {
    return this.head.labels;
  }

  /** Modalities an input must provide (one per distinct store modality). */
  get modalities(): string[] {
    return [...new Set(this.head.inputs.map((i) => i.modality))];
  }

  static async load(runDir: string, o: PredictorOptions = {}): Promise<Predictor> {
    const config = await readRunConfig(runDir);
    if (config.export.file === null) throw new EmofeatError(`${runDir} has no trained head to predict with: ${config.export.reason}`);
    const headBytes = await readRunFile(runDir, RUN_FILES.head, "the run directory is incomplete", config);
    const head = await readHeadLabels(runDir, config);
    for (const name of Object.keys(o.models ?? {}))
      if (!head.inputs.some((i) => i.name === name))
        throw new UsageError(`--model ${name}=...: the run has no store named "${name}" (its stores: ${head.inputs.map((i) => i.name).join(", ")})`);
    const encoders: Encoder[] = [];
    const metas: StoreMeta[] = [];
    try {
      for (const input of head.inputs) {
        const meta = await readRunStoreMeta(runDir, input.name, config);
        checkLayers(meta, input);
        metas.push(meta);
        encoders.push(await encoderForStore(meta, { storeName: input.name, model: o.models?.[input.name], offline: o.offline, device: o.device, threads: o.threads }));
      }
      const session = await createSession(headBytes, { threads: o.threads });
      return new Predictor(runDir, config, head, session, encoders, metas);
    } catch (err) {
      await Promise.all(encoders.map((e) => e.dispose()));
      throw err;
    }
  }

  /**
   * Predicts every item. An item that an encoder cannot use (an unreadable or too short audio file) gets
   * `error` instead of a label; the others are unaffected.
   */
  async predict(items: readonly PredictInput[]): Promise<Prediction[]> {
    if (items.length === 0) return [];
    const feeds: Record<string, ort.Tensor> = {};
    const errors: (string | null)[] = items.map(() => null);
    for (let k = 0; k < this.head.inputs.length; k++) {
      const input = this.head.inputs[k];
      const modality = input.modality as "text" | "audio";
      const values = items.map((it, i) => {
        const v = it[modality];
        if (v === undefined || v === "")
          throw new EmofeatError(
            `${it.id ?? `input ${i + 1}`}: no ${modality} given; this run's head needs ${this.modalities.join(" and ")} (store "${input.name}")`,
          );
        return v;
      });
      const res = await this.encoders[k].encode(values);
      res.errors.forEach((e, i) => {
        if (e && errors[i] === null) errors[i] = e.message;
      });
      feeds[input.name] = floatTensor(headInput(res.embeddings, items.length, this.storeMetas[k], input), [items.length, input.dim]);
    }
    const out = await this.session.run(feeds, ["probs"]);
    const probs = out.probs.data as Float32Array;
    const c = this.labels.length;
    return items.map((it, i) => {
      const id = it.id !== undefined ? { id: it.id } : {};
      if (errors[i] !== null) return { ...id, label: null, probabilities: null, error: errors[i]! };
      const row = Array.from(probs.subarray(i * c, (i + 1) * c));
      let best = 0;
      for (let j = 1; j < c; j++) if (row[j] > row[best]) best = j;
      return { ...id, label: this.labels[best], probabilities: Object.fromEntries(this.labels.map((l, j) => [l, row[j]])) };
    });
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await Promise.all(this.encoders.map((e) => e.dispose()));
  }
}

/** A head input from a layer store must name layers that store holds. */
function checkLayers(meta: StoreMeta, input: HeadLabels["inputs"][number]): void {
  if (!input.layers) return;
  const missing = input.layers.filter((l) => !meta.layers?.includes(l));
  if (missing.length > 0)
    throw new EmofeatError(
      `store "${input.name}" of this run: the head takes hidden-state layer(s) ${input.layers.join(", ")}, but the store's meta.json ` +
        `lists ${meta.layers ? `layers ${meta.layers.join(", ")}` : "no layers"}; the run directory is inconsistent`,
    );
}

/**
 * The head's input from an encoder's output. For a layer store the encoder gives every layer the store holds,
 * row-major [n, L_store, D] as in embeddings.npy; the head takes its own selection of them (--layers at
 * training time; one layer for a --per-layer run's layer), in its order.
 */
function headInput(embeddings: Float32Array, n: number, meta: StoreMeta, input: HeadLabels["inputs"][number]): Float32Array {
  if (!input.layers) return embeddings;
  const stored = meta.layers!;
  if (embeddings.length !== n * stored.length * meta.d)
    throw new EmofeatError(
      `store "${input.name}" holds ${stored.length} encoder layers of ${meta.d} values per utterance, but its encoder gave ` +
        `${embeddings.length / Math.max(n, 1)} values per utterance: this version of emofeat cannot run the encoder with the same layer outputs`,
    );
  const positions = input.layers.map((l) => stored.indexOf(l));
  if (positions.length === stored.length && positions.every((p, i) => p === i)) return embeddings;
  return gatherRows(embeddings, Int32Array.from({ length: n }, (_, i) => i), meta.d, stored.length, positions);
}

/** One-shot: loads the run, predicts, releases everything. */
export async function predict(runDir: string, items: readonly PredictInput[], o: PredictorOptions = {}): Promise<Prediction[]> {
  const p = await Predictor.load(runDir, o);
  try {
    return await p.predict(items);
  } finally {
    await p.dispose();
  }
}
