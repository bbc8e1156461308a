/**
 * Where a model comes from: a local folder in Hugging Face layout (always works offline) or a hub id
 * (downloaded once into the cache). Checks for the files a modality needs before anything is loaded, so a
 * missing file is named instead of surfacing as a loader stack trace.
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { env, hashCacheFile } from "../env.js";
import { exists, isDirectory } from "../util/fs.js";
import { sha256Cached, startHash } from "../util/file-hash.js";
import type { ModelRecord } from "../store/meta.js";

export const MODEL_DTYPES = ["fp32", "fp16", "q8"] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];

/** transformers.js's file-name suffixes for each variant (utils/dtypes.js). */
const DTYPE_SUFFIX: Record<ModelDtype, string> = { fp32: "", fp16: "_fp16", q8: "_quantized" };

export function onnxFileFor(dtype: ModelDtype): string {
  return `onnx/model${DTYPE_SUFFIX[dtype]}.onnx`;
}

export function checkDtype(dtype: string): ModelDtype {
  if (!(MODEL_DTYPES as readonly string[]).includes(dtype))
    throw new EmofeatError(`unknown --dtype "${dtype}" (expected one of: ${MODEL_DTYPES.join(", ")})`);
  return dtype as ModelDtype;
}

export interface ResolvedModel {
  /** As the user gave it. */
  id: string;
  source: "local" | "hub";
  /** What to hand to transformers.js: an absolute folder, or the hub id. */
  loadPath: string;
  /** Folder holding the files once available (the local folder, or the hub id's cache folder). */
  dir: string;
  onnxFile: string;
  dtype: ModelDtype;
}

export interface RequiredFile {
  file: string;
  why: string;
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

/** A hub id is `name` or `org/name`; anything else (./x, /x, ~/x, a/b/c, an existing folder) is a path. */
export async function looksLikeLocalPath(model: string): Promise<boolean> {
  if (/^(\.{1,2}|~)?[\\/]/.test(model) || model.startsWith("~") || model.includes("\\")) return true;
  if (model.split("/").length > 2) return true;
  return isDirectory(model);
}

export async function resolveModel(
  model: string,
  dtype: ModelDtype,
  required: RequiredFile[],
  offline: boolean,
): Promise<ResolvedModel> {
  if (model.startsWith("builtin:"))
    throw new EmofeatError(
      `"${model}" is a weight-free audio feature computed by emofeat, not a model with files: use it with ` +
        `\`extract audio\` (library: extractAudio or BuiltinFrameExtractor)`,
    );
  const onnxFile = onnxFileFor(dtype);
  const need: RequiredFile[] = [...required, { file: onnxFile, why: `the ${dtype} ONNX weights (--dtype ${dtype})` }];
  if (await looksLikeLocalPath(model)) {
    const dir = path.resolve(expandHome(model));
    if (!(await exists(dir))) throw new EmofeatError(`model folder ${dir} does not exist`);
    if (!(await isDirectory(dir))) throw new EmofeatError(`model ${dir} is a file; pass the model's folder (Hugging Face layout)`);
    const missing = [];
    for (const r of need) if (!(await exists(path.join(dir, r.file)))) missing.push(r);
    if (missing.length > 0)
      throw new EmofeatError(
        `model folder ${dir} is missing:\n` +
          missing.map((m) => `  - ${m.file} (${m.why})`).join("\n") +
          `\nA model folder needs the Hugging Face layout with ONNX weights (as in the Xenova/* repositories).`,
      );
    // Hashing the weights (for meta.json) starts now, in a worker, so it overlaps the session creation.
    startHash(path.join(dir, onnxFile), hashCacheFile());
    return { id: model, source: "local", loadPath: dir, dir, onnxFile, dtype };
  }
  const dir = path.join(env.cacheDir, model);
  if (offline) {
    const missing = [];
    for (const r of need) if (!(await exists(path.join(dir, r.file)))) missing.push(r);
    if (missing.length > 0)
      throw new EmofeatError(
        `--offline: model "${model}" is not in the cache (${dir}); missing:\n` +
          missing.map((m) => `  - ${m.file} (${m.why})`).join("\n") +
          `\nRun once without --offline to download it, or pass a local model folder.`,
      );
  }
  return { id: model, source: "hub", loadPath: model, dir, onnxFile, dtype };
}

/**
 * Turns a loader failure into a message that says what to do. transformers.js reports a hub file that does
 * not exist as, e.g., "Cannot read properties of undefined", so for hub ids we name the files that did not
 * arrive in the cache.
 */
export async function explainLoadError(m: ResolvedModel, err: unknown, required: RequiredFile[] = []): Promise<EmofeatError> {
  const msg = (err as Error)?.message ?? String(err);
  if (m.source === "hub" && /fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(msg))
    return new EmofeatError(
      `could not download model "${m.id}" from ${env.remoteHost} (${msg}).\n` +
        `Without network access, pass a local model folder (Hugging Face layout with onnx/), or pre-populate the cache (${m.dir}).`,
      { cause: err },
    );
  if (m.source === "hub") {
    const need = [...required, { file: m.onnxFile, why: `the ${m.dtype} ONNX weights` }];
    const missing = [];
    for (const r of need) if (!(await exists(path.join(m.dir, r.file)))) missing.push(r);
    if (missing.length > 0)
      return new EmofeatError(
        `model "${m.id}" could not be loaded from ${env.remoteHost}: these files were not found there:\n` +
          missing.map((r) => `  - ${r.file} (${r.why})`).join("\n") +
          `\nCheck the id; emofeat needs a repository with ONNX weights, as the Xenova/* ones have. (${msg})`,
        { cause: err },
      );
  }
  return new EmofeatError(`could not load model "${m.id}": ${msg}`, { cause: err });
}

export async function readModelConfig(m: ResolvedModel): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(m.dir, "config.json"), "utf8")) as Record<string, unknown>;
}

/** Where model files' hashes are remembered (by path, size and times; see util/file-hash.ts). */
export { hashCacheFile };

/**
 * External data files of an ONNX file, by the names exporters give them (`<file>_data`: torch.onnx and Optimum;
 * `<file>.data`: onnx's convert_model_to_external_data examples). Their bytes are weights as much as the ONNX
 * file's, so they belong to the provenance; the names are checked rather than the graph decoded, which would
 * read the whole model again on every run.
 */
async function externalDataFiles(m: ResolvedModel): Promise<string[]> {
  const found: string[] = [];
  for (const rel of [`${m.onnxFile}_data`, `${m.onnxFile}.data`]) if (await exists(path.join(m.dir, rel))) found.push(rel);
  return found;
}

/** The provenance recorded in meta.json: which file, and its hash (and its external data files' hashes). */
export async function modelRecord(m: ResolvedModel, config: Record<string, unknown>): Promise<ModelRecord> {
  const data = await externalDataFiles(m);
  const [sha256, ...dataSha] = await Promise.all([m.onnxFile, ...data].map((f) => sha256Cached(path.join(m.dir, f), hashCacheFile())));
  return {
    id: m.id,
    ...(m.source === "local" ? { path: m.dir } : {}),
    source: m.source,
    file: m.onnxFile,
    sha256,
    ...(data.length ? { data_files: data.map((file, i) => ({ file, sha256: dataSha[i] })) } : {}),
    dtype: m.dtype,
    model_type: typeof config.model_type === "string" ? config.model_type : undefined,
    hidden_size: typeof config.hidden_size === "number" ? config.hidden_size : undefined,
  };
}
