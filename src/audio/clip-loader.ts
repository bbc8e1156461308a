/**
 * Loading clips (decode, mono, resample, peak-normalise, cut: audio/clip.ts) in a worker thread, so that the
 * next clips are prepared while the encoder runs: onnxruntime-node runs a session synchronously on the main
 * thread, so an asynchronous prefetch on the main thread would not overlap anything.
 *
 * Requests are answered in order by one worker (the encoder keeps the other cores busy); `load` returns the
 * same LoadedClip, or rejects with the same error class (AudioInputError, EmofeatError), as loadClip would.
 * Where a worker cannot start, clips load on the main thread instead.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { EmofeatError } from "../errors.js";
import { loadClip, type ClipOptions, type LoadedClip } from "./clip.js";
import type { ClipRequest, SerializedError } from "./clip-worker.js";
import { AudioInputError } from "./errors.js";

type Reply = { id: number; clip?: LoadedClip; error?: SerializedError };

export function deserializeError(e: SerializedError): Error {
  if (e.kind === "audio") return new AudioInputError(e.file, e.reason);
  if (e.kind === "emofeat") return new EmofeatError(e.message, { exitCode: e.exitCode });
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

// Run from src/ (tsx, vitest), the worker is TypeScript too: a bootstrap registers tsx's loader in the worker
// (a dev dependency; built code never takes this path) and then imports it.
const TS_BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
import(workerData.tsxApi).then((api) => { api.register(); return import(workerData.entry); });
`;

function startWorker(): Worker {
  // The parent's node options, less the one a file worker refuses (node --input-type=module -e ...).
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--input-type"));
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./clip-worker.js", import.meta.url), { execArgv });
  // The ESM flavour of tsx/esm/api (require.resolve would give the CommonJS one, whose register() fails here).
  const pkgFile = createRequire(import.meta.url).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgFile, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  const tsxApi = pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports["./esm/api"].import.default)).href;
  const entry = new URL("./clip-worker.ts", import.meta.url).href;
  return new Worker(TS_BOOTSTRAP, { eval: true, execArgv, workerData: { tsxApi, entry } });
}

export class ClipLoader {
  private worker: Worker | null = null;
  private failed = false;
  private closing = false;
  private nextId = 0;
  private readonly pending = new Map<number, { file: string; resolve: (c: LoadedClip) => void; reject: (e: Error) => void }>();

  /** `start` makes the worker (tests give one that fails, to check the fallback). */
  constructor(
    private readonly options: ClipOptions,
    private readonly start: () => Worker = startWorker,
  ) {}

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const w = this.start();
      w.on("message", (r: Reply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (r.error) p.reject(deserializeError(r.error));
        else p.resolve(r.clip!);
        if (this.pending.size === 0) w.unref();
      });
      // A worker that dies (it could not start, or crashed) is not an audio problem: its clips load here instead.
      w.on("error", () => this.fallBack());
      w.on("exit", (code) => {
        if (this.closing) this.rejectAll(new Error(`the audio loading worker was closed (exit code ${code})`));
        else this.fallBack();
      });
      w.unref();
      this.worker = w;
    } catch {
      this.failed = true;
    }
    return this.worker;
  }

  private fallBack(): void {
    this.failed = true;
    this.worker = null;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) loadClip(p.file, this.options).then(p.resolve, p.reject);
  }

  private rejectAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Starts loading `file` now; the promise settles like loadClip(file, options). */
  load(file: string): Promise<LoadedClip> {
    const w = this.ensureWorker();
    if (!w) return loadClip(file, this.options);
    const id = this.nextId++;
    return new Promise<LoadedClip>((resolve, reject) => {
      this.pending.set(id, { file, resolve, reject });
      w.ref(); // keep the process alive while a clip is on its way
      const req: ClipRequest = { id, file, options: this.options };
      w.postMessage(req);
    });
  }

  /** Stops the worker; clips still on their way are rejected. Later loads run on the main thread. */
  async close(): Promise<void> {
    const w = this.worker;
    this.closing = true;
    this.failed = true;
    this.worker = null;
    if (w) await w.terminate();
    this.rejectAll(new Error("the audio loading worker was closed"));
  }
}
