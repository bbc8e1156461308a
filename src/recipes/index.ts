/**
 * Corpus recipes: build the index CSV (utter_id, session, audio_path, text, label, split + extras) from a
 * corpus folder. `buildIndex` returns the rows, statistics and problems; `writeIndexCsv` writes them.
 *
 *   const build = await buildIndex("iemocap", { root: "IEMOCAP_full_release", classes: 4 });
 *   await writeIndexCsv(build, "data/");
 */
import { EmofeatError } from "../errors.js";
import { computeStats, formatSeconds, readDurations, type IndexBuild, type RecipeOutput } from "./common.js";
import { buildCremad, type CremadOptions } from "./cremad.js";
import { buildEmodb, type EmodbOptions } from "./emodb.js";
import { buildGeneric, type GenericOptions } from "./generic.js";
import { buildIemocap, type IemocapOptions } from "./iemocap.js";
import { buildMeld, type MeldOptions } from "./meld.js";
import { buildRavdess, type RavdessOptions } from "./ravdess.js";
import { describeResplit, resplitRows, type ResplitOptions } from "./split.js";
import { buildUrdu, type UrduOptions } from "./urdu.js";

export interface RecipeOptionsMap {
  iemocap: IemocapOptions;
  ravdess: RavdessOptions;
  emodb: EmodbOptions;
  urdu: UrduOptions;
  cremad: CremadOptions;
  meld: MeldOptions;
  generic: GenericOptions;
}
export type CorpusName = keyof RecipeOptionsMap;

const RECIPES: { [C in CorpusName]: (options: RecipeOptionsMap[C]) => Promise<RecipeOutput> } = {
  iemocap: buildIemocap,
  ravdess: buildRavdess,
  emodb: buildEmodb,
  urdu: buildUrdu,
  cremad: buildCremad,
  meld: buildMeld,
  generic: buildGeneric,
};
export const CORPORA = Object.keys(RECIPES) as CorpusName[];

/**
 * Builds the index rows of a corpus. Problems in the corpus (unparseable lines, files without labels, ...)
 * are collected in `problems`, never thrown; a missing root, an unusable option, or a corpus that yields no
 * row at all throws EmofeatError. With `durations` (default true) every WAV header is read: the statistics
 * get durations and, except in IEMOCAP's reference mode, rows get a `duration` column (seconds, 3 decimals;
 * empty where the header cannot be read). An index without any audio path gets neither. With `extra.split`
 * the split column is reassigned (speaker-independent by session, stratified, seeded; see recipes/split.ts).
 */
export async function buildIndex<C extends CorpusName>(corpus: C, options: RecipeOptionsMap[C], extra: { split?: ResplitOptions } = {}): Promise<IndexBuild> {
  const recipe = RECIPES[corpus] as ((o: RecipeOptionsMap[C]) => Promise<RecipeOutput>) | undefined;
  if (!recipe) throw new EmofeatError(`unknown corpus "${String(corpus)}" (recipes: ${CORPORA.join(", ")})`);
  const out = await recipe(options);
  const root = options.root ?? (options as GenericOptions).csv ?? "";
  if (out.rows.length === 0) {
    const why = out.problems.length > 0 ? ` (${out.problems.length} problem(s), first: ${out.problems[0].reason})` : "";
    throw new EmofeatError(`${corpus}: no utterances found under ${root}${why}; nothing to index`);
  }
  const problems = [...out.problems];
  let columns = out.columns;
  let durations: (number | null)[] | null = null;
  // A text-only index (MELD without clips) has no audio to measure.
  if (options.durations !== false && out.rows.some((r) => r.audio_path !== "")) {
    durations = await readDurations(out.rows, problems);
    if (out.durationColumn !== false) {
      // A duration column the input already had (a generic CSV that is itself an index) is measured again.
      columns = [...columns.filter((c) => c !== "duration"), "duration"];
      out.rows.forEach((r, i) => {
        const d = durations![i];
        r.duration = d === null ? "" : formatSeconds(d);
      });
    }
  }
  const notes = [...out.notes];
  if (extra.split) {
    // The recipe's split (if any) is replaced: every row gets a speaker-independent, stratified one.
    notes.push(...resplitRows(out.rows, extra.split).map((l, i) => (i === 0 ? `${l} (replacing the recipe's split)` : l.trimStart())));
  }
  return {
    corpus,
    settings: { ...out.settings, durations: options.durations !== false, ...(extra.split ? { split: describeResplit(extra.split) } : {}) },
    root,
    columns,
    rows: out.rows,
    problems,
    notes,
    stats: computeStats(out.rows, durations),
  };
}

export {
  checkIndexOut,
  computeStats,
  countByReason,
  formatProblems,
  formatStatsTable,
  indexCsvText,
  resolveIndexPath,
  withIndexLock,
  writeIndexCsv,
  type IndexBuild,
  type IndexRow,
  type IndexStats,
  type RecipeProblem,
} from "./common.js";
export { readWavHeader, WavHeaderError, type WavHeader } from "./wav-header.js";
export { resplitRows, splitIndexFile, type ResplitOptions, type SplitIndexResult } from "./split.js";
export type { CremadOptions, EmodbOptions, GenericOptions, IemocapOptions, MeldOptions, RavdessOptions, UrduOptions };
