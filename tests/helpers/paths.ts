import { existsSync } from "node:fs";
import { copyFile, cp, mkdtemp, mkdir, symlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SHARED = path.resolve(ROOT, "..", "shared");
export const FIXTURES = path.join(ROOT, "fixtures");
export const DEMO_MODEL = path.join(ROOT, "models", "tiny-bert-demo");
export const DEMO_INDEX = path.join(ROOT, "samples", "demo", "index.csv");
export const SHARED_TOKENIZER = path.join(SHARED, "models", "bert-base-uncased-tokenizer", "tokenizer.json");

export async function tempDir(prefix = "emofeat-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * The tiny BERT with the real bert-base-uncased vocabulary: the committed weights plus the genuine tokenizer
 * from ../shared (which must not be copied into the repository), assembled in a temp folder.
 */
export async function tinyBert30522(o: { copyOnnx?: boolean } = {}): Promise<string> {
  if (!existsSync(SHARED_TOKENIZER))
    throw new Error(`${SHARED_TOKENIZER} is missing: the tests need ../shared beside the repository (see README)`);
  const src = path.join(FIXTURES, "models", "tiny-bert-30522");
  const dir = await tempDir("tiny-bert-30522-");
  await mkdir(path.join(dir, "onnx"));
  await symlink(path.join(src, "config.json"), path.join(dir, "config.json"));
  await symlink(path.join(src, "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
  // copyOnnx: a real file, so that caches made beside the model (--layers) land in the temp folder.
  if (o.copyOnnx) await copyFile(path.join(src, "onnx", "model.onnx"), path.join(dir, "onnx", "model.onnx"));
  else await symlink(path.join(src, "onnx", "model.onnx"), path.join(dir, "onnx", "model.onnx"));
  await symlink(SHARED_TOKENIZER, path.join(dir, "tokenizer.json"));
  return dir;
}

/** A real copy of a model folder in `dir` (caches made beside the model, as --layers makes, stay out of the repository). */
export async function copiedModel(src: string, dir: string): Promise<string> {
  const out = path.join(dir, path.basename(src));
  await cp(src, out, { recursive: true, filter: (f) => !/\.hidden-states-v\d+-/.test(f) });
  return out;
}
