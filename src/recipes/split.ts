/**
 * New train/val/test splits for an index: `emofeat index ... --split 80/10/10` (on the rows a recipe built) and
 * `emofeat split index.csv --ratios 80/10/10 --by session --seed 0 --out new.csv` (on an existing index). The
 * assignment itself is manifest/split.ts (speaker-independent, stratified, seeded).
 */
import path from "node:path";
import { UsageError } from "../errors.js";
import { INDEX_COLUMNS, loadIndex, type IndexColumn } from "../manifest/index-csv.js";
import { assignSplits, describeAssignment, formatRatios, type SplitRatios } from "../manifest/split.js";
import { checkIndexOut, computeStats, writeIndexCsv, type IndexRow, type IndexStats } from "./common.js";

export interface ResplitOptions {
  ratios: SplitRatios;
  /** Default 0. */
  seed?: number;
  /** Column whose values must not be shared between splits (default "session"). */
  by?: string;
}

/** Reassigns `rows[i].split` in place; returns lines describing the result (groups per split, missing classes). */
export function resplitRows(rows: IndexRow[], o: ResplitOptions): string[] {
  const by = o.by ?? "session";
  const seed = o.seed ?? 0;
  const input = rows.map((r) => ({ group: (r[by] ?? "").trim(), label: r.label }));
  const a = assignSplits(input, o.ratios, seed, by);
  rows.forEach((r, i) => (r.split = a.splits[i]));
  return describeAssignment(a, input, o.ratios, seed, by);
}

export interface SplitIndexResult {
  file: string;
  replaced: boolean;
  rows: number;
  stats: IndexStats;
  lines: string[];
}

/**
 * Reads an index (its split column may be absent or hold anything), assigns new splits and writes a new index
 * with every other column unchanged. Relative audio paths are rewritten relative to the new file's folder, so
 * they still point at the same files.
 */
export async function splitIndexFile(o: ResplitOptions & { csv: string; out: string }): Promise<SplitIndexResult> {
  const by = o.by ?? "session";
  const { file: outFile } = await checkIndexOut(o.out);
  if (path.resolve(o.csv) === outFile)
    throw new UsageError(`--out ${o.out} is the input index; write the new index to another file (the input stays as it is)`);
  const required: IndexColumn[] = ["utter_id", "label", ...((INDEX_COLUMNS as readonly string[]).includes(by) ? [by as IndexColumn] : [])];
  const index = await loadIndex(o.csv, { require: ["label"], columns: required });
  if (!index.columns.includes(by))
    throw new UsageError(`--by ${by}: ${o.csv} has no such column (its columns: ${index.columns.join(", ")})`);
  // The new index is a whole one: schema columns the input lacks are added (empty), after its own columns.
  const columns = [...index.columns, ...INDEX_COLUMNS.filter((c) => !index.columns.includes(c))];
  const inDir = path.dirname(path.resolve(o.csv));
  const outDir = path.dirname(outFile);
  const rows: IndexRow[] = index.utterances.map((u) => {
    const audio =
      u.audioPath === "" || path.isAbsolute(u.audioPath) || inDir === outDir ? u.audioPath : path.relative(outDir, path.resolve(inDir, u.audioPath));
    const schema: Record<string, string> = {
      utter_id: u.utterId,
      session: u.session,
      audio_path: audio,
      text: u.text,
      label: u.label,
      split: u.split,
    };
    return Object.fromEntries(columns.map((c) => [c, c in schema ? schema[c] : (u.extra[c] ?? "")])) as IndexRow;
  });
  const lines = resplitRows(rows, { ...o, by });
  const { file, replaced } = await writeIndexCsv({ columns, rows }, outFile);
  return { file, replaced, rows: rows.length, stats: computeStats(rows, null), lines };
}

/** The settings text recorded with a build ("80/10/10 by session, seed 0"). */
export function describeResplit(o: ResplitOptions): string {
  return `${formatRatios(o.ratios)} by ${o.by ?? "session"}, seed ${o.seed ?? 0}`;
}
