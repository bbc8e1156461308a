/**
 * Every encoder layer from the ONNX file itself: Hugging Face's `output_hidden_states` tensors are found in the
 * exported graph by the module paths that torch.onnx (and so Hugging Face Optimum, which made the Xenova/*
 * files) writes into node names, and are added as graph outputs `hidden_states.<i>`. The edited model is
 * cached beside the original (keyed by the original's sha256; external data files are shared by relative
 * path), so nothing is ever exported again. onnxruntime cannot return intermediate tensors otherwise, and
 * transformers.js has no `output_hidden_states` for encoders: no library does this, hence the code here.
 *
 * Semantics (Hugging Face's): index 0 = the input of the first transformer layer, index i = the output of
 * layer i. Which tensor that is depends on the layer type:
 *   post-LN text  (BERT, RoBERTa):        0 = exit of `embeddings/LayerNorm`, i = exit of `encoder/layer.{i-1}/output/LayerNorm`
 *   post-LN speech (WavLM/HuBERT/wav2vec2 Base): 0 = exit of `encoder/layer_norm`, i = exit of `encoder/layers.{i-1}/final_layer_norm`
 *   pre-LN speech (do_stable_layer_norm, the Large checkpoints): 0 = the input of `encoder/layers.0/layer_norm`,
 *     i < L = the layer's last residual Add (`encoder/layers.{i-1}/Add_k`), and L = exit of the final
 *     `encoder/layer_norm`: as in Hugging Face, the last entry has the encoder's final LayerNorm applied.
 * A scope's "exit" is the one tensor its nodes compute that something outside the scope consumes (or that is a
 * graph output); this holds whether LayerNorm was exported as one LayerNormalization node or decomposed.
 */
import { copyFile, mkdir, readFile, realpath, rename } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { env } from "../env.js";
import { decodeModelView, encodeGraphAppendix, ONNX_DTYPE_NAMES, type OnnxGraphView, type OnnxNodeView } from "../train/onnx/proto.js";
import { exists, writeFileAtomic } from "../util/fs.js";

/** Bumped whenever the rules below change, so that cached files made by older rules are not reused. */
export const HIDDEN_STATES_RULES_VERSION = 1;

export type HiddenStatesRule = "post-ln-text" | "post-ln-speech" | "pre-ln-speech";

export interface HiddenStatesPlan {
  /** Transformer layers (config num_hidden_layers); hidden_states has numLayers + 1 entries. */
  numLayers: number;
  rule: HiddenStatesRule;
  /** Graph tensor of every hidden_states index, 0..numLayers. */
  tensors: string[];
  /** Module path prefix in front of `encoder/` (empty for a plain Optimum export). */
  prefix: string;
}

export function hiddenStateOutput(i: number): string {
  return `hidden_states.${i}`;
}

const RULE_TEXT: Record<HiddenStatesRule, string> = {
  "post-ln-text": "post-LN (BERT-style): 0 = embeddings LayerNorm, i = layer i-1's output LayerNorm",
  "post-ln-speech": "post-LN (wav2vec2-style Base): 0 = encoder LayerNorm after the positional convolution, i = layer i-1's final_layer_norm",
  "pre-ln-speech":
    "pre-LN (stable layer norm, Large): 0 = after the positional convolution, i < L = layer i-1's last residual Add, L = the encoder's final LayerNorm",
};

export function describeRule(rule: HiddenStatesRule): string {
  return RULE_TEXT[rule];
}

class Graph {
  readonly producer = new Map<string, OnnxNodeView>();
  readonly consumers = new Map<string, OnnxNodeView[]>();
  readonly graphOutputs: Set<string>;
  /** Node scope = its name without the last path element ("/encoder/layers.0/final_layer_norm/Add_1" -> "/encoder/layers.0/final_layer_norm"). */
  readonly byScope = new Map<string, OnnxNodeView[]>();

  constructor(readonly view: OnnxGraphView) {
    this.graphOutputs = new Set(view.outputs.map((o) => o.name));
    for (const n of view.nodes) {
      for (const o of n.outputs) if (o) this.producer.set(o, n);
      for (const i of n.inputs) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
      const slash = n.name.lastIndexOf("/");
      if (slash > 0) {
        const scope = n.name.slice(0, slash);
        this.byScope.set(scope, [...(this.byScope.get(scope) ?? []), n]);
      }
    }
  }

  /** Nodes whose scope is `scope` or lies below it. */
  nodesUnder(scope: string): OnnxNodeView[] {
    const out: OnnxNodeView[] = [];
    for (const [s, nodes] of this.byScope) if (s === scope || s.startsWith(scope + "/")) out.push(...nodes);
    return out;
  }

  /** Tensors computed inside the scope and used outside it (or graph outputs). */
  exits(scope: string): string[] {
    const inside = new Set(this.nodesUnder(scope));
    const out: string[] = [];
    for (const n of inside)
      for (const t of n.outputs) {
        if (!t) continue;
        const usedOutside = (this.consumers.get(t) ?? []).some((c) => !inside.has(c));
        if (usedOutside || this.graphOutputs.has(t)) out.push(t);
      }
    return out;
  }

  /** Activations the scope consumes from outside (not weights, graph inputs or constants). */
  entries(scope: string): string[] {
    const inside = new Set(this.nodesUnder(scope));
    const out = new Set<string>();
    for (const n of inside)
      for (const t of n.inputs) {
        const p = t ? this.producer.get(t) : undefined;
        if (p && !inside.has(p) && p.opType !== "Constant") out.add(t);
      }
    return [...out];
  }
}

interface Found {
  prefix: string;
  indices: Set<number>;
}

/** Scopes like `<prefix>encoder/layer.3/output/LayerNorm`, grouped by prefix. */
function findLayerScopes(g: Graph, pattern: RegExp): Found | null {
  const byPrefix = new Map<string, Set<number>>();
  for (const scope of g.byScope.keys()) {
    const m = pattern.exec(scope);
    if (!m) continue;
    const prefix = m[1] ?? "";
    byPrefix.set(prefix, (byPrefix.get(prefix) ?? new Set()).add(Number(m[2])));
  }
  let best: Found | null = null;
  for (const [prefix, indices] of byPrefix) if (!best || indices.size > best.indices.size) best = { prefix, indices };
  return best;
}

function onlyOne(what: string, list: string[], model: string): string {
  if (list.length === 1) return list[0];
  throw new EmofeatError(
    `${model}: cannot take the hidden states from the ONNX graph: ${what} has ${list.length} candidate tensors` +
      (list.length ? ` (${list.slice(0, 4).join(", ")})` : "") +
      `, expected exactly one`,
  );
}

/**
 * Finds the tensor of every hidden_states index. `model` names the model in messages; `stableLayerNorm` is the
 * config's do_stable_layer_norm (pre-LN layers), checked against the graph's structure.
 */
export function planHiddenStates(view: OnnxGraphView, numLayers: number, model: string, stableLayerNorm?: boolean): HiddenStatesPlan {
  if (!Number.isInteger(numLayers) || numLayers < 1)
    throw new EmofeatError(`${model}: config.json has no valid num_hidden_layers (needed to take every layer's output)`);
  const g = new Graph(view);
  const text = findLayerScopes(g, /^(.*\/)?encoder\/layer\.(\d+)\/output\/LayerNorm$/);
  const speechPost = findLayerScopes(g, /^(.*\/)?encoder\/layers\.(\d+)\/final_layer_norm$/);
  const speechPre = findLayerScopes(g, /^(.*\/)?encoder\/layers\.(\d+)\/layer_norm$/);
  const complete = (f: Found | null) => f !== null && Array.from({ length: numLayers }, (_, i) => i).every((i) => f.indices.has(i));

  if (complete(text)) {
    const p = "/" + text!.prefix.replace(/^\//, "");
    const tensors = [onlyOne(`${p}embeddings/LayerNorm`, g.exits(`${p}embeddings/LayerNorm`), model)];
    for (let i = 0; i < numLayers; i++) {
      const scope = `${p}encoder/layer.${i}/output/LayerNorm`;
      tensors.push(onlyOne(scope, g.exits(scope), model));
    }
    return { numLayers, rule: "post-ln-text", tensors, prefix: text!.prefix };
  }
  if (complete(speechPost) && complete(speechPre)) {
    const p = "/" + speechPost!.prefix.replace(/^\//, "");
    const encLn = `${p}encoder/layer_norm`;
    const lnExit = onlyOne(encLn, g.exits(encLn), model);
    const layer0 = new Set(g.nodesUnder(`${p}encoder/layers.0`));
    // Post-LN: the encoder LayerNorm comes before the layers and feeds layer 0. Pre-LN: it comes after them.
    const feedsLayer0 = (g.consumers.get(lnExit) ?? []).some((c) => layer0.has(c));
    const pre = !feedsLayer0;
    if (stableLayerNorm !== undefined && stableLayerNorm !== pre)
      throw new EmofeatError(
        `${model}: config.json says do_stable_layer_norm=${stableLayerNorm}, but in the ONNX graph ${encLn} ` +
          (feedsLayer0 ? "feeds layer 0 (post-LN)" : "does not feed layer 0 (pre-LN)") +
          `; the model file and its config do not belong together`,
      );
    if (!pre) {
      const tensors = [lnExit];
      for (let i = 0; i < numLayers; i++) {
        const scope = `${p}encoder/layers.${i}/final_layer_norm`;
        tensors.push(onlyOne(scope, g.exits(scope), model));
      }
      return { numLayers, rule: "post-ln-speech", tensors, prefix: speechPost!.prefix };
    }
    const tensors = [onlyOne(`the input of ${p}encoder/layers.0/layer_norm`, g.entries(`${p}encoder/layers.0/layer_norm`), model)];
    for (let i = 0; i < numLayers - 1; i++) {
      const scope = `${p}encoder/layers.${i}`;
      // The layer's output is its last residual Add (a node directly in the layer's scope, not in a sub-module)
      // that leaves the layer; it must be what the next layer's pre-LayerNorm reads.
      const adds = (g.byScope.get(scope) ?? []).filter((n) => n.opType === "Add");
      const exits = new Set(g.exits(scope));
      const out = adds.map((n) => n.outputs[0]).filter((t) => exits.has(t));
      const tensor = onlyOne(`the last residual Add of ${scope}`, out.slice(-1), model);
      const next = onlyOne(`the input of ${p}encoder/layers.${i + 1}/layer_norm`, g.entries(`${p}encoder/layers.${i + 1}/layer_norm`), model);
      if (next !== tensor)
        throw new EmofeatError(`${model}: the last residual Add of ${scope} (${tensor}) is not the input of layer ${i + 1} (${next})`);
      tensors.push(tensor);
    }
    tensors.push(lnExit);
    return { numLayers, rule: "pre-ln-speech", tensors, prefix: speechPost!.prefix };
  }

  const sample = view.nodes
    .map((n) => n.name)
    .filter((n) => n.includes("/"))
    .filter((_, i, a) => i % Math.max(1, Math.floor(a.length / 4)) === 0)
    .slice(0, 4);
  const count = (f: Found | null) => (f ? `${f.indices.size} of ${numLayers}` : `0 of ${numLayers}`);
  throw new EmofeatError(
    `${model}: cannot find the encoder's layer boundaries in its ONNX graph. Looked for node names of a Hugging Face ` +
      `(Optimum / torch.onnx) export: '/encoder/layer.N/output/LayerNorm/...' with '/embeddings/LayerNorm/...' ` +
      `(BERT, RoBERTa; found ${count(text)} layers), or '/encoder/layers.N/final_layer_norm/...' with ` +
      `'/encoder/layers.N/layer_norm/...' and '/encoder/layer_norm/...' (WavLM, HuBERT, wav2vec2; found ${count(speechPost)}), ` +
      `N = 0..${numLayers - 1} (num_hidden_layers in config.json). ` +
      (sample.length ? `This graph's node names look like: ${sample.join(", ")}.` : `This graph's nodes have no module-path names.`) +
      ` Use --layers last, or a model exported with Hugging Face Optimum.`,
  );
}

const FLOAT_TYPES = new Set([1, 10, 11, 16]);

/**
 * Element types of every tensor: declared ones, then one forward pass in node order (ONNX graphs are sorted):
 * a Cast gives its `to`; any other node its first floating-point input's type (Where, Mul by a mask, ...).
 * Approximate for ops that change types otherwise, but exact for the activations asked for here.
 */
function elemTypes(view: OnnxGraphView): Map<string, number> {
  const types = new Map<string, number>();
  for (const t of view.initializers) types.set(t.name, t.dataType);
  for (const v of [...view.inputs, ...view.outputs, ...view.valueInfo]) if (v.elemType !== undefined) types.set(v.name, v.elemType);
  for (const n of view.nodes) {
    const ins = n.inputs.map((i) => types.get(i)).filter((t): t is number => t !== undefined);
    const t = n.opType === "Cast" && n.intAttrs.to !== undefined ? n.intAttrs.to : (ins.find((x) => FLOAT_TYPES.has(x)) ?? ins[0]);
    if (t !== undefined) for (const o of n.outputs) if (o && !types.has(o)) types.set(o, t);
  }
  return types;
}

export interface HiddenStatesModel {
  /** Path of the ONNX file with the hidden_states.<i> outputs. */
  file: string;
  plan: HiddenStatesPlan;
  /** Whether the file was made now (false: taken from the cache). */
  created: boolean;
}

interface Sidecar {
  rules_version: number;
  source_sha256: string;
  source_file: string;
  plan: HiddenStatesPlan;
}

function cachedName(onnxFile: string, sha256: string): string {
  const base = path.basename(onnxFile, ".onnx");
  return `${base}.hidden-states-v${HIDDEN_STATES_RULES_VERSION}-${sha256.slice(0, 16)}.onnx`;
}

function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EACCES" || code === "EROFS" || code === "EPERM";
}

/**
 * The model file with every hidden state as an output: taken from the cache beside `onnxPath` (keyed by its
 * sha256), or made now. "Beside" is the folder of the file's real path: onnxruntime resolves external data
 * files (symlinks included) and refuses any outside the real folder of the model it loads. When that folder
 * is not writable the file goes to `<cache dir>/hidden-states/<sha256>/`, with copies of the model's external
 * data files (links would be refused).
 */
export async function hiddenStatesModel(
  onnxPath: string,
  sha256: string,
  numLayers: number,
  model: string,
  stableLayerNorm?: boolean,
): Promise<HiddenStatesModel> {
  const name = cachedName(onnxPath, sha256);
  const realDir = path.dirname(await realpath(onnxPath));
  const candidates = [path.join(realDir, name), path.join(env.cacheDir, "hidden-states", sha256, name)];
  for (const file of candidates) {
    const sidecar = await readSidecar(file + ".json");
    if (sidecar && sidecar.source_sha256 === sha256 && sidecar.plan.numLayers === numLayers && (await exists(file)))
      return { file, plan: sidecar.plan, created: false };
  }

  const bytes = await readFile(onnxPath);
  let view: OnnxGraphView;
  try {
    view = decodeModelView(bytes);
  } catch (err) {
    throw new EmofeatError(`${onnxPath}: not a readable ONNX model (${(err as Error).message})`);
  }
  const plan = planHiddenStates(view, numLayers, model, stableLayerNorm);
  const types = elemTypes(view);
  const outputs = plan.tensors.map((t, i) => ({ name: hiddenStateOutput(i), elemType: types.get(t) ?? 1 }));
  const bad = outputs.find((o) => !FLOAT_TYPES.has(o.elemType));
  if (bad) throw new EmofeatError(`${model}: hidden state ${bad.name} has element type ${ONNX_DTYPE_NAMES[bad.elemType] ?? bad.elemType}, expected a float type`);
  const appendix = encodeGraphAppendix({
    // Identity nodes give each hidden state a stable output name, even where the tensor is already an output
    // (the last one is usually last_hidden_state itself).
    nodes: plan.tensors.map((t, i) => ({ opType: "Identity", inputs: [t], outputs: [hiddenStateOutput(i)], name: `/emofeat/hidden_states.${i}` })),
    outputs,
    metadata: {
      "emofeat.hidden_states": JSON.stringify({ rules_version: HIDDEN_STATES_RULES_VERSION, source_sha256: sha256, rule: plan.rule, tensors: plan.tensors }),
    },
  });
  const sidecar: Sidecar = { rules_version: HIDDEN_STATES_RULES_VERSION, source_sha256: sha256, source_file: path.basename(onnxPath), plan };
  const content = [bytes, appendix];
  try {
    await writeCached(candidates[0], content, sidecar);
    return { file: candidates[0], plan, created: true };
  } catch (err) {
    if (!isPermissionError(err)) throw err;
  }
  // Read-only model folder: write to our cache, with the external data files copied at their relative paths.
  const dir = path.dirname(candidates[1]);
  await mkdir(dir, { recursive: true });
  for (const loc of new Set(view.initializers.map((t) => t.externalLocation).filter((l): l is string => l !== undefined))) {
    const target = path.join(dir, loc);
    if (await exists(target)) continue;
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = target + `.tmp-${process.pid}`;
    await copyFile(path.resolve(realDir, loc), tmp);
    await rename(tmp, target);
  }
  await writeCached(candidates[1], content, sidecar);
  return { file: candidates[1], plan, created: true };
}

async function readSidecar(file: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await readFile(file, "utf8")) as Sidecar;
    return s.rules_version === HIDDEN_STATES_RULES_VERSION ? s : null;
  } catch {
    return null;
  }
}

/** The .onnx goes in first and the sidecar last (both atomically), so a sidecar always has its complete model. */
async function writeCached(file: string, content: readonly Uint8Array[], sidecar: Sidecar): Promise<void> {
  await writeFileAtomic(file, content);
  await writeFileAtomic(file + ".json", JSON.stringify(sidecar, null, 2) + "\n");
}
