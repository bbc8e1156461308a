/**
 * Per-row records written beside a store: clips.csv (audio: duration, seconds kept, whether the cut shortened
 * the clip) and texts.csv (text: tokens, tokens kept, whether --max-len truncated the text). Stores made before
 * a record existed simply lack the file (null). The totals in meta.json are computed from the records here, by
 * extraction and by `emofeat merge` alike, so a store merged from shards gets the numbers a single run writes;
 * `RECORD_TOTALS` finds the function by the record file's name.
 */
import path from "node:path";
import { intField, numField, readCsvRecords } from "../util/csv.js";
import { exists } from "../util/fs.js";
import { STORE_FILES } from "./meta.js";

export interface ClipRecord {
  utterId: string;
  row: number;
  durationS: number;
  keptS: number;
  sampleRate: number;
  channels: number;
  truncated: boolean;
}

export interface TextRecord {
  utterId: string;
  row: number;
  tokens: number;
  keptTokens: number;
  truncated: boolean;
}

/** The file name of the text records (contract: `utter_id,row,tokens,kept_tokens,truncated`). */
export const TEXTS_FILE = "texts.csv";

const yes = (v: string | undefined) => v === "yes" || v === "true" || v === "1";

export async function readClipRecords(dir: string): Promise<ClipRecord[] | null> {
  const file = path.join(dir, STORE_FILES.clips);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, ["utter_id", "row", "duration_s", "kept_s", "truncated"])).map((r, i) => ({
    utterId: r.utter_id,
    row: intField(file, i + 2, "row", r.row),
    durationS: numField(file, i + 2, "duration_s", r.duration_s),
    keptS: numField(file, i + 2, "kept_s", r.kept_s),
    sampleRate: numField(file, i + 2, "sample_rate", r.sample_rate),
    channels: numField(file, i + 2, "channels", r.channels),
    truncated: yes(r.truncated),
  }));
}

export async function readTextRecords(dir: string): Promise<TextRecord[] | null> {
  const file = path.join(dir, TEXTS_FILE);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, ["utter_id", "row", "tokens", "kept_tokens", "truncated"])).map((r, i) => ({
    utterId: r.utter_id,
    row: intField(file, i + 2, "row", r.row),
    tokens: intField(file, i + 2, "tokens", r.tokens),
    keptTokens: intField(file, i + 2, "kept_tokens", r.kept_tokens),
    truncated: yes(r.truncated),
  }));
}

export type RowRecord = Record<string, string | number | boolean>;
export type TotalsFn = (records: RowRecord[]) => Record<string, number>;

/** meta.json totals of an audio store: how much audio there was and how much the cut removed. */
export function audioTotals(records: RowRecord[]): Record<string, number> {
  let seconds = 0;
  let kept = 0;
  let removed = 0;
  let truncated = 0;
  for (const r of records) {
    seconds += Number(r.duration_s);
    kept += Number(r.kept_s);
    if (r.truncated === "yes") {
      truncated++;
      removed += Math.max(0, Number(r.duration_s) - Number(r.kept_s));
    }
  }
  const round = (x: number) => Number(x.toFixed(3));
  return {
    clips: records.length,
    seconds_total: round(seconds),
    seconds_kept: round(kept),
    seconds_removed_by_cut: round(removed),
    clips_truncated: truncated,
  };
}

/** meta.json totals of a text store: how many texts --max-len cut, and how many tokens it removed. */
export function textTotals(records: RowRecord[]): Record<string, number> {
  let truncated = 0;
  let removed = 0;
  for (const r of records)
    if (r.truncated === "yes") {
      truncated++;
      removed += Number(r.tokens) - Number(r.kept_tokens);
    }
  return { texts: records.length, truncated, tokens_removed_by_cut: removed };
}

/** The totals function of each record file (records in index order). */
export const RECORD_TOTALS: Readonly<Record<string, TotalsFn>> = {
  [STORE_FILES.clips]: audioTotals,
  [STORE_FILES.texts]: textTotals,
};
