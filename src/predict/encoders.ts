/**
 * Encoders for prediction, rebuilt from a feature store's meta.json so that new utterances get exactly the
 * preprocessing the training features had (same model files, pooling, max_len; for audio sr and max_seconds).
 *
 * An `Encoder` maps utterances (texts, or audio file paths) to vectors. Each modality registers a factory;
 * text is wired to the BERT-family TextEncoder. Audio has no factory until audio extraction exists: a run
 * with an audio store then fails with a message saying so, rather than predicting from anything else.
 */
import { EmofeatError } from "../errors.js";
import type { Modality, StoreMeta } from "../store/meta.js";
import { TextEncoder } from "../text/encoder.js";
import type { Device } from "../backends/onnx.js";
import type { PoolingMode } from "../pooling.js";

export interface Encoder {
  readonly modality: Modality;
  readonly dim: number;
  /** Row-major [inputs.length, dim]: texts for text encoders, audio file paths for audio encoders. */
  encode(inputs: readonly string[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export interface EncoderOptions {
  /** Store name in the run (for messages and --model NAME=...). */
  storeName: string;
  /** Use this model folder or hub id instead of the one recorded in the store (same files expected). */
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
        `cannot compute ${meta.modality} embeddings for new utterances yet`,
    );
  return factory(meta, o);
}

function howToProvide(meta: StoreMeta, o: EncoderOptions): string {
  return (
    `store "${o.storeName}" of this run was extracted with model "${meta.model.id}" (${meta.model.source}, ${meta.model.dtype}, ` +
    `${meta.model.file} sha256 ${meta.model.sha256.slice(0, 12)}...)`
  );
}

/** Checks that the files we loaded are the ones the store was made with. */
function checkSame(meta: StoreMeta, o: EncoderOptions, got: { sha256: string; id: string }, what: string, want: string | undefined): void {
  if (want !== undefined && got.sha256 !== want)
    throw new EmofeatError(
      `${howToProvide(meta, o)}, but the ${what} found at "${got.id}" differs (sha256 ${got.sha256.slice(0, 12)}... vs ${want.slice(0, 12)}...). ` +
        `Predictions would not match the training features; pass the original model with --model ${o.storeName}=FOLDER.`,
    );
}

registerEncoderFactory("text", async (meta, o) => {
  let enc: TextEncoder;
  try {
    enc = await TextEncoder.load({
      model: o.model ?? meta.model.id,
      dtype: meta.model.dtype as "fp32",
      maxLen: meta.max_len,
      pooling: meta.pooling as PoolingMode,
      offline: o.offline,
      device: o.device,
      threads: o.threads,
    });
  } catch (err) {
    if (!(err instanceof EmofeatError)) throw err;
    throw new EmofeatError(
      `${howToProvide(meta, o)}; it could not be loaded: ${err.message}\n` +
        `Provide it with --model ${o.storeName}=FOLDER (a local copy in Hugging Face layout with ${meta.model.file}) ` +
        (meta.model.source === "hub" ? `or make the hub id available (run once without --offline to download it into the cache).` : `or put it back at ${meta.model.id}.`),
    );
  }
  try {
    checkSame(meta, o, { sha256: enc.model.sha256, id: o.model ?? meta.model.id }, "model file", meta.model.sha256);
    const tok = meta.settings?.tokenizer_sha256;
    checkSame(meta, o, { sha256: enc.tokenizerSha256, id: o.model ?? meta.model.id }, "tokenizer.json", typeof tok === "string" ? tok : undefined);
    if (enc.dim !== meta.d) throw new EmofeatError(`${howToProvide(meta, o)}; the loaded model gives ${enc.dim}-dim embeddings, the store has ${meta.d}`);
  } catch (err) {
    await enc.dispose();
    throw err;
  }
  const batchSize = typeof meta.settings?.batch_size === "number" ? meta.settings.batch_size : 64;
  return {
    modality: "text",
    dim: enc.dim,
    encode: (texts) => enc.embed(texts, batchSize),
    dispose: () => enc.dispose(),
  };
});
