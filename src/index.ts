/** emofeat's library API. The CLI (`emofeat`) is a thin layer over these functions. */
export { env, type EmofeatEnv } from "./env.js";
export { EmofeatError, InputFileError, type InputProblem } from "./errors.js";
export { loadIndex, parseIndex, INDEX_COLUMNS, SPLITS, type IndexManifest, type Utterance, type Split } from "./manifest/index-csv.js";
export { TextEncoder, TEXT_DEFAULTS, planByLength, type TextModelOptions } from "./text/encoder.js";
export { embedTexts, extractText, type ExtractTextOptions, type EmbedTextsResult } from "./extract/text.js";
export { AudioEncoder, AUDIO_DEFAULTS, AUDIO_COMPAT_MODES, AUDIO_POOLING_MODES, BATCHING_MODES, type AudioCompat, type AudioModelOptions, type BatchingMode } from "./audio/encoder.js";
export { embedAudio, extractAudio, CLIPS_COLUMNS, type ExtractAudioOptions, type EmbedAudioResult } from "./extract/audio.js";
export { AudioInputError } from "./audio/errors.js";
export { openAudio, openAudioBytes, pcmStream, decodeAudioFile, mixToMono, type AudioStream, type AudioInfo, type DecodedAudio } from "./audio/decode.js";
export { loadClip, ClipBuilder, type LoadedClip, type ClipInfo, type ClipOptions } from "./audio/clip.js";
export { resample, SincResampler } from "./audio/resample.js";
export { BuiltinFrameExtractor, BUILTIN_FEATURES, isBuiltinModel, type BuiltinFeatureSpec, type BuiltinOptions } from "./audio/builtin.js";
export { kaldiFbank, KaldiFbank, KALDI_FBANK_DEFAULTS, type FeatureFrames } from "./audio/kaldi-fbank.js";
export { torchaudioMfcc, TorchaudioMfcc, MFCC_SETTINGS } from "./audio/mfcc.js";
export { runExtraction, fingerprint, InterruptedError, type ExtractionSummary } from "./extract/run.js";
export type { ProgressEvent, ProgressListener } from "./extract/progress.js";
export { pool, poolLayers, framesOf, pooledWidth, POOLING_MODES, type PoolingMode } from "./pooling.js";
export { resolveLayers, type LayerSpec } from "./models/layer-spec.js";
export { planHiddenStates, hiddenStatesModel, type HiddenStatesPlan } from "./models/hidden-states.js";
export { readStore, readStoreMeta, openSequenceStore, type FeatureStore, type SequenceStoreReader } from "./store/read.js";
export { validateStores, type ValidationReport } from "./store/validate.js";
export { encodeNpy, readNpy, STORE_DTYPES, type StoreDtype } from "./store/npy.js";
export { STORE_FILES, STORE_FORMAT, isSequenceStore, rowShape, type StoreMeta, type Failure, type ModelRecord, type BuiltinModelRecord } from "./store/meta.js";
export { checkDevice, DEVICES, type Device } from "./backends/onnx.js";
export { MODEL_DTYPES, type ModelDtype } from "./models/source.js";
export {
  buildIndex,
  CORPORA,
  writeIndexCsv,
  formatStatsTable,
  formatProblems,
  countByReason,
  readWavHeader,
  type CorpusName,
  type RecipeOptionsMap,
  type IndexBuild,
  type IndexRow,
  type IndexStats,
  type RecipeProblem,
} from "./recipes/index.js";
export { trainProbe, type TrainProbeOptions, type TrainProbeResult } from "./train/probe.js";
export { trainHead, Evaluator, type Dataset, type TrainOptions, type TrainResult, type EpochRecord } from "./train/engine.js";
export { HEAD_NAMES, HEAD_DEFAULTS, buildInferenceModel, buildTrainingModel, type HeadName, type HeadArch, type TrainSettings } from "./train/heads.js";
export { computeMetrics, confusionMatrix, type Metrics, type ClassMetrics } from "./train/metrics.js";
export { loadProbeData, parseFeatureSpecs, describeJoin, type ProbeData, type JoinReport } from "./train/data.js";
export { parseClasses, type ClassPlan } from "./train/classes.js";
export { planFolds, type Protocol, type Fold } from "./train/splits.js";
export { summarizeRuns, formatSummary, type SummaryRow } from "./train/summarize.js";
export { readRunConfig, readRunMetrics, readHeadLabels, RUN_FILES, type RunConfig, type RunMetrics, type HeadLabels } from "./train/run-dir.js";
export { GraphBuilder, type Tensor as GraphTensor } from "./train/graph/builder.js";
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
