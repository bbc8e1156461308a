/**
 * Beta of the gated fusion heads: the mean gate weight w of an utterance, 1 = the fused representation is
 * all audio, 0 = all text. Collected per utterance for every split, seed and fold from the tested checkpoint
 * (beta.csv), averaged per true class and split (metrics.json.beta), and plotted per class (beta.svg/png).
 */
import { stringify } from "csv-stringify/sync";
import type { Split } from "../manifest/index-csv.js";
import { BETA_COLUMNS, type BetaRow } from "./run-dir.js";

export type { BetaRow };

export interface BetaSummary {
  /** Mean beta per true class, per split (over every seed and fold; a split without rows is absent). */
  mean_by_class: Partial<Record<Split, Record<string, number>>>;
}

export function summarizeBeta(rows: readonly BetaRow[], labels: readonly string[]): BetaSummary {
  const mean_by_class = {} as BetaSummary["mean_by_class"];
  for (const split of ["train", "val", "test"] as const) {
    const byClass: Record<string, number> = {};
    for (const l of labels) {
      const vs = rows.filter((r) => r.split === split && r.label === l);
      if (vs.length > 0) byClass[l] = vs.reduce((a, r) => a + r.beta, 0) / vs.length;
    }
    if (Object.keys(byClass).length > 0) mean_by_class[split] = byClass;
  }
  return { mean_by_class };
}

export function betaCsv(rows: readonly BetaRow[]): string {
  return stringify(
    rows.map((r) => [r.utter_id, r.split, r.seed, r.fold, r.label, r.beta]),
    { header: true, columns: [...BETA_COLUMNS] },
  );
}
