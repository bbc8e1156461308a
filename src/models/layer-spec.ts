/**
 * `--layers`: which of Hugging Face's hidden_states an extraction keeps. `last` (the default) is the encoder's
 * last_hidden_state as before (a 2-D store); `all` is 0..L; a list such as `0,4-8,12` keeps those indices,
 * ranges inclusive, sorted and without repeats. Index 0 is the input of the first transformer layer.
 */
import { EmofeatError, UsageError } from "../errors.js";

/** What the user asked for: "last", "all", a list such as "0,4-8,12", or the indices themselves. */
export type LayerSpec = string | readonly number[];

export const LAYERS_HELP =
  "hidden states to keep: last (the final layer, as before: [N, D]), all (0..L), or a list such as 0,4-8,12 " +
  "(Hugging Face output_hidden_states indices: 0 = the input of the first transformer layer, i = the output of layer i; " +
  "the store becomes [N, layers, D])";

/** Checks the syntax without knowing the model (for the CLI, before anything is loaded). */
export function checkLayerSpec(spec: LayerSpec): void {
  if (typeof spec !== "string") return;
  const s = spec.trim();
  if (s === "last" || s === "all") return;
  for (const part of s.split(",")) {
    if (!/^\s*\d+\s*(-\s*\d+\s*)?$/.test(part))
      throw new UsageError(`--layers "${spec}": expected last, all, or a list of layer indices and ranges such as 0,4-8,12 (bad part "${part}")`);
    // A backwards range is a mistake in the option itself (a usage error at parse time, as train's --layers).
    const [a, b] = part.split("-").map((x) => Number(x.trim()));
    if (b !== undefined && b < a) throw new UsageError(`--layers "${spec}": range ${part.trim()} runs backwards`);
  }
}

/**
 * The hidden_states indices to keep for a model with `numLayers` transformer layers, or null for `last`
 * (the plain last_hidden_state, no layer axis).
 */
export function resolveLayers(spec: LayerSpec | undefined, numLayers: number, model: string): number[] | null {
  if (spec === undefined) return null;
  let out: number[];
  if (typeof spec === "string") {
    checkLayerSpec(spec);
    const s = spec.trim();
    if (s === "last") return null;
    if (!Number.isInteger(numLayers) || numLayers < 1)
      throw new EmofeatError(`${model}: config.json has no valid num_hidden_layers, needed for --layers ${spec}`);
    if (s === "all") return Array.from({ length: numLayers + 1 }, (_, i) => i);
    out = [];
    for (const part of s.split(",")) {
      const [a, b] = part.split("-").map((x) => Number(x.trim()));
      const hi = b ?? a;
      for (let i = a; i <= hi; i++) out.push(i);
    }
  } else out = [...spec];
  const bad = out.filter((i) => !Number.isInteger(i) || i < 0 || i > numLayers);
  // A bad option value for this model (exit 1, as --max-len beyond the model's positions).
  if (bad.length > 0)
    throw new UsageError(
      `--layers: ${bad.join(", ")} out of range; ${model} has ${numLayers} layers, so hidden_states indices run 0..${numLayers}`,
    );
  return [...new Set(out)].sort((x, y) => x - y);
}
