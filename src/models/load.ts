/**
 * Loading an encoder through transformers.js, shared by every modality: our env settings applied first,
 * local folders never looked up remotely, and loader failures turned into messages that say what to do.
 * With `--layers`, the encoder is the same model file with every hidden state as an output
 * (models/hidden-states.ts), run directly on onnxruntime so that only the layers asked for are fetched.
 */
import path from "node:path";
import { AutoModel, type Tensor } from "@huggingface/transformers";
import ort from "onnxruntime-node";
import { executionProviders, sessionOptions, type Device } from "../backends/onnx.js";
import { applyToTransformers } from "../env.js";
import { EmofeatError } from "../errors.js";
import { exists } from "../util/fs.js";
import { hiddenStateOutput, hiddenStatesModel, type HiddenStatesPlan } from "./hidden-states.js";
import { resolveLayers, type LayerSpec } from "./layer-spec.js";
import { explainLoadError, type RequiredFile, type ResolvedModel } from "./source.js";

/** Output tensors as the encoders use them (transformers.js Tensors and onnxruntime Tensors both fit). */
export interface OutputTensor {
  dims: readonly number[];
  type: string;
  data: unknown;
}

/** The callable model transformers.js returns, as far as we use it. */
export type EncoderModel = ((inputs: Record<string, Tensor>) => Promise<Record<string, OutputTensor>>) & {
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

export interface HiddenStatesRequest {
  /** config.json num_hidden_layers. */
  numLayers: number;
  /** config.json do_stable_layer_norm, when present (pre-LN layers). */
  stableLayerNorm?: boolean;
  /** hidden_states indices to return, in this order. */
  layers: readonly number[];
  /** sha256 of the model's ONNX file (the cache key). */
  sha256: string;
}

export interface HiddenStatesEncoder {
  /** Returns `hidden_states.<i>` for each requested layer. */
  model: EncoderModel;
  plan: HiddenStatesPlan;
  /** The edited model file (beside the original, or in the cache when the model's folder is read-only). */
  file: string;
}

/** The encoder with hidden-state outputs (made once per model file and cached; see models/hidden-states.ts). */
export async function loadHiddenStatesModel(m: ResolvedModel, s: LoadSettings, required: RequiredFile[], r: HiddenStatesRequest): Promise<HiddenStatesEncoder> {
  const onnxPath = path.join(m.dir, m.onnxFile);
  if (!(await exists(onnxPath))) {
    // A hub model not downloaded yet: let transformers.js fetch it (and its config) into the cache first.
    const first = await loadEncoderModel(m, s, required);
    await first.dispose();
    if (!(await exists(onnxPath))) throw new EmofeatError(`${m.id}: ${m.onnxFile} was not found in ${m.dir} after loading the model`);
  }
  const { file, plan } = await hiddenStatesModel(onnxPath, r.sha256, r.numLayers, m.id, r.stableLayerNorm);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, {
      ...sessionOptions({ device: s.device, threads: s.threads }),
      executionProviders: executionProviders(s.device),
      logSeverityLevel: 3,
    });
  } catch (err) {
    throw new EmofeatError(`${m.id}: could not load ${file} (the model with every hidden state as an output): ${(err as Error).message}`, { cause: err });
  }
  const fetches = r.layers.map(hiddenStateOutput);
  const run = async (inputs: Record<string, Tensor>): Promise<Record<string, OutputTensor>> => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const t = inputs[name] as unknown as { ort_tensor?: ort.Tensor } | undefined;
      if (!t) throw new EmofeatError(`${m.id}: the model needs input ${name}, which the encoder does not provide`);
      feeds[name] = t.ort_tensor ?? (t as unknown as ort.Tensor);
    }
    return (await session.run(feeds, fetches)) as unknown as Record<string, OutputTensor>;
  };
  const model = Object.assign(run, {
    dispose: () => session.release(),
    sessions: { model: { inputNames: [...session.inputNames] } },
  }) as EncoderModel;
  return { model, plan, file };
}

/** Where the layer outputs came from (recorded in a store's meta.json as `hidden_states`). */
export interface HiddenStatesInfo {
  num_hidden_layers: number;
  rule: HiddenStatesPlan["rule"];
  tensors: string[];
  /** The model file with the hidden-state outputs: relative to the model folder, or absolute when elsewhere. */
  file: string;
}

/**
 * A hub model's config.json arrives with its first load: load it now when the config is not there yet (the
 * session is then reused or released by openEncoder); local folders were checked before.
 */
export async function loadIfConfigMissing(m: ResolvedModel, s: LoadSettings, required: RequiredFile[]): Promise<EncoderModel | null> {
  return (await exists(path.join(m.dir, "config.json"))) ? null : loadEncoderModel(m, s, required);
}

/**
 * The encoder session for `--layers`: the plain model (transformers.js) for `last`, else the model with
 * hidden-state outputs fetching exactly those layers. `first` is a session loadIfConfigMissing made: it is
 * returned or released here, also on errors.
 */
export async function openEncoder(
  m: ResolvedModel,
  s: LoadSettings,
  required: RequiredFile[],
  o: { config: Record<string, unknown>; sha256: string; layers: LayerSpec | undefined; first: EncoderModel | null },
): Promise<{ session: EncoderModel; layers: number[] | null; hiddenStates: HiddenStatesInfo | null }> {
  const numLayers = Number(o.config.num_hidden_layers);
  let layers: number[] | null;
  try {
    layers = resolveLayers(o.layers, numLayers, m.id);
  } catch (err) {
    await o.first?.dispose();
    throw err;
  }
  if (layers === null) return { session: o.first ?? (await loadEncoderModel(m, s, required)), layers, hiddenStates: null };
  await o.first?.dispose();
  const stable = typeof o.config.do_stable_layer_norm === "boolean" ? o.config.do_stable_layer_norm : undefined;
  const h = await loadHiddenStatesModel(m, s, required, { numLayers, layers, sha256: o.sha256, stableLayerNorm: stable });
  const rel = path.relative(m.dir, h.file);
  const file = rel.startsWith("..") || path.isAbsolute(rel) ? h.file : rel;
  return { session: h.model, layers, hiddenStates: { num_hidden_layers: numLayers, rule: h.plan.rule, tensors: h.plan.tensors, file } };
}
