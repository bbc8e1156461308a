/**
 * Worker thread side of audio/clip-loader.ts: loads clips (audio/clip.ts) on request and sends the samples
 * back without copying them (transferred ArrayBuffers). Errors travel as plain data and are rebuilt as the
 * same classes on the other side.
 */
import { parentPort } from "node:worker_threads";
import { EmofeatError } from "../errors.js";
import { loadClip, type ClipOptions } from "./clip.js";
import { AudioInputError } from "./errors.js";

export interface ClipRequest {
  id: number;
  file: string;
  options: ClipOptions;
}

export type SerializedError =
  | { kind: "audio"; file: string; reason: string }
  | { kind: "emofeat"; message: string; exitCode: number }
  | { kind: "other"; name: string; message: string; stack?: string };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AudioInputError) return { kind: "audio", file: err.file, reason: err.reason };
  if (err instanceof EmofeatError) return { kind: "emofeat", message: err.message, exitCode: err.exitCode };
  const e = err as Error;
  return { kind: "other", name: e?.name ?? "Error", message: e?.message ?? String(err), stack: e?.stack };
}

parentPort?.on("message", async (req: ClipRequest) => {
  try {
    const clip = await loadClip(req.file, req.options);
    parentPort!.postMessage({ id: req.id, clip }, [clip.samples.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: req.id, error: serializeError(err) });
  }
});
