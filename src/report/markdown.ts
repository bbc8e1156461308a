/**
 * The report as markdown with PNG figures (for a paper's repository): report.md and figures/<id>.png, the
 * PNGs rendered from the same SVGs as the HTML page (@resvg/resvg-js; SVG files when it is unavailable).
 */
import { renderPng } from "../train/plots.js";
import { cellText, type Block, type ReportDoc } from "./doc.js";

/** The first line's comment that marks report.md as ours (an existing file without it is never overwritten). */
export const MD_MARK = "<!-- emofeat report -->";

export interface MarkdownOutput {
  markdown: string;
  /** Relative path -> bytes (figures). */
  files: Map<string, Uint8Array | string>;
}

function mdText(s: string): string {
  return s.replace(/([\\`*_[\]<>|])/g, "\\$1");
}

function mdCell(s: string): string {
  return mdText(s).replace(/\n/g, " ");
}

export async function renderMarkdown(doc: ReportDoc): Promise<MarkdownOutput> {
  const files = new Map<string, Uint8Array | string>();
  const n = { figure: 0, table: 0 };
  const out: string[] = [MD_MARK, "", `# ${mdText(doc.title)}`, "", mdText(doc.generated), "", ...doc.inputs.map((i) => `- ${mdText(i)}`), ""];

  async function figure(f: { id: string; svg: string; caption: string }): Promise<string[]> {
    n.figure++;
    const png = await renderPng(f.svg);
    const file = png ? `figures/${f.id}.png` : `figures/${f.id}.svg`;
    files.set(file, png ?? f.svg);
    return [`![Figure ${n.figure}](${file})`, "", `*Figure ${n.figure}. ${mdText(f.caption)}*`, ""];
  }

  async function block(b: Block, level: number): Promise<string[]> {
    switch (b.kind) {
      case "heading":
        return [`${"#".repeat(Math.min(6, b.level + level))} ${mdText(b.text)}`, ""];
      case "para":
        return [mdText(b.text), ""];
      case "list":
        return [...b.items.map((i) => `- ${mdText(i)}`), ""];
      case "code":
        return ["```json", b.text, "```", ""];
      case "details": {
        const inner: string[] = [];
        for (const x of b.blocks) inner.push(...(await block(x, level)));
        return ["<details>", `<summary>${mdText(b.summary)}</summary>`, "", ...inner, "</details>", ""];
      }
      case "group": {
        const inner: string[] = [];
        for (const x of b.blocks) inner.push(...(await block(x, level)));
        return inner;
      }
      case "figure":
        return figure(b);
      case "figures": {
        const inner: string[] = [];
        for (const f of b.items) inner.push(...(await figure(f)));
        return inner;
      }
      case "table": {
        n.table++;
        const head = `| ${b.columns.map((c) => mdCell(c.label)).join(" | ")} |`;
        const rule = `| ${b.columns.map((c) => (c.numeric ? "---:" : "---")).join(" | ")} |`;
        const rows = b.rows.map((r) => `| ${r.map((c) => mdCell(cellText(c))).join(" | ")} |`);
        return [`**Table ${n.table}.** ${mdText(b.caption)}`, "", head, rule, ...rows, ""];
      }
    }
  }

  for (const s of doc.sections) {
    out.push(`## ${mdText(s.title)}`, "");
    for (const b of s.blocks) out.push(...(await block(b, 0)));
  }
  return { markdown: out.join("\n").replace(/\n{3,}/g, "\n\n"), files };
}
