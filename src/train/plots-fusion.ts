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
