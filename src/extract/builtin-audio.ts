/**
 * The store settings of an audio store made with a weight-free builtin feature (`--model builtin:fbank|mfcc`):
 * what goes into its fingerprint and meta.json. Rows, failures and clips.csv are handled by extract/audio.ts
 * exactly as for the encoders.
 */
import type { BuiltinFrameExtractor } from "../audio/builtin.js";
import { CLIP_PREPROCESSING } from "../audio/clip.js";
import type { StoreDtype } from "../store/npy.js";
import { representationSettings, type RunExtractionOptions } from "./run.js";

export function builtinStoreArgs(
  f: BuiltinFrameExtractor,
  batchSize: number,
  indexSha256: string,
  dtype: StoreDtype,
): Pick<RunExtractionOptions, "fingerprintSettings" | "dim" | "meta"> {
  return {
    fingerprintSettings: {
      modality: "audio",
      model: f.model.id,
      params: f.model.params,
      pooling: f.pooling,
      sr: f.targetSampleRate,
      max_seconds: f.maxSeconds,
      batch_size: batchSize,
      index_sha256: indexSha256,
      ...representationSettings({ layers: null, pooling: f.pooling, defaultPooling: f.pooling, dtype }),
    },
    dim: f.dim,
    meta: {
      model: f.model,
      device: f.device,
      pooling: f.pooling,
      sr: f.targetSampleRate,
      max_seconds: f.maxSeconds,
      settings: {
        batch_size: batchSize,
        weights: "none: a fixed signal-processing feature (no model file)",
        frames: `${f.spec.description}; 100 frames per second, ${f.spec.frameDim} values each, every clip alone; ${f.pooling === "none" ? "every frame stored" : `${f.pooling} over its frames`}`,
        frame_dim: f.spec.frameDim,
        min_samples: f.spec.minSamples,
        preprocessing: CLIP_PREPROCESSING,
      },
    },
  };
}
