/** What every route and stream shares: the settings, the loaded run (once ready), metrics and the log hooks. */
import type { FastifyRequest } from "fastify";
import type { ServeMetrics } from "./metrics.js";
import type { LongAudio, PredictionService } from "./service.js";
import { HttpError } from "./errors.js";

export interface StreamDefaults {
  /** Seconds of audio per window prediction. */
  window: number;
  /** Seconds between window ends. */
  hop: number;
}

export interface ServeSettings extends StreamDefaults {
  queueSize: number;
  textBatch: number;
  timeoutMs: number;
  bodyLimitBytes: number;
  maxAudioSeconds: number;
  longAudio: LongAudio;
  maxTextChars: number;
  maxBatch: number;
  maxStreams: number;
  /** Windows of one stream waiting for the encoder before the oldest waiting one is dropped. */
  maxPendingWindows: number;
  logContent: boolean;
}

export type ServeState = "loading" | "ready" | "stopping";

export interface ServeContext {
  settings: ServeSettings;
  metrics: ServeMetrics;
  state: ServeState;
  service: PredictionService | null;
  /** GET /v1/model's answer, built once the run is loaded. */
  model: Record<string, unknown> | null;
}

/** Fields added to the one log line of a request (never content unless --log-content). */
const logFields = new WeakMap<FastifyRequest, Record<string, unknown>>();

export function addLog(req: FastifyRequest, fields: Record<string, unknown>): void {
  logFields.set(req, { ...logFields.get(req), ...fields });
}

export function logOf(req: FastifyRequest): Record<string, unknown> | undefined {
  return logFields.get(req);
}

/**
 * The loaded service, or 503 while the run is still loading. While stopping, requests that reach a handler were
 * accepted before the listening socket closed (Fastify refuses later ones itself), so they are served.
 */
export function readyService(ctx: ServeContext): PredictionService {
  if (ctx.service) return ctx.service;
  if (ctx.state === "stopping") throw new HttpError(503, "stopping", "the server is shutting down", { "retry-after": "5" });
  throw new HttpError(503, "loading", "the run is still loading; GET /v1/health says when it is ready", { "retry-after": "1" });
}
