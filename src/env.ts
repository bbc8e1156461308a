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
}

export const env: EmofeatEnv = {
  offline: truthy(process.env.EMOFEAT_OFFLINE) || truthy(process.env.HF_HUB_OFFLINE) || truthy(process.env.TRANSFORMERS_OFFLINE),
  cacheDir: process.env.EMOFEAT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "emofeat", "models"),
  remoteHost: process.env.HF_ENDPOINT ?? "https://huggingface.co/",
};
