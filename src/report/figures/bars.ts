/**
 * Grouped bar chart: categories along x (classes, layers), one bar per series in each group (precision /
 * recall / F1, or one series of layer weights), optional error bars (+- std). Same look as the run plots.
 */
import { esc, legendRow, niceAxis, PALETTE, svgOpen, yGrid } from "../../train/plots.js";

export interface BarSeries {
  label: string;
  values: number[];
  /** Half-length of the error bar per category (e.g. std over seeds); absent or NaN = none. */
  errors?: number[];
}

export interface BarChart {
  title: string;
  categories: string[];
  series: BarSeries[];
  yLabel: string;
  xLabel?: string;
  /** Fixed axis range (e.g. [0, 1] for rates); otherwise from the data (and 0). */
  yRange?: [number, number];
  /** Label the bars with their values (fraction digits). */
  valueLabels?: number;
}

export function barChartSvg(c: BarChart): string {
  const groups = c.categories.length;
  const per = c.series.length;
  const barW = Math.max(4, Math.min(26, Math.floor(560 / Math.max(1, groups * per))));
  const groupW = barW * per + Math.max(6, barW);
  const pw = Math.max(260, groups * groupW);
  const ph = 220;
  const longest = Math.max(...c.categories.map((s) => s.length), 1);
  const rotate = groups * 7 * longest > pw;
  const m = { l: 60, r: 20, t: 46, b: (rotate ? 40 + Math.min(90, 6 * longest) : 34) + (c.xLabel ? 18 : 0) };
  const w = m.l + pw + m.r;
  const h = m.t + ph + m.b + (per > 1 ? 22 : 0);
  const tops = c.series.flatMap((s) => s.values.map((v, i) => v + (Number.isFinite(s.errors?.[i]) ? s.errors![i] : 0))).filter(Number.isFinite);
  const axis = c.yRange
    ? niceAxis(c.yRange[0], c.yRange[1], { fixedLo: true, fixedHi: true })
    : niceAxis(Math.min(0, ...tops), Math.max(...tops, 1e-9), { fixedLo: Math.min(0, ...tops) === 0 });
  const sy = (v: number) => m.t + ph - ((v - axis.lo) / (axis.hi - axis.lo)) * ph;
  const parts = svgOpen(w, h, c.title);
  parts.push(...yGrid(axis, m.l, pw, sy));
  parts.push(`<text x="16" y="${m.t + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">${esc(c.yLabel)}</text>`);
  const gx = (g: number) => m.l + (pw - groups * groupW) / 2 + g * groupW + (groupW - barW * per) / 2;
  c.categories.forEach((cat, g) => {
    c.series.forEach((s, k) => {
      const v = s.values[g];
      if (!Number.isFinite(v)) return;
      const x = gx(g) + k * barW;
      const y0 = sy(Math.max(axis.lo, 0));
      const y1 = sy(v);
      const color = PALETTE[k % PALETTE.length];
      parts.push(`<rect x="${x}" y="${Math.min(y0, y1).toFixed(1)}" width="${barW - 1}" height="${Math.abs(y0 - y1).toFixed(1)}" fill="${color}"><title>${esc(`${cat} ${s.label}: ${v.toFixed(4)}`)}</title></rect>`);
      const e = s.errors?.[g];
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        const cx = x + (barW - 1) / 2;
        // Clipped to the axis (a rate's mean + std can pass 1); a clipped end has no cap.
        const lo = Math.max(axis.lo, v - e);
        const hi = Math.min(axis.hi, v + e);
        const caps = (lo === v - e ? `M${cx - 3} ${sy(lo).toFixed(1)}h6` : "") + (hi === v + e ? `M${cx - 3} ${sy(hi).toFixed(1)}h6` : "");
        parts.push(`<path d="M${cx} ${sy(lo).toFixed(1)}V${sy(hi).toFixed(1)}${caps}" stroke="#222" fill="none"/>`);
      }
      if (c.valueLabels !== undefined && barW >= 14)
        parts.push(`<text x="${x + barW / 2}" y="${(y1 - 3).toFixed(1)}" font-size="8" text-anchor="middle">${v.toFixed(c.valueLabels)}</text>`);
    });
    const cx = gx(g) + (barW * per) / 2;
    const ly = m.t + ph + 14;
    parts.push(
      rotate
        ? `<text x="${cx}" y="${ly}" font-size="11" text-anchor="end" transform="rotate(-45 ${cx} ${ly})">${esc(cat)}</text>`
        : `<text x="${cx}" y="${ly}" font-size="11" text-anchor="middle">${esc(cat)}</text>`,
    );
  });
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  if (c.xLabel) parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + m.b - 8}" font-size="11" text-anchor="middle">${esc(c.xLabel)}</text>`);
  if (per > 1)
    parts.push(
      ...legendRow(
        c.series.map((s, k) => ({
          label: s.label,
          color: PALETTE[k % PALETTE.length],
          marker: `<rect x="${m.l + k * 110 + 4}" y="${h - 20}" width="12" height="10" fill="${PALETTE[k % PALETTE.length]}"/>`,
        })),
        m.l,
        h - 10,
        110,
      ),
    );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
