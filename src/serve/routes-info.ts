/** GET / (the page), /v1/health, /v1/model and /metrics. */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { readRunMetrics } from "../train/run-dir.js";
import type { Predictor } from "../predict/predict.js";
import { readRunStoreMeta } from "../train/run-dir.js";
import { readyService, type ServeContext } from "./context.js";

const PAGE_FILE = new URL("../../assets/serve-page.html", import.meta.url);

/**
 * The page's Content-Security-Policy: nothing may load from anywhere but this server, so the page provably
 * works offline (no CDN); the audio worklet comes from a blob: URL the page makes itself.
 */
const PAGE_CSP =
  "default-src 'none'; script-src 'unsafe-inline' blob:; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; " +
  "worker-src blob:; media-src 'self' blob:; base-uri 'none'; form-action 'none'";

/** GET /v1/model: labels, the head and its metrics, each store's encoder and settings, and the server's limits. */
export async function describeModel(predictor: Predictor, ctx: ServeContext): Promise<Record<string, unknown>> {
  const runDir = predictor.runDir;
  const metrics = await readRunMetrics(runDir).catch(() => null);
  const stores = await Promise.all(
    predictor.head.inputs.map(async (input) => {
      const meta = await readRunStoreMeta(runDir, input.name);
      return {
        name: input.name,
        modality: input.modality,
        dim: input.dim,
        model: { id: meta.model.id, source: meta.model.source, dtype: meta.model.dtype, file: meta.model.file, sha256: meta.model.sha256 },
        pooling: meta.pooling,
        ...(meta.modality === "text" ? { max_len: meta.max_len } : {}),
        ...(meta.modality === "audio" ? { sample_rate: meta.sr, max_seconds: meta.max_seconds, batching: meta.batching ?? "exact" } : {}),
      };
    }),
  );
  const audio = stores.find((s) => s.modality === "audio") as { sample_rate?: number; max_seconds?: number } | undefined;
  const c = predictor.config;
  const s = ctx.settings;
  return {
    run: runDir,
    labels: predictor.labels,
    needs: predictor.modalities,
    beta: predictor.hasBeta,
    head: { name: c.head, arch: c.arch, settings: c.settings, export: c.export, classes: c.classes, created: c.created, tool: c.tool },
    metrics: metrics ? { protocol: metrics.protocol, selection: metrics.selection, test: metrics.test, test_std: metrics.test_std, val: metrics.val } : null,
    stores,
    serve: {
      sample_rate: audio?.sample_rate ?? null,
      max_seconds: audio?.max_seconds ?? null,
      window: s.window,
      hop: s.hop,
      max_audio_seconds: s.maxAudioSeconds,
      long_audio: s.longAudio,
      max_text_chars: s.maxTextChars,
      queue_size: s.queueSize,
      max_batch: s.maxBatch,
      timeout_ms: s.timeoutMs,
      body_limit_bytes: s.bodyLimitBytes,
    },
  };
}

export function registerInfoRoutes(app: FastifyInstance, ctx: ServeContext): void {
  const started = Date.now();
  const page = readFileSync(PAGE_FILE, "utf8");
  const tokenOnly = { querystring: { type: "object", additionalProperties: false, properties: { token: { type: "string" } } } };

  const pageQuery = { querystring: { type: "object", additionalProperties: false, properties: { token: { type: "string" }, window: { type: "string" }, hop: { type: "string" } } } };
  app.get("/", { schema: pageQuery }, async (_req, reply) => {
    reply.header("content-security-policy", PAGE_CSP).header("cache-control", "no-store").type("text/html; charset=utf-8");
    return page;
  });

  app.get("/v1/health", async (_req, reply) => {
    const q = ctx.service?.scheduler;
    if (ctx.state !== "ready") reply.code(503).header("retry-after", "1");
    return {
      status: ctx.state,
      ...(q ? { queue: { length: q.length, capacity: q.capacity } } : {}),
      uptime_s: Math.round((Date.now() - started) / 1000),
    };
  });

  app.get("/v1/model", { schema: tokenOnly }, async () => {
    readyService(ctx);
    return ctx.model;
  });

  app.get("/metrics", { schema: tokenOnly }, async (_req, reply) => {
    reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
