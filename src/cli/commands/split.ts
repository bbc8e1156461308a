import { Command } from "commander";
import { parseRatios } from "../../manifest/split.js";
import { checkIndexOut, formatStatsTable, splitIndexFile, withIndexLock } from "../../recipes/index.js";
import { intArg } from "../options.js";

/** `emofeat split`: a new speaker-independent, stratified, seeded train/val/test split for an existing index. */
export function registerSplit(program: Command): void {
  program
    .command("split")
    .summary("give an index a speaker-independent, stratified train/val/test split")
    .description(
      "Write a copy of an index with a new split column: whole groups of rows (by --by, the session = speaker by " +
        "default) go to train, val or test in the --ratios, stratified so that each split's label mix follows the " +
        "whole index, the same for the same --seed. Every other column is kept; relative audio paths are rewritten " +
        "so they still point at the same files. The input is never changed. Prints rows per split x label.",
    )
    .argument("<index.csv>", "the index to split (its split column may be missing or hold anything)")
    .requiredOption("--out <path>", "the new index: a path ending in .csv, or a folder that receives index.csv")
    .option("--ratios <train/val/test>", "split sizes, e.g. 80/10/10 or 70/15/15 (a part may be 0: 80/0/20)", "80/10/10")
    .option("--by <column>", "rows sharing a value of this column stay in one split (speaker independence)", "session")
    .option("--seed <n>", "seed for the order of equally large groups", intArg("--seed", 0), 0)
    .option("--force-unlock", "remove the lock of another emofeat writing this index file that is known to be gone", false)
    .option("-q, --quiet", "print nothing but errors", false)
    .addHelpText(
      "after",
      "\nExamples:\n  emofeat split data/index.csv --out data/index-split.csv\n  emofeat split data/index.csv --by speaker --ratios 70/15/15 --seed 1 --out data/split1.csv",
    )
    .action(async (csv: string, o: { out: string; ratios: string; by: string; seed: number; forceUnlock: boolean; quiet: boolean }) => {
      await checkIndexOut(o.out); // before its lock is taken there
      const res = await withIndexLock(o.out, { forceUnlock: o.forceUnlock, log: (line) => process.stderr.write(`emofeat: ${line}\n`) }, () =>
        splitIndexFile({ csv, out: o.out, ratios: parseRatios(o.ratios), by: o.by, seed: o.seed }),
      );
      if (o.quiet) return;
      const warnings = res.lines.filter((l) => l.trim().startsWith("warning:"));
      process.stdout.write([...res.lines.filter((l) => !warnings.includes(l)), "", formatStatsTable(res.stats), ""].join("\n") + "\n");
      for (const w of warnings) process.stderr.write(`emofeat: ${w.trim()}\n`);
      process.stdout.write(`wrote ${res.rows} rows to ${res.file}${res.replaced ? " (replaced the previous file)" : ""}\n`);
    });
}
