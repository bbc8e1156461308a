/**
 * `emofeat merge OUT`: assembles the store from `<out>/shards/K-of-N/`. Every shard must be there, finished,
 * made from the same index, settings, model and plan, and together they must hold every row of the plan exactly
 * once; otherwise the error names each missing, unfinished, duplicated or foreign shard and its rows, and nothing
 * is written. The store is then finalized by the same writer a single run uses, over the parts of every shard
 * (one part in memory at a time), so its files are byte-identical to a single-process run's; meta.json differs
 * only in `created` and its `shards` record.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { loadIndex } from "../manifest/index-csv.js";
import { STORE_FILES, type ShardsRecord, type StoreMeta } from "../store/meta.js";
import { readStoreMeta } from "../store/read.js";
import { RECORD_TOTALS } from "../store/records.js";
import { validateStores, type ValidationReport } from "../store/validate.js";
import { checkStoreOut, describeDifferences, recordedSettings, StoreWriter } from "../store/write.js";
import { exists, isDirectory } from "../util/fs.js";
import { acquireLock, type Lock } from "../util/lock.js";
import { shardName } from "./array-task.js";
import { describeRows, fromRuns, SHARDS_DIR, shardPartialDir, shardsRoot, type ShardRecord } from "./record.js";
import { surveyShards, type ShardSurvey } from "./survey.js";

export interface MergeOptions {
  /** The store folder the shards were extracted into (`--out` of the shard tasks). */
  out: string;
  /** The index CSV (default: the path recorded in the shards). */
  csv?: string;
  /** Replace a store made with other settings. */
  overwrite?: boolean;
  /** Remove `<out>/shards/` once the store is written and valid. */
  removeShards?: boolean;
  /** Remove the lock of another writer of OUT that is known to be gone. */
  forceUnlock?: boolean;
  log?: (line: string) => void;
}

export interface MergeSummary {
  outDir: string;
  status: "created" | "up-to-date";
  meta: StoreMeta;
  n: number;
  validation: ValidationReport | null;
}

/** How a shard differs from the reference shard (null: same store). */
function identityDiff(r: ShardRecord, ref: ShardRecord): string | null {
  const short = (s: string | null) => (s ? `${s.slice(0, 12)}...` : "none");
  if (r.index.sha256 !== ref.index.sha256) return `made from another index (sha256 ${short(r.index.sha256)}, the others ${short(ref.index.sha256)})`;
  if (r.model.sha256 !== ref.model.sha256 || r.model.id !== ref.model.id)
    return `made with another model (${r.model.id}, sha256 ${short(r.model.sha256)}; the others ${ref.model.id}, ${short(ref.model.sha256)})`;
  if (r.fingerprint !== ref.fingerprint)
    return (
      `made with other settings (the others' -> this one's: ${describeDifferences(recordedSettings(ref.store.meta), recordedSettings(r.store.meta))}; ` +
      `fingerprint ${short(r.fingerprint)}, the others ${short(ref.fingerprint)})`
    );
  const version = (x: ShardRecord) => x.store.meta.tool?.version;
  if (version(r) !== version(ref)) return `made by emofeat ${version(r)} (the others by ${version(ref)}): every node must run the same version`;
  if (r.plan.sha256 !== ref.plan.sha256) return `made from another plan of batches (${short(r.plan.sha256)}, the others ${short(ref.plan.sha256)})`;
  if (cut(r) !== cut(ref))
    return "the plan was cut into shards differently (the tasks estimated the work differently: did audio files or their duration column change between tasks?)";
  return null;
}

const cut = (r: ShardRecord) => r.plan.shards.map((s) => `${s.from}-${s.to}`).join(",");
const identityKey = (r: ShardRecord) => [r.index.sha256, r.model.id, r.model.sha256, r.fingerprint, r.store.meta.tool?.version, r.plan.sha256, cut(r)].join("|");

/** The record most shards agree on (ties: the lowest shard's). */
function referenceRecord(shards: ShardSurvey[]): ShardRecord | null {
  const groups = new Map<string, ShardRecord[]>();
  for (const s of shards) if (s.record) groups.set(identityKey(s.record), [...(groups.get(identityKey(s.record)) ?? []), s.record]);
  let best: ShardRecord[] | null = null;
  for (const g of groups.values()) if (!best || g.length > best.length) best = g;
  return best ? best[0] : null;
}

function attemptState(s: ShardSurvey): string {
  if (s.failure) return `its last attempt failed (${s.failure.time}, pid ${s.failure.pid} on ${s.failure.host}): ${s.failure.message}`;
  const a = s.record?.attempt;
  return a ? `last started ${a.started} by pid ${a.pid} on ${a.host}; rerun that task to resume` : "rerun that task to resume";
}

export interface MergeProblem {
  /** missing and unfinished shards may still come; duplicated and foreign ones need the user. */
  kind: "missing" | "unfinished" | "duplicated" | "foreign";
  text: string;
}

/** Checks the shards; returns the problems (empty: mergeable) and what the merge needs. */
export async function checkShards(out: string, o: { indexSha256?: string } = {}) {
  const survey = await surveyShards(out);
  if (!survey || survey.shards.length === 0)
    throw new EmofeatError(
      `${out}: no shards to merge (${shardsRoot(out)} ${survey ? "holds no shard folder" : "does not exist"}); run emofeat extract ... --shard K/N --out ${out} first`,
    );
  const problems: MergeProblem[] = [];
  const add = (kind: MergeProblem["kind"], text: string) => problems.push({ kind, text });
  const where = (name: string) => `${SHARDS_DIR}/${name}`;
  for (const stray of survey.strays) add("foreign", `${where(stray)}: foreign: not a shard folder (shard folders are named K-of-N)`);
  const ns = [...new Set(survey.shards.map((s) => s.spec.n))];
  if (ns.length > 1)
    throw new EmofeatError(
      `cannot merge ${out}: its shards come from runs with different shard counts (${ns
        .map((n) => `${n}: ${survey.shards.filter((s) => s.spec.n === n).map((s) => s.name).join(", ")}`)
        .join("; ")}); remove the folders of the run you do not want; nothing was written`,
    );
  const n = ns[0];
  const ref = referenceRecord(survey.shards);
  if (ref && o.indexSha256 && ref.index.sha256 !== o.indexSha256)
    add("foreign", `the index given (sha256 ${o.indexSha256.slice(0, 12)}...) is not the one the shards were made from (${ref.index.sha256.slice(0, 12)}...)`);

  const byK = new Map(survey.shards.map((s) => [s.spec.k, s]));
  const owner = new Map<number, string>();
  const missing: string[] = [];
  /** Shard folders that are there but cannot be used (duplicated or foreign, named above). */
  const excluded: string[] = [];
  const usable: ShardSurvey[] = [];
  const duplicates = new Map<string, number[]>();
  for (let k = 0; k < n; k++) {
    const name = shardName({ k, n });
    const s = byK.get(k);
    if (!s || !s.record) {
      missing.push(name);
      continue;
    }
    const r = s.record;
    if (r.shard.k !== k || r.shard.n !== n) {
      const twin = survey.shards.find((t) => t !== s && t.name === r.shard.name);
      add(
        twin ? "duplicated" : "foreign",
        `${where(name)}: ${twin ? "duplicated" : "foreign"}: it holds shard ${r.shard.name} (copied or renamed?): ` +
          `${describeRows(fromRuns(r.planned))}${twin ? `, also in ${where(twin.name)}` : ""}`,
      );
      excluded.push(name);
      continue;
    }
    const diff = identityDiff(r, ref!);
    if (diff) {
      add("foreign", `${where(name)}: foreign: ${diff}; ${describeRows(fromRuns(r.planned))}`);
      excluded.push(name);
      continue;
    }
    const planned = fromRuns(r.planned);
    for (const p of planned) {
      const prev = owner.get(p);
      if (prev !== undefined) {
        const key = `${prev} and ${name}`;
        duplicates.set(key, [...(duplicates.get(key) ?? []), p]);
      } else owner.set(p, name);
    }
    const plannedSet = new Set(planned);
    const have = new Set<number>();
    const extra: number[] = [];
    const twice: number[] = [];
    for (const p of s.positions) {
      if (!plannedSet.has(p)) extra.push(p);
      else if (have.has(p)) twice.push(p);
      have.add(p);
    }
    const notDone = planned.filter((p) => !have.has(p));
    if (!r.finished) {
      add("unfinished", `${where(name)}: unfinished: ${have.size} of ${planned.length} rows done (${describeRows(notDone)} not yet); ${attemptState(s)}`);
      continue;
    }
    if (notDone.length > 0) add("unfinished", `${where(name)}: unfinished: marked finished but ${describeRows(notDone)} have no part on disk (deleted?); rerun the task with --overwrite`);
    if (extra.length > 0) add("foreign", `${where(name)}: foreign: its parts hold ${describeRows(extra)}, outside its share of the plan`);
    if (twice.length > 0) add("duplicated", `${where(name)}: duplicated: its parts hold ${describeRows(twice)} twice`);
    if (notDone.length === 0 && extra.length === 0 && twice.length === 0) usable.push(s);
  }
  for (const [pair, rows] of duplicates) add("duplicated", `duplicated: ${describeRows(rows)} are in both ${where(pair.split(" and ")[0])} and ${where(pair.split(" and ")[1])}`);
  if (ref) {
    const uncovered: number[] = [];
    for (let p = 0; p < ref.plan.rows; p++) if (!owner.has(p)) uncovered.push(p);
    const rows = uncovered.length > 0 ? `: ${describeRows(uncovered)} are in no usable shard` : "";
    if (missing.length > 0) add("missing", `missing: ${missing.map(where).join(", ")} (not started, or without shard.json)${rows}`);
    else if (uncovered.length > 0)
      add(excluded.length > 0 ? "foreign" : "missing", `missing${excluded.length > 0 ? ` (in place of ${excluded.map(where).join(", ")})` : ""}${rows}`);
  } else add("missing", `missing: no shard has a shard.json (${missing.map(where).join(", ")}): none has started`);
  return { n, ref, usable, problems };
}

const noShards = (err: unknown): err is EmofeatError => err instanceof EmofeatError && /no shards to merge/.test(err.message);

/** The meta of the finished store in `out` (meta.json, no unfinished extraction beside it), else null. */
async function completeStore(out: string): Promise<StoreMeta | null> {
  if (!(await exists(path.join(out, STORE_FILES.meta))) || (await exists(path.join(out, STORE_FILES.partial)))) return null;
  try {
    return await readStoreMeta(out);
  } catch {
    return null;
  }
}

/**
 * Merges holding the lock of OUT (no other merge, no single-process extraction into it) and, while it reads
 * them, the lock of every shard folder (no task rewrites a shard being merged).
 */
export async function mergeShards(o: MergeOptions): Promise<MergeSummary> {
  if (!(await isDirectory(o.out)))
    throw new EmofeatError(
      (await exists(o.out)) ? `${o.out}: is a file, not the --out folder of a sharded extraction` : `${o.out}: no such folder; run emofeat extract ... --shard K/N --out ${o.out} first`,
    );
  const locks: Lock[] = [];
  try {
    locks.push(await acquireLock(o.out, { forceUnlock: o.forceUnlock, log: o.log }));
    return await mergeLocked(o, locks);
  } finally {
    for (const l of locks.reverse()) await l.release();
  }
}

async function mergeLocked(o: MergeOptions, locks: Lock[]): Promise<MergeSummary> {
  const out = o.out;
  const log = o.log ?? (() => {});
  let index = o.csv ? await loadIndex(o.csv) : null;
  let checked: Awaited<ReturnType<typeof checkShards>>;
  try {
    checked = await checkShards(out, { indexSha256: index?.sha256 });
  } catch (err) {
    // No shards, but a complete store: merged before with --remove-shards (a task rerun after that, or the
    // merge job the rerun submits, must not fail), or made by a single process.
    const meta = noShards(err) && !o.overwrite ? await completeStore(out) : null;
    if (meta) return { outDir: out, status: "up-to-date", meta, n: meta.shards?.n ?? 0, validation: null };
    throw err;
  }
  if (checked.problems.length > 0)
    throw new EmofeatError(
      `cannot merge ${out}: ${checked.problems.length} problem(s); nothing was written\n${checked.problems.map((p) => `  - ${p.text}`).join("\n")}`,
    );
  const { n, usable } = checked;
  const ref = checked.ref!;

  if (!index) {
    if (!(await exists(ref.index.path)))
      throw new EmofeatError(`the index the shards were made from, ${ref.index.path}, is not there; pass --csv with its path on this machine`);
    index = await loadIndex(ref.index.path);
  }
  if (index.sha256 !== ref.index.sha256)
    throw new EmofeatError(`${index.path} changed since the shards were extracted (sha256 ${index.sha256.slice(0, 12)}..., shards ${ref.index.sha256.slice(0, 12)}...); nothing was written`);

  // The folder itself: a store merged before, or one made otherwise.
  if (await exists(path.join(out, STORE_FILES.meta))) {
    const meta = await readStoreMeta(out);
    if (meta.fingerprint === ref.fingerprint && !o.overwrite && !(await exists(path.join(out, STORE_FILES.partial))))
      return { outDir: out, status: "up-to-date", meta, n, validation: null };
    if (meta.fingerprint !== ref.fingerprint && !o.overwrite)
      throw new EmofeatError(
        `${out} already holds a feature store made with other settings (model ${meta.model.id}); pass --overwrite to replace it with the merged shards; nothing was written`,
      );
  }
  if ((await exists(path.join(out, STORE_FILES.partial))) && !o.overwrite)
    throw new EmofeatError(
      `${out} holds an unfinished single-process extraction (${STORE_FILES.partial}/); finish it, or pass --overwrite to discard it and write the merged shards; nothing was written`,
    );
  await checkStoreOut(out, o.overwrite); // store files emofeat did not write are never replaced
  for (const s of usable) locks.push(await acquireLock(s.dir, { log }));

  const totals = ref.store.totals === null ? undefined : RECORD_TOTALS[ref.store.totals];
  if (ref.store.totals !== null && !totals) throw new Error(`internal: no totals function for ${ref.store.totals}`);
  const writer = new StoreWriter(out);
  const planned: number[] = [];
  const records: ShardsRecord["shards"] = [];
  for (const s of usable.sort((a, b) => a.spec.k - b.spec.k)) {
    await writer.loadParts(shardPartialDir(s.dir));
    planned.push(...fromRuns(s.record!.planned));
    const r = s.record!;
    records.push({ shard: s.name, rows: r.rows, failures: r.failures, host: r.attempt.host, started: r.first_started, finished: r.finished!, seconds: r.seconds });
  }
  planned.sort((a, b) => a - b);
  const { totals: _name, ...spec } = ref.store;
  const shards: ShardsRecord = { n, plan_sha256: ref.plan.sha256, merged: new Date().toISOString(), shards: records };
  log(`merging ${n} shard(s) of ${ref.plan.rows} rows into ${out}`);
  const meta = await writer.finalize({ ...spec, utterances: index.utterances, planned, totals, meta: { ...spec.meta, shards } });
  const validation = await validateStores([out], index.path);
  if (!validation.ok) throw new EmofeatError(`${out}: the merged store does not validate (run emofeat validate ${out} --csv ${index.path}); the shards are kept`);
  if (o.removeShards) await rm(shardsRoot(out), { recursive: true, force: true });
  return { outDir: out, status: "created", meta, n, validation };
}

/**
 * Waits until the shards of `out` can be merged (a merge job started beside the shard tasks, as on Kubernetes,
 * where one Job cannot wait for another): missing and unfinished shards are waited for; duplicated or foreign
 * ones, which no task will mend, end the wait at once, as does `timeoutS`.
 */
export async function waitForShards(out: string, o: { timeoutS: number; pollS: number; log?: (line: string) => void }): Promise<void> {
  const deadline = Date.now() + o.timeoutS * 1000;
  let last = "";
  for (;;) {
    let problems: MergeProblem[];
    try {
      problems = (await checkShards(out)).problems;
    } catch (err) {
      // No shard folder yet (the tasks have not started), or shards of several runs; none and a complete
      // store: nothing to wait for (merged before with --remove-shards).
      if (!noShards(err)) throw err;
      if (await completeStore(out)) return;
      problems = [{ kind: "missing", text: err.message }];
    }
    if (problems.length === 0) return;
    const fatal = problems.filter((p) => p.kind === "duplicated" || p.kind === "foreign");
    if (fatal.length > 0 || Date.now() >= deadline)
      throw new EmofeatError(
        `cannot merge ${out}${fatal.length > 0 ? "" : ` after waiting ${o.timeoutS} s`}: ${problems.length} problem(s); nothing was written\n` +
          problems.map((p) => `  - ${p.text}`).join("\n"),
      );
    const now = `waiting: ${problems.length} problem(s) left, first: ${problems[0].text}`;
    if (now !== last) o.log?.(now);
    last = now;
    await new Promise((r) => setTimeout(r, o.pollS * 1000));
  }
}
