/** emofeat's library API. The CLI (`emofeat`) is a thin layer over these functions. */
export { env, type EmofeatEnv } from "./env.js";
export { EmofeatError, InputFileError, type InputProblem } from "./errors.js";
export { TextEncoder, TEXT_DEFAULTS, planByLength, type TextModelOptions } from "./text/encoder.js";
export { embedTexts, extractText, type ExtractTextOptions, type EmbedTextsResult } from "./extract/text.js";
export { AudioEncoder, type AudioModelOptions } from "./audio/encoder.js";
export { embedAudio, extractAudio, CLIPS_COLUMNS, type ExtractAudioOptions, type EmbedAudioResult } from "./extract/audio.js";
// The subpath entry points (emofeat/audio, /store, /recipes, /train with /metrics) are part of the whole.
export * from "./api/audio.js";
export { BuiltinFrameExtractor, BUILTIN_FEATURES, isBuiltinModel, type BuiltinFeatureSpec, type BuiltinOptions } from "./audio/builtin.js";
export { kaldiFbank, KaldiFbank, KALDI_FBANK_DEFAULTS, type FeatureFrames } from "./audio/kaldi-fbank.js";
export { torchaudioMfcc, TorchaudioMfcc, MFCC_SETTINGS } from "./audio/mfcc.js";
export { runExtraction, fingerprint, InterruptedError, type ExtractionSummary } from "./extract/run.js";
export type { ProgressEvent, ProgressListener } from "./extract/progress.js";
export { pool, poolLayers, framesOf, pooledWidth, POOLING_MODES, type PoolingMode } from "./pooling.js";
export { resolveLayers, type LayerSpec } from "./models/layer-spec.js";
export { planHiddenStates, hiddenStatesModel, type HiddenStatesPlan } from "./models/hidden-states.js";
export * from "./api/store.js";
export { checkDevice, resolveDevice, DEVICES, DEVICE_CHOICES, type Device, type DeviceChoice, type ResolvedDevice } from "./backends/onnx.js";
export { MODEL_DTYPES, type ModelDtype } from "./models/source.js";
export * from "./api/recipes.js";
export * from "./api/train.js";
export {
  Predictor,
  predict,
  openAudioInput,
  type PredictInput,
  type Prediction,
  type PredictorOptions,
  type AudioInput,
  type Classification,
  type PreparedAudio,
} from "./predict/predict.js";
export { registerEncoderFactory, encoderForStore, type Encoder, type EncoderFactory, type ClipEncoding, type EncodeResult, type SequenceResult } from "./predict/encoders.js";
