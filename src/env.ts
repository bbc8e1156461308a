/**
 * The one configuration object of the library (in the spirit of transformers.js's `env`): where models are
 * cached, whether the network may be used, and the defaults every command shares. Environment variables set
 * the initial values; code may change them before loading a model.
 */
import os from "node:os";
import path from "node:path";

function truthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

export interface EmofeatEnv {
  /** Never touch the network: hub ids must already be in `cacheDir`. EMOFEAT_OFFLINE=1 or HF_HUB_OFFLINE=1. */
  offline: boolean;
  /** Where hub models are downloaded and cached. EMOFEAT_CACHE_DIR, default ~/.cache/emofeat/models. */
  cacheDir: string;
  /** Model hub address. HF_ENDPOINT, default https://huggingface.co/. */
  remoteHost: string;
  /**
   * Let onnxruntime's idle pool threads spin between operators (its own default) instead of sleeping at once.
   * EMOFEAT_ORT_SPINNING=1; default off: on a shared 2-core machine, BERT-base runs without spinning took about
   * 25% less CPU time and a third less wall time, and between runs the JS side (decoding, pooling) needs the
   * cores. On an idle machine spinning may win a few percent.
   */
  ortSpinning: boolean;
}

export const env: EmofeatEnv = {
  offline: truthy(process.env.EMOFEAT_OFFLINE) || truthy(process.env.HF_HUB_OFFLINE) || truthy(process.env.TRANSFORMERS_OFFLINE),
  cacheDir: process.env.EMOFEAT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "emofeat", "models"),
  remoteHost: process.env.HF_ENDPOINT ?? "https://huggingface.co/",
  ortSpinning: truthy(process.env.EMOFEAT_ORT_SPINNING),
};

/**
 * Where large files' sha256 are remembered (by real path, inode, size and times; see util/file-hash.ts): model
 * weights, and the frames of sequence stores that training checks against their meta.json.
 */
export function hashCacheFile(): string {
  return path.join(env.cacheDir, ".sha256-cache.json");
}
