/** Histogram of one quantity (clip durations, text lengths), with an optional marked threshold (the cut, --max-len). */
import { esc, niceAxis, niceStep, PALETTE, svgOpen, xGrid, yGrid } from "../../train/plots.js";

export interface Histogram {
  title: string;
  values: readonly number[];
  xLabel: string;
  /** A vertical line, e.g. { at: 10, label: "cut at 10 s" }. */
  mark?: { at: number; label: string };
  /** Integer-valued data (token counts): bins on whole numbers. */
  integer?: boolean;
}

export function histogramBins(values: readonly number[], integer = false, target = 30): { lo: number; width: number; counts: number[] } {
  const lo0 = Math.min(0, ...values);
  const hi0 = Math.max(...values, lo0 + 1e-9);
  let width = niceStep((hi0 - lo0) / target);
  if (integer) width = Math.max(1, Math.ceil(width));
  const lo = Math.floor(lo0 / width) * width;
  const bins = Math.max(1, Math.floor((hi0 - lo) / width + 1e-9) + 1);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width + 1e-9)))]++;
  return { lo, width, counts };
}

export function histogramSvg(hst: Histogram): string {
  const pw = 460;
  const ph = 200;
  const m = { l: 58, r: 24, t: 46, b: 52 };
  const w = m.l + pw + m.r;
  const h = m.t + ph + m.b;
  const { lo, width, counts } = histogramBins(hst.values, hst.integer);
  const hiX = Math.max(lo + counts.length * width, hst.mark ? hst.mark.at : -Infinity);
  const ax = niceAxis(lo, hiX, { fixedLo: true });
  const ay = niceAxis(0, Math.max(1, ...counts), { fixedLo: true });
  const sx = (v: number) => m.l + ((v - ax.lo) / (ax.hi - ax.lo)) * pw;
  const sy = (v: number) => m.t + ph - (v / ay.hi) * ph;
  const parts = svgOpen(w, h, hst.title);
  parts.push(...yGrid(ay, m.l, pw, sy), ...xGrid(ax, m.t, ph, sx));
  counts.forEach((c, i) => {
    if (c === 0) return;
    const x0 = sx(lo + i * width);
    const x1 = sx(lo + (i + 1) * width);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${sy(c).toFixed(1)}" width="${Math.max(0.5, x1 - x0 - 0.5).toFixed(1)}" height="${(sy(0) - sy(c)).toFixed(1)}" fill="${PALETTE[0]}"><title>${esc(`[${fmtNum(lo + i * width)}, ${fmtNum(lo + (i + 1) * width)}): ${c}`)}</title></rect>`,
    );
  });
  if (hst.mark) {
    const x = sx(hst.mark.at);
    parts.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + ph}" stroke="${PALETTE[3]}" stroke-width="1.5" stroke-dasharray="5,3"/>`);
    parts.push(`<text x="${x}" y="${m.t - 4}" font-size="10" text-anchor="middle" fill="${PALETTE[3]}">${esc(hst.mark.label)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 34}" font-size="11" text-anchor="middle">${esc(hst.xLabel)}</text>`);
  parts.push(`<text x="16" y="${m.t + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">count</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function fmtNum(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, "");
}
