/**
 * Choosing encoder layers at training time (`emofeat train --layers`), from layer stores whose meta.json lists
 * the Hugging Face `hidden_states` indices they hold (0 = the input of the first transformer layer).
 *
 *   all          every layer the store holds (the default)
 *   last         the store's last layer
 *   0,4-8,12     these hidden-state indices, in this order; a range (inclusive) takes the layers the store
 *                holds within it, so 3-9 on a store of every third layer is 3,6,9
 */
import { EmofeatError } from "../errors.js";

/** `items`: single indices [i, i] and inclusive ranges [a, b], in the order given. */
export type LayerChoice = { kind: "all" } | { kind: "last" } | { kind: "list"; items: [number, number][] };

export function parseLayerChoice(text: string): LayerChoice {
  const t = text.trim();
  if (t === "all") return { kind: "all" };
  if (t === "last") return { kind: "last" };
  const items: [number, number][] = [];
  for (const part of t.split(",").map((p) => p.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new EmofeatError(`--layers "${text}": "${part}" is not a layer index or range; use all, last, or a list such as 0,4-8,12`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new EmofeatError(`--layers "${text}": the range "${part}" runs backwards`);
    const overlap = items.find(([x, y]) => a <= y && x <= b);
    if (overlap) throw new EmofeatError(`--layers "${text}": layer ${Math.max(a, overlap[0])} is listed twice`);
    items.push([a, b]);
  }
  return { kind: "list", items };
}

/** The spec of exactly these layers. */
export function layerList(layers: readonly number[]): LayerChoice {
  return { kind: "list", items: layers.map((l) => [l, l]) };
}

export function formatLayers(layers: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < layers.length; ) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j++;
    parts.push(j - i >= 2 ? `${layers[i]}-${layers[j]}` : layers.slice(i, j + 1).join(","));
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * The hidden-state indices `spec` picks from a store holding `available`, and their positions along the
 * store's layer axis. Asking for a layer the store does not hold is an error naming what it holds.
 */
export function chooseLayers(spec: LayerChoice, available: readonly number[], store: string): { layers: number[]; positions: number[] } {
  if (available.length === 0) throw new EmofeatError(`feature store "${store}": meta.json lists no layers`);
  let layers: number[];
  const missing: number[] = [];
  if (spec.kind === "all") layers = [...available];
  else if (spec.kind === "last") layers = [available[available.length - 1]];
  else {
    layers = [];
    for (const [a, b] of spec.items) {
      const held = a === b ? [a] : available.filter((l) => l >= a && l <= b);
      if (a === b && !available.includes(a)) missing.push(a);
      if (held.length === 0) throw new EmofeatError(`--layers: feature store "${store}" holds no layer within ${a}-${b} (it holds hidden states ${formatLayers(available)})`);
      layers.push(...held.filter((l) => available.includes(l)));
    }
  }
  if (missing.length > 0)
    throw new EmofeatError(
      `--layers: feature store "${store}" does not hold layer${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ` +
        `(it holds hidden states ${formatLayers(available)}; extract with --layers to keep others)`,
    );
  return { layers, positions: layers.map((l) => available.indexOf(l)) };
}

/** Rows `src` of a row-major [n, l, d] array ([n, d] when l = 1), keeping the layer positions `positions`. */
export function gatherRows(a: Float32Array, src: ArrayLike<number>, d: number, l: number, positions: readonly number[]): Float32Array {
  const w = positions.length * d;
  const out = new Float32Array(src.length * w);
  for (let r = 0; r < src.length; r++) {
    const i = src[r];
    positions.forEach((p, j) => out.set(a.subarray((i * l + p) * d, (i * l + p + 1) * d), r * w + j * d));
  }
  return out;
}
