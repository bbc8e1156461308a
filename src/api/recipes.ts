/** `emofeat/recipes`: corpus recipes and the index CSV, without loading any model runtime. */
export { loadIndex, parseIndex, INDEX_COLUMNS, SPLITS, type IndexManifest, type Utterance, type Split } from "../manifest/index-csv.js";
export {
  buildIndex,
  CORPORA,
  writeIndexCsv,
  formatStatsTable,
  formatProblems,
  countByReason,
  readWavHeader,
  type CorpusName,
  type RecipeOptionsMap,
  type IndexBuild,
  type IndexRow,
  type IndexStats,
  type RecipeProblem,
} from "../recipes/index.js";
