/**
 * `emofeat status OUT`: where a sharded extraction stands, read from the shared folder alone (no engine is
 * asked): per shard done / running (with its lock's host and pid) / not started / failed, rows and failures so
 * far, and an ETA from the finished shards' rates.
 */
import path from "node:path";
import { STORE_FILES } from "../store/meta.js";
import { readStoreMeta } from "../store/read.js";
import { EmofeatError } from "../errors.js";
import { exists, isDirectory } from "../util/fs.js";
import { holderAlive, readLockHolder, type LockHolder } from "../util/lock.js";
import { shardName } from "./array-task.js";
import { checkShards } from "./merge.js";
import { fromRuns } from "./record.js";
import { surveyShards, type ShardSurvey } from "./survey.js";

export type ShardState = "done" | "running" | "not started" | "failed";

export interface ShardStatus {
  shard: string;
  k: number;
  state: ShardState;
  /** Where it runs, or why it failed. */
  detail: string;
  /** Rows with a vector or a failure so far, and the rows of its share (null before any shard started). */
  rows: number;
  planned: number | null;
  failures: number;
  lock: LockHolder | null;
  started: string | null;
  finished: string | null;
  /** Finished shards: rows per second of the latest attempt. */
  rate: number | null;
  /** Seconds left (running shards, at the finished shards' mean rate). */
  eta: number | null;
}

export interface StatusReport {
  out: string;
  /** The store itself: merged (or extracted in one run), an unfinished single-process run, or nothing yet. */
  store: { state: "complete" | "unfinished" | "none"; n?: number; failures?: number; merged?: string | null };
  n: number | null;
  shards: ShardStatus[];
  /** Folders of other shard counts, and entries of shards/ that are not shard folders. */
  others: string[];
  counts: Record<ShardState, number>;
  planRows: number | null;
  rows: number;
  failures: number;
  /** Mean rows per second of one shard task, over the finished shards. */
  rate: number | null;
  /** Seconds until every shard is done, assuming as many tasks run at a time as run now (null: unknown). */
  eta: number | null;
  /** What would make the merge refuse even once every shard is done: duplicated or foreign shards. */
  problems: string[];
}

function stateOf(s: ShardSurvey | undefined, lock: LockHolder | null): { state: ShardState; detail: string } {
  // A lock first: a finished shard may be being rewritten (--overwrite).
  if (lock) {
    const alive = holderAlive(lock);
    if (alive === null) return { state: "running", detail: `on ${lock.host}, pid ${lock.pid}, since ${lock.started}` };
    if (alive) return { state: "running", detail: `here, pid ${lock.pid}, since ${lock.started}` };
    if (!s?.record?.finished)
      return { state: "failed", detail: `stopped: pid ${lock.pid} on this host is gone (killed, or out of time?); rerun the task to resume` };
  }
  if (s?.record?.finished) {
    // Finished, but parts gone since (deleted, a partial copy): the merge refuses it, so it is not done.
    const planned = fromRuns(s.record.planned).length;
    const missing = planned - new Set(s.positions).size;
    if (missing > 0)
      return { state: "failed", detail: `marked finished but ${missing} of its ${planned} rows have no part on disk (deleted?); rerun the task with --overwrite` };
    return { state: "done", detail: `${s.record.attempt.host}, finished ${s.record.finished}` };
  }
  if (s?.failure) return { state: "failed", detail: `${s.failure.message} (${s.failure.host}, pid ${s.failure.pid}, ${s.failure.time})` };
  if (s && (s.record || s.positions.length > 0))
    return { state: "failed", detail: "stopped without finishing (killed, or out of time?); rerun the task to resume" };
  return { state: "not started", detail: "" };
}

export async function shardStatus(out: string, o: { shards?: number } = {}): Promise<StatusReport> {
  const report: StatusReport = {
    out,
    store: { state: "none" },
    n: null,
    shards: [],
    others: [],
    counts: { done: 0, running: 0, "not started": 0, failed: 0 },
    planRows: null,
    rows: 0,
    failures: 0,
    rate: null,
    eta: null,
    problems: [],
  };
  // A folder not made yet is a state ("no store yet"): tasks may still be queued. A file is a wrong path.
  if ((await exists(out)) && !(await isDirectory(out))) throw new EmofeatError(`${out}: is a file, not the --out folder of a sharded extraction`);
  if (await exists(path.join(out, STORE_FILES.meta))) {
    try {
      const meta = await readStoreMeta(out);
      report.store = { state: "complete", n: meta.n, failures: meta.failures, merged: meta.shards?.merged ?? null };
    } catch {
      report.store = { state: "none" };
    }
  } else if (await exists(path.join(out, STORE_FILES.partial))) report.store = { state: "unfinished" };

  const survey = await surveyShards(out);
  if (!survey) return report;
  // The shard count: --shards, else the one most folders have.
  const byN = new Map<number, number>();
  for (const s of survey.shards) byN.set(s.spec.n, (byN.get(s.spec.n) ?? 0) + 1);
  const n = o.shards ?? [...byN.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? null;
  report.n = n;
  report.others = [...survey.strays, ...survey.shards.filter((s) => s.spec.n !== n).map((s) => s.name)];
  if (n === null) return report;
  const mine = new Map(survey.shards.filter((s) => s.spec.n === n).map((s) => [s.spec.k, s]));
  const plan = [...mine.values()].find((s) => s.record)?.record?.plan ?? null;
  report.planRows = plan?.rows ?? null;

  for (let k = 0; k < n; k++) {
    const s = mine.get(k);
    const lock = s ? await readLockHolder(s.dir) : null;
    const { state, detail } = stateOf(s, lock);
    const r = s?.record;
    const planned = r ? fromRuns(r.planned).length : (plan?.shards[k]?.rows ?? null);
    const rate = state === "done" && r && r.seconds && r.computed_rows > 0 ? r.computed_rows / r.seconds : null;
    report.shards.push({
      shard: shardName({ k, n }),
      k,
      state,
      detail,
      rows: new Set(s?.positions ?? []).size,
      planned,
      failures: s?.failures ?? 0,
      lock,
      started: r?.first_started ?? null,
      finished: r?.finished ?? null,
      rate,
      eta: null,
    });
    report.counts[state]++;
  }
  try {
    report.problems = (await checkShards(out)).problems.filter((p) => p.kind === "duplicated" || p.kind === "foreign").map((p) => p.text);
  } catch (err) {
    report.problems = [(err as Error).message];
  }
  report.rows = report.shards.reduce((a, s) => a + s.rows, 0);
  report.failures = report.shards.reduce((a, s) => a + s.failures, 0);
  const rates = report.shards.map((s) => s.rate).filter((x): x is number => x !== null);
  if (rates.length > 0) {
    const rate = rates.reduce((a, b) => a + b, 0) / rates.length;
    report.rate = rate;
    let running = 0;
    for (const s of report.shards)
      if (s.state === "running" && s.planned !== null) s.eta = Math.max(0, s.planned - s.rows) / rate;
    running = Math.max(0, ...report.shards.map((s) => s.eta ?? 0));
    // Shards still to (re)start run as many at a time as run now (at least one), each at the mean rate.
    const waiting = report.shards.filter((s) => s.state === "not started" || s.state === "failed");
    const slots = Math.max(1, report.counts.running);
    const waves: number[] = Array(slots).fill(0);
    for (const s of waiting) {
      const left = s.planned !== null ? Math.max(0, s.planned - s.rows) : (report.planRows ?? 0) / n;
      waves.sort((a, b) => a - b);
      waves[0] += left / rate;
    }
    report.eta = running + Math.max(0, ...waves);
  }
  return report;
}

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  const store =
    r.store.state === "complete"
      ? `the store is complete (${r.store.n} rows, ${r.store.failures} failed${r.store.merged ? `; merged ${r.store.merged}` : ""})`
      : r.store.state === "unfinished"
        ? "an unfinished single-process extraction is in .partial/"
        : "no store yet";
  if (r.n === null) {
    lines.push(`${r.out}: ${store}; no shards`);
    return lines.join("\n") + "\n";
  }
  const c = r.counts;
  lines.push(
    `${r.out}: ${r.n} shard(s)${r.planRows !== null ? ` of ${r.planRows} rows` : ""}: ${c.done} done, ${c.running} running, ${c["not started"]} not started, ${c.failed} failed; ` +
      `${r.rows} rows done, ${r.failures} failed row(s); ${store}`,
  );
  const table = [["shard", "state", "rows", "failed", "where / why"]];
  for (const s of r.shards)
    table.push([
      s.shard,
      s.state,
      `${s.rows}/${s.planned ?? "?"}`,
      String(s.failures),
      s.detail + (s.rate !== null ? ` (${s.rate.toFixed(2)} rows/s)` : "") + (s.eta !== null ? `; ~${duration(s.eta)} left` : ""),
    ]);
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) lines.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd());
  if (r.others.length > 0) lines.push(`not part of this run: ${r.others.map((o) => `shards/${o}`).join(", ")}`);
  if (r.problems.length > 0) lines.push("the merge will refuse these until they are mended:", ...r.problems.map((p) => `  - ${p}`));
  if (c.done === r.n && r.problems.length === 0) lines.push(r.store.state === "complete" && r.store.merged ? "every shard is done and merged" : `every shard is done: emofeat merge ${r.out}`);
  else if (c.done === r.n) lines.push("every shard is done");
  else if (r.rate === null) lines.push("ETA: known once a shard has finished");
  else
    lines.push(
      `ETA: ~${duration(r.eta!)} (at ${r.rate.toFixed(2)} rows/s per shard, the mean of the finished shards; shards still to start run ${Math.max(1, c.running)} at a time)` +
        (c.failed > 0 ? `; ${c.failed} failed shard(s) must be rerun` : ""),
    );
  return lines.join("\n") + "\n";
}
