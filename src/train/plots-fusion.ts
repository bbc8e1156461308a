/**
 * Plots of the fusion heads: beta distributions per class (run directory) and attention heat maps
 * (`predict --explain`). Hand-written SVG like plots.ts (same font, escaping and PNG rendering).
 */
import type { BetaRow } from "./beta.js";
import { esc, FONT } from "./plots.js";

const SPLIT_COLOR: Record<string, string> = { train: "#1f77b4", val: "#2ca02c", test: "#d62728" };

/**
 * One panel per split with rows; per true class a histogram of beta over [0, 1] (20 bins, scaled to the
 * row's fullest bin) and its mean.
 */
export function betaSvg(rows: readonly BetaRow[], labels: readonly string[], title: string): string {
  const splits = (["train", "val", "test"] as const).filter((s) => rows.some((r) => r.split === s));
  const bins = 20;
  const pw = 340;
  const rowH = 46;
  const labelW = Math.max(70, 7 * Math.max(...labels.map((l) => l.length)) + 14);
  const top = 64;
  const panelW = labelW + pw + 24;
  const w = Math.max(1, splits.length) * panelW + 16;
  const h = top + labels.length * rowH + 44;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT}>`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="22" font-size="15" text-anchor="middle">${esc(title)}</text>`,
  ];
  splits.forEach((split, k) => {
    const ox = k * panelW + labelW + 8;
    const color = SPLIT_COLOR[split];
    const mine = rows.filter((r) => r.split === split);
    const utterances = new Set(mine.map((r) => r.utter_id)).size;
    const runs = new Set(mine.map((r) => `${r.seed}|${r.fold}`)).size;
    const what = `${split}: ${utterances} utterance${utterances === 1 ? "" : "s"}${runs > 1 ? `, ${runs} seed/fold runs` : ""}`;
    parts.push(`<text x="${ox + pw / 2}" y="${top - 12}" font-size="13" text-anchor="middle">${esc(what)}</text>`);
    labels.forEach((label, i) => {
      const oy = top + i * rowH;
      const vs = rows.filter((r) => r.split === split && r.label === label).map((r) => r.beta);
      parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${rowH - 6}" fill="#f7f7f7" stroke="#ccc"/>`);
      parts.push(`<text x="${ox - 6}" y="${oy + rowH / 2}" font-size="12" text-anchor="end">${esc(label)}</text>`);
      if (vs.length === 0) {
        parts.push(`<text x="${ox + pw / 2}" y="${oy + rowH / 2}" font-size="10" text-anchor="middle" fill="#888">no utterances</text>`);
        return;
      }
      const counts = new Array(bins).fill(0);
      for (const v of vs) counts[Math.min(bins - 1, Math.max(0, Math.floor(v * bins)))]++;
      const most = Math.max(...counts);
      counts.forEach((c, b) => {
        if (c === 0) return;
        const bh = ((rowH - 10) * c) / most;
        parts.push(`<rect x="${(ox + (b * pw) / bins).toFixed(1)}" y="${(oy + rowH - 6 - bh).toFixed(1)}" width="${(pw / bins - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color}" fill-opacity="0.6"/>`);
      });
      const mean = vs.reduce((a, v) => a + v, 0) / vs.length;
      const mx = ox + mean * pw;
      parts.push(`<line x1="${mx.toFixed(1)}" y1="${oy}" x2="${mx.toFixed(1)}" y2="${oy + rowH - 6}" stroke="black" stroke-width="1.5"/>`);
      parts.push(`<text x="${(mean > 0.75 ? mx - 4 : mx + 4).toFixed(1)}" y="${oy + 11}" font-size="10" text-anchor="${mean > 0.75 ? "end" : "start"}">mean ${mean.toFixed(3)} (n=${vs.length})</text>`);
    });
    const axisY = top + labels.length * rowH;
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      const x = ox + v * pw;
      parts.push(`<line x1="${x}" y1="${axisY - 4}" x2="${x}" y2="${axisY}" stroke="#444"/>`);
      parts.push(`<text x="${x}" y="${axisY + 12}" font-size="10" text-anchor="middle">${v}</text>`);
    }
    parts.push(`<text x="${ox + pw / 2}" y="${axisY + 30}" font-size="11" text-anchor="middle">beta (mean gate weight): 0 = text, 1 = audio</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export interface HeatmapSpec {
  title: string;
  /** matrix[row][col]. */
  values: number[][];
  rowLabels: string[];
  colLabels: string[];
  rowTitle: string;
  colTitle: string;
  /** A note under the title (e.g. which direction sums to 1). */
  note?: string;
  /** Column indices before which a separating line is drawn (e.g. where text positions start). */
  colBreaks?: number[];
  /** Columns from this index on are drawn wide enough for a label each (tokens after many audio frames). */
  wideFrom?: number;
}

/**
 * An attention heat map: white (0) to dark blue (the map's maximum), row and column labels (every label
 * when they fit, else evenly spaced ones), a colour bar.
 */
export function heatmapSvg(h: HeatmapSpec): string {
  const rows = h.values.length;
  const cols = rows > 0 ? h.values[0].length : 0;
  // Cells as large as fit in ~1000 x 700 px; up to 60 rows / 80 columns tall/wide enough to label each one.
  const wide = h.wideFrom !== undefined ? cols - h.wideFrom : 0;
  let cw = Math.max(2, Math.min(28, Math.floor((1000 - 12 * wide) / Math.max(cols - wide, 1))));
  let ch = Math.max(2, Math.min(28, Math.floor(700 / Math.max(rows, 1))));
  if (rows <= 60) ch = Math.max(ch, 12);
  if (cols <= 80) cw = Math.max(cw, 12);
  // Left edge of each column (and of the end).
  const xs: number[] = [0];
  for (let j = 0; j < cols; j++) xs.push(xs[j] + (h.wideFrom !== undefined && j >= h.wideFrom ? Math.max(cw, 12) : cw));
  const gridW = xs[cols];
  const rowLabelW = Math.min(220, Math.max(40, 6 * Math.max(0, ...h.rowLabels.map((l) => l.length)) + 8));
  const colLabelH = Math.min(160, Math.max(40, 5.5 * Math.max(0, ...h.colLabels.map((l) => l.length)) + 16));
  const left = rowLabelW + 30;
  const top = 64;
  // Wide enough for the title and note over a narrow grid (a short utterance, a pooled store's one position).
  const w = Math.max(left + gridW + 90, Math.ceil(7.2 * h.title.length) + 40, Math.ceil(5.6 * (h.note?.length ?? 0)) + 40);
  const hgt = top + rows * ch + colLabelH + 30;
  const max = Math.max(1e-12, ...h.values.flat());
  const shade = (v: number) => {
    const t = Math.max(0, Math.min(1, v / max));
    return `rgb(${Math.round(255 - 230 * t)},${Math.round(255 - 200 * t)},${Math.round(255 - 90 * t)})`;
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${hgt}" viewBox="0 0 ${w} ${hgt}" ${FONT}>`,
    `<rect width="${w}" height="${hgt}" fill="white"/>`,
    `<text x="${w / 2}" y="22" font-size="14" text-anchor="middle">${esc(h.title)}</text>`,
  ];
  if (h.note) parts.push(`<text x="${w / 2}" y="40" font-size="11" text-anchor="middle" fill="#444">${esc(h.note)}</text>`);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      parts.push(`<rect x="${left + xs[j]}" y="${top + i * ch}" width="${xs[j + 1] - xs[j]}" height="${ch}" fill="${shade(h.values[i][j])}"/>`);
  parts.push(`<rect x="${left}" y="${top}" width="${gridW}" height="${rows * ch}" fill="none" stroke="#666"/>`);
  for (const b of h.colBreaks ?? [])
    parts.push(`<line x1="${left + xs[b]}" y1="${top - 4}" x2="${left + xs[b]}" y2="${top + rows * ch + 4}" stroke="#d62728" stroke-width="1.5"/>`);
  // Label every position when a label fits (12 px), else every k-th.
  const rs = Math.max(1, Math.ceil(12 / ch));
  for (let i = 0; i < rows; i += rs)
    parts.push(`<text x="${left - 4}" y="${top + i * ch + ch / 2 + 4}" font-size="10" text-anchor="end">${esc(h.rowLabels[i] ?? "")}</text>`);
  let lastX = -Infinity;
  // Wide columns (tokens after frames) are each labelled: thinned labels before them stop 12 px short of the first.
  const wideX = h.wideFrom !== undefined && h.wideFrom < cols ? left + (xs[h.wideFrom] + xs[h.wideFrom + 1]) / 2 : Infinity;
  for (let j = 0; j < cols; j++) {
    const x = left + (xs[j] + xs[j + 1]) / 2;
    const wideCol = h.wideFrom !== undefined && j >= h.wideFrom;
    if (!wideCol && (x - lastX < 12 || wideX - x < 12)) continue;
    lastX = x;
    const y = top + rows * ch + 6;
    parts.push(`<text x="${x}" y="${y}" font-size="10" text-anchor="end" transform="rotate(-60 ${x} ${y})">${esc(h.colLabels[j] ?? "")}</text>`);
  }
  parts.push(`<text x="14" y="${top + (rows * ch) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${top + (rows * ch) / 2})">${esc(h.rowTitle)}</text>`);
  parts.push(`<text x="${left + gridW / 2}" y="${hgt - 8}" font-size="12" text-anchor="middle">${esc(h.colTitle)}</text>`);
  // Colour bar.
  const bx = left + gridW + 24;
  const bh = Math.max(60, rows * ch);
  for (let k = 0; k < 20; k++)
    parts.push(`<rect x="${bx}" y="${top + (bh * (19 - k)) / 20}" width="14" height="${bh / 20 + 0.5}" fill="${shade(((k + 0.5) / 20) * max)}"/>`);
  parts.push(`<rect x="${bx}" y="${top}" width="14" height="${bh}" fill="none" stroke="#666"/>`);
  parts.push(`<text x="${bx + 18}" y="${top + 8}" font-size="10">${max.toFixed(3)}</text>`);
  parts.push(`<text x="${bx + 18}" y="${top + bh}" font-size="10">0</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
