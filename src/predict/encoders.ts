/**
 * Encoders for prediction, rebuilt from a feature store's meta.json so that new utterances get exactly the
 * preprocessing the training features had: the same model files (sha256-checked), and for text the same
 * tokenizer, max_len and pooling; for audio the same preprocessor, sample rate, max_seconds and batching.
 *
 * An `Encoder` maps utterances (texts, or audio file paths) to vectors. Each modality registers a factory;
 * text uses the BERT-family TextEncoder and audio the speech AudioEncoder of the extraction commands (or, for
 * stores of the weight-free `builtin:*` features, their BuiltinFrameExtractor).
 * With audio stores made in "reference" batching mode a clip's vector depends on the clips batched with it,
 * so a prediction reproduces the stored vector only for the default "exact" mode.
 */
import { isBuiltinModel } from "../audio/builtin.js";
import { AudioEncoder, type BatchingMode } from "../audio/encoder.js";
import type { Device } from "../backends/onnx.js";
import { EmofeatError } from "../errors.js";
import type { ModelDtype } from "../models/source.js";
import type { PoolingMode } from "../pooling.js";
import type { Modality, StoreMeta } from "../store/meta.js";
import { TextEncoder } from "../text/encoder.js";
import { builtinExtractorForStore } from "./builtin.js";

export interface EncodeResult {
  /** Row-major [inputs.length, dim]; rows of failed inputs are zeros. */
  embeddings: Float32Array;
  /** Per input: why it could not be encoded (e.g. an unreadable audio file), or null. */
  errors: (EmofeatError | null)[];
}

export interface Encoder {
  readonly modality: Modality;
  readonly dim: number;
  /** Texts for text encoders, audio file paths for audio encoders. */
  encode(inputs: readonly string[]): Promise<EncodeResult>;
  dispose(): Promise<void>;
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

/** Loads a store's encoder, turning "not found" into a message that says which model and how to provide it. */
async function loadFor<T>(meta: StoreMeta, o: EncoderOptions, load: (model: string) => Promise<T>): Promise<T> {
  try {
    return await load(o.model ?? meta.model.id);
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
function checkFiles(meta: StoreMeta, o: EncoderOptions, checks: { what: string; got: string; want: unknown }[], dim: number): void {
  for (const c of checks) {
    if (typeof c.want !== "string" || c.got === c.want) continue;
    throw new EmofeatError(
      `${provenance(meta, o)}, but the ${c.what} found at "${o.model ?? meta.model.id}" differs (sha256 ${c.got.slice(0, 12)}... vs ${c.want.slice(0, 12)}...). ` +
        `Predictions would not match the training features; pass the original model with --model ${o.storeName}=FOLDER.`,
    );
  }
  if (dim !== meta.d) throw new EmofeatError(`${provenance(meta, o)}; the loaded model gives ${dim}-dim embeddings, the store has ${meta.d}`);
}

/** Loads the store's encoder and checks its files are the ones the store was made with (releasing it if not). */
async function loadChecked<E extends { dim: number; dispose(): Promise<void> }>(
  meta: StoreMeta,
  o: EncoderOptions,
  load: (model: string) => Promise<E>,
  files: (enc: E) => { what: string; got: string; want: unknown }[],
): Promise<E> {
  const enc = await loadFor(meta, o, load);
  try {
    checkFiles(meta, o, files(enc), enc.dim);
  } catch (err) {
    await enc.dispose();
    throw err;
  }
  return enc;
}

function batchSizeOf(meta: StoreMeta, fallback: number): number {
  const b = meta.settings?.batch_size;
  return typeof b === "number" && Number.isInteger(b) && b > 0 ? b : fallback;
}

registerEncoderFactory("text", async (meta, o) => {
  const enc = await loadChecked(
    meta,
    o,
    (model) =>
      TextEncoder.load({
        model,
        dtype: meta.model.dtype as ModelDtype,
        maxLen: meta.max_len,
        pooling: meta.pooling as PoolingMode,
        offline: o.offline,
        device: o.device,
        threads: o.threads,
      }),
    (e) => [
      { what: "model file", got: e.model.sha256, want: meta.model.sha256 },
      { what: "tokenizer.json", got: e.tokenizerSha256, want: meta.settings?.tokenizer_sha256 },
    ],
  );
  const batchSize = batchSizeOf(meta, 64);
  return {
    modality: "text",
    dim: enc.dim,
    encode: async (texts) => ({ embeddings: await enc.embed(texts, batchSize), errors: texts.map(() => null) }),
    dispose: () => enc.dispose(),
  };
});

registerEncoderFactory("audio", async (meta, o) => {
  const enc = isBuiltinModel(meta.model.id)
    ? await builtinExtractorForStore(meta, o) // weight-free baselines: no model files to load or check
    : await loadChecked(
        meta,
        o,
        (model) =>
          AudioEncoder.load({
            model,
            dtype: meta.model.dtype as ModelDtype,
            targetSampleRate: meta.sr,
            maxSeconds: meta.max_seconds,
            batching: meta.batching as BatchingMode | undefined,
            offline: o.offline,
            device: o.device,
            threads: o.threads,
          }),
        (e) => [
          { what: "model file", got: e.model.sha256, want: meta.model.sha256 },
          { what: "preprocessor_config.json", got: e.preprocessorSha256, want: meta.settings?.preprocessor_sha256 },
        ],
      );
  const batchSize = batchSizeOf(meta, 16);
  return {
    modality: "audio",
    dim: enc.dim,
    encode: async (files) => {
      const res = await enc.embedFiles(files, batchSize);
      const embeddings = new Float32Array(files.length * enc.dim);
      res.vectors.forEach((v, i) => v && embeddings.set(v, i * enc.dim));
      return {
        embeddings,
        errors: res.errors.map((e) => (e === null ? null : e instanceof EmofeatError ? e : new EmofeatError(e.message, { cause: e }))),
      };
    },
    dispose: () => enc.dispose(),
  };
});
