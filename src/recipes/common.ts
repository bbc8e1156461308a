/**
 * What every corpus recipe shares: the row and problem types, the session-independent file walk, the
 * statistics table, WAV durations, and writing the index CSV.
 */
import { readdir, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { EmofeatError } from "../errors.js";
import { INDEX_COLUMNS, SPLITS, parseIndex, type Split } from "../manifest/index-csv.js";
import { exists, isDirectory, writeFileAtomic } from "../util/fs.js";
import { acquireLock } from "../util/lock.js";
import { makeDir, prepareOutFile } from "../util/out.js";
import { mapLimit, readWavHeader } from "./wav-header.js";

/** One index row: the schema columns plus the recipe's extra columns, all as CSV text. */
export type IndexRow = Record<string, string> & {
  utter_id: string;
  session: string;
  audio_path: string;
  text: string;
  label: string;
  split: Split;
};

/**
 * Something wrong in the corpus folder. The build goes on; `reason` is one of a recipe's fixed reasons
 * (the summary counts per reason) and says what happened to the utterance.
 */
export interface RecipeProblem {
  reason: string;
  /** Absolute path of the file concerned. */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
  utterance?: string;
  detail?: string;
}

export interface IndexStats {
  total: number;
  labels: string[];
  /** counts[label][split] */
  counts: Record<string, Record<Split, number>>;
  splitTotals: Record<Split, number>;
  /** Seconds of audio per split; null when durations were not read. */
  durations: { bySplit: Record<Split, number>; total: number; known: number; unknown: number } | null;
}

export interface IndexBuild {
  corpus: string;
  /** Recipe settings, for the report (for example `{ classes: 6, compat: "none" }`). */
  settings: Record<string, string | number | boolean>;
  root: string;
  columns: string[];
  rows: IndexRow[];
  problems: RecipeProblem[];
  /** Facts worth telling that are not problems (skipped song clips, encodings, excluded labels...). */
  notes: string[];
  stats: IndexStats;
}

/** What a recipe hands to buildIndex, before durations and statistics. */
export interface RecipeOutput {
  columns: string[];
  rows: IndexRow[];
  problems: RecipeProblem[];
  notes: string[];
  settings: Record<string, string | number | boolean>;
  /** False when the recipe reproduces a fixed column set (IEMOCAP --compat reference). */
  durationColumn?: boolean;
}

export interface CommonRecipeOptions {
  /** Corpus folder. */
  root: string;
  /** Read every WAV header for durations (default true). */
  durations?: boolean;
}

/** Orders the schema columns first, then the recipe's extras. */
export function schemaColumns(extras: readonly string[]): string[] {
  return [...INDEX_COLUMNS, ...extras.filter((c) => !(INDEX_COLUMNS as readonly string[]).includes(c))];
}

/** Fails with a clear message when the corpus folder is missing. */
export async function requireDirectory(dir: string, what: string): Promise<string> {
  const abs = path.resolve(dir);
  if (!(await exists(abs))) throw new EmofeatError(`${what} ${abs}: no such folder`);
  if (!(await isDirectory(abs))) throw new EmofeatError(`${what} ${abs}: not a folder`);
  return abs;
}

/** Hidden names (".DS_Store", macOS "._x.wav" resource forks) are never corpus data. */
export function isHidden(name: string): boolean {
  return name.startsWith(".");
}

/**
 * Every non-hidden file under `dir` whose name ends in `ext` (case-insensitive), sorted by path so that
 * row order never depends on the file system.
 */
export async function walkFiles(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  const lower = ext.toLowerCase();
  const visit = async (d: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (isHidden(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.name.toLowerCase().endsWith(lower)) out.push(p);
    }
  };
  await visit(dir);
  return out.sort(comparePaths);
}

/**
 * The wavs under `dir` whose file name matches a corpus's naming code, with the match and the id (the name
 * without .wav); every other wav is reported with `badNameReason`.
 */
export async function namedWavs(dir: string, nameRe: RegExp, problems: RecipeProblem[], badNameReason: string): Promise<{ file: string; utt: string; match: RegExpExecArray }[]> {
  const out: { file: string; utt: string; match: RegExpExecArray }[] = [];
  for (const file of await walkFiles(dir, ".wav")) {
    const name = path.basename(file);
    const match = nameRe.exec(name);
    if (match) out.push({ file, utt: name.slice(0, -".wav".length), match });
    else problems.push({ reason: badNameReason, file });
  }
  return out;
}

/** True the first time `utt` is seen; a repeat is reported with `reason` (the first file is kept). */
export function firstOfId(seen: Map<string, string>, utt: string, file: string, problems: RecipeProblem[], reason: string): boolean {
  const first = seen.get(utt);
  if (first !== undefined) {
    problems.push({ reason, file, utterance: utt, detail: `first: ${first}` });
    return false;
  }
  seen.set(utt, file);
  return true;
}

/** Plain code-unit order (not locale order), so results are the same on every machine. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function emptySplitRecord(): Record<Split, number> {
  return { train: 0, val: 0, test: 0 };
}

export function computeStats(rows: readonly IndexRow[], durations: (number | null)[] | null): IndexStats {
  const counts: Record<string, Record<Split, number>> = {};
  const splitTotals = emptySplitRecord();
  for (const r of rows) {
    (counts[r.label] ??= emptySplitRecord())[r.split]++;
    splitTotals[r.split]++;
  }
  let durationStats: IndexStats["durations"] = null;
  if (durations) {
    const bySplit = emptySplitRecord();
    let known = 0;
    let unknown = 0;
    rows.forEach((r, i) => {
      const d = durations[i];
      if (d === null) unknown++;
      else {
        known++;
        bySplit[r.split] += d;
      }
    });
    durationStats = { bySplit, total: bySplit.train + bySplit.val + bySplit.test, known, unknown };
  }
  return {
    total: rows.length,
    labels: Object.keys(counts).sort(comparePaths),
    counts,
    splitTotals,
    durations: durationStats,
  };
}

/**
 * Reads the duration of every row's audio file from its WAV header. Rows without audio get null;
 * unreadable headers are reported (the row stays: the audio extractor will report it again, with the
 * decoder's reason, and text extraction does not need the audio).
 */
export async function readDurations(rows: readonly IndexRow[], problems: RecipeProblem[]): Promise<(number | null)[]> {
  return mapLimit(rows, 16, async (r) => {
    if (r.audio_path === "") return null;
    try {
      return (await readWavHeader(r.audio_path)).duration;
    } catch (err) {
      problems.push({
        reason: "unreadable WAV header (row kept, duration unknown)",
        file: r.audio_path,
        utterance: r.utter_id,
        detail: (err as Error).message,
      });
      return null;
    }
  });
}

/** Seconds as text for the `duration` column: millisecond precision is plenty for lengths. */
export function formatSeconds(s: number): string {
  return s.toFixed(3);
}

export function formatClock(seconds: number): string {
  const s = Math.round(seconds * 10) / 10;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = (s % 60).toFixed(1).padStart(4, "0");
  return `${h}:${String(m).padStart(2, "0")}:${sec}`;
}

/** The rows per split x label table, with totals and (when read) durations. */
export function formatStatsTable(stats: IndexStats): string {
  const header = ["label", ...SPLITS, "total"];
  const body: string[][] = stats.labels.map((l) => {
    const c = stats.counts[l];
    return [l, ...SPLITS.map((s) => String(c[s])), String(c.train + c.val + c.test)];
  });
  body.push(["total", ...SPLITS.map((s) => String(stats.splitTotals[s])), String(stats.total)]);
  if (stats.durations) {
    const d = stats.durations;
    body.push(["duration", ...SPLITS.map((s) => formatClock(d.bySplit[s])), formatClock(d.total)]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const lines = [line(header), rule, ...body.slice(0, stats.labels.length).map(line), rule, ...body.slice(stats.labels.length).map(line)];
  if (stats.durations && stats.durations.unknown > 0)
    lines.push(`(durations of ${stats.durations.known} of ${stats.total} rows; ${stats.durations.unknown} without a readable WAV header or audio file)`);
  return lines.join("\n");
}

function displayPath(file: string, root: string): string {
  const rel = path.relative(root, file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** One line per problem: `file:line: utterance: detail`. Paths inside the corpus are shown relative to it. */
export function formatProblem(p: RecipeProblem, root: string): string {
  const where = p.file ? displayPath(p.file, root) + (p.line !== undefined ? `:${p.line}` : "") : "";
  return [where, p.utterance, p.detail].filter((x) => x !== undefined && x !== "").join(": ");
}

/** Problems grouped by reason with their counts; `limit` examples per reason (Infinity: all). */
export function formatProblems(problems: readonly RecipeProblem[], root: string, limit = 5): string {
  if (problems.length === 0) return "problems: none";
  const byReason = new Map<string, RecipeProblem[]>();
  for (const p of problems) {
    const list = byReason.get(p.reason) ?? [];
    list.push(p);
    byReason.set(p.reason, list);
  }
  const lines = [`problems: ${problems.length}`];
  for (const [reason, list] of byReason) {
    lines.push(`  ${reason}: ${list.length}`);
    for (const p of list.slice(0, limit)) lines.push(`    - ${formatProblem(p, root)}`);
    if (list.length > limit) lines.push(`    ... and ${list.length - limit} more (--verbose lists them all)`);
  }
  return lines.join("\n");
}

/** Counts problems per reason (for reports and tests). */
export function countByReason(problems: readonly RecipeProblem[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of problems) out[p.reason] = (out[p.reason] ?? 0) + 1;
  return out;
}

/**
 * Where `--out` writes: a path ending in `.csv` is the CSV file itself; anything else is a folder that
 * receives `index.csv` (created if needed).
 */
export function resolveIndexPath(out: string): string {
  return out.toLowerCase().endsWith(".csv") ? path.resolve(out) : path.join(path.resolve(out), "index.csv");
}

/** The CSV text of a build: UTF-8, header row, fields quoted where they hold commas, quotes or newlines. */
export function indexCsvText(build: Pick<IndexBuild, "columns" | "rows">): string {
  return stringify(
    build.rows.map((r) => build.columns.map((c) => r[c] ?? "")),
    { header: true, columns: build.columns, record_delimiter: "unix" },
  );
}

/** True when a file starts with an index CSV header (every schema column): emofeat wrote it, or it is one. */
export function isIndexCsvHead(head: Buffer): boolean {
  const first = head.toString("utf8").replace(/^\uFEFF/, "").split(/\r?\n/)[0];
  const cols = first.split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
  return INDEX_COLUMNS.every((c) => cols.includes(c));
}

/**
 * Checks `--out` of an index before any work and returns the CSV path: a path ending in .csv, or a folder
 * (created when written) that receives index.csv. An existing file is replaced only when it is an index CSV; any other
 * file is refused (emofeat never replaces what it did not create).
 */
export async function checkIndexOut(out: string, flag = "--out"): Promise<{ file: string; replaces: boolean }> {
  const file = resolveIndexPath(out);
  if (!out.toLowerCase().endsWith(".csv")) {
    const st = await stat(out).catch(() => null);
    if (st && !st.isDirectory())
      throw new EmofeatError(`${flag} ${out}: is a file, not a folder; ${flag} takes a folder (which receives index.csv) or a path ending in .csv`);
  }
  return { file, ...(await prepareOutFile(file, { flag, what: "an index CSV", recognise: isIndexCsvHead })) };
}

/**
 * Writes the index CSV atomically (readers never see half a file). The text is parsed back with the
 * index loader first, so a recipe can never write an index that `loadIndex` rejects.
 */
/**
 * Runs `work` (which builds and writes the index at `out`) holding a lock on that index file, so two processes
 * never write the same index; other files in its folder stay free. Folders made for it are removed again if the
 * work fails and leaves them empty.
 */
export async function withIndexLock<T>(out: string, o: { forceUnlock?: boolean; log?: (line: string) => void }, work: () => Promise<T>): Promise<T> {
  const file = resolveIndexPath(out);
  const created = await makeDir(path.dirname(file));
  const lock = await acquireLock(path.dirname(file), { name: `.${path.basename(file)}.emofeat.lock`, label: file, forceUnlock: o.forceUnlock, log: o.log });
  let ok = false;
  try {
    const res = await work();
    ok = true;
    return res;
  } finally {
    await lock.release();
    if (!ok) for (const d of created.reverse()) await rmdir(d).catch(() => {});
  }
}

export async function writeIndexCsv(build: Pick<IndexBuild, "columns" | "rows">, out: string): Promise<{ file: string; replaced: boolean }> {
  const file = resolveIndexPath(out);
  const text = indexCsvText(build);
  parseIndex(text, { path: file });
  const { replaces } = await checkIndexOut(out);
  await makeDir(path.dirname(file));
  await writeFileAtomic(file, text);
  return { file, replaced: replaces };
}
