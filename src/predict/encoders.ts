/**
 * Encoders for prediction, rebuilt from a feature store's meta.json so that new utterances get exactly the
 * preprocessing the training features had: the same model files (sha256-checked), and for text the same
 * tokenizer, max_len and pooling; for audio the same preprocessor, sample rate, max_seconds and batching.
 *
 * An `Encoder` maps utterances (texts, or audio file paths) to vectors. Each modality registers a factory;
 * text uses the BERT-family TextEncoder and audio the speech AudioEncoder of the extraction commands (or, for
 * stores of the weight-free `builtin:*` features, their BuiltinFrameExtractor).
 * With audio stores made in "reference" batching mode a clip's vector depends on the clips batched with it,
 * so a prediction reproduces the stored vector only for the default "exact" mode (and seq-reference, which runs
 * every clip alone).
 *
 * The rebuilt encoder reproduces the store's representation too: the same hidden_states (`meta.layers`), the
 * same pooling, and for sequence stores (pooling none) the same frames, through `encodeSequences`.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { isBuiltinModel } from "../audio/builtin.js";
import type { LoadedClip } from "../audio/clip.js";
import type { AudioStream } from "../audio/decode.js";
import { AudioEncoder, type AudioCompat, type BatchingMode } from "../audio/encoder.js";
import type { Device } from "../backends/onnx.js";
import { EmofeatError } from "../errors.js";
import type { ModelDtype } from "../models/source.js";
import type { PoolingMode } from "../pooling.js";
import { isSequenceStore, type Modality, type ModelRecord, type StoreMeta } from "../store/meta.js";
import { float16ToFloat32, float32ToFloat16 } from "../util/float16.js";
import { TextEncoder } from "../text/encoder.js";
import { builtinExtractorForStore } from "./builtin.js";

export interface EncodeResult {
  /** Row-major [inputs.length, rowSize] ([inputs.length, layers, dim] for layer stores); rows of failed inputs are zeros. */
  embeddings: Float32Array;
  /** Per input: why it could not be encoded (e.g. an unreadable audio file), or null. */
  errors: (EmofeatError | null)[];
}

export interface SequenceResult {
  /** Per input, a label per position when the encoder knows one: token strings, or audio frame start times ("1.24 s"). */
  positions?: (string[] | null)[];
  /** Per input [T_i, rowSize] (token / frame states, as in the store's frames.npy), or null when it failed. */
  sequences: (Float32Array | null)[];
  /** T_i per input (0 for failed inputs). */
  lengths: number[];
  errors: (EmofeatError | null)[];
}

export interface Encoder {
  readonly modality: Modality;
  /** The store's `d`: width of one layer's vector (2 x hidden for mean+std). */
  readonly dim: number;
  /** The store's hidden_states indices (meta.layers), or null for last-layer stores. */
  readonly layers: number[] | null;
  /** The store's pooling mode (none for sequence stores). */
  readonly pooling: string;
  /** Values per input (pooled stores) or per frame (sequence stores): (layers ?? 1) x dim. */
  readonly rowSize: number;
  /** Pooled stores: one vector per input (texts for text encoders, audio file paths for audio encoders). */
  encode(inputs: readonly string[]): Promise<EncodeResult>;
  /** Sequence stores (pooling none): each input's frames. */
  encodeSequences(inputs: readonly string[]): Promise<SequenceResult>;
  /** Audio encoders: in-memory audio (uploads, live streams), prepared and embedded one clip at a time. */
  readonly clips?: ClipEncoding;
  dispose(): Promise<void>;
}

/** The audio store's preprocessing and encoder for one clip at a time (serve, in-memory prediction). */
export interface ClipEncoding {
  /** The store's sample rate and cut (`max_seconds`). */
  readonly sampleRate: number;
  readonly maxSeconds: number;
  /** decode -> mono -> resample -> peak-normalise -> cut, as at extraction; throws AudioInputError. */
  prepare(audio: AudioStream): Promise<LoadedClip>;
  /** The clip's vector (pooled stores), computed alone; throws AudioInputError when the clip is too short. */
  embed(clip: LoadedClip): Promise<Float32Array>;
  /** The clip's frames (sequence stores), [T, rowSize], computed alone; AudioInputError when too short. */
  frames(clip: LoadedClip): Promise<Float32Array>;
}

export interface EncoderOptions {
  /** Store name in the run (for messages and --model NAME=...). */
  storeName: string;
  /** Use this model folder or hub id instead of the one recorded in the store (the same files are required). */
  model?: string;
  offline?: boolean;
  device?: Device;
  threads?: number;
}

export type EncoderFactory = (meta: StoreMeta, o: EncoderOptions) => Promise<Encoder>;

const factories = new Map<Modality, EncoderFactory>();

/** Registers (or replaces) the encoder factory of a modality. */
export function registerEncoderFactory(modality: Modality, factory: EncoderFactory): void {
  factories.set(modality, factory);
}

export async function encoderForStore(meta: StoreMeta, o: EncoderOptions): Promise<Encoder> {
  if (meta.model?.source === "imported")
    throw new EmofeatError(
      `store "${o.storeName}" of this run was imported (emofeat store import: ${meta.model.id}, from ${String(meta.settings?.imported_from ?? meta.model.file)}); ` +
        `emofeat cannot compute those features for new utterances, so this run can train and report but not predict`,
    );
  const factory = factories.get(meta.modality);
  if (!factory)
    throw new EmofeatError(
      `store "${o.storeName}" holds ${meta.modality} embeddings (model ${meta.model?.id}), and this version of emofeat ` +
        `cannot compute ${meta.modality} embeddings for new utterances`,
    );
  return factory(meta, o);
}

function provenance(meta: StoreMeta, o: EncoderOptions): string {
  return (
    `store "${o.storeName}" of this run was extracted with model "${meta.model.id}" (${meta.model.source}, ${meta.model.dtype}, ` +
    `${meta.model.file} sha256 ${meta.model.sha256?.slice(0, 12)}...)`
  );
}

/**
 * A local model recorded by a relative path ("models/bert", relative to where `extract` ran) is found through
 * its recorded absolute folder when the relative one does not exist from here. The files are checked against
 * the store's hashes either way.
 */
function localModelPath(meta: StoreMeta): string {
  const { id, source } = meta.model;
  const abs = "path" in meta.model ? meta.model.path : undefined;
  if (source !== "local" || abs === undefined || path.isAbsolute(id) || existsSync(path.resolve(id))) return id;
  return abs;
}

/** Loads a store's encoder, turning "not found" into a message that says which model and how to provide it. */
async function loadFor<T>(meta: StoreMeta, o: EncoderOptions, load: (model: string) => Promise<T>): Promise<T> {
  try {
    return await load(o.model ?? localModelPath(meta));
  } catch (err) {
    if (!(err instanceof EmofeatError)) throw err;
    throw new EmofeatError(
      `${provenance(meta, o)}; it could not be loaded: ${err.message}\n` +
        `Provide it with --model ${o.storeName}=FOLDER (a local copy in Hugging Face layout with ${meta.model.file}) ` +
        (meta.model.source === "hub"
          ? `or make the hub id available (run once without --offline to download it into the cache).`
          : `or put it back at ${meta.model.id}.`),
    );
  }
}

/** The loaded files must be the ones the store was made with, or predictions would not match the features. */
function checkFiles(meta: StoreMeta, o: EncoderOptions, checks: { what: string; got: string; want: unknown }[], dim: number, layers: number[] | null): void {
  for (const c of checks) {
    if (typeof c.want !== "string" || c.got === c.want) continue;
    throw new EmofeatError(
      `${provenance(meta, o)}, but the ${c.what} found at "${o.model ?? meta.model.id}" differs (sha256 ${c.got.slice(0, 12)}... vs ${c.want.slice(0, 12)}...). ` +
        `Predictions would not match the training features; pass the original model with --model ${o.storeName}=FOLDER.`,
    );
  }
  if (dim !== meta.d) throw new EmofeatError(`${provenance(meta, o)}; the loaded model gives ${dim}-dim embeddings, the store has ${meta.d}`);
  if (JSON.stringify(layers ?? null) !== JSON.stringify(meta.layers ?? null))
    throw new EmofeatError(`${provenance(meta, o)} with hidden_states ${meta.layers?.join(",") ?? "last"}; the rebuilt encoder gives ${layers?.join(",") ?? "last"}`);
}

/** The external data files the store recorded, each against the loaded model's (stores made before they were recorded: none). */
function dataFileChecks(got: ModelRecord, meta: StoreMeta): { what: string; got: string; want: unknown }[] {
  const recorded = "data_files" in meta.model ? (meta.model.data_files ?? []) : [];
  return recorded.map((w) => ({ what: `external data file ${w.file}`, got: got.data_files?.find((f) => f.file === w.file)?.sha256 ?? "(missing)", want: w.sha256 }));
}

/** Loads the store's encoder and checks its files are the ones the store was made with (releasing it if not). */
async function loadChecked<E extends { layerWidth: number; layers: number[] | null; dispose(): Promise<void> }>(
  meta: StoreMeta,
  o: EncoderOptions,
  load: (model: string) => Promise<E>,
  files: (enc: E) => { what: string; got: string; want: unknown }[],
): Promise<E> {
  const enc = await loadFor(meta, o, load);
  try {
    checkFiles(meta, o, files(enc), enc.layerWidth, enc.layers);
  } catch (err) {
    await enc.dispose();
    throw err;
  }
  return enc;
}

/** Load options every modality takes from the store's meta.json (and the caller's runtime settings). */
function storeLoadOptions(meta: StoreMeta, o: EncoderOptions) {
  return {
    dtype: meta.model.dtype as ModelDtype,
    pooling: meta.pooling as PoolingMode,
    layers: meta.layers ?? "last",
    offline: o.offline,
    device: o.device,
    threads: o.threads,
  };
}

function batchSizeOf(meta: StoreMeta, fallback: number): number {
  const b = meta.settings?.batch_size;
  return typeof b === "number" && Number.isInteger(b) && b > 0 ? b : fallback;
}

/** Sequence results from per-input arrays of rows of `rowSize` values. */
function sequenceResult(seqs: (Float32Array | null)[], rowSize: number, errors: (EmofeatError | null)[]): SequenceResult {
  return { sequences: seqs, lengths: seqs.map((q) => (q ? q.length / rowSize : 0)), errors };
}

/**
 * The encoder's values as the store holds them: a float16 store (--store-dtype float16) rounded every value to
 * float16 when it was written, so the head was trained on rounded values and prediction rounds the same way.
 */
function asStored(meta: StoreMeta, values: Float32Array): Float32Array {
  return meta.dtype === "float16" ? float16ToFloat32(float32ToFloat16(values)) : values;
}

/** An Encoder for a store: `encode` for pooled stores, `encodeSequences` for sequence stores, the other refused. */
function storeEncoder(
  meta: StoreMeta,
  o: EncoderOptions,
  modality: Modality,
  shape: Pick<Encoder, "dim" | "layers" | "pooling" | "rowSize">,
  run: { pooled(inputs: readonly string[]): Promise<EncodeResult>; sequences(inputs: readonly string[]): Promise<SequenceResult>; dispose(): Promise<void> },
): Encoder {
  const sequence = isSequenceStore(meta);
  return {
    modality,
    dim: shape.dim,
    layers: shape.layers,
    pooling: shape.pooling,
    rowSize: shape.rowSize,
    encode: async (inputs) => {
      if (sequence) throw wrongKind(meta, o, "pooled");
      const res = await run.pooled(inputs);
      return { ...res, embeddings: asStored(meta, res.embeddings) };
    },
    encodeSequences: async (inputs) => {
      if (!sequence) throw wrongKind(meta, o, "sequence");
      const res = await run.sequences(inputs);
      return { ...res, sequences: res.sequences.map((q) => q && asStored(meta, q)) };
    },
    dispose: run.dispose,
  };
}

function wrongKind(meta: StoreMeta, o: EncoderOptions, want: "pooled" | "sequence"): EmofeatError {
  return new EmofeatError(
    want === "pooled"
      ? `store "${o.storeName}" is a sequence store (pooling none): its encoder gives frames (encodeSequences), not one vector per input`
      : `store "${o.storeName}" is a pooled store (pooling ${meta.pooling}): its encoder gives one vector per input (encode), not frames`,
  );
}

registerEncoderFactory("text", async (meta, o) => {
  const enc = await loadChecked(
    meta,
    o,
    (model) =>
      TextEncoder.load({ model, maxLen: meta.max_len, ...storeLoadOptions(meta, o) }),
    (e) => [
      { what: "model file", got: e.model.sha256, want: meta.model.sha256 },
      ...dataFileChecks(e.model, meta),
      { what: "tokenizer.json", got: e.tokenizerSha256, want: meta.settings?.tokenizer_sha256 },
    ],
  );
  const batchSize = batchSizeOf(meta, 64);
  return storeEncoder(meta, o, "text", { dim: enc.layerWidth, layers: enc.layers, pooling: enc.pooling, rowSize: enc.rowSize }, {
    pooled: async (texts) => ({ embeddings: await enc.embed(texts, batchSize), errors: texts.map(() => null) }),
    sequences: async (texts) => ({
      ...sequenceResult(await enc.sequences(texts, batchSize), enc.rowSize, texts.map(() => null)),
      positions: texts.map((t) => enc.tokenStrings(t)),
    }),
    dispose: () => enc.dispose(),
  });
});

/** What the audio encoders (and the weight-free feature extractors) offer for prediction. */
interface FileEncoder {
  dim: number;
  layers: number[] | null;
  pooling: string;
  rowSize: number;
  embedFiles(files: readonly string[], batchSize: number): Promise<{ vectors: (Float32Array | null)[]; clips: (LoadedClip | null)[]; errors: (Error | null)[] }>;
  targetSampleRate: number;
  maxSeconds: number;
  loadClip(audio: string | AudioStream): Promise<LoadedClip>;
  embedClip(clip: LoadedClip): Promise<Float32Array>;
  /** One prepared clip's frames (pooling none). */
  sequenceClip(clip: LoadedClip): Promise<Float32Array>;
  dispose(): Promise<void>;
}

function audioEncoder(meta: StoreMeta, o: EncoderOptions, enc: FileEncoder): Encoder {
  const batchSize = batchSizeOf(meta, 16);
  const errorsOf = (errs: (Error | null)[]) => errs.map((e) => (e === null ? null : e instanceof EmofeatError ? e : new EmofeatError(e.message, { cause: e })));
  const encoder = storeEncoder(meta, o, "audio", enc, {
    pooled: async (files) => {
      const res = await enc.embedFiles(files, batchSize);
      const embeddings = new Float32Array(files.length * enc.rowSize);
      res.vectors.forEach((v, i) => v && embeddings.set(v, i * enc.rowSize));
      return { embeddings, errors: errorsOf(res.errors) };
    },
    sequences: async (files) => {
      const res = await enc.embedFiles(files, batchSize);
      // Frame i starts at i x (kept duration / frames): the encoder's hop (20 ms for WavLM at 16 kHz).
      const positions = res.vectors.map((v, i) => {
        const clip = res.clips[i];
        if (!v || !clip) return null;
        const t = v.length / enc.rowSize;
        const seconds = clip.samples.length / clip.sampleRate;
        return Array.from({ length: t }, (_, k) => `${((k * seconds) / t).toFixed(2)} s`);
      });
      return { ...sequenceResult(res.vectors, enc.rowSize, errorsOf(res.errors)), positions };
    },
    dispose: () => enc.dispose(),
  });
  const clips: ClipEncoding = {
    sampleRate: enc.targetSampleRate,
    maxSeconds: enc.maxSeconds,
    prepare: (audio) => enc.loadClip(audio),
    embed: async (clip) => {
      if (isSequenceStore(meta)) throw wrongKind(meta, o, "pooled");
      return asStored(meta, await enc.embedClip(clip));
    },
    frames: async (clip) => {
      if (!isSequenceStore(meta)) throw wrongKind(meta, o, "sequence");
      return asStored(meta, await enc.sequenceClip(clip));
    },
  };
  return { ...encoder, clips };
}

registerEncoderFactory("audio", async (meta, o) => {
  // Weight-free baselines: no model files to load or check.
  if (isBuiltinModel(meta.model.id)) return audioEncoder(meta, o, await builtinExtractorForStore(meta, o));
  const enc = await loadChecked(
    meta,
    o,
    (model) =>
      AudioEncoder.load({
        model,
        targetSampleRate: meta.sr,
        maxSeconds: meta.max_seconds,
        batching: meta.compat ? undefined : (meta.batching as BatchingMode | undefined),
        compat: meta.compat as AudioCompat | undefined,
        ...storeLoadOptions(meta, o),
      }),
    (e) => [
      { what: "model file", got: e.model.sha256, want: meta.model.sha256 },
      ...dataFileChecks(e.model, meta),
      { what: "preprocessor_config.json", got: e.preprocessorSha256, want: meta.settings?.preprocessor_sha256 },
    ],
  );
  return audioEncoder(meta, o, {
    dim: enc.layerWidth,
    layers: enc.layers,
    pooling: enc.pooling,
    rowSize: enc.rowSize,
    embedFiles: (files, batchSize) => enc.embedFiles(files, batchSize),
    targetSampleRate: enc.targetSampleRate,
    maxSeconds: enc.maxSeconds,
    loadClip: (audio) => enc.loadClip(audio),
    embedClip: (clip) => enc.embedClip(clip),
    sequenceClip: (clip) => enc.sequenceClip(clip),
    dispose: () => enc.dispose(),
  });
});
