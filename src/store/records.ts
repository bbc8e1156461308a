/**
 * The per-row record files written beside a store (clips.csv for audio) and the totals meta.json derives from
 * them. Extraction and `emofeat merge` both compute the totals here, so a store merged from shards gets the very
 * numbers a single run writes; `RECORD_TOTALS` finds the function by the record file's name.
 */
import { STORE_FILES } from "./meta.js";

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

/** The totals function of each record file (records in index order). */
export const RECORD_TOTALS: Readonly<Record<string, TotalsFn>> = {
  [STORE_FILES.clips]: audioTotals,
};
