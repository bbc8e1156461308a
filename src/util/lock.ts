/**
 * One writer per output folder: a lock file `.emofeat.lock` created atomically (O_CREAT | O_EXCL) inside the
 * folder, holding who has it (host, pid, start time, command).
 *
 *   const lock = await acquireLock(outDir, { command: "emofeat extract text ..." });
 *   try { ...write into outDir... } finally { await lock.release(); }
 *
 * A second writer gets a `LockedError` naming the holder. A lock left by a process that is gone (same host,
 * pid no longer running: a crash or kill -9) is taken over, with a message. A lock from another host, or from
 * a pid that now belongs to another process, cannot be judged from here: `forceUnlock` removes it. Under a
 * cluster scheduler the lock also records the task (`schedulerTask`): a task the scheduler restarted (the same
 * Slurm job id after a requeue, the same Kubernetes Job and completion index in a replacement pod) takes over its
 * predecessor's lock wherever that ran, and a lock of a Slurm job that squeue no longer shows running is stale
 * on any node. The lock
 * is released on normal exit and on process.exit (a second Ctrl-C) as well. Hand-written because the npm
 * lock packages (proper-lockfile and co.) judge staleness by mtime, which cannot tell a long extraction from
 * a dead one.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import { link, open, readFile, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EmofeatError, EXIT } from "../errors.js";

export const LOCK_FILE = ".emofeat.lock";

export interface LockHolder {
  host: string;
  pid: number;
  /** ISO time the lock was taken. */
  started: string;
  command: string;
  /** Random id of this holding (tells our lock from a newer one at the same path). */
  token: string;
  /** The scheduler task the holder ran as (schedulerTask), when it ran under one. */
  task?: string;
}

/**
 * The cluster task this process is: `slurm:<SLURM_JOB_ID>` (one id per array task, kept when Slurm requeues
 * it), or `k8s:<Job uid>/<JOB_COMPLETION_INDEX>` in a Kubernetes Indexed Job pod (EMOFEAT_JOB_UID, which the
 * `emofeat cluster k8s` Job sets from the pod's controller-uid label); undefined elsewhere.
 */
export function schedulerTask(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.SLURM_JOB_ID) return `slurm:${env.SLURM_JOB_ID}`;
  if (env.EMOFEAT_JOB_UID && env.JOB_COMPLETION_INDEX !== undefined) return `k8s:${env.EMOFEAT_JOB_UID}/${env.JOB_COMPLETION_INDEX}`;
  return undefined;
}

/** Slurm job states in which the job's processes may still run. */
const SLURM_LIVE = new Set(["RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"]);

/**
 * Whether Slurm job `id` may still be running, asked of squeue: false when squeue no longer lists it or lists
 * it in a state without processes (pending again, finished); null when squeue cannot be asked.
 */
async function slurmJobLive(id: string): Promise<{ live: boolean; state: string } | null> {
  return new Promise((resolve) => {
    execFile("squeue", ["-h", "-j", id, "-o", "%T"], { timeout: 15_000 }, (err, stdout, stderr) => {
      const state = String(stdout).trim().split("\n")[0] ?? "";
      if (err) {
        // squeue forgets finished jobs after a while and then calls the id invalid.
        if (/invalid job id/i.test(String(stderr))) resolve({ live: false, state: "no longer known to squeue" });
        else resolve(null);
        return;
      }
      resolve(state === "" ? { live: false, state: "no longer listed by squeue" } : { live: SLURM_LIVE.has(state), state });
    });
  });
}

/** The holder of the lock of `dir`, or null (no lock, or an unreadable one). Reading only: for status displays. */
export async function readLockHolder(dir: string): Promise<LockHolder | null> {
  const text = await readLockText(path.join(dir, LOCK_FILE)).catch(() => null);
  return text === null ? null : parseHolder(text);
}

/** Whether the holder's process runs: known on its own host only (null on other hosts). */
export function holderAlive(h: LockHolder): boolean | null {
  return h.host === os.hostname() ? pidAlive(h.pid) : null;
}

export interface Lock {
  file: string;
  holder: LockHolder;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Recorded for the next writer's message (default: this process's command line). */
  command?: string;
  /** Remove any existing lock first (the user checked that its holder is gone). */
  forceUnlock?: boolean;
  /** Told when a stale or forced lock is removed. */
  log?: (line: string) => void;
  /** Lock file name inside `dir` (default LOCK_FILE): one lock per output file when several share a folder. */
  name?: string;
  /** What the lock guards, for messages (default `dir`). */
  label?: string;
}

export class LockedError extends EmofeatError {
  readonly holder: LockHolder | null;
  constructor(dir: string, holder: LockHolder | null) {
    super(
      `${dir} is being written by another emofeat process` +
        (holder ? ` (${describeHolder(holder)})` : " (its lock file cannot be read)") +
        `. Wait for it to finish; if that process is gone (for example it ran on another machine), rerun with --force-unlock.`,
      { exitCode: EXIT.input },
    );
    this.name = "LockedError";
    this.holder = holder;
  }
}

export function describeHolder(h: LockHolder): string {
  const cmd = h.command.length > 120 ? h.command.slice(0, 117) + "..." : h.command;
  return `pid ${h.pid} on ${h.host}, started ${h.started}, command "${cmd}"`;
}

/** True when a process with this pid exists on this host (EPERM: it exists but belongs to another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === "number" && typeof h.host === "string" && typeof h.token === "string" ? h : null;
  } catch {
    return null;
  }
}

async function readLockText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * Removes the lock at `file` if it still holds `expected`: renamed aside first (atomic), then compared, so two
 * processes taking over the same stale lock cannot remove each other's fresh one.
 */
async function removeIfUnchanged(file: string, expected: string): Promise<void> {
  const aside = `${file}.stale-${randomBytes(4).toString("hex")}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const text = await readLockText(aside);
  if (text !== expected) {
    // A newer lock was moved aside: put it back (unless yet another one appeared meanwhile).
    await link(aside, file).catch(() => {});
  }
  await rm(aside, { force: true });
}

// Locks this process holds, removed on process.exit as well (a second Ctrl-C exits without unwinding).
const held = new Map<string, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [file, token] of held) {
      try {
        if (parseHolder(readFileSync(file, "utf8"))?.token === token) unlinkSync(file);
      } catch {
        // already gone
      }
    }
  });
}

/** Takes the lock of `dir` (an existing folder), or throws LockedError naming the holder. */
export async function acquireLock(dir: string, o: LockOptions = {}): Promise<Lock> {
  const file = path.join(dir, o.name ?? LOCK_FILE);
  const what = o.label ?? dir;
  const holder: LockHolder = {
    host: os.hostname(),
    pid: process.pid,
    started: new Date().toISOString(),
    command: o.command ?? ["emofeat", ...process.argv.slice(2)].join(" "),
    token: randomBytes(8).toString("hex"),
    ...(schedulerTask() ? { task: schedulerTask() } : {}),
  };
  const text = JSON.stringify(holder) + "\n";
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(file, "wx");
      try {
        await fh.writeFile(text);
      } finally {
        await fh.close();
      }
      held.set(file, holder.token);
      installExitHook();
      let released = false;
      return {
        file,
        holder,
        async release() {
          if (released) return;
          released = true;
          held.delete(file);
          const now = await readLockText(file).catch(() => null);
          if (now !== null && parseHolder(now)?.token === holder.token) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let existing = await readLockText(file);
    if (existing === null) continue; // released meanwhile
    let other = parseHolder(existing);
    if (!other) {
      // Possibly caught between the holder's create and write: look again shortly.
      await new Promise((r) => setTimeout(r, 200));
      existing = await readLockText(file);
      if (existing === null) continue;
      other = parseHolder(existing);
    }
    if (o.forceUnlock) {
      o.log?.(`--force-unlock: removing the lock of ${other ? describeHolder(other) : "an unreadable lock file"} in ${what}`);
      await removeIfUnchanged(file, existing);
      continue;
    }
    if (other && other.host === os.hostname() && !pidAlive(other.pid)) {
      o.log?.(`taking over the lock of ${what} left by ${describeHolder(other)}: that process is no longer running`);
      await removeIfUnchanged(file, existing);
      continue;
    }
    // The scheduler restarted this very task (it never runs a task twice at once): its predecessor has ended.
    if (other?.task && other.task === holder.task && other.token !== holder.token) {
      o.log?.(`taking over the lock of ${what} left by ${describeHolder(other)}: the scheduler restarted this task (${other.task})`);
      await removeIfUnchanged(file, existing);
      continue;
    }
    if (other?.task?.startsWith("slurm:") && other.host !== os.hostname()) {
      const job = await slurmJobLive(other.task.slice("slurm:".length));
      if (job && !job.live) {
        o.log?.(`taking over the lock of ${what} left by ${describeHolder(other)}: its Slurm job ${other.task.slice(6)} has ended (${job.state})`);
        await removeIfUnchanged(file, existing);
        continue;
      }
    }
    throw new LockedError(what, other);
  }
  throw new LockedError(what, parseHolder((await readLockText(file)) ?? ""));
}

/** Runs `fn` holding the lock of `dir`, releasing it however `fn` ends. */
export async function withLock<T>(dir: string, o: LockOptions, fn: (lock: Lock) => Promise<T>): Promise<T> {
  const lock = await acquireLock(dir, o);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
