/** Running builder-made models (training graphs, trained heads) through the one device/threads module. */
import type * as Ort from "onnxruntime-node";
import { createSession as createOrtSession, ort, type Device } from "../../backends/onnx.js";
import { encodeModel, type OnnxModelSpec } from "../onnx/proto.js";

export type Feeds = Record<string, Ort.Tensor>;
export type FloatArray = Float32Array | Float64Array;

export interface SessionOptions {
  /** Threads for one operator (default: backends/onnx.ts defaultThreads()). */
  threads?: number;
  /** Default cpu: heads are small, and a GPU's transfer per batch would cost more than the maths. */
  device?: Device;
}

export async function createSession(model: OnnxModelSpec | Uint8Array, options: SessionOptions = {}): Promise<Ort.InferenceSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  return createOrtSession(bytes, {
    device: options.device ?? "cpu",
    threads: options.threads,
    // Idle pool threads must not spin: between runs the JS side (optimiser, next batch) needs the cores,
    // and on 2 cores spinning workers slowed a reference mlp step by ~20%.
    spinning: false,
    // No arena: training graphs see batches of varying shapes (sequence lengths), and the arena keeps the largest
    // of everything it ever allocated. fusion-decoder on 8 x (250 frames, 40 tokens), d 768: peak RSS 2.0 GB
    // without vs 3.0 GB with it, same step time; the 39 M-parameter fusion head at utterance level was not slower.
    memArena: false,
    // Shape-merge notices for symbolic batch dims are noise; errors still surface as exceptions.
    logSeverityLevel: 3,
  });
}

export function floatTensor(data: FloatArray, dims: readonly number[]): Ort.Tensor {
  return new (ort().Tensor)(data instanceof Float64Array ? "float64" : "float32", data, dims);
}
