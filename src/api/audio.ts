/**
 * `emofeat/audio`: the reference's audio preprocessing (decode, mono, torchaudio resampling, peak
 * normalisation, cut, feature extractor) without the encoder or any model runtime.
 */
export { openAudio, openAudioBytes, pcmStream, decodeAudioFile, mixToMono, type AudioStream, type AudioInfo, type DecodedAudio, type AudioCodec } from "../audio/decode.js";
export { loadClip, ClipBuilder, type LoadedClip, type ClipInfo, type ClipOptions } from "../audio/clip.js";
export { resample, SincResampler, type ResampleOptions } from "../audio/resample.js";
export {
  extractFeatures,
  featureExtractorConfigFrom,
  zeroMeanUnitVarNorm,
  convOutputLength,
  convGeometryFrom,
  referenceFrameMask,
  type FeatureExtractorConfig,
  type ConvGeometry,
} from "../audio/preprocess.js";
export { AudioInputError } from "../audio/errors.js";
export { AUDIO_DEFAULTS, BATCHING_MODES, AUDIO_COMPAT_MODES, AUDIO_POOLING_MODES, type BatchingMode, type AudioCompat } from "../audio/defaults.js";
