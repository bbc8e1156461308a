/**
 * Choosing encoder layers at training time (`emofeat train --layers`), from layer stores whose meta.json lists
 * the Hugging Face `hidden_states` indices they hold (0 = the input of the first transformer layer).
 *
 *   all          every layer the store holds (the default)
 *   last         the store's last layer
 *   0,4-8,12     these hidden-state indices, in this order; ranges are inclusive
 */
import { EmofeatError } from "../errors.js";

export type LayerSpec = { kind: "all" } | { kind: "last" } | { kind: "list"; layers: number[] };

export function parseLayerSpec(text: string): LayerSpec {
  const t = text.trim();
  if (t === "all") return { kind: "all" };
  if (t === "last") return { kind: "last" };
  const layers: number[] = [];
  for (const part of t.split(",").map((p) => p.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new EmofeatError(`--layers "${text}": "${part}" is not a layer index or range; use all, last, or a list such as 0,4-8,12`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new EmofeatError(`--layers "${text}": the range "${part}" runs backwards`);
    for (let i = a; i <= b; i++) layers.push(i);
  }
  const dup = layers.find((l, i) => layers.indexOf(l) !== i);
  if (dup !== undefined) throw new EmofeatError(`--layers "${text}": layer ${dup} is listed twice`);
  return { kind: "list", layers };
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
export function resolveLayers(spec: LayerSpec, available: readonly number[], store: string): { layers: number[]; positions: number[] } {
  if (available.length === 0) throw new EmofeatError(`feature store "${store}": meta.json lists no layers`);
  const layers = spec.kind === "all" ? [...available] : spec.kind === "last" ? [available[available.length - 1]] : spec.layers;
  const missing = layers.filter((l) => !available.includes(l));
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
