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

/** Rows = true class, columns = predicted; cells shaded by the row-normalised rate, labelled with count and %. */
export function confusionSvg(confusion: number[][], labels: readonly string[], title: string): string {
  const c = labels.length;
  const cell = Math.max(44, Math.min(90, Math.floor(520 / Math.max(c, 1))));
  const labelW = Math.max(70, 8 * Math.max(...labels.map((l) => l.length)) + 16);
  const left = labelW + 28;
  const top = 64;
  const w = left + c * cell + 24;
  const h = top + c * cell + Math.round(labelW * 0.75) + 24;
  const parts: string[] = [
    ...svgOpen(w, h, title),
    `<text x="${left + (c * cell) / 2}" y="50" font-size="12" text-anchor="middle">predicted</text>`,
    `<text x="14" y="${top + (c * cell) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${top + (c * cell) / 2})">true</text>`,
  ];
  for (let i = 0; i < c; i++) {
    const rowSum = confusion[i].reduce((a, b) => a + b, 0);
    for (let j = 0; j < c; j++) {
      const v = confusion[i][j];
      const rate = rowSum > 0 ? v / rowSum : 0;
      const shade = Math.round(255 - rate * 200);
      const x = left + j * cell;
      const y = top + i * cell;
      const ink = rate > 0.55 ? "white" : "black";
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)" stroke="#999" stroke-width="0.5"/>`,
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
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export interface CurveSeries {
  /** e.g. "seed 0" or "seed 0 / Session1". */
  name: string;
  epochs: EpochRecord[];
  selectedEpoch: number;
}

interface Panel {
  title: string;
  lines: { key: keyof EpochRecord; label: string; color: string }[];
  yMin?: number;
  yMax?: number;
}

/** Loss (train, val) and validation metrics per epoch; every seed/fold is drawn, the selected epoch marked. */
export function curvesSvg(series: CurveSeries[], title: string): string {
  const panels: Panel[] = [
    {
      title: "loss",
      lines: [
        { key: "train_loss", label: "train loss", color: PALETTE[0] },
        { key: "val_loss", label: "val loss", color: PALETTE[3] },
      ],
    },
    {
      title: "validation",
      lines: [
        { key: "val_accuracy", label: "val accuracy", color: PALETTE[2] },
        { key: "val_unweighted_accuracy", label: "val UA", color: PALETTE[4] },
        { key: "val_macro_f1", label: "val macro-F1", color: PALETTE[1] },
      ],
      yMin: 0,
      yMax: 1,
    },
  ];
  const pw = 420;
  const ph = 260;
  const margin = { l: 56, r: 16, t: 56, b: 70 };
  const w = panels.length * (pw + margin.l + margin.r);
  const h = ph + margin.t + margin.b;
  const maxEpoch = Math.max(1, ...series.flatMap((s) => s.epochs.map((e) => e.epoch)));
  const alpha = series.length > 1 ? 0.55 : 1;
  const parts: string[] = svgOpen(w, h, title);
  panels.forEach((p, k) => {
    const ox = k * (pw + margin.l + margin.r) + margin.l;
    const oy = margin.t;
    const values = series.flatMap((s) => s.epochs.flatMap((e) => p.lines.map((l) => e[l.key] as number))).filter(Number.isFinite);
    const axis = niceAxis(p.yMin ?? Math.min(...values, 0), p.yMax ?? Math.max(...values, 1e-9), { fixedLo: p.yMin !== undefined, fixedHi: p.yMax !== undefined });
    const { lo, hi } = axis;
    const sx = (e: number) => ox + (maxEpoch === 1 ? pw / 2 : ((e - 1) / (maxEpoch - 1)) * pw);
    const sy = (v: number) => oy + ph - ((v - lo) / (hi - lo)) * ph;
    parts.push(`<text x="${ox + pw / 2}" y="${oy - 10}" font-size="13" text-anchor="middle">${esc(p.title)}</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    parts.push(...yGrid(axis, ox, pw, sy));
    const ticks = Math.min(maxEpoch, 10);
    for (let t = 0; t < ticks; t++) {
      const e = ticks === 1 ? 1 : Math.round(1 + ((maxEpoch - 1) * t) / (ticks - 1));
      parts.push(`<text x="${sx(e)}" y="${oy + ph + 16}" font-size="10" text-anchor="middle">${e}</text>`);
    }
    parts.push(`<text x="${ox + pw / 2}" y="${oy + ph + 34}" font-size="11" text-anchor="middle">epoch</text>`);
    for (const s of series) {
      for (const l of p.lines) {
        const pts = s.epochs.filter((e) => Number.isFinite(e[l.key] as number)).map((e) => `${sx(e.epoch).toFixed(1)},${sy(e[l.key] as number).toFixed(1)}`);
        if (pts.length > 1) parts.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${l.color}" stroke-width="1.5" stroke-opacity="${alpha}"/>`);
        else if (pts.length === 1) {
          const [x, y] = pts[0].split(",");
          parts.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${l.color}"/>`);
        }
      }
      if (k === 1 && s.selectedEpoch > 0)
        parts.push(`<line x1="${sx(s.selectedEpoch)}" y1="${oy}" x2="${sx(s.selectedEpoch)}" y2="${oy + ph}" stroke="#555" stroke-dasharray="3,3" stroke-opacity="${alpha}"/>`);
    }
    parts.push(...legendRow(p.lines, ox, oy + ph + 54));
    if (k === 1) parts.push(`<text x="${ox + pw}" y="${oy - 10}" font-size="10" text-anchor="end">dashed: tested checkpoint</text>`);
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
