import { Command, Option } from "commander";
import { REPORT_DEFAULTS, type ReportFormat } from "../../report/defaults.js";
import type { ProjectionKind } from "../../report/sections/stores.js";
import { UsageError } from "../../errors.js";
import { intArg } from "../options.js";

function projections(v: string): ProjectionKind[] {
  if (v === "none") return [];
  const list = v.split(",").map((s) => s.trim());
  const bad = list.filter((s) => s !== "pca" && s !== "umap");
  if (bad.length) throw new UsageError(`--projection: unknown "${bad.join(", ")}" (use pca, umap, pca,umap or none)`);
  return list as ProjectionKind[];
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .summary("write one HTML page (or markdown + PNGs) showing runs, stores and the corpus")
    .description(
      "Write a report of a study: the results table of every run (sortable; --baselines reference adds the reference's " +
        "published rows), paired significance between runs tested on the same rows (McNemar, bootstrap intervals), per run " +
        "the confusion matrix, per-class precision/recall/F1, training curves, layer weights and gate (beta) distributions " +
        "where present and the full settings; the corpus (rows per split x label, durations, clips the cut shortened, text " +
        "lengths, failures); and per store its validation and 2-D projections (PCA, UMAP) coloured by label and split. " +
        "HTML is one self-contained file (opens offline, prints well); --format md writes report.md + figures/*.png. " +
        "Without --features / --csv, the stores and index the runs were made from are used when they still exist.",
    )
    .argument("[runs...]", "run directories (e.g. runs/*); folders that are not finished runs are listed and skipped")
    .option("--features <stores...>", "feature store folders to describe (default: the runs' stores)")
    .option("--csv <index.csv>", "the index (default: the one the runs were trained on)")
    .requiredOption("--out <path>", "HTML: a .html file or a folder (report.html); md: a folder (report.md + figures/)")
    .addOption(new Option("--format <format>", "html: one self-contained page; md: markdown with PNG figures").choices(["html", "md"]).default("html"))
    .addOption(new Option("--baselines <set>", "add published baselines to the results table").choices(["reference", "none"]).default("none"))
    .option("--projection <kinds>", "store projections: pca, umap, pca,umap or none", projections, REPORT_DEFAULTS.projection)
    .option("--max-points <n>", "points drawn per projection (a seeded random subsample beyond it)", intArg("--max-points", 10), REPORT_DEFAULTS.maxPoints)
    .option("--resamples <n>", "paired bootstrap resamples", intArg("--resamples", 100), REPORT_DEFAULTS.resamples)
    .option("--title <text>", "page title", REPORT_DEFAULTS.title)
    .option("-q, --quiet", "no progress lines", false)
    .action(
      async (
        runs: string[],
        o: { features?: string[]; csv?: string; out: string; format: ReportFormat; baselines: string; projection: ProjectionKind[]; maxPoints: number; resamples: number; title: string; quiet: boolean },
      ) => {
        const { writeReport } = await import("../../report/report.js");
        const r = await writeReport({
          runs,
          features: o.features,
          csv: o.csv,
          out: o.out,
          format: o.format,
          baselines: o.baselines === "reference",
          projection: o.projection,
          maxPoints: o.maxPoints,
          resamples: o.resamples,
          title: o.title,
          log: o.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
        });
        for (const s of r.inputs.skipped) process.stderr.write(`skipped ${s.dir}: ${s.reason}\n`);
        process.stdout.write(
          `wrote ${r.file} (${(r.bytes / 1024).toFixed(0)} KiB, ${r.inputs.runs.length} run(s), ${r.inputs.stores.length} store(s), ${r.figures} figure(s))\n`,
        );
      },
    );
}
