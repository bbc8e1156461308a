/**
 * The one place that maps a user-facing `--device` to what onnxruntime-node can run, and says clearly
 * what is missing when it cannot.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { float16ToFloat32 } from "../util/float16.js";

export const DEVICES = ["cpu", "cuda"] as const;
export type Device = (typeof DEVICES)[number];

export const CUDA_INSTALL_HINT =
  "emofeat's install skips onnxruntime-node's CUDA provider download (it is large and needs nuget.org; package.json " +
  "allowScripts denies that install script). On a Linux x64 machine with CUDA 12 and cuDNN 9, fetch it once with:\n" +
  "  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js\n" +
  "then run again with --device cuda.";

function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve("onnxruntime-node/package.json");
  return path.join(path.dirname(pkg), "bin", "napi-v6", process.platform, process.arch);
}

/** Throws a clear error when the device's execution provider is not installed here. */
export function checkDevice(device: string): Device {
  if (!(DEVICES as readonly string[]).includes(device))
    throw new EmofeatError(`unknown device "${device}" (expected one of: ${DEVICES.join(", ")})`);
  if (device === "cuda") {
    if (process.platform !== "linux" || process.arch !== "x64")
      throw new EmofeatError(`--device cuda: onnxruntime-node provides CUDA only on Linux x64 (this is ${process.platform}/${process.arch})`);
    const lib = path.join(ortBinaryDir(), "libonnxruntime_providers_cuda.so");
    if (!existsSync(lib)) throw new EmofeatError(`--device cuda: the CUDA execution provider is not installed (${lib} is missing).\n${CUDA_INSTALL_HINT}`);
  }
  return device as Device;
}

export interface SessionSettings {
  device: Device;
  /** Intra-op threads; undefined lets onnxruntime choose (one per physical core). */
  threads?: number;
}

/** Session options in the form transformers.js passes to onnxruntime. */
export function sessionOptions(s: SessionSettings): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (s.threads !== undefined) {
    o.intraOpNumThreads = s.threads;
    o.interOpNumThreads = 1;
  }
  return o;
}

/** onnxruntime execution providers for a device, for sessions created without transformers.js (same choice as it makes). */
export function executionProviders(device: Device): string[] {
  return device === "cuda" ? ["cuda"] : ["cpu"];
}

/** Output tensor data as float32, whatever precision the model file computes in (fp16 variants included). */
export function tensorToFloat32(t: { type: string; data: unknown }): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  // Node 20 has no Float16Array, so onnxruntime hands float16 outputs over as raw Uint16Array bits.
  if (t.type === "float16" && t.data instanceof Uint16Array) return float16ToFloat32(t.data);
  if (ArrayBuffer.isView(t.data) && !(t.data instanceof DataView) && !(t.data instanceof BigInt64Array) && !(t.data instanceof BigUint64Array))
    return Float32Array.from(t.data as unknown as ArrayLike<number>);
  throw new Error(`unsupported output tensor type ${t.type}`);
}
