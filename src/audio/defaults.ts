/**
 * Audio extraction defaults and batching modes, in a module of their own so the CLI can show them in --help
 * without loading the encoder (transformers.js takes about a second to import).
 */
export const BATCHING_MODES = ["exact", "reference"] as const;
export type BatchingMode = (typeof BATCHING_MODES)[number];

export const AUDIO_DEFAULTS = {
  dtype: "fp32",
  device: "auto",
  targetSampleRate: 16000,
  maxSeconds: 10,
  batching: "exact",
  batchSize: 16,
} as const;
