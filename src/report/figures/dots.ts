/**
 * Strip plot: one row per category (a run, a class), each value a dot, with the quartile box and the mean.
 * Used for the spread of test scores over seeds and for per-utterance gate values (beta) per class.
 */
import { esc, legendRow, niceAxis, svgOpen, xGrid } from "../../train/plots.js";
import { percentile } from "../stats.js";
import { groupStyle, marker, markers } from "./scatter.js";

export interface DotSeries {
  label: string;
  /** Per row: the values. */
  values: number[][];
}

export interface DotPlot {
  title: string;
  rows: string[];
  series: DotSeries[];
  xLabel: string;
  xRange?: [number, number];
  /** Draw the quartile box (for distributions with many values). */
  box?: boolean;
  /** At most this many dots per row and series (an evenly spaced subset of the sorted values; the box and mean use all). */
  maxDots?: number;
}

/** A deterministic jitter in [-1, 1] from an index (no random source, so the figure is reproducible). */
function jitter(i: number): number {
  const x = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}

export function dotPlotSvg(p: DotPlot): string {
  const labelW = Math.min(260, Math.max(60, 7 * Math.max(...p.rows.map((r) => r.length), 1) + 12));
  const rowH = (p.box ? 40 : 24) + (p.series.length > 1 ? 8 * (p.series.length - 1) : 0);
  const pw = 440;
  const m = { l: labelW + 10, r: 24, t: 40, b: 48 + (p.series.length > 1 ? 20 : 0) };
  const ph = Math.max(rowH, p.rows.length * rowH);
  const w = m.l + pw + m.r;
  const h = m.t + ph + m.b;
  const all = p.series.flatMap((s) => s.values.flat()).filter(Number.isFinite);
  const ax = p.xRange ? niceAxis(p.xRange[0], p.xRange[1], { fixedLo: true, fixedHi: true }) : niceAxis(Math.min(...all), Math.max(...all));
  const sx = (v: number) => m.l + ((v - ax.lo) / (ax.hi - ax.lo)) * pw;
  const parts = svgOpen(w, h, p.title);
  parts.push(...xGrid(ax, m.t, ph, sx));
  const many = all.length > 400;
  p.rows.forEach((row, r) => {
    const cy = m.t + r * rowH + rowH / 2;
    if (r % 2 === 1) parts.push(`<rect x="${m.l}" y="${m.t + r * rowH}" width="${pw}" height="${rowH}" fill="#f4f4f4"/>`);
    parts.push(`<text x="${m.l - 6}" y="${cy + 4}" font-size="11" text-anchor="end">${esc(row)}</text>`);
    p.series.forEach((s, k) => {
      const vals = (s.values[r] ?? []).filter(Number.isFinite);
      if (vals.length === 0) return;
      const st = groupStyle(k);
      const off = p.series.length > 1 ? (k - (p.series.length - 1) / 2) * (rowH / (p.series.length + 0.5)) : 0;
      const y = cy + off;
      const spread = p.series.length > 1 ? rowH / (2.6 * p.series.length) : rowH / 4;
      if (p.box && vals.length >= 4) {
        const [q1, q2, q3] = [25, 50, 75].map((q) => percentile(vals, q));
        const bh = spread * 1.6;
        parts.push(
          `<rect x="${sx(q1).toFixed(1)}" y="${(y - bh / 2).toFixed(1)}" width="${(sx(q3) - sx(q1)).toFixed(1)}" height="${bh.toFixed(1)}" fill="none" stroke="#333"/>`,
          `<line x1="${sx(q2).toFixed(1)}" y1="${(y - bh / 2).toFixed(1)}" x2="${sx(q2).toFixed(1)}" y2="${(y + bh / 2).toFixed(1)}" stroke="#333" stroke-width="2"/>`,
        );
      }
      const max = p.maxDots ?? Infinity;
      const sorted = vals.length > max ? [...vals].sort((a, b) => a - b) : vals;
      const drawn = vals.length > max ? Array.from({ length: max }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (max - 1))]) : vals;
      const pts = drawn.map((v, i) => [sx(v), y + jitter(i + 31 * r + 7 * k) * spread * 0.7] as [number, number]);
      parts.push(markers(st.shape, pts, many ? 1.6 : 3.2, st.color, many ? 0.35 : 0.85));
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      parts.push(`<path d="M${sx(mean).toFixed(1)} ${(y - spread - 3).toFixed(1)}V${(y + spread + 3).toFixed(1)}" stroke="#000" stroke-width="2"><title>${esc(`${row} ${s.label}: mean ${mean.toFixed(4)} (n=${vals.length})`)}</title></path>`);
    });
  });
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" font-size="11" text-anchor="middle">${esc(p.xLabel)}</text>`);
  if (p.series.length > 1)
    parts.push(
      ...legendRow(
        p.series.map((s, k) => ({ label: s.label, color: groupStyle(k).color, marker: marker(groupStyle(k).shape, m.l + k * 110 + 6, h - 14, 4, groupStyle(k).color) })),
        m.l,
        h - 10,
        110,
      ),
    );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
