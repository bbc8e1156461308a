/**
 * One writer per shard, store and index file; stale locks taken over (a dead process on this host, the same
 * scheduler task restarted, a Slurm job squeue no longer runs); `emofeat status` and what it says of each shard.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractText } from "../src/extract/text.js";
import { mergeShards } from "../src/shards/merge.js";
import { formatStatus, shardStatus } from "../src/shards/status.js";
import { withIndexLock } from "../src/recipes/index.js";
import { LOCK_FILE } from "../src/util/lock.js";
import { runEmofeat } from "./helpers/cli.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, tempDir } from "./helpers/paths.js";

let dir: string;
beforeAll(async () => {
  dir = await tempDir("emofeat-locks-");
});
afterAll(() => removeDir(dir));

/** A pid that no process has any more: a child that has exited. */
function deadPid(): number {
  return Number(execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).toString());
}

async function writeLock(folder: string, holder: Record<string, unknown>, name = LOCK_FILE): Promise<void> {
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, name), JSON.stringify({ started: "2026-01-01T00:00:00.000Z", command: "emofeat extract text ...", token: "feedfeedfeedfeed", ...holder }) + "\n");
}

const shard = (out: string, k: number, n: number, o: { log?: (l: string) => void; signal?: AbortSignal; onProgress?: (e: { done: number }) => void } = {}) =>
  extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 4, threads: 1, shard: { k, n }, ...o });

describe("locks", () => {
  it("two writers of one shard at once: the second refuses, naming the first", async () => {
    const out = path.join(dir, "two");
    const results = await Promise.allSettled([shard(out, 0, 2), shard(out, 0, 2)]);
    const refused = results.filter((r) => r.status === "rejected");
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(
      new RegExp(`shards/0-of-2 is being written by another emofeat process \\(pid ${process.pid} on ${os.hostname()}`),
    );
  });

  it("a lock left by a dead process on this host is taken over, with a message", async () => {
    const out = path.join(dir, "stale");
    await writeLock(path.join(out, "shards", "1-of-2"), { host: os.hostname(), pid: deadPid() });
    const lines: string[] = [];
    const s = await shard(out, 1, 2, { log: (l) => lines.push(l) });
    expect(s.shard?.rows).toBe(8);
    expect(lines.join("\n")).toMatch(/taking over the lock of .*1-of-2 left by pid \d+ on .*: that process is no longer running/);
    expect(existsSync(path.join(out, "shards", "1-of-2", LOCK_FILE))).toBe(false); // released
  });

  it("a lock from another machine: refused, unless the scheduler restarted this task or Slurm says its job ended", async () => {
    const out = path.join(dir, "remote");
    const folder = path.join(out, "shards", "0-of-2");
    await writeLock(folder, { host: "node-a17", pid: 4242, task: "slurm:777" });
    const bin = path.join(dir, "bin");
    await mkdir(bin, { recursive: true });
    const squeue = path.join(bin, "squeue");
    const saved = { PATH: process.env.PATH, SLURM_JOB_ID: process.env.SLURM_JOB_ID };
    process.env.PATH = `${bin}:${process.env.PATH}`;
    try {
      // squeue shows the job running: the lock stands.
      await writeFile(squeue, '#!/bin/sh\necho RUNNING\n');
      await chmod(squeue, 0o755);
      await expect(shard(out, 0, 2)).rejects.toThrow(/0-of-2 is being written by another emofeat process \(pid 4242 on node-a17.*--force-unlock/s);
      // Slurm requeued this very task (same SLURM_JOB_ID) on another node: its predecessor has ended.
      process.env.SLURM_JOB_ID = "777";
      const lines: string[] = [];
      await shard(out, 0, 2, { log: (l) => lines.push(l) });
      expect(lines.join("\n")).toMatch(/left by pid 4242 on node-a17.*: the scheduler restarted this task \(slurm:777\)/);
      delete process.env.SLURM_JOB_ID;
      // Another task's lock whose job squeue no longer lists.
      await writeLock(path.join(out, "shards", "1-of-2"), { host: "node-b02", pid: 99, task: "slurm:555" });
      await writeFile(squeue, "#!/bin/sh\nexit 0\n");
      lines.length = 0;
      await shard(out, 1, 2, { log: (l) => lines.push(l) });
      expect(lines.join("\n")).toMatch(/its Slurm job 555 has ended \(no longer listed by squeue\)/);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.SLURM_JOB_ID === undefined) delete process.env.SLURM_JOB_ID;
      else process.env.SLURM_JOB_ID = saved.SLURM_JOB_ID;
    }
    // The lock on the store folder stops a merge; --force-unlock removes it.
    await writeLock(out, { host: "node-c", pid: 7 });
    await expect(mergeShards({ out })).rejects.toThrow(/remote is being written by another emofeat process \(pid 7 on node-c/);
    const lines: string[] = [];
    const merged = await mergeShards({ out, forceUnlock: true, log: (l) => lines.push(l) });
    expect(merged.meta.n).toBe(24);
    expect(lines.join("\n")).toMatch(/--force-unlock: removing the lock of pid 7 on node-c/);
  });

  it("index: one writer per index file; another file in the same folder is free", async () => {
    const corpus = path.join(dir, "corpus");
    await mkdir(path.join(corpus, "angry"), { recursive: true });
    await writeFile(path.join(corpus, "angry", "a.wav"), Buffer.alloc(0));
    const data = path.join(dir, "data");
    await writeLock(data, { host: "node-d", pid: 11 }, ".index.csv.emofeat.lock");
    const r = await runEmofeat(["index", "generic", "--root", corpus, "--out", data, "--no-durations", "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/index\.csv is being written by another emofeat process \(pid 11 on node-d/);
    expect(existsSync(path.join(data, "index.csv"))).toBe(false);
    // Another index file in the same folder is not locked.
    const written = await withIndexLock(path.join(data, "other.csv"), {}, async () => "written");
    expect(written).toBe("written");
    await expect(withIndexLock(data, {}, async () => "x")).rejects.toThrow(/index\.csv is being written by another emofeat process/);
  });
});

describe("emofeat status", () => {
  it("says per shard: done, running (host and pid), not started, failed (and why), rows, and an ETA", async () => {
    const out = path.join(dir, "status");
    await shard(out, 0, 4);
    // Shard 1: stopped after one batch (as by Ctrl-C), then its process "killed": a dead pid's lock.
    const ctrl = new AbortController();
    await expect(shard(out, 1, 4, { signal: ctrl.signal, onProgress: (e) => e.done > 0 && ctrl.abort() })).rejects.toThrow(/interrupted/);
    await writeLock(path.join(out, "shards", "1-of-4"), { host: os.hostname(), pid: deadPid() });
    // Shard 2: its task failed (a model that is not there): the CLI notes why.
    const failed = await runEmofeat(["extract", "text", "--csv", DEMO_INDEX, "--model", path.join(dir, "no-model"), "--offline", "--out", out, "--shard", "2/4", "-q"]);
    expect(failed.code).toBe(2);
    // Shard 3: running on another machine.
    await writeLock(path.join(out, "shards", "3-of-4"), { host: "node-x9", pid: 4242 });

    const r = await shardStatus(out);
    expect(r.n).toBe(4);
    expect(r.shards.map((s) => s.state)).toEqual(["done", "failed", "failed", "running"]);
    expect(r.shards[0]).toMatchObject({ rows: 8, planned: 8, failures: 0 });
    expect(r.shards[1].detail).toMatch(/stopped: pid \d+ on this host is gone/);
    expect(r.shards[1].rows).toBeGreaterThan(0);
    expect(r.shards[1].rows).toBeLessThan(r.shards[1].planned!);
    expect(r.shards[2].detail).toMatch(/no-model/);
    expect(r.shards[3].detail).toBe("on node-x9, pid 4242, since 2026-01-01T00:00:00.000Z");
    expect(r.rate).toBeGreaterThan(0);
    expect(r.eta).toBeGreaterThanOrEqual(0);
    const text = formatStatus(r);
    expect(text).toMatch(/4 shard\(s\) of 24 rows: 1 done, 1 running, 0 not started, 2 failed/);
    expect(text).toMatch(/^3-of-4 +running +0\/\d+ +0 +on node-x9, pid 4242/m);
    expect(text).toMatch(/^ETA: ~.*2 failed shard\(s\) must be rerun/m);
  });

  it("a finished shard whose parts were deleted since is not done (the merge would refuse it)", async () => {
    const out = path.join(dir, "status-deleted");
    await shard(out, 0, 4);
    const partial = path.join(out, "shards", "0-of-4", ".partial");
    await rm(path.join(partial, (await readdir(partial)).find((f) => f.endsWith(".json") && f.startsWith("part-"))!));
    const r = await shardStatus(out);
    expect(r.shards[0].state).toBe("failed");
    expect(r.shards[0].detail).toMatch(/marked finished but \d+ of its 8 rows have no part on disk/);
  });
});
