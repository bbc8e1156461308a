/**
 * The one way tests run the `emofeat` command line as a real process. Every CLI test goes through here, so how
 * the CLI is started is decided in one place: node on dist-test/cli/main.js, src/ built once per test run by
 * the vitest globalSetup (build-cli.ts), which starts in a fraction of the time tsx needs to compile it again
 * in every child.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { BUILT_CLI } from "./build-cli.js";
import { ROOT } from "./paths.js";

export interface CliResult {
  /** Exit status (null when the process was killed by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
  signal?: NodeJS.Signals | null;
}

export interface CliOptions {
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Added to the parent's environment. */
  env?: Record<string, string | undefined>;
  /** Kill the process after this many ms (default: none). */
  timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Node options before the script (e.g. ["--import", hook]). */
  nodeArgs?: string[];
}

/** The argv prefix that starts the CLI (node binary first). */
export function cliCommand(): { file: string; args: string[] } {
  return { file: process.execPath, args: [BUILT_CLI] };
}

/** Runs `emofeat ...args`; never throws for a non-zero exit. */
export function runEmofeat(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const { file, args: pre } = cliCommand();
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...(o.nodeArgs ?? []), ...pre, ...args],
      { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, timeout: o.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
        const code = e ? (typeof e.code === "number" ? e.code : child.exitCode) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), signal: e?.signal ?? null });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

/**
 * Runs `emofeat ...args` inside the test process (no child: ~1 s faster per call), capturing what it writes
 * to stdout and stderr. For exit codes and messages; use runEmofeat where the process itself is the point
 * (signals, a clean environment, progress on a pipe).
 */
export async function runEmofeatInProcess(args: string[]): Promise<CliResult> {
  const { buildProgram } = await import("../../src/cli/program.js");
  const { runCli } = await import("../../src/cli/run.js");
  const out: string[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  const capture = (sink: string[]) =>
    ((chunk: string | Uint8Array) => {
      sink.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  try {
    const code = await runCli(buildProgram(), ["node", "emofeat", ...args]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
}

/**
 * Starts `emofeat ...args` without waiting for it (servers: the test reads its output, signals it, and waits for
 * `exited`). stdout and stderr are collected as they arrive.
 */
export function spawnEmofeat(
  args: string[],
  o: Pick<CliOptions, "cwd" | "env"> = {},
): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const { file, args: pre } = cliCommand();
  const child = spawn(file, [...pre, ...args], { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}
