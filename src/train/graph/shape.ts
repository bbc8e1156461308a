/** Static shapes with symbolic dimensions (a string such as "N" stands for a size known only at run time). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export function shapeToString(s: Shape): string {
  return `[${s.join(", ")}]`;
}

/** numpy broadcasting; symbolic dims broadcast only against 1 or the same symbol. */
export function broadcastShapes(a: Shape, b: Shape, op: string): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast`);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function staticSize(s: Shape, what: string): number {
  let n = 1;
  for (const d of s) {
    if (typeof d !== "number") throw new Error(`${what}: dimension "${d}" must be static here`);
    n *= d;
  }
  return n;
}

/**
 * The run-time size of a dimension: a number, a symbol from `sizes`, or a symbol made by concatenation
 * ("a+b") or flattening ("a*b") of known ones.
 */
export function resolveDim(d: Dim, sizes: ReadonlyMap<string, number>): number {
  if (typeof d === "number") return d;
  // A static part of a combined symbol ("1+T_text": a pooled store's one position beside a sequence's).
  if (/^\d+$/.test(d)) return Number(d);
  const known = sizes.get(d);
  if (known !== undefined) return known;
  if (d.includes("+")) return d.split("+").reduce((a, p) => a + resolveDim(p, sizes), 0);
  if (d.includes("*")) return d.split("*").reduce((a, p) => a * resolveDim(p, sizes), 1);
  throw new Error(`no run-time size for dimension "${d}"`);
}
