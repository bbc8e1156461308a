/**
 * Loading an encoder through transformers.js, shared by every modality: our env settings applied first,
 * local folders never looked up remotely, and loader failures turned into messages that say what to do.
 */
import { AutoModel, type Tensor } from "@huggingface/transformers";
import { sessionOptions, type Device } from "../backends/onnx.js";
import { applyToTransformers } from "../env.js";
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
