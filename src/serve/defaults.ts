/**
 * `emofeat serve` defaults, in a module of their own so the CLI can show them in --help without loading the
 * server (Fastify and its plugins) for every command.
 */
import type { ServeSettings } from "./context.js";

export const SERVE_DEFAULTS: ServeSettings & { host: string; port: number } = {
  host: "127.0.0.1",
  port: 8080,
  window: 3,
  hop: 1,
  queueSize: 256,
  textBatch: 32,
  timeoutMs: 30_000,
  bodyLimitBytes: 25 * 1024 * 1024,
  maxAudioSeconds: 600,
  longAudio: "cut",
  maxTextChars: 20_000,
  maxBatch: 128,
  maxStreams: 16,
  maxPendingWindows: 4,
  logContent: false,
};
