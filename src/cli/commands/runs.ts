import { Command, Option } from "commander";
import { formatSummary, requireRows, summarizeRuns, type SummaryFormat } from "../../train/summarize.js";
import { mergeFolds } from "../../train/merge-folds.js";

export function registerRuns(program: Command): void {
  const runs = program.command("runs").summary("inspect training runs").description("Inspect run directories written by emofeat train");
  runs
    .command("summarize")
    .summary("print the results table (model, input, acc, UA, F1) of runs")
    .description(
      "Print the reference's results table from run directories: test accuracy (WA), unweighted accuracy (UA) and " +
        "macro-F1 in percent, mean ± std over seeds. Folders that are not finished runs are listed on stderr and skipped.",
    )
    .argument("<runs...>", "run directories (e.g. runs/*)")
    .addOption(new Option("--format <format>", "output format").choices(["text", "markdown", "csv", "json"]).default("text"))
    .option("-q, --quiet", "do not list the folders that were skipped", false)
    .action(async (dirs: string[], o: { format: SummaryFormat; quiet: boolean }) => {
      const { rows, skipped } = await summarizeRuns(dirs);
      if (!o.quiet) for (const s of skipped) process.stderr.write(`skipped ${s.dir}: ${s.reason}\n`);
      requireRows(rows, skipped);
      process.stdout.write(formatSummary(rows, o.format));
    });
  runs
    .command("merge")
    .summary("assemble a cross-validation run from folds trained as separate processes")
    .description(
      "Assemble OUT from OUT/folds/K/, written by `emofeat train ... --folds session --fold K` (or --fold auto in a Slurm job " +
        "array / Kubernetes Indexed Job): the same metrics.json, epochs.csv, predictions.csv and plots as a single-process " +
        "--folds session run (identical numbers for identical seeds). Every fold must be there, trained with the same options " +
        "on the same stores; otherwise each missing, unfinished or foreign fold is named and nothing is written. The folds are kept in OUT/folds/.",
    )
    .argument("<out>", "the --out of the fold runs")
    .option("--overwrite", "replace a run merged before", false)
    .option("--force-unlock", "remove the lock of another process writing OUT that is known to be gone", false)
    .option("-q, --quiet", "no progress output", false)
    .addHelpText("after", "\nExample (Slurm, 5 sessions):\n  sbatch --array=0-4 --wrap 'emofeat train --csv data/index.csv --features text=features/text --folds session --seeds 5 --fold auto --out runs/loso'\n  emofeat runs merge runs/loso")
    .action(async (out: string, o: { overwrite: boolean; forceUnlock: boolean; quiet: boolean }) => {
      const res = await mergeFolds({
        out,
        overwrite: o.overwrite,
        forceUnlock: o.forceUnlock,
        log: (line) => {
          if (!o.quiet || line.startsWith("warning")) process.stderr.write(line + "\n");
        },
      });
      process.stdout.write(res.summary + "\n");
    });
}
