/**
 * `emofeat report` as a library call: read runs, stores and the index, build the document, write one
 * self-contained HTML page or markdown + PNG figures. The output is a pure function of the inputs and options
 * apart from the one generated-at line (SOURCE_DATE_EPOCH pins that too).
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { exists, tmpNameFor, writeFileAtomic } from "../util/fs.js";
import { inspectOutDir, makeDir, probeCreate } from "../util/out.js";
import { VERSION } from "../version.js";
import type { ReportDoc, Section } from "./doc.js";
import { GENERATOR_MARK, renderHtml } from "./html.js";
import { loadInputs, type InputOptions, type ReportInputs } from "./inputs.js";
import { MD_MARK, renderMarkdown } from "./markdown.js";
import { REPORT_DEFAULTS, type ReportFormat } from "./defaults.js";
import { corpusSection } from "./sections/corpus.js";
import { resultsSection } from "./sections/results.js";
import { runsSection } from "./sections/runs.js";
import { storesSection, type ProjectionKind } from "./sections/stores.js";

export type { ReportFormat };

export interface ReportOptions extends InputOptions {
  /** HTML: a file (or a folder that receives report.html). Markdown: a folder (report.md + figures/) or a .md file. */
  out: string;
  format?: ReportFormat;
  /** Add the reference's published baselines to the results table. */
  baselines?: boolean;
  projection?: ProjectionKind[];
  maxPoints?: number;
  /** Bootstrap resamples for the paired intervals. */
  resamples?: number;
  title?: string;
  /** The generated-at time (default: SOURCE_DATE_EPOCH when set, else now). */
  now?: Date;
}

export { REPORT_DEFAULTS };

function generatedAt(now?: Date): Date {
  if (now) return now;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  return new Date();
}

function inputLines(inputs: ReportInputs): string[] {
  const lines: string[] = [];
  lines.push(`${inputs.runs.length} run(s)${inputs.runs.length ? `: ${inputs.runs.map((r) => r.name).join(", ")}` : ""}`);
  if (inputs.skipped.length) lines.push(`skipped: ${inputs.skipped.map((s) => `${s.dir} (${s.reason})`).join("; ")}`);
  lines.push(`${inputs.stores.length} feature store(s)${inputs.stores.length ? `: ${inputs.stores.map((s) => s.dir).join(", ")}` : ""}`);
  lines.push(inputs.indexNote);
  lines.push(...inputs.notes);
  return lines;
}

export async function buildReport(o: ReportOptions): Promise<{ doc: ReportDoc; inputs: ReportInputs }> {
  const opts = { ...REPORT_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as ReportOptions & typeof REPORT_DEFAULTS;
  if (!Number.isInteger(opts.maxPoints) || opts.maxPoints < 10) throw new EmofeatError(`--max-points must be an integer >= 10, got ${opts.maxPoints}`);
  if (!Number.isInteger(opts.resamples) || opts.resamples < 100) throw new EmofeatError(`--resamples must be an integer >= 100, got ${opts.resamples}`);
  const inputs = await loadInputs(o);
  if (inputs.runs.length === 0 && inputs.stores.length === 0 && !inputs.index)
    throw new EmofeatError(
      `nothing to report: no finished run, store or index` + (inputs.skipped.length ? ` (${inputs.skipped.map((s) => `${s.dir}: ${s.reason}`).join("; ")})` : ""),
    );
  const taken = new Set<string>(["results", "runs", "corpus", "stores", "seed-spread", "significance", "results-table"]);
  o.log?.("computing paired comparisons");
  const { section: results } = resultsSection(inputs.runs, { baselines: !!opts.baselines, resamples: opts.resamples });
  const sections: Section[] = [results, runsSection(inputs.runs, taken), corpusSection(inputs)];
  sections.push(await storesSection(inputs, { projection: opts.projection, maxPoints: opts.maxPoints, log: o.log }, taken));
  const when = generatedAt(o.now).toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    doc: { title: opts.title, generated: `Generated ${when} by emofeat ${VERSION}.`, inputs: inputLines(inputs), sections },
    inputs,
  };
}

export interface WrittenReport {
  /** The HTML page or report.md. */
  file: string;
  bytes: number;
  figures: number;
  doc: ReportDoc;
  inputs: ReportInputs;
}

/** Refuses to replace a file that is not an earlier report (the user's own page, a paper draft). */
async function checkReplace(file: string, isOurs: (text: string) => boolean): Promise<void> {
  if (!(await exists(file))) return;
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new EmofeatError(`${file} exists and cannot be read; choose another --out`);
  }
  if (!isOurs(text)) throw new EmofeatError(`${file} exists and is not an emofeat report; refusing to overwrite it (choose another --out)`);
}

/**
 * A markdown report replaces report.md and its figures/ folder: only an emofeat report, and only figures that
 * report refers to (a file someone put into figures/ is named and kept: the report is refused).
 */
async function checkMarkdownOut(file: string): Promise<void> {
  await checkReplace(file, (t) => t.includes(MD_MARK));
  const figures = path.join(path.dirname(path.resolve(file)), "figures");
  if (!(await exists(figures))) return;
  if (!(await exists(file)))
    throw new EmofeatError(`${figures} exists but ${file} does not: not an earlier report's figures; refusing to replace them (choose another --out)`);
  const text = await readFile(file, "utf8");
  const ours = new Set([...text.matchAll(/\]\(figures\/([^)]+)\)/g)].map((m) => m[1]));
  let entries: string[];
  try {
    entries = await readdir(figures);
  } catch {
    throw new EmofeatError(`${figures} exists and is not a readable folder; refusing to replace it (choose another --out)`);
  }
  const foreign = entries.filter((e) => !ours.has(e)).sort();
  if (foreign.length > 0)
    throw new EmofeatError(
      `${figures} holds ${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? `, ... (${foreign.length} files)` : ""}, which ${file} does not show: ` +
        `not emofeat's figures; the report replaces that folder, so it refuses (move them out, or choose another --out)`,
    );
}

/** Builds and writes the report (atomically: a reader sees the old report or the whole new one). */
export async function writeReport(o: ReportOptions): Promise<WrittenReport> {
  const format = o.format ?? "html";
  // --out is checked before the report is built (a bad path fails at once, not after the projections).
  const htmlFile = /\.html?$/i.test(o.out) ? o.out : path.join(o.out, "report.html");
  const mdFile = /\.md$/i.test(o.out) ? o.out : path.join(o.out, "report.md");
  const outDir = path.dirname(path.resolve(format === "html" ? htmlFile : mdFile));
  await inspectOutDir(outDir);
  if (format === "html") await checkReplace(htmlFile, (t) => t.includes(GENERATOR_MARK));
  else await checkMarkdownOut(mdFile);
  const created = await makeDir(outDir); // one level at a time: recursive mkdir spins forever on /proc
  const target = format === "html" ? htmlFile : mdFile;
  await probeCreate(path.join(outDir, `.${path.basename(target)}.probe-${process.pid}`), false, "--out", target).catch(async (err) => {
    for (const d of [...created].reverse()) await rmdir(d).catch(() => {});
    throw err;
  });
  let built: Awaited<ReturnType<typeof buildReport>>;
  try {
    built = await buildReport(o);
  } catch (err) {
    for (const d of created.reverse()) await rmdir(d).catch(() => {}); // a failed report leaves no empty folder
    throw err;
  }
  const { doc, inputs } = built;
  if (format === "html") {
    const file = htmlFile;
    await checkReplace(file, (t) => t.includes(GENERATOR_MARK));
    const html = renderHtml(doc);
    await writeFileAtomic(file, html);
    return { file, bytes: Buffer.byteLength(html), figures: (html.match(/<figure /g) ?? []).length, doc, inputs };
  }
  const file = mdFile;
  const dir = path.dirname(path.resolve(file));
  await checkMarkdownOut(file); // again: the report took a while, and someone may have written there meanwhile
  const { markdown, files } = await renderMarkdown(doc);
  // Figures go to a fresh folder renamed into place, so no figure of an earlier report lingers.
  const figures = path.join(dir, "figures");
  const tmp = tmpNameFor(figures);
  await mkdir(tmp, { recursive: true });
  try {
    for (const [rel, data] of files) await writeFile(path.join(tmp, path.relative("figures", rel)), data);
    await rm(figures, { recursive: true, force: true });
    await rename(tmp, figures);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await writeFileAtomic(file, markdown);
  return { file, bytes: Buffer.byteLength(markdown), figures: files.size, doc, inputs };
}
