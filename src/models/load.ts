/**
 * Opening an encoder, shared by every modality. The session is created directly on onnxruntime (through
 * backends/onnx.ts, like every session), from the ONNX file on disk; transformers.js is used only to download
 * a hub model the first time (and, for text, for the tokenizer), and is imported only then.
 *
 * Why not transformers.js's AutoModel for local files: its file loader opens a read stream on the whole
 * model file and queues every chunk in memory without anyone reading it (FileResponse in
 * transformers.node.mjs), so each load read the weights once more into JS memory (hundreds of MB for
 * BERT/WavLM-base, plus the garbage collection) before onnxruntime read them itself.
 *
 * With `--layers`, the encoder is the same model file with every hidden state as an output
 * (models/hidden-states.ts), so that only the layers asked for are fetched.
 */
import path from "node:path";
import type { Tensor } from "@huggingface/transformers";
import type * as Ort from "onnxruntime-node";
import { createSession, sessionOptions, type Device } from "../backends/onnx.js";
import { env } from "../env.js";
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

/** An input tensor: an onnxruntime Tensor, or a transformers.js Tensor (which wraps one). */
export type InputTensor = Ort.Tensor | Tensor;

/** A loaded encoder: call it with input tensors by name (inputs the model does not declare are ignored). */
export type EncoderModel = ((inputs: Record<string, InputTensor>) => Promise<Record<string, OutputTensor>>) & {
  dispose(): Promise<unknown>;
  sessions?: Record<string, { inputNames?: string[] }>;
};

export interface LoadSettings {
  device: Device;
  threads?: number;
  offline: boolean;
}

/** Copies our settings into transformers.js's env right before it loads anything (and loads it). */
async function transformers(offline: boolean): Promise<typeof import("@huggingface/transformers")> {
  const t = await import("@huggingface/transformers");
  const hf = t.env;
  hf.cacheDir = env.cacheDir;
  hf.useFSCache = true;
  hf.allowLocalModels = true;
  hf.allowRemoteModels = !offline;
  hf.remoteHost = env.remoteHost.endsWith("/") ? env.remoteHost : env.remoteHost + "/";
  // Local folders are passed as absolute paths, which transformers.js reads directly; hub ids must not be
  // looked up in its package-relative /models/ folder.
  hf.localModelPath = path.join(env.cacheDir, ".no-local-models");
  return t;
}

/** transformers.js with our settings applied, and the options for a `from_pretrained` call on this model. */
export async function pretrained(m: ResolvedModel, offline: boolean) {
  return { t: await transformers(offline), options: { local_files_only: offline || m.source === "local" } };
}

/** The model's ONNX file on disk: a hub model not downloaded yet is fetched first (with its config) by transformers.js. */
async function modelFile(m: ResolvedModel, s: LoadSettings, required: RequiredFile[]): Promise<string> {
  const file = path.join(m.dir, m.onnxFile);
  if (await exists(file)) return file;
  try {
    const { t, options } = await pretrained(m, s.offline);
    const first = (await t.AutoModel.from_pretrained(m.loadPath, {
      ...options,
      dtype: m.dtype,
      device: s.device,
      session_options: sessionOptions({ device: s.device, threads: s.threads }),
    })) as unknown as EncoderModel;
    await first.dispose();
  } catch (err) {
    throw await explainLoadError(m, err, required);
  }
  if (!(await exists(file))) throw new EmofeatError(`${m.id}: ${m.onnxFile} was not found in ${m.dir} after loading the model`);
  return file;
}

/** A session on `file` as an EncoderModel, returning `fetches` (default: every output). */
async function openSession(m: ResolvedModel, file: string, s: LoadSettings, fetches?: string[]): Promise<{ model: EncoderModel } | { error: unknown }> {
  let session: Ort.InferenceSession;
  try {
    session = await createSession(file, { device: s.device, threads: s.threads, logSeverityLevel: 3 });
  } catch (error) {
    return { error };
  }
  const run = async (inputs: Record<string, InputTensor>): Promise<Record<string, OutputTensor>> => {
    const feeds: Record<string, Ort.Tensor> = {};
    for (const name of session.inputNames) {
      const t = inputs[name] as { ort_tensor?: Ort.Tensor } | undefined;
      if (!t) throw new EmofeatError(`${m.id}: the model needs input ${name}, which the encoder does not provide`);
      feeds[name] = t.ort_tensor ?? (t as Ort.Tensor);
    }
    return (fetches ? await session.run(feeds, fetches) : await session.run(feeds)) as unknown as Record<string, OutputTensor>;
  };
  const model = Object.assign(run, {
    dispose: () => session.release(),
    sessions: { model: { inputNames: [...session.inputNames] } },
  }) as EncoderModel;
  return { model };
}

/** The encoder with every output of its ONNX file (last_hidden_state, ...). */
export async function loadEncoderModel(m: ResolvedModel, s: LoadSettings, required: RequiredFile[]): Promise<EncoderModel> {
  const opened = await openSession(m, await modelFile(m, s, required), s);
  if ("error" in opened) throw await explainLoadError(m, opened.error, required);
  return opened.model;
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
  const onnxPath = await modelFile(m, s, required);
  const { file, plan } = await hiddenStatesModel(onnxPath, r.sha256, r.numLayers, m.id, r.stableLayerNorm);
  const opened = await openSession(m, file, s, r.layers.map(hiddenStateOutput));
  if ("error" in opened)
    throw new EmofeatError(`${m.id}: could not load ${file} (the model with every hidden state as an output): ${(opened.error as Error).message}`, { cause: opened.error });
  return { model: opened.model, plan, file };
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
  // sha256 of the model file, asked for only with --layers (it names the cached hidden-state copy), so that
  // otherwise the session loads while the hash is still being computed in its worker (util/file-hash.ts).
  o: { config: Record<string, unknown>; sha256: () => Promise<string>; layers: LayerSpec | undefined; first: EncoderModel | null },
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
  const h = await loadHiddenStatesModel(m, s, required, { numLayers, layers, sha256: await o.sha256(), stableLayerNorm: stable });
  const rel = path.relative(m.dir, h.file);
  const file = rel.startsWith("..") || path.isAbsolute(rel) ? h.file : rel;
  return { session: h.model, layers, hiddenStates: { num_hidden_layers: numLayers, rule: h.plan.rule, tensors: h.plan.tensors, file } };
}
