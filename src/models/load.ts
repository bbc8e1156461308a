/**
 * Loading an encoder through transformers.js, shared by every modality: our env settings applied first,
 * local folders never looked up remotely, and loader failures turned into messages that say what to do.
 */
import path from "node:path";
import { AutoModel, env as hf, type Tensor } from "@huggingface/transformers";
import { sessionOptions, type Device } from "../backends/onnx.js";
import { env } from "../env.js";
import { explainLoadError, type RequiredFile, type ResolvedModel } from "./source.js";

/** The callable model transformers.js returns, as far as we use it. */
export type EncoderModel = ((inputs: Record<string, Tensor>) => Promise<Record<string, Tensor>>) & {
  dispose(): Promise<unknown>;
  sessions?: Record<string, { inputNames?: string[] }>;
};

export interface LoadSettings {
  device: Device;
  threads?: number;
  offline: boolean;
}

/** Copies our settings into transformers.js's env right before it loads anything. */
function applyToTransformers(offline: boolean): void {
  hf.cacheDir = env.cacheDir;
  hf.useFSCache = true;
  hf.allowLocalModels = true;
  hf.allowRemoteModels = !offline;
  hf.remoteHost = env.remoteHost.endsWith("/") ? env.remoteHost : env.remoteHost + "/";
  // Local folders are passed as absolute paths, which transformers.js reads directly; hub ids must not be
  // looked up in its package-relative /models/ folder.
  hf.localModelPath = path.join(env.cacheDir, ".no-local-models");
}

/** Options for any transformers.js `from_pretrained` call on this model. */
export function pretrainedOptions(m: ResolvedModel, offline: boolean): { local_files_only: boolean } {
  applyToTransformers(offline);
  return { local_files_only: offline || m.source === "local" };
}

export async function loadEncoderModel(m: ResolvedModel, s: LoadSettings, required: RequiredFile[]): Promise<EncoderModel> {
  try {
    return (await AutoModel.from_pretrained(m.loadPath, {
      ...pretrainedOptions(m, s.offline),
      dtype: m.dtype,
      device: s.device,
      session_options: sessionOptions({ device: s.device, threads: s.threads }),
    })) as unknown as EncoderModel;
  } catch (err) {
    throw await explainLoadError(m, err, required);
  }
}
