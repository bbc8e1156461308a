/**
 * The feature store: the on-disk contract other tools read.
 *
 * Pooled stores (one vector per utterance):
 *   embeddings.npy   float32 (or float16), C order, [N, D]; with --layers [N, L, D] (L = meta.layers.length);
 *                    row i = the i-th extracted row of the index
 * Sequence stores (--pooling none: the token / frame states of each utterance):
 *   frames.npy       [sum T_i, D] (with --layers [sum T_i, L, D]): every utterance's states, concatenated in row order
 *   lengths.npy      int64 [N]: T_i; numpy: np.split(frames, np.cumsum(lengths)[:-1])
 *   special.npy      text only: uint8 [sum T_i], 1 where the token is a special token ([CLS], [SEP], <s>, </s>)
 * Both:
 *   ids.txt          the N utter_ids, one a line, same order
 *   meta.json        StoreMeta below; written last, so its presence means the store is complete
 *   failures.csv     utter_id,row,reason for rows that could not be processed (absent when none)
 *   clips.csv        audio only: per-row original duration and truncation
 *   texts.csv        text only: per-row token counts and truncation by max_len
 *   per_utterance/   with --layout per-utterance: <utter_id>.npy, the utterance's row ((D,), (L, D), (T_i, D) or (T_i, L, D))
 */
export const STORE_FORMAT = "emofeat.feature-store";
export const STORE_FORMAT_VERSION = 1;

export const STORE_FILES = {
  embeddings: "embeddings.npy",
  ids: "ids.txt",
  meta: "meta.json",
  failures: "failures.csv",
  clips: "clips.csv",
  texts: "texts.csv",
  perUtterance: "per_utterance",
  frames: "frames.npy",
  lengths: "lengths.npy",
  special: "special.npy",
  partial: ".partial",
} as const;

export type Modality = "text" | "audio";

/**
 * The fingerprint setting `model_data_sha256` of a model's external data files (their sha256s, joined), or
 * undefined when the weights are inside the ONNX file (or the features are weight-free or imported).
 */
export function modelDataSha256(model: ModelRecord | BuiltinModelRecord | undefined): string | undefined {
  return model && "data_files" in model && model.data_files?.length ? model.data_files.map((f) => f.sha256).join(",") : undefined;
}

/** A sequence store holds frames (pooling none) instead of one vector per utterance. */
export function isSequenceStore(meta: Pick<StoreMeta, "pooling">): boolean {
  return meta.pooling === "none";
}

/** Shape of one stored row (a pooled utterance, or one frame): [d] or [layers, d]. */
export function rowShape(meta: Pick<StoreMeta, "layers" | "d">): number[] {
  return meta.layers ? [meta.layers.length, meta.d] : [meta.d];
}
export type StoreLayout = "matrix" | "per-utterance";

export interface ModelRecord {
  /** What the user passed: a hub id or a local folder (imported stores: what made the features). */
  id: string;
  /**
   * Local models: the folder as an absolute path, so that `predict` finds it from any working directory when
   * `id` is relative (absent in stores made before it was recorded).
   */
  path?: string;
  /** "imported": features made by another tool (emofeat store import); no emofeat encoder can recompute them. */
  source: "local" | "hub" | "imported";
  /** The ONNX file used, relative to the model folder. */
  file: string;
  /** sha256 of that ONNX file. */
  sha256: string;
  /**
   * The ONNX file's external data beside it (Optimum writes weights over 2 GB, and some exports, to
   * `model.onnx_data`): path relative to the model folder and sha256. Absent when the weights are inside the file.
   */
  data_files?: { file: string; sha256: string }[];
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
  /** mean | cls (text) | max | mean+std | none (sequence store). Masked in every mode. */
  pooling: string;
  /**
   * Hugging Face hidden_states indices kept (0 = the input of the first transformer layer, i = the output of
   * layer i); the store then has a layer axis. Absent: the last layer only (last_hidden_state), no layer axis.
   */
  layers?: number[];
  /** With `layers`: which graph tensors they are, and the model's layer count (see models/hidden-states.ts). */
  hidden_states?: { num_hidden_layers: number; rule: string; tensors: string[]; file: string };
  /** Audio: a reproduction of another extractor (seq-reference). */
  compat?: string;
  /** Text only. */
  max_len?: number;
  /** Audio only: target sample rate and truncation length. */
  sr?: number;
  max_seconds?: number;
  /** Audio only: exact | reference. */
  batching?: string;
  /** Everything else that shaped the numbers (batch size, normalisation, ...). */
  settings: Record<string, unknown>;
  /** Array dtype of embeddings.npy / frames.npy (--store-dtype). */
  dtype: "float32" | "float16";
  n: number;
  /** Width of one layer's vector (one frame's, in a sequence store); mean+std pooling doubles the hidden size. */
  d: number;
  /** sha256 of the main array: embeddings.npy, or frames.npy in a sequence store. */
  embeddings_sha256: string;
  /** Sequence stores: sha256 of lengths.npy, and sum T_i. */
  lengths_sha256?: string;
  total_frames?: number;
  /** Text sequence stores: the special tokens around every text (the first and last positions); special.npy marks them. */
  special_tokens?: { prefix: number[]; suffix: number[]; special_sha256: string };
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
