/**
 * Progress for long work: a bar with rate and ETA on a terminal, a plain line every few seconds elsewhere
 * (CI logs), nothing with --quiet. Messages go to stderr so stdout stays clean for --json.
 */
import cliProgress from "cli-progress";
import type { ProgressEvent, ProgressListener } from "../extract/progress.js";

export interface Reporter {
  listener: ProgressListener;
  stop(): void;
  log(line: string): void;
}

export function createReporter(opts: { quiet?: boolean; label: string; stream?: NodeJS.WriteStream }): Reporter {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { listener: () => {}, stop: () => {}, log: () => {} };
  if (stream.isTTY && !process.env.CI) return ttyReporter(opts.label, stream);
  return lineReporter(opts.label, stream);
}

function ttyReporter(label: string, stream: NodeJS.WriteStream): Reporter {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      // {etaText} is ours: cli-progress's {eta} guesses one from the first tick, before any row has finished.
      format: `${label} {bar} {percentage}% | {value}/{total} rows | {rate} rows/s{etaText} | {failed} failed`,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let t0 = 0;
  let base = 0;
  return {
    listener(e: ProgressEvent) {
      if (e.phase === "load") {
        stream.write(`${label}: ${e.message ?? "loading"}\n`);
        return;
      }
      if (!started && (e.phase === "extract" || e.phase === "finalize")) {
        started = true;
        t0 = Date.now();
        base = e.done;
        if (e.resumed > 0) stream.write(`${label}: resuming, ${e.resumed} of ${e.total} rows already done\n`);
        bar.start(e.total, e.done, { rate: "-", failed: e.failed, etaText: "" });
      }
      if (started) {
        const secs = (Date.now() - t0) / 1000;
        const rows = e.done - base;
        const rate = secs > 0 && rows > 0 ? rows / secs : 0;
        bar.update(e.done, { rate: rate > 0 ? rate.toFixed(1) : "-", failed: e.failed, etaText: etaText(rate, e.total - e.done) });
      }
      if (e.phase === "done" && started) bar.stop();
    },
    stop() {
      if (started) bar.stop();
    },
    log(line) {
      stream.write(line + "\n");
    },
  };
}

/** " | ETA 1.5m" once rows have finished at a measurable rate; nothing before (a guess from no data misleads). */
function etaText(rate: number, left: number): string {
  return rate > 0 ? ` | ETA ${formatSeconds(left / rate)}` : "";
}

function formatSeconds(s: number): string {
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(0)}s`;
}

export function lineReporter(label: string, stream: NodeJS.WriteStream, everyMs = 10_000): Reporter {
  let t0 = 0;
  let base = 0;
  let last = 0;
  return {
    listener(e: ProgressEvent) {
      const now = Date.now();
      if (e.phase === "load") {
        stream.write(`${label}: ${e.message ?? "loading"}\n`);
        return;
      }
      if (t0 === 0) {
        t0 = now;
        base = e.done;
        last = now;
        stream.write(`${label}: ${e.total} rows${e.resumed > 0 ? `, resuming with ${e.resumed} already done` : ""}\n`);
      }
      if ((e.phase === "extract" || e.phase === "finalize") && now - last < everyMs) return;
      last = now;
      const secs = (now - t0) / 1000;
      const rate = secs > 0 ? (e.done - base) / secs : 0;
      const eta = rate > 0 && e.phase !== "done" ? `, ETA ${formatSeconds((e.total - e.done) / rate)}` : "";
      const pct = e.total ? ((100 * e.done) / e.total).toFixed(1) : "100";
      stream.write(`${label}: ${e.done}/${e.total} rows (${pct}%), ${rate.toFixed(1)} rows/s${eta}, ${e.failed} failed${e.phase === "done" ? ", done" : ""}\n`);
    },
    stop() {},
    log(line) {
      stream.write(line + "\n");
    },
  };
}
