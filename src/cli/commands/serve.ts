import { Command, InvalidArgumentError, Option } from "commander";
import { SERVE_DEFAULTS } from "../../serve/defaults.js";
import { LONG_AUDIO, type LongAudio } from "../../serve/service.js";
import { addRunModelOptions, chosenDevice, intArg, numberArg } from "../options.js";

const d = SERVE_DEFAULTS;

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("--port must be an integer 0-65535 (0 = any free port)");
  return n;
}

export function registerServe(program: Command): void {
  const cmd = program
    .command("serve")
    .summary("serve a trained run over HTTP/WebSocket, with a live web page")
    .description(
      "Keep a run's encoders and head loaded and answer prediction requests: POST /v1/predict (JSON, multipart or a raw " +
        "audio body), POST /v1/predict/batch (JSON array or CSV), GET /v1/stream (WebSocket: live audio, sliding-window " +
        "predictions), GET /v1/health, GET /v1/model, GET /metrics (Prometheus), and a page at / to talk to it from a " +
        "browser. Same preprocessing as training (it is `emofeat predict`, loaded once). Listens on 127.0.0.1 unless --host " +
        "says otherwise. One JSON log line per request on stdout (no audio or text unless --log-content); SIGTERM or " +
        "Ctrl-C stops accepting, finishes what is in flight and exits 0. API reference: docs/serve.md.",
    )
    .requiredOption("--run <dir>", "run directory (from emofeat train)")
    .option("--port <n>", "TCP port (0 = any free port; the address is printed)", portArg, d.port)
    .option("--host <address>", "address to listen on; 0.0.0.0 exposes the service to the network (use --token)", d.host)
    .option("--token <secret>", "require Authorization: Bearer SECRET (or ?token=SECRET) on every route but /v1/health (also EMOFEAT_TOKEN)")
    .option("--window <seconds>", "stream: seconds of audio per window prediction (per connection: start message)", numberArg("--window"), d.window)
    .option("--hop <seconds>", "stream: seconds between window predictions", numberArg("--hop"), d.hop)
    .option("--queue-size <n>", "jobs waiting for the encoders before requests get 503 + Retry-After", intArg("--queue-size"), d.queueSize)
    .option("--text-batch <n>", "texts encoded together when requests wait", intArg("--text-batch"), d.textBatch)
    .option("--timeout <seconds>", "per-request deadline (503 'timeout' after it)", numberArg("--timeout"), d.timeoutMs / 1000)
    .option("--body-limit <MB>", "largest request body (413 above)", numberArg("--body-limit"), d.bodyLimitBytes / 2 ** 20)
    .option("--max-audio-seconds <s>", "longest audio input accepted (413 above)", numberArg("--max-audio-seconds"), d.maxAudioSeconds)
    .addOption(
      new Option("--long-audio <mode>", "audio longer than the run's max_seconds: cut it as training did (with a warning) or refuse it (413)")
        .choices([...LONG_AUDIO])
        .default(d.longAudio),
    )
    .option("--max-text-chars <n>", "longest text accepted (413 above; the tokenizer cuts at the store's max_len as at training)", intArg("--max-text-chars"), d.maxTextChars)
    .option("--max-batch <n>", "items per /v1/predict/batch request", intArg("--max-batch"), d.maxBatch)
    .option("--max-streams <n>", "open /v1/stream connections", intArg("--max-streams"), d.maxStreams)
    .option("--log-content", "put texts in the log lines (never by default)", false)
    .option("--log-level <level>", "pino level: fatal, error, warn, info, debug", "info")
    .option("-q, --quiet", "no per-request log lines (the same as --log-level warn); start and stop lines stay", false);
  addRunModelOptions(cmd)
    .addHelpText(
      "after",
      "\nExamples:\n  emofeat serve --run runs/concat --port 8080\n" +
        '  curl -F audio=@clip.wav -F text="I can\'t believe it" localhost:8080/v1/predict\n' +
        "  curl --data-binary @clip.wav -H 'Content-Type: audio/wav' 'localhost:8080/v1/predict?text=hello'\n" +
        "  open http://localhost:8080/   (the live page; with --token: http://localhost:8080/?token=SECRET)",
    )
    .action(async (o) => {
      // A signal while the server is still starting is kept and honoured once it listens (exit 0, not 143).
      let early: string | null = null;
      const onEarlyTerm = () => (early = "SIGTERM");
      const onEarlyInt = () => (early = "SIGINT");
      process.on("SIGTERM", onEarlyTerm);
      process.on("SIGINT", onEarlyInt);
      const token: string | undefined = o.token ?? (process.env.EMOFEAT_TOKEN || undefined);
      const { EmofeatServer, exposureWarning } = await import("../../serve/server.js");
      const warning = exposureWarning(o.host, token !== undefined);
      if (warning) process.stderr.write(warning + "\n");
      let server: Awaited<ReturnType<typeof EmofeatServer.start>>;
      try {
        server = await EmofeatServer.start({
          run: o.run,
          host: o.host,
          port: o.port,
          token,
          window: o.window,
          hop: o.hop,
          queueSize: o.queueSize,
          textBatch: o.textBatch,
          timeoutMs: Math.round(o.timeout * 1000),
          bodyLimitBytes: Math.round(o.bodyLimit * 2 ** 20),
          maxAudioSeconds: o.maxAudioSeconds,
          longAudio: o.longAudio as LongAudio,
          maxTextChars: o.maxTextChars,
          maxBatch: o.maxBatch,
          maxStreams: o.maxStreams,
          logContent: o.logContent,
          logLevel: o.quiet ? "warn" : o.logLevel,
          predictor: { models: o.model, offline: o.offline, device: await chosenDevice(o.device, o.quiet), threads: o.threads },
        });
      } catch (err) {
        process.off("SIGTERM", onEarlyTerm);
        process.off("SIGINT", onEarlyInt);
        throw err;
      }
      // Taken now: a signal during loading may close the listener before the run is ready.
      const closed = new Promise<void>((resolve) => server.app.server.once("close", () => resolve()));
      process.stderr.write(`emofeat serve: listening on ${server.url}/ (loading ${o.run} ...)\n`);

      let stopping: Promise<void> | null = null;
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write(`emofeat serve: ${signal} again: exiting without waiting\n`);
          process.exit(130);
        }
        process.stderr.write(`emofeat serve: ${signal}: no new connections; finishing the requests in flight\n`);
        stopping = server.close();
      };
      const onTerm = () => stop("SIGTERM");
      const onInt = () => stop("SIGINT");
      process.on("SIGTERM", onTerm);
      process.on("SIGINT", onInt);
      process.off("SIGTERM", onEarlyTerm);
      process.off("SIGINT", onEarlyInt);
      if (early) stop(early);
      try {
        const t0 = performance.now();
        try {
          await server.ready;
        } catch (err) {
          await server.close();
          throw err;
        }
        const m = server.ctx.model as { labels: string[]; needs: string[] };
        if (!stopping)
          process.stderr.write(
            `emofeat serve: ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${m.labels.join(", ")}; needs ${m.needs.join(" and ")}. ` +
              `Page ${server.url}/${token ? "?token=..." : ""}, API ${server.url}/v1/predict\n`,
          );
        await closed;
        await stopping;
        process.stderr.write("emofeat serve: stopped\n");
      } finally {
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
      }
    });
}

