import { Command, Option } from "commander";
import { formatSummary, requireRows, summarizeRuns, type SummaryFormat } from "../../train/summarize.js";

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
}
