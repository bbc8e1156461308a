/**
 * `emofeat runs summarize`: the reference's results table (model, input, acc, UA, F1) from run directories.
 * Test metrics in percent; with several seeds, mean +- sample std.
 */
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { EmofeatError } from "../errors.js";
import { exists, isDirectory } from "../util/fs.js";
import { isRunDir, readRunConfig, readRunMetrics } from "./run-dir.js";

export interface SummaryRow {
  run: string;
  model: string;
  input: string;
  protocol: string;
  seeds: number;
  accuracy: number;
  accuracy_std: number;
  unweighted_accuracy: number;
  unweighted_accuracy_std: number;
  macro_f1: number;
  macro_f1_std: number;
}

export async function summarizeRuns(dirs: string[]): Promise<{ rows: SummaryRow[]; skipped: { dir: string; reason: string }[] }> {
  const rows: SummaryRow[] = [];
  const skipped: { dir: string; reason: string }[] = [];
  for (const dir of dirs) {
    if (!(await exists(dir))) {
      skipped.push({ dir, reason: "does not exist" });
      continue;
    }
    if (!(await isRunDir(dir))) {
      skipped.push({ dir, reason: (await isDirectory(dir)) ? "not a finished run (no metrics.json)" : "is a file, not a run folder" });
      continue;
    }
    let m: Awaited<ReturnType<typeof readRunMetrics>>;
    let c: Awaited<ReturnType<typeof readRunConfig>>;
    try {
      [m, c] = await Promise.all([readRunMetrics(dir), readRunConfig(dir)]);
    } catch (err) {
      // One damaged run (an edited or truncated JSON) must not hide the table of the others.
      if (!(err instanceof EmofeatError)) throw err;
      skipped.push({ dir, reason: err.message });
      continue;
    }
    const shortModel = (id: string | undefined) => (id ? path.basename(id.replace(/\/+$/, "")) : "?");
    rows.push({
      run: dir,
      // A per-layer run's headline is its best layer (chosen on validation): say so.
      model: m.best_layer ? `${m.head}, layer ${m.best_layer.layer} of --per-layer` : m.head,
      input: c.features.map((f) => `${f.name} (${shortModel(f.model_id)})`).join(" + "),
      protocol: c.protocol.kind === "split" ? "split" : `${c.protocol.folds.length}-fold LOSO`,
      seeds: m.seeds.length,
      accuracy: m.test.accuracy,
      accuracy_std: m.test_std.accuracy,
      unweighted_accuracy: m.test.unweighted_accuracy,
      unweighted_accuracy_std: m.test_std.unweighted_accuracy,
      macro_f1: m.test.macro_f1,
      macro_f1_std: m.test_std.macro_f1,
    });
  }
  return { rows, skipped };
}

export type SummaryFormat = "text" | "markdown" | "csv" | "json";

function cell(v: number, std: number, seeds: number): string {
  return seeds > 1 ? `${(100 * v).toFixed(2)} ± ${(100 * std).toFixed(2)}` : (100 * v).toFixed(2);
}

export function formatSummary(rows: SummaryRow[], format: SummaryFormat): string {
  if (format === "json") return JSON.stringify(rows, null, 2) + "\n";
  if (format === "csv") return stringify(rows as unknown as Record<string, unknown>[], { header: true });
  const header = ["run", "model", "input", "protocol", "seeds", "acc", "UA", "F1"];
  const body = rows.map((r) => [
    path.basename(r.run),
    r.model,
    r.input,
    r.protocol,
    String(r.seeds),
    cell(r.accuracy, r.accuracy_std, r.seeds),
    cell(r.unweighted_accuracy, r.unweighted_accuracy_std, r.seeds),
    cell(r.macro_f1, r.macro_f1_std, r.seeds),
  ]);
  if (format === "markdown") {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
    return [line(header), line(header.map((_, i) => (i >= 4 ? "---:" : "---"))), ...body.map(line)].join("\n") + "\n";
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n") + "\n";
}

export function requireRows(rows: SummaryRow[], skipped: { dir: string; reason: string }[]): void {
  if (rows.length === 0)
    throw new EmofeatError(
      skipped.length > 0 ? `no runs to summarize: ${skipped.map((s) => `${s.dir}: ${s.reason}`).join("; ")}` : "no run directories given",
    );
}
