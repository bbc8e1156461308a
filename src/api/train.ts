/**
 * `emofeat/train`: probes and fusion heads on feature stores (onnxruntime is loaded when the first session
 * is created, not on import), plus everything in `emofeat/metrics`.
 */
export * from "./metrics.js";
export { trainProbe, type TrainProbeOptions, type TrainProbeResult } from "../train/probe.js";
export { trainHead, Evaluator, type Dataset, type TrainOptions, type TrainResult, type EpochRecord } from "../train/engine.js";
export { HEAD_NAMES, HEAD_DEFAULTS, buildInferenceModel, buildTrainingModel, type HeadName, type HeadArch, type TrainSettings } from "../train/heads.js";
export { loadProbeData, parseFeatureSpecs, describeJoin, type ProbeData, type JoinReport } from "../train/data.js";
export { parseClasses, type ClassPlan } from "../train/classes.js";
export { planFolds, type Protocol, type Fold } from "../train/splits.js";
export { GraphBuilder, type Tensor as GraphTensor } from "../train/graph/builder.js";
