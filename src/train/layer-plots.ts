/**
 * Plots over encoder layers: the learned weights of a weighted-layers head (bars), and the test scores of
 * one probe per layer (lines with +- std bars). Hand-written SVG like plots.ts (same fonts, axis steps).
 */
import { esc, FONT, niceStep } from "./plots.js";

interface Axis {
  lo: number;
  hi: number;
  step: number;
  decimals: number;
}

function axis(lo: number, hi: number, ticks = 5): Axis {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep((hi - lo) / ticks);
  const a = Math.floor(lo / step + 1e-9) * step;
  const b = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (step / 10 ** Math.floor(Math.log10(step) + 1e-9) === 2.5 ? 1 : 0));
  return { lo: a, hi: b, step, decimals };
}

/** Frame, horizontal grid lines and y labels of a panel; returns the y scale. */
function frame(parts: string[], ox: number, oy: number, pw: number, ph: number, ax: Axis, yLabel: string, pct: boolean): (v: number) => number {
  const sy = (v: number) => oy + ph - ((v - ax.lo) / (ax.hi - ax.lo)) * ph;
  parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  for (let v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step) {
    const y = sy(v).toFixed(1);
    const label = pct ? (100 * v).toFixed(Math.max(0, ax.decimals - 2)) : v.toFixed(ax.decimals);
    parts.push(`<line x1="${ox}" y1="${y}" x2="${ox + pw}" y2="${y}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${ox - 6}" y="${Number(y) + 4}" font-size="11" text-anchor="end">${label}</text>`);
  }
  const cy = oy + ph / 2;
  parts.push(`<text x="${ox - 44}" y="${cy}" font-size="12" text-anchor="middle" transform="rotate(-90 ${ox - 44} ${cy})">${esc(yLabel)}</text>`);
  return sy;
}

/** One slot per layer; at least 600 px wide so the titles fit, the plot area centred when the layers are few. */
function layout(n: number, slotMin: number, slotMax: number, span: number, ph: number, m: { l: number; r: number; t: number; b: number }) {
  const slot = Math.max(slotMin, Math.min(slotMax, Math.floor(span / n)));
  const pw = slot * n;
  const width = Math.max(m.l + pw + m.r, 600);
  return { slot, pw, ph, width, height: m.t + ph + m.b, m: { ...m, l: m.l + Math.floor((width - (m.l + pw + m.r)) / 2) } };
}

function errorBar(parts: string[], x: number, y0: number, y1: number, color: string): void {
  if (Math.abs(y1 - y0) < 0.5) return;
  parts.push(
    `<line x1="${x.toFixed(1)}" y1="${y0.toFixed(1)}" x2="${x.toFixed(1)}" y2="${y1.toFixed(1)}" stroke="${color}" stroke-width="1.2"/>`,
    `<line x1="${(x - 4).toFixed(1)}" y1="${y0.toFixed(1)}" x2="${(x + 4).toFixed(1)}" y2="${y0.toFixed(1)}" stroke="${color}" stroke-width="1.2"/>`,
    `<line x1="${(x - 4).toFixed(1)}" y1="${y1.toFixed(1)}" x2="${(x + 4).toFixed(1)}" y2="${y1.toFixed(1)}" stroke="${color}" stroke-width="1.2"/>`,
  );
}

/** Bars of the softmax-normalised layer weights (mean +- std over trainings), the equal start weight dashed. */
export function layerWeightsSvg(w: { layers: number[]; mean: number[]; std: number[] }, title: string, trainings: number): string {
  const n = w.layers.length;
  const { slot, pw, ph, width, height, m } = layout(n, 22, 56, 640, 260, { l: 70, r: 24, t: 64, b: 76 });
  const equal = 1 / n;
  const top = Math.max(equal, ...w.mean.map((v, i) => v + w.std[i]));
  const ax = axis(0, top * 1.08);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" font-size="15" text-anchor="middle">${esc(title)}</text>`,
    `<text x="${width / 2}" y="44" font-size="11" text-anchor="middle" fill="#555">${esc(
      `softmax weights, ${trainings > 1 ? `mean ± std over ${trainings} trainings (seeds × folds)` : "one training"}; dashed: the equal start, 1/${n}`,
    )}</text>`,
  ];
  const sy = frame(parts, m.l, m.t, pw, ph, ax, "layer weight", false);
  w.layers.forEach((layer, i) => {
    const x = m.l + i * slot;
    const y = sy(w.mean[i]);
    const above = w.mean[i] >= equal;
    parts.push(`<rect x="${(x + slot * 0.15).toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(sy(0) - y).toFixed(1)}" fill="${above ? "#1f77b4" : "#9ecae1"}"/>`);
    if (trainings > 1) errorBar(parts, x + slot / 2, sy(Math.max(0, w.mean[i] - w.std[i])), sy(w.mean[i] + w.std[i]), "#333");
    parts.push(`<text x="${x + slot / 2}" y="${m.t + ph + 16}" font-size="11" text-anchor="middle">${layer}</text>`);
  });
  parts.push(`<line x1="${m.l}" y1="${sy(equal).toFixed(1)}" x2="${m.l + pw}" y2="${sy(equal).toFixed(1)}" stroke="#d62728" stroke-dasharray="5,4"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 36}" font-size="12" text-anchor="middle">encoder layer (hidden_states index; 0 = input of the first transformer layer)</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

export interface LayerScores {
  layer: number;
  test: { accuracy: number; unweighted_accuracy: number; macro_f1: number };
  test_std: { accuracy: number; unweighted_accuracy: number; macro_f1: number };
}

/** Test accuracy, UA and macro-F1 of one probe per layer, mean +- std over seeds; the selected layer marked. */
export function perLayerSvg(entries: LayerScores[], title: string, o: { seeds: number; best?: number; chance?: number; subtitle?: string }): string {
  const n = entries.length;
  const { slot, pw, ph, width, height, m } = layout(n, 30, 64, 680, 280, { l: 76, r: 24, t: 64, b: 96 });
  const series = [
    { key: "accuracy", label: "accuracy (WA)", color: "#2ca02c", dash: "" },
    { key: "unweighted_accuracy", label: "UA", color: "#9467bd", dash: "6,3" },
    { key: "macro_f1", label: "macro-F1", color: "#ff7f0e", dash: "2,3" },
  ] as const;
  const vals = entries.flatMap((e) => series.flatMap((s) => [e.test[s.key] - e.test_std[s.key], e.test[s.key] + e.test_std[s.key]]));
  if (o.chance !== undefined) vals.push(o.chance);
  const lo = Math.max(0, Math.min(...vals));
  const hi = Math.min(1, Math.max(...vals));
  const pad = Math.max(0.02, (hi - lo) * 0.08);
  const ax = axis(Math.max(0, lo - pad), Math.min(1, hi + pad));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" font-size="15" text-anchor="middle">${esc(title)}</text>`,
    `<text x="${width / 2}" y="44" font-size="11" text-anchor="middle" fill="#555">${esc(
      o.subtitle ?? `test scores of one probe per layer, ${o.seeds > 1 ? `mean ± std over ${o.seeds} seeds` : "one seed"}`,
    )}</text>`,
  ];
  const sy = frame(parts, m.l, m.t, pw, ph, ax, "test score (%)", true);
  const sx = (i: number) => m.l + i * slot + slot / 2;
  if (o.best !== undefined) {
    const i = entries.findIndex((e) => e.layer === o.best);
    if (i >= 0) parts.push(`<rect x="${m.l + i * slot}" y="${m.t}" width="${slot}" height="${ph}" fill="#fff3bf"/>`);
  }
  if (o.chance !== undefined && o.chance >= ax.lo && o.chance <= ax.hi)
    parts.push(`<line x1="${m.l}" y1="${sy(o.chance).toFixed(1)}" x2="${m.l + pw}" y2="${sy(o.chance).toFixed(1)}" stroke="#999" stroke-dasharray="1,3" stroke-width="1.5"/>`);
  series.forEach((s, k) => {
    // Small horizontal offsets keep the three error bars of a layer apart.
    const off = (k - 1) * Math.min(6, slot * 0.12);
    const pts = entries.map((e, i) => `${(sx(i) + off).toFixed(1)},${sy(e.test[s.key]).toFixed(1)}`);
    if (n > 1) parts.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    entries.forEach((e, i) => {
      const x = sx(i) + off;
      // Scores live in [0, 1]: a wide spread is cut at the panel's edges instead of running over the labels.
      const lo = Math.max(ax.lo, e.test[s.key] - e.test_std[s.key]);
      const hi = Math.min(ax.hi, e.test[s.key] + e.test_std[s.key]);
      if (o.seeds > 1) errorBar(parts, x, sy(lo), sy(hi), s.color);
      parts.push(`<circle cx="${x.toFixed(1)}" cy="${sy(e.test[s.key]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    });
  });
  entries.forEach((e, i) => parts.push(`<text x="${sx(i)}" y="${m.t + ph + 16}" font-size="11" text-anchor="middle">${e.layer}</text>`));
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 34}" font-size="12" text-anchor="middle">encoder layer (hidden_states index)</text>`);
  const ly = m.t + ph + 60;
  let lx = 24;
  for (const s of series) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    parts.push(`<text x="${lx + 26}" y="${ly}" font-size="11">${esc(s.label)}</text>`);
    lx += 40 + 7 * s.label.length;
  }
  const notes: string[] = [];
  if (o.best !== undefined) notes.push(`shaded: layer ${o.best}, best validation macro-F1`);
  if (o.chance !== undefined) notes.push(`dotted: chance UA 1/C`);
  if (notes.length > 0) parts.push(`<text x="24" y="${ly + 20}" font-size="11" fill="#555">${esc(notes.join("; "))}</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
