/**
 * The engine floor for audio, run as a child process by bench/audio.ts: clips decoded, resampled, normalised
 * and cut in advance (untimed, with emofeat's own loader), then timed: importing onnxruntime-node,
 * InferenceSession.create (intraOpNumThreads 2, graphOptimizationLevel "all", nothing else) = load; one
 * session.run per clip (batch 1, as exact mode runs clips of distinct lengths) = runs.
 * Prints one JSON line (FloorTimes). Args: MODEL_DIR FILES_JSON MAX_SECONDS
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { timeEngine } from "./common.js";
import { loadClip } from "../src/audio/clip.js";
import { zeroMeanUnitVarNorm } from "../src/audio/preprocess.js";

const [modelDir, filesJson, maxSeconds] = process.argv.slice(2);
const files = JSON.parse(readFileSync(filesJson, "utf8")) as string[];
const inputs: Float32Array[] = [];
for (const f of files) inputs.push(zeroMeanUnitVarNorm((await loadClip(f, { maxSeconds: Number(maxSeconds) })).samples));

const t0 = performance.now();
const ort = await import("onnxruntime-node");
const feeds = inputs.map((x) => ({ input_values: new ort.Tensor("float32", x, [1, x.length]) }));
await timeEngine(ort, path.join(modelDir, "onnx", "model.onnx"), feeds, t0);
