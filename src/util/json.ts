/** JSON with object keys sorted at every level, so equal settings always give the same text (and hash). */
export function canonicalJson(v: unknown): string {
  const sort = (x: unknown): unknown =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x as object).sort().map((k) => [k, sort((x as Record<string, unknown>)[k])]))
      : x;
  return JSON.stringify(sort(v));
}
