/**
 * Prediction with a trained run: the run's feature-store encoders (rebuilt from the stores' meta.json) turn
 * utterances into embeddings, and the exported head (head.onnx) turns those into class probabilities.
 */
import type ort from "onnxruntime-node";
import type { Device } from "../backends/onnx.js";
import { EmofeatError, UsageError } from "../errors.js";
import type { StoreMeta } from "../store/meta.js";
import { createSession, floatTensor } from "../train/graph/session.js";
import { sequenceRowsPerRun } from "../train/batches.js";
import { maskInput } from "../train/heads.js";
import { gatherRows } from "../train/layer-select.js";
import { readHeadLabels, readRunConfig, readRunFile, readRunStoreMeta, RUN_FILES, type HeadLabels, type RunConfig } from "../train/run-dir.js";
import type { ClipInfo, LoadedClip } from "../audio/clip.js";
import { openAudio, openAudioBytes, pcmStream, type AudioStream } from "../audio/decode.js";
import { encoderForStore, type EncodeResult, type Encoder } from "./encoders.js";

export interface PredictInput {
  /** Optional id carried into the result (e.g. utter_id). */
  id?: string;
  text?: string;
  /** Audio file path, or audio held in memory (see `AudioInput`). */
  audio?: AudioInput;
}

/**
 * Audio for prediction: a file path; encoded bytes of any format the decoder reads (an upload); or samples
 * already decoded (raw PCM: one Float32Array per channel, at `sampleRate`). All take the same path as
 * extraction: decode -> mono -> resample -> peak-normalise -> cut. `name` stands for the file in messages.
 */
export type AudioInput =
  | string
  | { bytes: Uint8Array; name?: string }
  | { channels: Float32Array[]; sampleRate: number; name?: string };

/** Opens an `AudioInput` as a stream of blocks (throws AudioInputError for a bad file). */
export async function openAudioInput(audio: AudioInput): Promise<AudioStream> {
  if (typeof audio === "string") return openAudio(audio);
  if ("bytes" in audio) return openAudioBytes(audio.bytes, audio.name ?? "audio");
  return pcmStream(audio.channels, audio.sampleRate, audio.name ?? "audio");
}

/** The head's answer for one row. `beta` is the gate of gated fusion heads (those whose head.onnx outputs it). */
export interface Classification {
  label: string;
  probabilities: Record<string, number>;
  beta?: number;
}

/** Audio prepared for every audio store of a run: one clip per head input (null for non-audio inputs). */
export interface PreparedAudio {
  clips: (LoadedClip | null)[];
  /** The first audio store's clip: the input's rate, channels, duration, seconds kept. */
  info: ClipInfo;
  duration_s: number;
  kept_s: number;
  truncated: boolean;
}

export interface Prediction {
  id?: string;
  /** The most probable class; null when the input could not be encoded (see `error`). */
  label: string | null;
  /** Probability per class, in the run's label order; null with `error`. */
  probabilities: Record<string, number> | null;
  /** Gated fusion heads: the gate (see Classification). */
  beta?: number;
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
    const errors: (string | null)[] = items.map(() => null);
    let rows: Classification[];
    if (this.head.inputs.some((i) => i.sequence)) {
      const seqs = await this.sequences(items);
      seqs.forEach((q, i) => (errors[i] = q.error));
      rows = await this.classifySequences(seqs.map((q) => q.inputs));
    } else {
      const features: Float32Array[] = [];
      for (let k = 0; k < this.head.inputs.length; k++) {
        const res = await this.encodeValues(k, this.valuesFor(items, k));
        res.errors.forEach((e, i) => {
          if (e && errors[i] === null) errors[i] = e.message;
        });
        features.push(res.embeddings);
      }
      rows = await this.classify(features, items.length);
    }
    return items.map((it, i) => {
      const id = it.id !== undefined ? { id: it.id } : {};
      if (errors[i] !== null) return { ...id, label: null, probabilities: null, error: errors[i]! };
      const { label, probabilities, beta } = rows[i];
      return { ...id, label, probabilities, ...(beta !== undefined ? { beta } : {}) };
    });
  }

  /** The items' texts or audio for head input k (an error names an item without one). */
  private valuesFor(items: readonly PredictInput[], k: number): (string | AudioInput)[] {
    const input = this.head.inputs[k];
    const modality = input.modality as "text" | "audio";
    return items.map((it, i) => {
      const v = it[modality];
      if (v === undefined || v === "")
        throw new EmofeatError(`${it.id ?? `input ${i + 1}`}: no ${modality} given; this run's head needs ${this.modalities.join(" and ")} (store "${input.name}")`);
      return v;
    });
  }

  /**
   * Heads on sequence stores: each item's positions per store as the head takes them ([T, dim], the trained
   * layer of a layer store), with a label per position (token strings, frame start times), or why it failed.
   * A pooled store beside a sequence store (a fusion head may take one of each) gives its one vector ([dim]).
   * Audio for a sequence store must be given as a file.
   */
  async sequences(items: readonly PredictInput[]): Promise<{ inputs: Record<string, { values: Float32Array; labels?: string[] }> | null; error: string | null }[]> {
    const out = items.map(() => ({ inputs: {} as Record<string, { values: Float32Array; labels?: string[] }> | null, error: null as string | null }));
    for (let k = 0; k < this.head.inputs.length; k++) {
      const input = this.head.inputs[k];
      if (!input.sequence) {
        const res = await this.encodeValues(k, this.valuesFor(items, k));
        const vectors = headInput(res.embeddings, items.length, this.storeMetas[k], input);
        items.forEach((_, i) => {
          const e = res.errors[i];
          if (e) {
            out[i].error ??= e.message;
            out[i].inputs = null;
          } else if (out[i].inputs) out[i].inputs![input.name] = { values: vectors.slice(i * input.dim, (i + 1) * input.dim) };
        });
        continue;
      }
      const values = this.valuesFor(items, k).map((v) => {
        if (typeof v !== "string") throw new EmofeatError(`store "${input.name}" holds sequences: its audio must be given as a file`);
        return v;
      });
      const res = await this.encoders[k].encodeSequences(values);
      res.sequences.forEach((q, i) => {
        const e = res.errors[i];
        if (e || !q) {
          out[i].error ??= e?.message ?? `store "${input.name}": no ${input.modality} sequence`;
          out[i].inputs = null;
        } else if (out[i].inputs)
          out[i].inputs![input.name] = { values: sequenceValues(q, this.storeMetas[k], input), ...(res.positions?.[i] ? { labels: res.positions[i]! } : {}) };
      });
    }
    return out;
  }

  /**
   * The head on sequences (per row: [T, dim] per sequence store, [dim] per pooled store), padded to the longest
   * with masks; a null row gets all padding (zeros for a pooled store).
   */
  async classifySequences(rows: readonly (Record<string, { values: Float32Array }> | null)[]): Promise<Classification[]> {
    // Runs of a bounded number of rows (attention maps grow with rows x T^2), each padded to its own longest.
    const len = (r: (typeof rows)[number]) =>
      Math.max(1, ...this.head.inputs.filter((i) => i.sequence).map((i) => (r?.[i.name]?.values.length ?? 0) / i.dim));
    const out: Classification[] = [];
    for (let start = 0; start < rows.length; ) {
      let end = start + 1;
      let t = len(rows[start]);
      const heads = this.config.arch.fusion?.attnHeads ?? 1;
      while (end < rows.length && end - start < sequenceRowsPerRun(Math.max(t, len(rows[end])), heads)) t = Math.max(t, len(rows[end++]));
      out.push(...(await this.classifyPadded(rows.slice(start, end))));
      start = end;
    }
    return out;
  }

  private async classifyPadded(rows: readonly (Record<string, { values: Float32Array }> | null)[]): Promise<Classification[]> {
    const n = rows.length;
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of this.head.inputs) {
      if (!input.sequence) {
        const x = new Float32Array(n * input.dim);
        rows.forEach((r, i) => {
          const v = r?.[input.name]?.values;
          if (v && v.length !== input.dim) throw new EmofeatError(`store "${input.name}" takes ${input.dim} values per utterance, got ${v.length}`);
          if (v) x.set(v, i * input.dim);
        });
        feeds[input.name] = floatTensor(x, [n, input.dim]);
        continue;
      }
      const seqs = rows.map((r) => r?.[input.name]?.values ?? new Float32Array(0));
      const t = Math.max(1, ...seqs.map((q) => q.length / input.dim));
      const x = new Float32Array(n * t * input.dim);
      const mask = new Float32Array(n * t);
      seqs.forEach((q, i) => {
        x.set(q, i * t * input.dim);
        mask.fill(1, i * t, i * t + q.length / input.dim);
      });
      feeds[input.name] = floatTensor(x, [n, t, input.dim]);
      feeds[maskInput(input.name)] = floatTensor(mask, [n, t]);
    }
    return this.run(feeds, n);
  }

  /** File paths go through the store's own batching; in-memory audio is prepared and embedded clip by clip. */
  private async encodeValues(k: number, values: readonly AudioInput[]): Promise<EncodeResult> {
    const enc = this.encoders[k];
    if (values.every((v): v is string => typeof v === "string")) return enc.encode(values);
    const embeddings = new Float32Array(values.length * enc.rowSize);
    const errors: (EmofeatError | null)[] = values.map(() => null);
    for (let i = 0; i < values.length; i++) {
      try {
        embeddings.set(await this.embedClip(k, await this.encoderClips(k).prepare(await openAudioInput(values[i]))), i * enc.rowSize);
      } catch (err) {
        if (!(err instanceof EmofeatError)) throw err;
        errors[i] = err;
      }
    }
    return { embeddings, errors };
  }

  private encoderClips(k: number) {
    const clips = this.encoders[k].clips;
    if (!clips) throw new EmofeatError(`store "${this.head.inputs[k].name}" (${this.encoders[k].modality}) takes no audio`);
    return clips;
  }

  /**
   * Prepares one audio input for every audio store of the run, exactly as extraction prepared the store's clips
   * (decode -> mono -> resample -> peak-normalise -> cut). Throws AudioInputError for audio that cannot be used.
   */
  async prepareAudio(audio: AudioInput): Promise<PreparedAudio> {
    const clips: (LoadedClip | null)[] = [];
    for (let k = 0; k < this.encoders.length; k++)
      clips.push(this.encoders[k].modality === "audio" ? await this.encoderClips(k).prepare(await openAudioInput(audio)) : null);
    return this.preparedAudio(clips);
  }

  /** Per head input: the audio store's clip settings (rate and cut), null for other inputs. */
  get audioClipOptions(): ({ targetSampleRate: number; maxSeconds: number } | null)[] {
    return this.encoders.map((e) => (e.clips ? { targetSampleRate: e.clips.sampleRate, maxSeconds: e.clips.maxSeconds } : null));
  }

  /** PreparedAudio from clips built elsewhere (a live stream's ClipBuilders, one per audio input). */
  preparedAudio(clips: (LoadedClip | null)[]): PreparedAudio {
    const first = clips.find((c): c is LoadedClip => c !== null);
    if (!first) throw new EmofeatError("this run's head takes no audio");
    return {
      clips,
      info: first.info,
      duration_s: first.info.originalSeconds,
      kept_s: first.samples.length / first.sampleRate,
      truncated: first.info.truncated,
    };
  }

  /** Store k's vector of one prepared clip, computed alone (never batched with other clips). */
  embedClip(k: number, clip: LoadedClip): Promise<Float32Array> {
    return this.encoderClips(k).embed(clip);
  }

  /**
   * Sequence heads: head input k's positions for one text ([T, dim], the trained layer of a layer store),
   * encoded alone so the answer never depends on other work.
   */
  async textSequence(k: number, text: string): Promise<Float32Array> {
    if (this.encoders[k].modality !== "text") throw new EmofeatError(`store "${this.head.inputs[k].name}" takes no text`);
    // A pooled store beside a sequence store: its one vector (what classifySequences takes for it).
    if (!this.head.inputs[k].sequence) return headInput(await this.embedTexts(k, [text]), 1, this.storeMetas[k], this.head.inputs[k]);
    const res = await this.encoders[k].encodeSequences([text]);
    const seq = res.sequences[0];
    if (res.errors[0] || !seq) throw res.errors[0] ?? new EmofeatError(`store "${this.head.inputs[k].name}": no token sequence for the text`);
    return sequenceValues(seq, this.storeMetas[k], this.head.inputs[k]);
  }

  /** Sequence heads: head input k's positions for one prepared clip ([T, dim]; [dim] for a pooled store), computed alone. */
  async clipSequence(k: number, clip: LoadedClip): Promise<Float32Array> {
    if (!this.head.inputs[k].sequence) return headInput(await this.embedClip(k, clip), 1, this.storeMetas[k], this.head.inputs[k]);
    return sequenceValues(await this.encoderClips(k).frames(clip), this.storeMetas[k], this.head.inputs[k]);
  }

  /** Whether the head reads sequences (frames and tokens) rather than one vector per store. */
  get takesSequences(): boolean {
    return this.head.inputs.some((i) => i.sequence);
  }

  /** Store k's vectors of many texts, [texts.length * dim], batched as at extraction. */
  async embedTexts(k: number, texts: readonly string[]): Promise<Float32Array> {
    if (this.encoders[k].modality !== "text") throw new EmofeatError(`store "${this.head.inputs[k].name}" takes no text`);
    return (await this.encoders[k].encode(texts)).embeddings;
  }

  /** Whether the head outputs a fusion gate `beta` (gated fusion heads). */
  get hasBeta(): boolean {
    return this.session.outputNames.includes("beta");
  }

  /** Values per input that store k's encoder gives (`embedTexts`, `embedClip`): all its layers for layer stores. */
  encoderRowSize(k: number): number {
    return this.encoders[k].rowSize;
  }

  /**
   * Applies the head to `n` rows: `features[k]` holds store k's encoder vectors, [n * encoderRowSize(k)]; the
   * layers the head takes are picked from layer stores' vectors here.
   */
  async classify(features: readonly Float32Array[], n: number): Promise<Classification[]> {
    const feeds: Record<string, ort.Tensor> = {};
    this.head.inputs.forEach(
      (input, k) => (feeds[input.name] = floatTensor(headInput(features[k], n, this.storeMetas[k], input), [n, input.dim])),
    );
    return this.run(feeds, n);
  }

  private async run(feeds: Record<string, ort.Tensor>, n: number): Promise<Classification[]> {
    const hasBeta = this.hasBeta;
    const out = await this.session.run(feeds, hasBeta ? ["probs", "beta"] : ["probs"]);
    const probs = out.probs.data as Float32Array;
    const beta = hasBeta ? (out.beta.data as Float32Array) : null;
    const c = this.labels.length;
    return Array.from({ length: n }, (_, i) => {
      const row = Array.from(probs.subarray(i * c, (i + 1) * c));
      let best = 0;
      for (let j = 1; j < c; j++) if (row[j] > row[best]) best = j;
      const probabilities = Object.fromEntries(this.labels.map((l, j) => [l, row[j]]));
      return { label: this.labels[best], probabilities, ...(beta ? { beta: beta[i * (beta.length / n)] } : {}) };
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

/** A sequence from a store's encoder ([T, (L,) D]) as the head takes it: [T, D], the trained layer of a layer store. */
function sequenceValues(seq: Float32Array, meta: StoreMeta, input: HeadLabels["inputs"][number]): Float32Array {
  const stored = meta.layers ?? [];
  if (stored.length <= 1) return seq;
  if (!input.layers || input.layers.length !== 1)
    throw new EmofeatError(`store "${input.name}" holds ${stored.length} layers per frame; the run's labels.json does not say which one its head takes`);
  const at = stored.indexOf(input.layers[0]);
  const d = meta.d;
  const t = seq.length / (stored.length * d);
  const out = new Float32Array(t * d);
  for (let i = 0; i < t; i++) out.set(seq.subarray((i * stored.length + at) * d, (i * stored.length + at + 1) * d), i * d);
  return out;
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
