/**
 * Train/validation/test protocols.
 *
 * - "split": the index's split column. With no `val` rows, a stratified 10% of train is held out for
 *   validation (and the run says so).
 * - "session folds": leave-one-session-out cross-validation, IEMOCAP's standard protocol. Each session is
 *   the test set once. Validation is, by default, a stratified 10% of the remaining sessions, so that training
 *   sees four of IEMOCAP's five sessions as in most published results; with `--fold-val session` it is the
 *   next session in sorted order (then three sessions train). The split column is ignored.
 *
 * Held-out validation draws use a fixed generator (seed 0) independent of the training seed, so every
 * seed of a run sees the same partition and `--seeds` measures training variance only.
 */
import { EmofeatError } from "../errors.js";
import type { ProbeRow } from "./data.js";
import { Rng } from "./rng.js";

export type Protocol = { kind: "split" } | { kind: "session-folds"; val: "stratified" | "session" };

export interface Fold {
  /** "split" or the test session. */
  name: string;
  train: number[];
  val: number[];
  test: number[];
  /** Where validation rows came from, for the record. */
  valSource: string;
}

export const VAL_FRACTION = 0.1;
const SPLIT_SEED = 0;

/** Stratified hold-out: per class, round(fraction * count) rows (at least one when a class has two or more). */
export function stratifiedHoldout(positions: number[], rows: readonly ProbeRow[], fraction: number, rng: Rng): { keep: number[]; held: number[] } {
  const byClass = new Map<number, number[]>();
  for (const p of positions) {
    const list = byClass.get(rows[p].cls) ?? [];
    list.push(p);
    byClass.set(rows[p].cls, list);
  }
  const held = new Set<number>();
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const list = byClass.get(cls)!.slice();
    rng.shuffle(list);
    const k = list.length >= 2 ? Math.max(1, Math.round(fraction * list.length)) : 0;
    for (const p of list.slice(0, k)) held.add(p);
  }
  return { keep: positions.filter((p) => !held.has(p)), held: positions.filter((p) => held.has(p)) };
}

const natural = new Intl.Collator("en", { numeric: true }).compare;

export function planFolds(rows: readonly ProbeRow[], protocol: Protocol): Fold[] {
  const all = rows.map((_, i) => i);
  if (protocol.kind === "split") {
    const pick = (s: string) => all.filter((i) => rows[i].split === s);
    let train = pick("train");
    let val = pick("val");
    const test = pick("test");
    if (train.length === 0) throw new EmofeatError(`no rows with split "train" (after the join); check the index's split column`);
    if (test.length === 0)
      throw new EmofeatError(`no rows with split "test" (after the join); give the index a test split, or use --folds session`);
    let valSource = "split column";
    if (val.length === 0) {
      const h = stratifiedHoldout(train, rows, VAL_FRACTION, new Rng(SPLIT_SEED));
      train = h.keep;
      val = h.held;
      valSource = `stratified ${VAL_FRACTION * 100}% of train (the index has no val rows)`;
    }
    return [{ name: "split", train, val, test, valSource }];
  }
  const sessions = [...new Set(rows.map((r) => r.session))].sort(natural);
  if (sessions.some((s) => s === "")) throw new EmofeatError("--folds session: some rows have an empty session");
  const need = protocol.val === "session" ? 3 : 2;
  if (sessions.length < need)
    throw new EmofeatError(`--folds session needs at least ${need} sessions (found ${sessions.length}: ${sessions.join(", ")})`);
  return sessions.map((s, k) => {
    const test = all.filter((i) => rows[i].session === s);
    if (protocol.val === "session") {
      const v = sessions[(k + 1) % sessions.length];
      return {
        name: s,
        test,
        val: all.filter((i) => rows[i].session === v),
        train: all.filter((i) => rows[i].session !== s && rows[i].session !== v),
        valSource: `session ${v}`,
      };
    }
    const rest = all.filter((i) => rows[i].session !== s);
    const h = stratifiedHoldout(rest, rows, VAL_FRACTION, new Rng(SPLIT_SEED + k));
    return { name: s, test, val: h.held, train: h.keep, valSource: `stratified ${VAL_FRACTION * 100}% of the other sessions` };
  });
}

/** Below this many rows per class a split's metrics swing with single utterances; train says so. */
export const MIN_ROWS_PER_CLASS = 5;

/**
 * Warnings about splits too small to trust or lacking classes: a test set of 3 rows with 2 of 7 classes
 * reports numbers that mean nothing, and a class missing from train can never be predicted.
 */
export function splitWarnings(folds: readonly Fold[], rows: readonly ProbeRow[], labels: readonly string[]): string[] {
  const out: string[] = [];
  const min = MIN_ROWS_PER_CLASS * labels.length;
  for (const f of folds) {
    const where = folds.length > 1 ? `fold ${f.name}: ` : "";
    for (const [name, idx] of [["train", f.train], ["val", f.val], ["test", f.test]] as const) {
      const present = new Set(idx.map((i) => rows[i].cls));
      const missing = labels.filter((_, c) => !present.has(c));
      if (idx.length < min)
        out.push(`${where}${name} has ${idx.length} row(s), fewer than ${MIN_ROWS_PER_CLASS} per class for ${labels.length} classes: its metrics are unreliable`);
      if (missing.length > 0)
        out.push(
          `${where}${name} has no rows of ${missing.join(", ")}` +
            (name === "train" ? " (the head can never predict them)" : name === "test" ? " (test metrics leave them out)" : " (checkpoint selection ignores them)"),
        );
    }
  }
  return out;
}
