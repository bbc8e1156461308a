/**
 * The report as one self-contained HTML page: inline CSS, a few lines of inline JS (sortable tables, open
 * every collapsed part before printing), figures as inline SVG. No external resource, so it opens offline and
 * can be mailed or archived as one file. The bytes depend only on the document, except the generated-at line.
 */
import { cellText, type Block, type Cell, type ReportDoc } from "./doc.js";

/** Marks a page as an emofeat report (an existing file without it is never overwritten). */
export const GENERATOR_MARK = `<meta name="generator" content="emofeat report">`;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const CSS = `
:root { --ink: #1a1a1a; --muted: #555; --line: #d0d0d0; --band: #f5f5f5; --accent: #0072B2; --bad: #D55E00; --good: #009E73; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.45 "DejaVu Sans", Arial, Helvetica, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 17px; margin: 26px 0 8px; }
h4 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0 10px; }
.generated, .inputs { color: var(--muted); font-size: 13px; }
.inputs { margin: 4px 0 0 0; padding-left: 18px; }
nav.toc { margin: 14px 0 6px; padding: 8px 12px; background: var(--band); border-radius: 4px; font-size: 13px; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; }
p.note { color: var(--muted); font-size: 13px; }
p.warn { color: var(--bad); }
p.ok { color: var(--good); }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 13px; }
p.caption { font-size: 13px; color: var(--muted); max-width: 900px; margin: 12px 0 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.baseline td { color: var(--muted); font-style: italic; }
tr.best td { font-weight: 600; }
td.fail { color: var(--bad); font-weight: 600; }
td.ok { color: var(--good); font-weight: 600; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #aaa; font-size: 11px; }
table.sortable th[aria-sort="ascending"]::after { content: " \\2191"; color: var(--ink); }
table.sortable th[aria-sort="descending"]::after { content: " \\2193"; color: var(--ink); }
.tablewrap { overflow-x: auto; }
figure { margin: 10px 0 16px; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: var(--muted); max-width: 900px; margin-top: 4px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 22px; align-items: flex-start; }
.figures figure { flex: 0 1 auto; max-width: 100%; width: min-content; }
.figures figure svg { max-width: none; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--accent); font-size: 14px; }
pre { background: var(--band); padding: 10px; overflow-x: auto; font-size: 12px; line-height: 1.35; }
section.run { border-top: 1px solid var(--line); }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  h2 { break-before: page; }
  h2:first-of-type { break-before: auto; }
  section.run { break-before: page; }
  .figures figure svg { max-width: 100%; }
  table.sortable th::after { content: ""; }
  .tablewrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
`;

// Sorting: numbers by their data-sort key, text by locale; a second click reverses. Before printing, every
// collapsed part is opened so the printout holds the whole report.
const JS = `
(function () {
  function key(td) { var v = td.getAttribute("data-sort"); return v === null ? td.textContent.trim() : v; }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var ths = table.querySelectorAll("thead th");
    ths.forEach(function (th, col) {
      th.setAttribute("tabindex", "0");
      function sort() {
        var numeric = th.classList.contains("num");
        var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
        if (!numeric && !th.hasAttribute("aria-sort")) dir = "ascending";
        ths.forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]), c;
          if (numeric) { x = parseFloat(x); y = parseFloat(y); if (isNaN(x)) x = -Infinity; if (isNaN(y)) y = -Infinity; c = x < y ? -1 : x > y ? 1 : 0; }
          else c = String(x).localeCompare(String(y));
          return dir === "ascending" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.setAttribute("data-was-open", d.open ? "1" : "0"); d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-was-open]").forEach(function (d) { d.open = d.getAttribute("data-was-open") === "1"; d.removeAttribute("data-was-open"); });
  });
})();
`;

interface Counter {
  figure: number;
  table: number;
}

function cellHtml(c: Cell, numeric: boolean): string {
  const text = escapeHtml(cellText(c));
  const cls = [numeric ? "num" : "", typeof c === "string" ? "" : (c.cls ?? "")].filter(Boolean).join(" ");
  const attrs = [cls ? ` class="${cls}"` : "", typeof c !== "string" && c.sort !== undefined ? ` data-sort="${escapeHtml(sortKey(c.sort))}"` : "", typeof c !== "string" && c.title ? ` title="${escapeHtml(c.title)}"` : ""].join("");
  return `<td${attrs}>${text}</td>`;
}

function sortKey(v: number | string): string {
  if (typeof v === "string") return v;
  if (v === -Infinity) return "-Infinity";
  if (v === Infinity) return "Infinity";
  return String(v);
}

function blockHtml(b: Block, n: Counter): string {
  switch (b.kind) {
    case "heading":
      return `<h${b.level} id="${b.id}">${escapeHtml(b.text)}</h${b.level}>`;
    case "para":
      return `<p${b.cls ? ` class="${b.cls}"` : ""}>${escapeHtml(b.text)}</p>`;
    case "list":
      return `<ul>${b.items.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>`;
    case "code":
      return `<pre>${escapeHtml(b.text)}</pre>`;
    case "details":
      return `<details><summary>${escapeHtml(b.summary)}</summary>\n${b.blocks.map((x) => blockHtml(x, n)).join("\n")}\n</details>`;
    case "group":
      return `<section class="run" id="${b.id}">\n${b.blocks.map((x) => blockHtml(x, n)).join("\n")}\n</section>`;
    case "figure":
      return figureHtml(b, n);
    case "figures":
      return `<div class="figures">\n${b.items.map((f) => figureHtml(f, n)).join("\n")}\n</div>`;
    case "table": {
      n.table++;
      const head = b.columns.map((c) => `<th${c.numeric ? ` class="num"` : ""}${c.title ? ` title="${escapeHtml(c.title)}"` : ""} scope="col">${escapeHtml(c.label)}</th>`).join("");
      const body = b.rows
        .map((r, i) => `<tr${b.rowCls?.[i] ? ` class="${b.rowCls[i]}"` : ""}>${r.map((c, j) => cellHtml(c, !!b.columns[j]?.numeric)).join("")}</tr>`)
        .join("\n");
      // The caption is a paragraph above the table (a <caption> could be no wider than a narrow table).
      return (
        `<div class="tablewrap"><p class="caption" id="${b.id}-caption"><b>Table ${n.table}.</b> ${escapeHtml(b.caption)}</p>\n` +
        `<table id="${b.id}" aria-describedby="${b.id}-caption"${b.sortable ? ` class="sortable"` : ""}>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`
      );
    }
  }
}

function figureHtml(f: { id: string; svg: string; caption: string }, n: Counter): string {
  n.figure++;
  // The SVG gets an accessible name from the caption; its XML prolog-free text embeds as is.
  const svg = f.svg.trim().replace(/^<svg /, `<svg role="img" aria-label="${escapeHtml(`Figure ${n.figure}`)}" `);
  return `<figure id="${f.id}">\n${svg}\n<figcaption><b>Figure ${n.figure}.</b> ${escapeHtml(f.caption)}</figcaption>\n</figure>`;
}

export function renderHtml(doc: ReportDoc): string {
  const n: Counter = { figure: 0, table: 0 };
  const toc = doc.sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join("");
  const sections = doc.sections
    .map((s) => {
      const inner = s.blocks.map((b) => blockHtml(b, n)).join("\n");
      return `<section id="${s.id}">\n<h2>${escapeHtml(s.title)}</h2>\n${inner}\n</section>`;
    })
    .join("\n");
  return [
    "<!DOCTYPE html>",
    `<html lang="en">`,
    "<head>",
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    GENERATOR_MARK,
    `<title>${escapeHtml(doc.title)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<main>",
    `<h1>${escapeHtml(doc.title)}</h1>`,
    `<p class="generated">${escapeHtml(doc.generated)}</p>`,
    `<ul class="inputs">${doc.inputs.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>`,
    `<nav class="toc">${toc}</nav>`,
    sections,
    "</main>",
    `<script>${JS}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
