/**
 * SVG plots for a run: the confusion matrix and the training curves, and the shared look (font, palette,
 * axes) that the report's figures (src/report/figures/) build on.
 *
 * Hand-written SVG: a few fixed chart types with a handful of elements each; a charting library (vega, d3 +
 * jsdom) would add megabytes of dependencies for them. Output is deterministic text (no timestamps or random
 * ids), so runs can be diffed. PNG copies are rendered from the same SVG when @resvg/resvg-js loads.
 */
import type { EpochRecord } from "./engine.js";

export const FONT = `font-family="DejaVu Sans, Arial, Helvetica, sans-serif"`;

/**
 * Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, vermillion, reddish purple, sky blue,
 * yellow, black), in an order whose first colours stay distinct in grey print too.
 */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"] as const;

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function fmt(x: number, digits = 1): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

/** The opening of a figure: the svg element, a white background and the title. */
export function svgOpen(w: number, h: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT}>`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="22" font-size="15" text-anchor="middle">${esc(title)}</text>`,
  ];
}

export interface ConfusionInfo {
  /** Rows tested (per seed). */
  n?: number;
  /** Headline test metrics (fractions). */
  metrics?: { accuracy: number; unweighted_accuracy: number; macro_f1: number };
  /** How the matrix was combined, e.g. "summed over 5 folds; metrics are means over folds". */
  note?: string;
}

/** Cell colour for a row-normalised rate in [0, 1] (white to blue), shared by the cells and the colour scale. */
function rateColor(rate: number): string {
  const shade = Math.round(255 - rate * 200);
  return `rgb(${shade},${shade},255)`;
}

/**
 * Rows = true class, columns = predicted; cells shaded by the row-normalised rate (the colour scale on the right),
 * labelled with count and %. The title carries n and the headline metrics; `note` says how folds/seeds combine.
 */
export function confusionSvg(confusion: number[][], labels: readonly string[], title: string, info: ConfusionInfo = {}): string {
  const c = labels.length;
  const cell = Math.max(44, Math.min(90, Math.floor(520 / Math.max(c, 1))));
  const labelW = Math.max(70, 8 * Math.max(...labels.map((l) => l.length)) + 16);
  const headline = [
    info.n !== undefined ? `n = ${fmt(info.n)}` : null,
    info.metrics
      ? `acc ${(100 * info.metrics.accuracy).toFixed(2)} · UA ${(100 * info.metrics.unweighted_accuracy).toFixed(2)} · macro-F1 ${(100 * info.metrics.macro_f1).toFixed(2)}`
      : null,
  ].filter(Boolean);
  const lines = [headline.length > 0 ? headline.join(" · ") : null, ...(info.note ? info.note.split("; ") : [])].filter((l): l is string => l !== null);
  const top = 64 + 16 * lines.length;
  const block = labelW + 28 + c * cell + 28 + 60; // labels, matrix, colour scale
  // Text wider than the matrix widens the picture; the matrix is then centred under it.
  const w = Math.round(Math.max(block + 24, 7.2 * Math.max(title.length, ...lines.map((l) => l.length * 0.85)) + 40));
  const left = Math.round((w - block) / 2) + labelW + 28;
  const scaleX = left + c * cell + 28;
  const h = top + c * cell + Math.round(labelW * 0.75) + 24;
  const parts: string[] = [
    ...svgOpen(w, h, title),
    ...lines.map((l, i) => `<text x="${w / 2}" y="${44 + 16 * i}" font-size="12" text-anchor="middle" fill="#333">${esc(l)}</text>`),
    `<text x="${left + (c * cell) / 2}" y="${top - 14}" font-size="12" text-anchor="middle">predicted</text>`,
    `<text x="${left - labelW - 14}" y="${top + (c * cell) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${left - labelW - 14} ${top + (c * cell) / 2})">true</text>`,
  ];
  for (let i = 0; i < c; i++) {
    const rowSum = confusion[i].reduce((a, b) => a + b, 0);
    for (let j = 0; j < c; j++) {
      const v = confusion[i][j];
      const rate = rowSum > 0 ? v / rowSum : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      const ink = rate > 0.55 ? "white" : "black";
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${rateColor(rate)}" stroke="#999" stroke-width="0.5"/>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 - 2}" font-size="13" text-anchor="middle" fill="${ink}">${fmt(v)}</text>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 14}" font-size="10" text-anchor="middle" fill="${ink}">${(rate * 100).toFixed(1)}%</text>`,
      );
    }
    parts.push(`<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" font-size="12" text-anchor="end">${esc(labels[i])}</text>`);
  }
  for (let j = 0; j < c; j++) {
    const x = left + j * cell + cell / 2;
    const y = top + c * cell + 8;
    parts.push(`<text x="${x}" y="${y}" font-size="12" text-anchor="end" transform="rotate(-45 ${x} ${y})">${esc(labels[j])}</text>`);
  }
  // Colour scale: the share of the true class's rows (each row sums to 100 %).
  const sh = c * cell;
  const steps = 20;
  for (let k = 0; k < steps; k++) {
    const rate = 1 - (k + 0.5) / steps;
    parts.push(`<rect x="${scaleX}" y="${(top + (k * sh) / steps).toFixed(1)}" width="14" height="${(sh / steps + 0.5).toFixed(1)}" fill="${rateColor(rate)}"/>`);
  }
  parts.push(`<rect x="${scaleX}" y="${top}" width="14" height="${sh}" fill="none" stroke="#999" stroke-width="0.5"/>`);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + (1 - v) * sh;
    parts.push(`<line x1="${scaleX + 14}" y1="${y}" x2="${scaleX + 18}" y2="${y}" stroke="#444"/>`);
    parts.push(`<text x="${scaleX + 21}" y="${y + 4}" font-size="10">${v * 100}%</text>`);
  }
  parts.push(`<text x="${scaleX + 7}" y="${top - 6}" font-size="10" text-anchor="middle">row %</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export interface CurveSeries {
  /** e.g. "seed 0" or "seed 0 / Session1". */
  name: string;
  epochs: EpochRecord[];
  selectedEpoch: number;
}

interface Line {
  key: keyof EpochRecord;
  label: string;
  color: string;
  /** SVG stroke-dasharray ("" = solid): series that coincide stay distinguishable. */
  dash: string;
  marker: "circle" | "square" | "triangle";
}

interface Panel {
  title: string;
  lines: Line[];
  yMin?: number;
  yMax?: number;
}

/** Above this many seed x fold series, each metric is drawn as its mean with a min-max band. */
export const BAND_ABOVE = 3;

function marker(kind: Line["marker"], x: number, y: number, color: string, size = 3): string {
  if (kind === "circle") return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${size}" fill="white" stroke="${color}" stroke-width="1.3"/>`;
  if (kind === "square")
    return `<rect x="${(x - size).toFixed(1)}" y="${(y - size).toFixed(1)}" width="${2 * size}" height="${2 * size}" fill="white" stroke="${color}" stroke-width="1.3"/>`;
  const s = size * 1.25;
  return `<polygon points="${x.toFixed(1)},${(y - s).toFixed(1)} ${(x - s).toFixed(1)},${(y + s * 0.8).toFixed(1)} ${(x + s).toFixed(1)},${(y + s * 0.8).toFixed(1)}" fill="white" stroke="${color}" stroke-width="1.3"/>`;
}

/** Integer epoch ticks: 1, then multiples of a 1/2/5 x 10^k step, at most about 10 of them. */
export function epochTicks(maxEpoch: number): number[] {
  let step = 1;
  for (const k of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000]) {
    step = k;
    if (maxEpoch / k <= 10) break;
  }
  const ticks = [1];
  for (let e = step; e <= maxEpoch; e += step) if (e !== 1) ticks.push(e);
  return ticks;
}

/**
 * Loss (train, val) and validation metrics per epoch. Each metric has its own colour, dash and marker, so lines
 * that coincide stay visible. One or a few seed x fold series are drawn as they are, with the tested epoch
 * marked; many are drawn as their mean with a min-max band, and the tested epochs as marks along the top.
 */
export function curvesSvg(series: CurveSeries[], title: string): string {
  const panels: Panel[] = [
    {
      title: "loss",
      lines: [
        { key: "train_loss", label: "train loss", color: PALETTE[0], dash: "", marker: "circle" },
        { key: "val_loss", label: "val loss", color: PALETTE[3], dash: "6,3", marker: "square" },
      ],
    },
    {
      title: "validation",
      lines: [
        { key: "val_accuracy", label: "val accuracy", color: PALETTE[2], dash: "", marker: "circle" },
        { key: "val_unweighted_accuracy", label: "val UA", color: PALETTE[4], dash: "6,3", marker: "square" },
        { key: "val_macro_f1", label: "val macro-F1", color: PALETTE[1], dash: "2,2", marker: "triangle" },
      ],
      yMin: 0,
      yMax: 1,
    },
  ];
  const pw = 420;
  const ph = 260;
  const margin = { l: 56, r: 16, t: 56, b: 100 };
  const w = panels.length * (pw + margin.l + margin.r);
  const h = ph + margin.t + margin.b;
  const maxEpoch = Math.max(1, ...series.flatMap((s) => s.epochs.map((e) => e.epoch)));
  const banded = series.length > BAND_ABOVE;
  const markers = maxEpoch <= 30;
  const alpha = series.length > 1 ? 0.6 : 1;
  const parts: string[] = svgOpen(w, h, title);
  if (banded)
    parts.push(`<text x="${w / 2}" y="38" font-size="11" text-anchor="middle" fill="#333">lines: mean over ${series.length} runs (seeds x folds); bands: min to max</text>`);
  // Per metric and epoch: the values of every series (for means and bands).
  const valuesAt = (key: keyof EpochRecord) => {
    const out = new Map<number, number[]>();
    for (const s of series)
      for (const e of s.epochs) {
        const v = e[key] as number;
        if (Number.isFinite(v)) out.set(e.epoch, [...(out.get(e.epoch) ?? []), v]);
      }
    return [...out.entries()].sort((a, b) => a[0] - b[0]);
  };
  panels.forEach((p, k) => {
    const ox = k * (pw + margin.l + margin.r) + margin.l;
    const oy = margin.t;
    const values = series.flatMap((s) => s.epochs.flatMap((e) => p.lines.map((l) => e[l.key] as number))).filter(Number.isFinite);
    const axis = niceAxis(p.yMin ?? Math.min(...values, 0), p.yMax ?? Math.max(...values, 1e-9), { fixedLo: p.yMin !== undefined, fixedHi: p.yMax !== undefined });
    const { lo, hi } = axis;
    // Half an epoch of room on both sides: the first and last epochs (often the tested one) are off the frame.
    const sx = (e: number) => ox + ((e - 0.5) / maxEpoch) * pw;
    const sy = (v: number) => oy + ph - ((v - lo) / (hi - lo)) * ph;
    parts.push(`<text x="${ox + pw / 2}" y="${oy - 10}" font-size="13" text-anchor="middle">${esc(p.title)}</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    parts.push(...yGrid(axis, ox, pw, sy));
    for (const e of epochTicks(maxEpoch)) {
      parts.push(`<line x1="${sx(e)}" y1="${oy + ph}" x2="${sx(e)}" y2="${oy + ph + 4}" stroke="#444"/>`);
      parts.push(`<text x="${sx(e)}" y="${oy + ph + 16}" font-size="10" text-anchor="middle">${e}</text>`);
    }
    parts.push(`<text x="${ox + pw / 2}" y="${oy + ph + 32}" font-size="11" text-anchor="middle">epoch</text>`);
    const pts = (xs: [number, number][]) => xs.map(([e, v]) => `${sx(e).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
    for (const l of p.lines) {
      const dash = l.dash ? ` stroke-dasharray="${l.dash}"` : "";
      if (banded) {
        const at = valuesAt(l.key);
        if (at.length === 0) continue;
        const upper = at.map(([e, vs]) => [e, Math.max(...vs)] as [number, number]);
        const lower = at.map(([e, vs]) => [e, Math.min(...vs)] as [number, number]).reverse();
        parts.push(`<polygon points="${pts([...upper, ...lower])}" fill="${l.color}" fill-opacity="0.15" stroke="none"/>`);
        const mean = at.map(([e, vs]) => [e, vs.reduce((a, b) => a + b, 0) / vs.length] as [number, number]);
        parts.push(`<polyline points="${pts(mean)}" fill="none" stroke="${l.color}" stroke-width="2"${dash}/>`);
        if (markers) for (const [e, v] of mean) parts.push(marker(l.marker, sx(e), sy(v), l.color));
        continue;
      }
      for (const s of series) {
        const xs = s.epochs.filter((e) => Number.isFinite(e[l.key] as number)).map((e) => [e.epoch, e[l.key] as number] as [number, number]);
        if (xs.length > 1) parts.push(`<polyline points="${pts(xs)}" fill="none" stroke="${l.color}" stroke-width="1.6" stroke-opacity="${alpha}"${dash}/>`);
        if (markers || xs.length === 1) for (const [e, v] of xs) parts.push(marker(l.marker, sx(e), sy(v), l.color, 2.5));
      }
    }
    if (k === 1) {
      // The tested checkpoint: a dashed line and a filled mark on macro-F1 per series, or, when banded, marks
      // along the top edge counting how many runs tested each epoch.
      const tested = new Map<number, number>();
      for (const s of series) if (s.selectedEpoch > 0) tested.set(s.selectedEpoch, (tested.get(s.selectedEpoch) ?? 0) + 1);
      if (banded) {
        for (const [e, count] of tested) {
          const x = sx(e);
          parts.push(`<polygon points="${x - 5},${oy + 1} ${x + 5},${oy + 1} ${x},${oy + 9}" fill="#222"/>`);
          if (count > 1) parts.push(`<text x="${x}" y="${oy + 20}" font-size="9" text-anchor="middle">${count}</text>`);
        }
      } else
        for (const s of series) {
          if (s.selectedEpoch <= 0) continue;
          const x = sx(s.selectedEpoch);
          parts.push(`<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + ph}" stroke="#222" stroke-width="1.2" stroke-dasharray="4,3" stroke-opacity="${alpha}"/>`);
          const rec = s.epochs.find((e) => e.epoch === s.selectedEpoch);
          if (rec && Number.isFinite(rec.val_macro_f1))
            parts.push(`<circle cx="${x.toFixed(1)}" cy="${sy(rec.val_macro_f1).toFixed(1)}" r="4.5" fill="#222" stroke="white" stroke-width="1"/>`);
        }
      const what = banded
        ? "tested epochs (number of runs)"
        : `tested checkpoint${series.length === 1 ? ` (epoch ${series[0].selectedEpoch})` : "s"}`;
      const ly = oy + ph + 80;
      if (banded) parts.push(`<polygon points="${ox},${ly - 9} ${ox + 10},${ly - 9} ${ox + 5},${ly - 1}" fill="#222"/>`);
      else
        parts.push(
          `<line x1="${ox}" y1="${ly - 4}" x2="${ox + 26}" y2="${ly - 4}" stroke="#222" stroke-width="1.2" stroke-dasharray="4,3"/>`,
          `<circle cx="${ox + 13}" cy="${ly - 4}" r="4" fill="#222"/>`,
        );
      parts.push(`<text x="${ox + 31}" y="${ly}" font-size="11">${esc(what)}</text>`);
    }
    p.lines.forEach((l, i) => {
      const lx = ox + i * 140;
      const ly = oy + ph + 60;
      parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 26}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""}/>`);
      if (markers) parts.push(marker(l.marker, lx + 13, ly - 4, l.color));
      parts.push(`<text x="${lx + 31}" y="${ly}" font-size="11">${esc(l.label)}</text>`);
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export interface Axis {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
  /** Decimals that print every tick exactly. */
  decimals: number;
}

/**
 * An axis from lo to hi with about `steps` intervals of 1/2/2.5/5 x 10^k; ends that are not fixed are rounded
 * out to a tick, so the labels are readable numbers.
 */
export function niceAxis(lo: number, hi: number, o: { fixedLo?: boolean; fixedHi?: boolean; steps?: number } = {}): Axis {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = niceStep((hi - lo) / (o.steps ?? 4));
  if (!o.fixedLo) lo = Math.floor(lo / step + 1e-9) * step;
  if (!o.fixedHi) hi = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (step / 10 ** Math.floor(Math.log10(step) + 1e-9) === 2.5 ? 1 : 0));
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-6; v += step) ticks.push(Number(v.toFixed(decimals + 2)));
  return { lo, hi, step, ticks, decimals };
}

/** Horizontal grid lines and labels of a vertical axis; `sy` maps a value to a y pixel. */
export function yGrid(axis: Axis, ox: number, pw: number, sy: (v: number) => number): string[] {
  return axis.ticks.flatMap((v) => {
    const y = sy(v);
    return [
      `<line x1="${ox}" y1="${y}" x2="${ox + pw}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${ox - 6}" y="${y + 4}" font-size="10" text-anchor="end">${v.toFixed(axis.decimals)}</text>`,
    ];
  });
}

/** Vertical grid lines and labels of a horizontal axis; `sx` maps a value to an x pixel. */
export function xGrid(axis: Axis, oy: number, ph: number, sx: (v: number) => number): string[] {
  return axis.ticks.flatMap((v) => {
    const x = sx(v);
    return [
      `<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + ph}" stroke="#ddd"/>`,
      `<text x="${x}" y="${oy + ph + 14}" font-size="10" text-anchor="middle">${v.toFixed(axis.decimals)}</text>`,
    ];
  });
}

/** Legend entries in a row from (x, y): a swatch (line or marker) and a label each; returns the parts. */
export function legendRow(items: { label: string; color: string; marker?: string }[], x: number, y: number, gap = 135): string[] {
  return items.flatMap((it, i) => {
    const lx = x + i * gap;
    const swatch = it.marker ?? `<line x1="${lx}" y1="${y - 4}" x2="${lx + 18}" y2="${y - 4}" stroke="${it.color}" stroke-width="2"/>`;
    return [swatch, `<text x="${lx + 22}" y="${y}" font-size="11">${esc(it.label)}</text>`];
  });
}

/** The smallest of 1, 2, 2.5, 5 x 10^k that is >= raw. */
export function niceStep(raw: number): number {
  const k = Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * 10 ** k >= raw * (1 - 1e-9)) return m * 10 ** k;
  return 10 ** (k + 1);
}

/** PNG from SVG with @resvg/resvg-js when it is installed and loads; null otherwise (SVG stays the record). */
export async function renderPng(svg: string): Promise<Uint8Array | null> {
  try {
    const { Resvg } = await import("@resvg/resvg-js");
    const r = new Resvg(svg, { background: "white", font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } });
    return r.render().asPng();
  } catch {
    return null;
  }
}
