/**
 * The feature store: the on-disk contract other tools read.
 *
 *   embeddings.npy   float32, C order, [N, D]; row i = the i-th extracted row of the index
 *   ids.txt          the N utter_ids, one a line, same order
 *   meta.json        StoreMeta below; written last, so its presence means the store is complete
 *   failures.csv     utter_id,row,reason for rows that could not be processed (absent when none)
 *   clips.csv        audio only: per-row original duration and truncation
 *   per_utterance/   with --layout per-utterance: <utter_id>.npy, shape (D,)
 */
export const STORE_FORMAT = "emofeat.feature-store";
export const STORE_FORMAT_VERSION = 1;

export const STORE_FILES = {
  embeddings: "embeddings.npy",
  ids: "ids.txt",
  meta: "meta.json",
  failures: "failures.csv",
  clips: "clips.csv",
  perUtterance: "per_utterance",
  partial: ".partial",
} as const;

export type Modality = "text" | "audio";
export type StoreLayout = "matrix" | "per-utterance";

export interface ModelRecord {
  /** What the user passed: a hub id or a local folder. */
  id: string;
  source: "local" | "hub";
  /** The ONNX file used, relative to the model folder. */
  file: string;
  /** sha256 of that ONNX file. */
  sha256: string;
  /** Model file variant: fp32 | fp16 | q8 ... */
  dtype: string;
  model_type?: string;
  hidden_size?: number;
}

/**
 * A weight-free feature computed by emofeat itself (`builtin:fbank`, `builtin:mfcc`): no file, no hash; the
 * parameters of the computation say everything that shaped the numbers.
 */
export interface BuiltinModelRecord {
  /** `builtin:<name>`. */
  id: string;
  source: "builtin";
  /** The reference computation, e.g. the torchaudio call. */
  reference: string;
  /** Width of one frame (before pooling). */
  hidden_size: number;
  params: Record<string, unknown>;
  file?: undefined;
  sha256?: undefined;
  dtype?: undefined;
  model_type?: undefined;
}

export interface StoreMeta {
  format: typeof STORE_FORMAT;
  format_version: number;
  modality: Modality;
  model: ModelRecord | BuiltinModelRecord;
  device: string;
  /** Text: mean | cls. Audio: mean (mask-weighted over frames). */
  pooling: string;
  /** Text only. */
  max_len?: number;
  /** Audio only: target sample rate and truncation length. */
  sr?: number;
  max_seconds?: number;
  /** Audio only: exact | reference. */
  batching?: string;
  /** Everything else that shaped the numbers (batch size, normalisation, ...). */
  settings: Record<string, unknown>;
  /** Array dtype of embeddings.npy. */
  dtype: "float32";
  n: number;
  d: number;
  embeddings_sha256: string;
  index: { path: string; sha256: string; rows: number };
  failures: number;
  layout: StoreLayout;
  /** Hash of the settings that decide the numbers; resuming or re-running needs the same one. */
  fingerprint: string;
  tool: { name: "emofeat"; version: string };
  created: string;
  /** Modality-specific totals (for audio: durations, truncation counts). */
  totals?: Record<string, number>;
  /** A store merged from cluster shards (`emofeat merge`): the only field, with `created`, a single run lacks. */
  shards?: ShardsRecord;
}

export interface ShardsRecord {
  /** Number of shards. */
  n: number;
  /** sha256 of the plan of batches the shards cut. */
  plan_sha256: string;
  merged: string;
  shards: { shard: string; rows: number; failures: number; host: string; started: string; finished: string; seconds: number | null }[];
}

export interface Failure {
  utterId: string;
  /** 1-based data row of the index. */
  row: number;
  reason: string;
}
