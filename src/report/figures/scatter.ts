/**
 * Scatter plots of a 2-D projection, one panel per colouring (by label, by split). Each group has its own
 * colour and marker shape, so the groups stay apart for colour-blind readers and in grey print.
 */
import { esc, niceAxis, PALETTE, svgOpen, xGrid, yGrid } from "../../train/plots.js";

export interface ScatterPanel {
  title: string;
  categories: string[];
  /** Per point: index into categories. */
  group: ArrayLike<number>;
}

const SHAPES = ["circle", "square", "triangle", "diamond", "down", "plus", "cross", "star"] as const;

/** One marker; `r` is the half-size. */
export function marker(shape: number, x: number, y: number, r: number, color: string, opacity = 1): string {
  const s = SHAPES[shape % SHAPES.length];
  const f = `fill="${color}" fill-opacity="${opacity}"`;
  const X = x.toFixed(1);
  const Y = y.toFixed(1);
  switch (s) {
    case "circle":
      return `<circle cx="${X}" cy="${Y}" r="${r}" ${f}/>`;
    case "square":
      return `<rect x="${(x - r * 0.9).toFixed(1)}" y="${(y - r * 0.9).toFixed(1)}" width="${(1.8 * r).toFixed(1)}" height="${(1.8 * r).toFixed(1)}" ${f}/>`;
    case "triangle":
      return `<path d="M${X} ${(y - r * 1.1).toFixed(1)}L${(x + r).toFixed(1)} ${(y + r * 0.8).toFixed(1)}H${(x - r).toFixed(1)}Z" ${f}/>`;
    case "down":
      return `<path d="M${X} ${(y + r * 1.1).toFixed(1)}L${(x + r).toFixed(1)} ${(y - r * 0.8).toFixed(1)}H${(x - r).toFixed(1)}Z" ${f}/>`;
    case "diamond":
      return `<path d="M${X} ${(y - r * 1.2).toFixed(1)}L${(x + r).toFixed(1)} ${Y}L${X} ${(y + r * 1.2).toFixed(1)}L${(x - r).toFixed(1)} ${Y}Z" ${f}/>`;
    case "plus":
      return `<path d="M${(x - r).toFixed(1)} ${Y}H${(x + r).toFixed(1)}M${X} ${(y - r).toFixed(1)}V${(y + r).toFixed(1)}" stroke="${color}" stroke-opacity="${opacity}" stroke-width="1.6"/>`;
    case "cross":
      return `<path d="M${(x - r).toFixed(1)} ${(y - r).toFixed(1)}L${(x + r).toFixed(1)} ${(y + r).toFixed(1)}M${(x - r).toFixed(1)} ${(y + r).toFixed(1)}L${(x + r).toFixed(1)} ${(y - r).toFixed(1)}" stroke="${color}" stroke-opacity="${opacity}" stroke-width="1.6"/>`;
    default:
      return `<path d="M${X} ${(y - r * 1.2).toFixed(1)}L${(x + r * 0.4).toFixed(1)} ${(y - r * 0.3).toFixed(1)}L${(x + r * 1.2).toFixed(1)} ${(y - r * 0.3).toFixed(1)}L${(x + r * 0.55).toFixed(1)} ${(y + r * 0.3).toFixed(1)}L${(x + r * 0.8).toFixed(1)} ${(y + r * 1.2).toFixed(1)}L${X} ${(y + r * 0.65).toFixed(1)}L${(x - r * 0.8).toFixed(1)} ${(y + r * 1.2).toFixed(1)}L${(x - r * 0.55).toFixed(1)} ${(y + r * 0.3).toFixed(1)}L${(x - r * 1.2).toFixed(1)} ${(y - r * 0.3).toFixed(1)}L${(x - r * 0.4).toFixed(1)} ${(y - r * 0.3).toFixed(1)}Z" ${f}/>`;
  }
}

/** Colour and shape of group k (colour cycles through the palette, shape through the markers, offset so pairs repeat late). */
export function groupStyle(k: number): { color: string; shape: number } {
  return { color: PALETTE[k % PALETTE.length], shape: (k + Math.floor(k / PALETTE.length)) % SHAPES.length };
}

export function scatterSvg(title: string, xy: Float64Array, panels: ScatterPanel[], axes: [string, string]): string {
  const n = xy.length / 2;
  const pw = 320;
  const ph = 320;
  const legendW = 130;
  const m = { l: 50, t: 56, b: 46 };
  const cellW = m.l + pw + legendW;
  const w = panels.length * cellW + 10;
  const maxCats = Math.max(...panels.map((p) => p.categories.length));
  const h = m.t + Math.max(ph, maxCats * 16 + 10) + m.b;
  let xs: number[] = [];
  let ys: number[] = [];
  for (let i = 0; i < n; i++) {
    xs.push(xy[i * 2]);
    ys.push(xy[i * 2 + 1]);
  }
  xs = xs.filter(Number.isFinite);
  ys = ys.filter(Number.isFinite);
  const ax = niceAxis(Math.min(...xs), Math.max(...xs));
  const ay = niceAxis(Math.min(...ys), Math.max(...ys));
  const r = n > 1500 ? 2 : n > 400 ? 2.6 : 3.4;
  const opacity = n > 1500 ? 0.55 : 0.75;
  const parts = svgOpen(w, h, title);
  panels.forEach((p, k) => {
    const ox = k * cellW + m.l;
    const oy = m.t;
    const sx = (v: number) => ox + ((v - ax.lo) / (ax.hi - ax.lo)) * pw;
    const sy = (v: number) => oy + ph - ((v - ay.lo) / (ay.hi - ay.lo)) * ph;
    parts.push(`<text x="${ox + pw / 2}" y="${oy - 10}" font-size="13" text-anchor="middle">${esc(p.title)}</text>`);
    parts.push(...yGrid(ay, ox, pw, sy), ...xGrid(ax, oy, ph, sx));
    parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
    parts.push(`<text x="${ox + pw / 2}" y="${oy + ph + 32}" font-size="11" text-anchor="middle">${esc(axes[0])}</text>`);
    parts.push(`<text x="${ox - 36}" y="${oy + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${ox - 36} ${oy + ph / 2})">${esc(axes[1])}</text>`);
    // Larger groups first, so small classes are drawn on top and stay visible.
    const counts = p.categories.map(() => 0);
    for (let i = 0; i < n; i++) counts[p.group[i]]++;
    const order = p.categories.map((_, c) => c).sort((a, b) => counts[b] - counts[a] || a - b);
    for (const c of order) {
      const st = groupStyle(c);
      const pts: string[] = [];
      for (let i = 0; i < n; i++)
        if (p.group[i] === c && Number.isFinite(xy[i * 2]) && Number.isFinite(xy[i * 2 + 1])) pts.push(marker(st.shape, sx(xy[i * 2]), sy(xy[i * 2 + 1]), r, st.color, opacity));
      if (pts.length > 0) parts.push(`<g>${pts.join("")}</g>`);
    }
    p.categories.forEach((cat, c) => {
      const st = groupStyle(c);
      const ly = oy + 10 + c * 16;
      const lx = ox + pw + 14;
      parts.push(marker(st.shape, lx + 4, ly - 4, 4, st.color), `<text x="${lx + 14}" y="${ly}" font-size="11">${esc(cat)} (${counts[c]})</text>`);
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
