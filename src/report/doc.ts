/**
 * The report as a document: sections of blocks (text, tables, figures, collapsed details), rendered to one
 * HTML page (html.ts) or to markdown + PNG figures (markdown.ts). Sections build blocks and never format.
 */

/** A table cell: its text, and a sort key when the text does not sort well (numbers with +- std, ranges). */
export type Cell = string | { text: string; sort?: number | string; title?: string; cls?: string };

export interface Column {
  label: string;
  /** Numbers right-aligned. */
  numeric?: boolean;
  /** Shown as the header's tooltip and in markdown below the table. */
  title?: string;
}

export type Block =
  | { kind: "heading"; level: 2 | 3 | 4; text: string; id: string }
  | { kind: "para"; text: string; cls?: "note" | "warn" | "ok" }
  | { kind: "list"; items: string[] }
  | { kind: "table"; id: string; caption: string; columns: Column[]; rows: Cell[][]; sortable?: boolean; rowCls?: (string | undefined)[] }
  | { kind: "figure"; id: string; svg: string; caption: string }
  | { kind: "figures"; items: { id: string; svg: string; caption: string }[] }
  | { kind: "details"; summary: string; blocks: Block[] }
  /** A self-contained part (one run): its own page in print. */
  | { kind: "group"; id: string; blocks: Block[] }
  | { kind: "code"; text: string };

export interface Section {
  id: string;
  title: string;
  blocks: Block[];
}

export interface ReportDoc {
  title: string;
  /** The one line that changes between two reports of the same inputs. */
  generated: string;
  /** What went in (runs, stores, index), one line each. */
  inputs: string[];
  sections: Section[];
}

export function cellText(c: Cell): string {
  return typeof c === "string" ? c : c.text;
}

/** A stable id from free text (run names, store folders), unique within `taken`. */
export function slug(text: string, taken: Set<string>): string {
  const base = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "x";
  let id = base;
  for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
  taken.add(id);
  return id;
}

const pct = (x: number) => (100 * x).toFixed(2);

/** "54.21 ± 1.30" (percent) or "54.21" with one seed; the sort key is the mean. */
export function meanStdCell(mean: number | undefined, std: number | undefined, n: number): Cell {
  if (mean === undefined || !Number.isFinite(mean)) return { text: "–", sort: -Infinity };
  return { text: n > 1 && std !== undefined && Number.isFinite(std) ? `${pct(mean)} ± ${pct(std)}` : pct(mean), sort: mean };
}

export function pValueText(p: number): string {
  if (!Number.isFinite(p)) return "–";
  if (p < 1e-4) return p.toExponential(1);
  return p.toFixed(p < 0.01 ? 4 : 3);
}
