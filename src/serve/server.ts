/**
 * `emofeat serve`: a run's encoders and head loaded once, behind an HTTP + WebSocket API (Fastify, with JSON
 * schema validation, @fastify/multipart, @fastify/websocket; pino logs; prom-client metrics) and a live page.
 *
 * The server listens at once and loads the run in the background (GET /v1/health says "loading" until it is
 * ready). close() stops accepting connections, lets in-flight requests and stream predictions finish, then
 * releases the models.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import websocket from "@fastify/websocket";
import { EmofeatError } from "../errors.js";
import { Predictor, type PredictorOptions } from "../predict/predict.js";
import { readRunConfig } from "../train/run-dir.js";
import { addLog, logOf, type ServeContext, type ServeSettings } from "./context.js";
import { SERVE_DEFAULTS } from "./defaults.js";
import { describeError, errorBody, HttpError } from "./errors.js";
import { ServeMetrics } from "./metrics.js";
import { describeModel, registerInfoRoutes } from "./routes-info.js";
import { validationMessage } from "./inputs.js";
import { ACCEPTED_TYPES, registerPredictRoutes } from "./routes-predict.js";
import { PredictionService } from "./service.js";
import { registerStream, type StreamSession } from "./stream.js";

export { SERVE_DEFAULTS };

export interface ServeOptions extends Partial<ServeSettings> {
  /** Run directory from `emofeat train`. */
  run: string;
  host?: string;
  /** 0 = any free port (see `url`). */
  port?: number;
  /** Bearer token required on every route but /v1/health (header `Authorization: Bearer T` or `?token=T`). */
  token?: string;
  /** Model overrides, offline, device, threads: as for `emofeat predict`. */
  predictor?: PredictorOptions;
  logLevel?: string;
  /** Where the JSON log lines go (default stdout). */
  logStream?: NodeJS.WritableStream;
}

/** Addresses that reach beyond this machine deserve a warning (and a token). */
export function exposureWarning(host: string, token: boolean): string | null {
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
  if (loopback) return null;
  const all = host === "0.0.0.0" || host === "::";
  return (
    `warning: listening on ${all ? "all network interfaces" : host}: anyone who can reach this machine ` +
    `${all ? "on any network " : ""}can send audio to this service${token ? "" : " (no --token set: requests are not authenticated)"}`
  );
}

function sameToken(given: string, want: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(given), h(want));
}

function tokenOf(req: FastifyRequest): string | null {
  // The scheme name is case-insensitive (RFC 7235 2.1): "bearer T" is as good as "Bearer T".
  const m = /^bearer\s+(.*)$/i.exec(req.headers.authorization ?? "");
  if (m) return m[1].trim();
  const q = req.query as Record<string, unknown> | undefined;
  return typeof q?.token === "string" ? q.token : null;
}

export class EmofeatServer {
  private constructor(
    readonly app: FastifyInstance,
    readonly ctx: ServeContext,
    /** Resolves when the run is loaded (rejects if it cannot be). */
    readonly ready: Promise<void>,
    private readonly sessions: Set<StreamSession>,
  ) {}

  /** http://host:port */
  get url(): string {
    const a = this.app.server.address();
    if (!a || typeof a === "string") throw new Error("server not listening");
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  static async start(o: ServeOptions): Promise<EmofeatServer> {
    const settings: ServeSettings = { ...SERVE_DEFAULTS };
    for (const key of Object.keys(SERVE_DEFAULTS) as (keyof ServeSettings)[])
      if (o[key] !== undefined) (settings as unknown as Record<string, unknown>)[key] = o[key];
    if (settings.hop > settings.window) throw new EmofeatError(`--hop (${settings.hop} s) must not exceed --window (${settings.window} s)`);
    // A wrong run directory fails at once, before the port is taken (loading the models comes after listening).
    const config = await readRunConfig(o.run);
    if (config.export.file === null) throw new EmofeatError(`${o.run} has no trained head to serve: ${config.export.reason}`);
    let service: PredictionService | null = null;
    const ctx: ServeContext = {
      settings,
      state: "loading",
      service: null,
      model: null,
      metrics: new ServeMetrics({ length: () => service?.scheduler.length ?? 0, capacity: settings.queueSize }),
    };
    const sessions = new Set<StreamSession>();
    const app = Fastify({
      logger: { level: o.logLevel ?? "info", ...(o.logStream ? { stream: o.logStream } : {}) },
      // One line per request, written by the onResponse hook below (Fastify's own are two, without our fields).
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: settings.bodyLimitBytes,
      // No coercion, no silently dropped fields: an unknown field is a 400 naming it. allErrors stays off: with
      // untrusted input (a 25 MB array of wrong values) it would build millions of error objects.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
      return503OnClosing: true,
      forceCloseConnections: "idle",
    });
    await app.register(multipart, { limits: { fileSize: settings.bodyLimitBytes, parts: 1000 } });
    await app.register(websocket, {
      options: { maxPayload: settings.bodyLimitBytes },
      preClose: async () => {
        await Promise.all([...sessions].map((s) => s.shutdown(1001, "server shutting down", settings.timeoutMs)));
      },
    });

    if (o.token)
      app.addHook("onRequest", async (req) => {
        if (req.routeOptions.url === "/v1/health") return;
        const given = tokenOf(req);
        if (given === null || !sameToken(given, o.token!))
          throw new HttpError(401, "unauthorized", given === null ? "this server needs a token: Authorization: Bearer TOKEN (or ?token=TOKEN)" : "wrong token", {
            "www-authenticate": 'Bearer realm="emofeat"',
          });
      });

    app.addHook("onResponse", async (req, reply) => {
      const route = req.routeOptions.url ?? "unmatched";
      const status = reply.statusCode;
      ctx.metrics.requests.inc({ route, method: req.method, status: String(status) });
      ctx.metrics.latency.observe({ route }, reply.elapsedTime / 1000);
      req.log.info(
        { method: req.method, route, status, ms: Math.round(reply.elapsedTime * 100) / 100, bytes_in: Number(req.headers["content-length"] ?? 0), ...logOf(req) },
        "request",
      );
    });

    app.setErrorHandler(async (err, req, reply) => {
      const d = describeError(err);
      const route = req.routeOptions.url ?? "unmatched";
      if (d.status === 500) req.log.error({ err }, "unexpected error");
      const e = err as { validation?: { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }[]; validationContext?: string };
      let message = d.message;
      if (e.validation) message = validationMessage(e.validation, e.validationContext ?? "body");
      else if (!(err instanceof HttpError) && d.code === "unsupported_media_type") {
        // Fastify refuses a Content-Type no parser takes (curl -d's form-urlencoded) before our handler runs.
        const takes = ACCEPTED_TYPES[route];
        message = `Content-Type "${req.headers["content-type"] ?? ""}" is not taken here${takes ? `; send ${takes}` : ""}`;
      } else if (!(err instanceof HttpError) && d.code === "body_too_large")
        message = `${d.message} (this server takes at most ${settings.bodyLimitBytes} bytes, --body-limit)`;
      const code = e.validation && e.validation.some((v) => v.keyword === "additionalProperties") ? "unknown_field" : d.code;
      ctx.metrics.errors.inc({ route, code });
      addLog(req, { code });
      reply.code(d.status).headers(d.headers);
      return errorBody(d.status, code, message);
    });

    app.setNotFoundHandler(async (req, reply) => {
      ctx.metrics.errors.inc({ route: "unmatched", code: "not_found" });
      reply.code(404);
      return errorBody(404, "not_found", `no route ${req.method} ${req.url.split("?")[0]} (routes: GET /, GET /v1/health, GET /v1/model, GET /metrics, POST /v1/predict, POST /v1/predict/batch, GET /v1/stream (WebSocket))`);
    });

    registerInfoRoutes(app, ctx);
    registerPredictRoutes(app, ctx);
    registerStream(app, ctx, sessions);

    const host = o.host ?? SERVE_DEFAULTS.host;
    const port = o.port ?? SERVE_DEFAULTS.port;
    try {
      await app.listen({ host, port });
    } catch (err) {
      // A port taken or not allowed is the user's to fix: one line, not a stack trace.
      const code = (err as NodeJS.ErrnoException).code;
      await app.close().catch(() => undefined);
      if (code === "EADDRINUSE") throw new EmofeatError(`port ${port} on ${host} is already in use (another emofeat serve?); choose another --port, or --port 0 for any free one`);
      if (code === "EACCES") throw new EmofeatError(`no permission to listen on ${host}:${port} (ports below 1024 need privileges); choose another --port`);
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new EmofeatError(`--host ${host} is not an address of this machine`);
      throw err;
    }

    const ready = (async () => {
      const predictor = await Predictor.load(o.run, o.predictor);
      service = new PredictionService(predictor, settings, { capacity: settings.queueSize, textBatch: settings.textBatch }, ctx.metrics);
      ctx.model = await describeModel(predictor, ctx);
      ctx.service = service;
      if (ctx.state === "loading") ctx.state = "ready";
    })();
    ready.catch(() => undefined);
    return new EmofeatServer(app, ctx, ready, sessions);
  }

  /** Stops accepting, finishes in-flight requests and stream predictions, releases the models. */
  async close(): Promise<void> {
    this.ctx.state = "stopping";
    // In-flight requests end within the per-request deadline; a connection still open after it is a stuck
    // client (half-sent body, an upgrade it never finished), which must not keep the process up.
    const stuck = setTimeout(() => this.app.server.closeAllConnections(), this.ctx.settings.timeoutMs + 1000);
    try {
      await this.app.close();
    } finally {
      clearTimeout(stuck);
    }
    await this.ready.catch(() => undefined);
    const service = this.ctx.service;
    if (service) {
      await service.scheduler.idle();
      await service.predictor.dispose();
    }
  }
}
