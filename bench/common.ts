/** What the benchmarks share: the generated base-sized models and a fixed-seed random source. */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** bench/models/<name>, or exit with the command that generates it (the models are large and not committed). */
export function benchModel(name: string, generator: string): string {
  const dir = path.join(ROOT, "bench", "models", name);
  if (!existsSync(path.join(dir, "onnx", "model.onnx"))) {
    console.error(`missing ${dir}: generate it with\n  /usr/bin/python3 ${generator} --bench\n(needs Debian's python3-torch and python3-onnx)`);
    process.exit(2);
  }
  return dir;
}

/** A seeded LCG with uniform [0, 1) and standard normal draws, so every run sees the same inputs. */
export function seededRandom(seed: number): { rnd: () => number; gauss: () => number } {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  return { rnd, gauss };
}

/** The 1/5/15-minute load averages and core count, printed with every timing (the machine may be shared). */
export function machineLine(): string {
  const [a, b, c] = os.loadavg();
  return `load average ${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)} on ${os.availableParallelism()} cores`;
}

export interface ProcessRun {
  /** Wall time from spawn to exit, seconds. */
  wallS: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child (VmHWM from /proc, polled), MB; NaN where /proc is absent. */
  peakRssMB: number;
}

/** Runs `node ...args` as a child process and times it from spawn to exit. */
export function timedNode(args: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let hwm = Number.NaN;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) hwm = Number(m[1]) / 1024;
      } catch {
        // exited, or no /proc
      }
    }, 50);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(poll);
      resolve({ wallS: (performance.now() - t0) / 1000, code, stdout, stderr, peakRssMB: hwm });
    });
  });
}

/** Like timedNode, but exits the benchmark with the child's output when it fails. */
export async function mustRun(what: string, args: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  const r = await timedNode(args, env);
  if (r.code !== 0) {
    console.error(`${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    process.exit(1);
  }
  return r;
}

/** The last JSON line a child printed (the engine-floor scripts report their timings that way). */
export function lastJson<T>(out: string): T {
  const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${out}`);
  return JSON.parse(line) as T;
}

/** What the engine-floor scripts print. */
export interface FloorTimes {
  /** Importing onnxruntime-node (and the tokenizer for text), tokenizing, InferenceSession.create. */
  load_s: number;
  /** The session.run calls alone. */
  runs_s: number;
  runs: number;
}

export const fmtS = (s: number) => `${s.toFixed(2)} s`;

/** What bench/memory-child.ts reports: peak RSS (the kernel's high-water mark) at 10 % of the rows and at the end. */
export interface MemoryReport {
  at10MB: number;
  peakMB: number;
  rows: number;
}

export function printMemory(m: MemoryReport, wallS: number): void {
  const growth = m.peakMB - m.at10MB;
  console.log(
    `peak RSS ${m.at10MB.toFixed(0)} MB at 10 % of the rows, ${m.peakMB.toFixed(0)} MB at 100 % (${m.rows} rows, ${fmtS(wallS)}): ` +
      `growth ${growth.toFixed(0)} MB (target < 100 MB: ${growth < 100 ? "met" : "NOT met"})`,
  );
}

/** What floorVsEmofeat runs: the floor script and its arguments, and the emofeat command (without --out). */
export interface Comparison {
  /** "text" | "audio": the extract subcommand. */
  modality: string;
  floorScript: string;
  floorArgs: string[];
  /** How the floor's runs are described, e.g. "runs of <= 16 length-sorted texts". */
  floorRuns: string;
  /** emofeat's argv after the CLI file, without --out. */
  emofeatArgs: string[];
  /** Folder for stores and the model-hash cache. */
  workDir: string;
  target: (f: FloorTimes) => number;
  targetText: string;
}

/**
 * The engine floor, then emofeat twice with a fresh model-hash cache (the first run hashes the model file, as
 * any first run on a new model does; the second finds the hash), each a child process; prints the times and
 * the ratios.
 */
export async function floorVsEmofeat(c: Comparison): Promise<void> {
  const floorRun = await mustRun("engine floor", ["--import", "tsx", path.join(ROOT, "bench", c.floorScript), ...c.floorArgs]);
  const floor = lastJson<FloorTimes>(floorRun.stdout);
  const floorTotal = floor.load_s + floor.runs_s;
  console.log(
    `engine floor (onnxruntime-node alone, ${floor.runs} ${c.floorRuns}): ` +
      `load ${fmtS(floor.load_s)} + runs ${fmtS(floor.runs_s)} = ${fmtS(floorTotal)} (peak RSS ${floorRun.peakRssMB.toFixed(0)} MB)`,
  );
  const cacheDir = path.join(c.workDir, "hash-cache");
  const out = path.join(c.workDir, "store");
  for (const run of ["model hash not cached", "model hash cached"]) {
    rmSync(out, { recursive: true, force: true });
    const r = await mustRun("emofeat", [...c.emofeatArgs, "--out", out, "-q"], { EMOFEAT_CACHE_DIR: cacheDir });
    const limit = c.target(floor);
    console.log(
      `emofeat extract ${c.modality}, whole process (${run}): ${fmtS(r.wallS)}, peak RSS ${r.peakRssMB.toFixed(0)} MB; ` +
        `${(r.wallS / floorTotal).toFixed(2)}x the floor's load + runs; ${c.targetText} ${fmtS(limit)}: ${r.wallS <= limit ? "met" : "NOT met"}`,
    );
  }
}

/**
 * The engine floor's timed part, shared by floor-text.ts and floor-audio.ts: InferenceSession.create with
 * intraOpNumThreads 2 and graphOptimizationLevel "all" (nothing else), then one run per prepared input.
 * Prints one JSON line (FloorTimes); `t0` is when the floor's load began.
 */
export async function timeEngine(
  ort: typeof import("onnxruntime-node"),
  modelFile: string,
  feeds: Record<string, InstanceType<typeof ort.Tensor>>[],
  t0: number,
): Promise<void> {
  const session = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: 2, graphOptimizationLevel: "all" });
  const t1 = performance.now();
  for (const f of feeds) await session.run(f);
  const t2 = performance.now();
  console.log(JSON.stringify({ load_s: (t1 - t0) / 1000, runs_s: (t2 - t1) / 1000, runs: feeds.length }));
}

/** Whether emofeat's sessions spin idle pool threads in this run (the floor always has onnxruntime's default, spinning). */
export function spinningLine(): string {
  const on = ["1", "true", "yes", "on"].includes((process.env.EMOFEAT_ORT_SPINNING ?? "").toLowerCase());
  return on
    ? "emofeat's sessions spin idle threads (EMOFEAT_ORT_SPINNING=1), as the floor's do"
    : "emofeat's sessions do not spin idle threads (its default; EMOFEAT_ORT_SPINNING=1 makes them spin as the floor's do)";
}
