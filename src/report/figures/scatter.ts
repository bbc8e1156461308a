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

const f1 = (v: number) => v.toFixed(1);

/** Path data of one marker (filled shapes) or of its strokes (plus, cross); `r` is the half-size. */
export function markerPath(shape: number, x: number, y: number, r: number): { d: string; stroked: boolean } {
  const s = SHAPES[shape % SHAPES.length];
  switch (s) {
    case "circle":
      return { d: `M${f1(x - r)} ${f1(y)}a${r} ${r} 0 1 0 ${f1(2 * r)} 0a${r} ${r} 0 1 0 ${f1(-2 * r)} 0Z`, stroked: false };
    case "square":
      return { d: `M${f1(x - r * 0.9)} ${f1(y - r * 0.9)}h${f1(1.8 * r)}v${f1(1.8 * r)}h${f1(-1.8 * r)}Z`, stroked: false };
    case "triangle":
      return { d: `M${f1(x)} ${f1(y - r * 1.1)}L${f1(x + r)} ${f1(y + r * 0.8)}H${f1(x - r)}Z`, stroked: false };
    case "down":
      return { d: `M${f1(x)} ${f1(y + r * 1.1)}L${f1(x + r)} ${f1(y - r * 0.8)}H${f1(x - r)}Z`, stroked: false };
    case "diamond":
      return { d: `M${f1(x)} ${f1(y - r * 1.2)}L${f1(x + r)} ${f1(y)}L${f1(x)} ${f1(y + r * 1.2)}L${f1(x - r)} ${f1(y)}Z`, stroked: false };
    case "plus":
      return { d: `M${f1(x - r)} ${f1(y)}H${f1(x + r)}M${f1(x)} ${f1(y - r)}V${f1(y + r)}`, stroked: true };
    case "cross":
      return { d: `M${f1(x - r)} ${f1(y - r)}L${f1(x + r)} ${f1(y + r)}M${f1(x - r)} ${f1(y + r)}L${f1(x + r)} ${f1(y - r)}`, stroked: true };
    default: {
      const pts = [
        [0, -1.2], [0.4, -0.3], [1.2, -0.3], [0.55, 0.3], [0.8, 1.2], [0, 0.65], [-0.8, 1.2], [-0.55, 0.3], [-1.2, -0.3], [-0.4, -0.3],
      ];
      return { d: pts.map(([a, b], i) => `${i ? "L" : "M"}${f1(x + a * r)} ${f1(y + b * r)}`).join("") + "Z", stroked: false };
    }
  }
}

/**
 * Many markers of one group as a single path element: thousands of points stay one DOM node, so a page
 * with several projections opens fast.
 */
export function markers(shape: number, points: [number, number][], r: number, color: string, opacity = 1, title?: string): string {
  if (points.length === 0) return "";
  const parts = points.map(([x, y]) => markerPath(shape, x, y, r));
  const d = parts.map((p) => p.d).join("");
  const tip = title ? `<title>${esc(title)}</title>` : "";
  return parts[0].stroked
    ? `<path d="${d}" fill="none" stroke="${color}" stroke-opacity="${opacity}" stroke-width="1.6">${tip}</path>`
    : `<path d="${d}" fill="${color}" fill-opacity="${opacity}">${tip}</path>`;
}

/** One marker (legends). */
export function marker(shape: number, x: number, y: number, r: number, color: string, opacity = 1): string {
  return markers(shape, [[x, y]], r, color, opacity);
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
      const pts: [number, number][] = [];
      for (let i = 0; i < n; i++) if (p.group[i] === c && Number.isFinite(xy[i * 2]) && Number.isFinite(xy[i * 2 + 1])) pts.push([sx(xy[i * 2]), sy(xy[i * 2 + 1])]);
      parts.push(markers(st.shape, pts, r, st.color, opacity, `${p.categories[c]}: ${pts.length} point(s)`));
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
