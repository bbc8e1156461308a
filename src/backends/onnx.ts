/**
 * The one place that maps a user-facing `--device` and `--threads` to what onnxruntime-node runs: every
 * session (encoders, training graphs, trained heads) gets its execution provider and thread settings here,
 * and what is missing for CUDA is said clearly. onnxruntime-node itself is loaded on first use, so commands
 * and library entry points that never run a model do not pay for it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import type * as Ort from "onnxruntime-node";
import { env } from "../env.js";
import { EmofeatError } from "../errors.js";
import { float16ToFloat32 } from "../util/float16.js";

/** Where a model runs, once decided. */
export const DEVICES = ["cpu", "cuda"] as const;
export type Device = (typeof DEVICES)[number];
/** What a user may ask for: `auto` is CUDA when its provider is installed and a GPU answers, else the CPU. */
export const DEVICE_CHOICES = ["auto", ...DEVICES] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

export const CUDA_INSTALL_HINT =
  "emofeat's install skips onnxruntime-node's CUDA provider download (it is large and needs nuget.org; package.json " +
  "allowScripts denies that install script). On a Linux x64 machine with CUDA 12 and cuDNN 9, fetch it once with:\n" +
  "  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js\n" +
  "then run again with --device cuda or auto (docs/gpu.md).";

const require = createRequire(import.meta.url);
let ortModule: typeof Ort | undefined;

/** onnxruntime-node, loaded on first use (a CommonJS package, so this is synchronous and shares its one instance with transformers.js). */
export function ort(): typeof Ort {
  ortModule ??= require("onnxruntime-node") as typeof Ort;
  return ortModule;
}

function ortBinaryDir(): string {
  const pkg = require.resolve("onnxruntime-node/package.json");
  return path.join(path.dirname(pkg), "bin", "napi-v6", process.platform, process.arch);
}

/** Why CUDA cannot be used here without even trying it (wrong platform, provider not installed), or null. */
function cudaMissing(): { short: string; detail: string; install: boolean } | null {
  if (process.platform !== "linux" || process.arch !== "x64") {
    const why = `onnxruntime-node provides CUDA only on Linux x64 (this is ${process.platform}/${process.arch})`;
    return { short: why, detail: why, install: false };
  }
  const lib = path.join(ortBinaryDir(), "libonnxruntime_providers_cuda.so");
  if (!existsSync(lib))
    return { short: "the CUDA execution provider is not installed (docs/gpu.md)", detail: `the CUDA execution provider is not installed (${lib} is missing)`, install: true };
  return null;
}

/** Throws a clear error when the device's execution provider is not installed here. `auto` is resolved by resolveDevice. */
export function checkDevice(device: string): Device {
  if (!(DEVICES as readonly string[]).includes(device))
    throw new EmofeatError(
      device === "auto"
        ? `internal: device "auto" must be resolved with resolveDevice() first`
        : `unknown device "${device}" (expected one of: ${DEVICE_CHOICES.join(", ")})`,
    );
  if (device === "cuda") {
    const missing = cudaMissing();
    if (missing) throw new EmofeatError(`--device cuda: ${missing.detail}.${missing.install ? "\n" + CUDA_INSTALL_HINT : ""}`);
  }
  return device as Device;
}

export interface ResolvedDevice {
  device: Device;
  requested: DeviceChoice;
  /** Why: one line for the user, e.g. "auto: the CUDA execution provider is not installed". */
  reason: string;
}

let cudaProbe: Promise<string | null> | undefined;

/**
 * Whether a CUDA session really starts here (provider library loads, a GPU answers): a one-node model is
 * created and run on the CUDA provider. Null when it works, else the reason. Done once per process.
 */
function probeCuda(): Promise<string | null> {
  cudaProbe ??= (async () => {
    const missing = cudaMissing();
    if (missing) return missing.short;
    try {
      const { encodeModel } = await import("../train/onnx/proto.js");
      const bytes = encodeModel({
        graphName: "cuda-probe",
        nodes: [{ opType: "Relu", inputs: ["x"], outputs: ["y"] }],
        inputs: [{ name: "x", elemType: "float32", shape: [1] }],
        outputs: [{ name: "y", elemType: "float32", shape: [1] }],
        initializers: [],
      });
      const o = ort();
      const s = await o.InferenceSession.create(bytes, { executionProviders: ["cuda"], logSeverityLevel: 3 });
      try {
        await s.run({ x: new o.Tensor("float32", Float32Array.from([1]), [1]) });
      } finally {
        await s.release();
      }
      return null;
    } catch (err) {
      return `the CUDA execution provider did not start (${String((err as Error)?.message ?? err).split("\n")[0]})`;
    }
  })();
  return cudaProbe;
}

/** Resolves `auto` (CUDA if it really works here, else the CPU) and checks an explicit `cuda`. */
export async function resolveDevice(choice: string = "auto"): Promise<ResolvedDevice> {
  if (choice !== "auto") return { device: checkDevice(choice), requested: choice as Device, reason: `--device ${choice}` };
  const why = await probeCuda();
  return why === null
    ? { device: "cuda", requested: "auto", reason: "auto: the CUDA execution provider started" }
    : { device: "cpu", requested: "auto", reason: `auto: ${why}` };
}

let physical: number | undefined;

/** Physical cores (Linux: distinct core ids in /sys), or the logical count where that cannot be read. */
export function physicalCores(): number {
  if (physical !== undefined) return physical;
  try {
    const base = "/sys/devices/system/cpu";
    const cores = new Set<string>();
    for (const d of readdirSync(base)) {
      if (!/^cpu\d+$/.test(d)) continue;
      try {
        const t = path.join(base, d, "topology");
        cores.add(`${readFileSync(path.join(t, "physical_package_id"), "utf8").trim()}:${readFileSync(path.join(t, "core_id"), "utf8").trim()}`);
      } catch {
        // offline CPU
      }
    }
    physical = cores.size > 0 ? cores.size : os.availableParallelism();
  } catch {
    physical = os.availableParallelism();
  }
  return physical;
}

/**
 * Intra-op threads when the user gives none: one per physical core this process may use. Set explicitly
 * rather than left to onnxruntime, whose own default also pins its threads to cores, which hurts when
 * other processes share the machine.
 */
export function defaultThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), physicalCores()));
}

export interface SessionSettings {
  device: Device;
  /** Intra-op threads; undefined = defaultThreads(). */
  threads?: number;
  /** Let idle pool threads spin between operators instead of sleeping at once (default: env.ortSpinning, off). */
  spinning?: boolean;
  /** onnxruntime's CPU memory arena (default on); off where shapes vary from run to run (training graphs). */
  memArena?: boolean;
}

/** Session options in onnxruntime's form (transformers.js passes them through unchanged). */
export function sessionOptions(s: SessionSettings): Record<string, unknown> {
  const o: Record<string, unknown> = {
    intraOpNumThreads: s.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  if (!(s.spinning ?? env.ortSpinning)) o.extra = { session: { intra_op: { allow_spinning: "0" } } };
  if (s.memArena === false) o.enableCpuMemArena = false;
  return o;
}

/** onnxruntime execution providers for a device (the same choice transformers.js makes). */
export function executionProviders(device: Device): string[] {
  return device === "cuda" ? ["cuda"] : ["cpu"];
}

/** A session on a model file or bytes, with this module's device and thread settings. */
export async function createSession(model: string | Uint8Array, s: SessionSettings & { logSeverityLevel?: 0 | 1 | 2 | 3 | 4 }): Promise<Ort.InferenceSession> {
  const options = {
    ...sessionOptions(s),
    executionProviders: executionProviders(s.device),
    logSeverityLevel: s.logSeverityLevel ?? 2,
  } as Ort.InferenceSession.SessionOptions;
  return typeof model === "string" ? ort().InferenceSession.create(model, options) : ort().InferenceSession.create(model, options);
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
