import { Command } from "commander";
import { EmofeatError, EXIT } from "../../errors.js";
import { validateStores, type ValidationReport } from "../../store/validate.js";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .summary("check feature stores against the index, every row")
    .description(
      "Check feature stores against the index, every row: count = index rows minus recorded failures, ids in " +
        "index order, shape/dtype as meta.json says, no NaN/Inf, sha256 matches; with several stores, the same ids. " +
        "Exits 2 if any check fails.",
    )
    .argument("<store...>", "feature store folders (e.g. features/text features/audio)")
    .requiredOption("--csv <index.csv>", "the index the stores were extracted from")
    .option("--json", "print the full report as JSON on stdout", false)
    .option("-q, --quiet", "print only the checks that fail (nothing when every store is valid)", false)
    .action(async (stores: string[], o: { csv: string; json: boolean; quiet: boolean }) => {
      const report = await validateStores(stores, o.csv);
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else if (!o.quiet) process.stdout.write(formatReport(report));
      else if (!report.ok) process.stdout.write(formatFailures(report));
      // Bad data, not bad usage: exit 2 like every other data problem (the report above says what failed).
      if (!report.ok) throw new EmofeatError("", { exitCode: EXIT.input });
    });
}

/** Only the failed checks, one line each, naming the store. */
export function formatFailures(r: ValidationReport): string {
  const lines: string[] = [];
  for (const s of r.stores) for (const c of s.checks) if (!c.ok) lines.push(`FAIL ${s.dir}: ${c.name}: ${c.message}`);
  for (const c of r.cross) if (!c.ok) lines.push(`FAIL ${c.name}: ${c.message}`);
  return lines.join("\n") + "\n";
}

export function formatReport(r: ValidationReport): string {
  const lines: string[] = [`index ${r.index.path}: ${r.index.rows} rows`];
  for (const s of r.stores) {
    lines.push(`${s.ok ? "OK  " : "FAIL"} ${s.dir}${s.modality ? ` (${s.modality}, ${s.n} x ${s.d})` : ""}`);
    for (const c of s.checks) lines.push(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.message}`);
  }
  for (const c of r.cross) lines.push(`${c.ok ? "OK  " : "FAIL"} ${c.name}: ${c.message}`);
  lines.push(r.ok ? "valid" : "INVALID");
  return lines.join("\n") + "\n";
}
