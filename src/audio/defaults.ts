/**
 * Audio extraction defaults and batching modes, in a module of their own so the CLI can show them in --help
 * without loading the encoder (transformers.js takes about a second to import).
 */
import { POOLING_MODES } from "../pooling.js";

export const BATCHING_MODES = ["exact", "reference"] as const;
export type BatchingMode = (typeof BATCHING_MODES)[number];
/** Reproductions of other extractors: the reference's sequence extractor (see audio/encoder.ts). */
export const AUDIO_COMPAT_MODES = ["seq-reference"] as const;
export type AudioCompat = (typeof AUDIO_COMPAT_MODES)[number];
/** Pooling modes for speech (cls has no meaning for frames). */
export const AUDIO_POOLING_MODES = POOLING_MODES.filter((m) => m !== "cls");

export const AUDIO_DEFAULTS = {
  dtype: "fp32",
  device: "auto",
  targetSampleRate: 16000,
  maxSeconds: 10,
  batching: "exact",
  batchSize: 16,
  pooling: "mean",
} as const;
