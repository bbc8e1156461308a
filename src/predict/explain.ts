/**
 * `predict --explain`: the attention maps of a sequence fusion head for single utterances, as JSON and PNG
 * heat maps. For each cross-modal block, audio -> text (each audio frame's weights over the tokens) and
 * text -> audio (each token's weights over the frames), averaged over the attention heads as torch's
 * need_weights does; for each decoder layer, emotion -> position (each emotion query's weights over the fused
 * positions). Inputs are the utterance's sequences as the run's sequence stores hold them (one [T, D] matrix
 * per store) with a label per position (token strings, frame times).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type ort from "onnxruntime-node";
import { EmofeatError } from "../errors.js";
import { createSession, floatTensor } from "../train/graph/session.js";
import { maskInput } from "../train/heads.js";
import { heatmapSvg, type HeatmapSpec } from "../train/plots-fusion.js";
import { renderPng } from "../train/plots.js";
import { readHeadLabels, readRunConfig, RUN_FILES, type HeadLabels, type RunConfig } from "../train/run-dir.js";
import { exists } from "../util/fs.js";

export interface SequenceItem {
  id?: string;
  /** Per store of the run, by name: its positions as a row-major [T, D] matrix, and a label per position. */
  inputs: Record<string, { values: Float32Array; labels?: string[] }>;
}

export interface Explanation {
  id: string;
  label: string;
  probabilities: Record<string, number>;
  beta?: number;
  /** Position labels per store (token strings, frame times). */
  positions: Record<string, string[]>;
  /** Per cross-modal block: [audio frame][token] and [token][audio frame]. */
  blocks: { audio_to_text: number[][]; text_to_audio: number[][] }[];
  /** Per decoder layer: [emotion][fused position], with the fused positions' labels. */
  decoder: { emotion_to_position: number[][]; positions: string[] }[];
  /** Files written (relative to the output folder). */
  files: string[];
}

/** Per emotion, the share of its attention on the first `n` (audio) positions. */
const shares = (m: number[][], n: number) => `share on audio: ${m.map((r) => (100 * r.slice(0, n).reduce((a, b) => a + b, 0)).toFixed(0) + "%").join(" / ")}`;

const rowsOf = (data: Float32Array, r: number, c: number): number[][] => Array.from({ length: r }, (_, i) => Array.from(data.subarray(i * c, (i + 1) * c)));

/** A file-name-safe form of an utterance id. */
const safe = (id: string) => id.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120) || "utterance";

export class Explainer {
  private constructor(
    readonly runDir: string,
    readonly config: RunConfig,
    readonly head: HeadLabels,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(runDir: string, o: { threads?: number } = {}): Promise<Explainer> {
    const config = await readRunConfig(runDir);
    if (config.export.file === null) throw new EmofeatError(`${runDir} has no trained head to explain: ${config.export.reason}`);
    const head = await readHeadLabels(runDir);
    if (!head.inputs.some((i) => i.sequence))
      throw new EmofeatError(
        `${runDir}: --explain shows attention over frames and tokens, so it needs a fusion head trained on sequence stores (pooling none); this run's head (${head.head}) reads one vector per utterance`,
      );
    if (!head.outputs.attention?.length)
      throw new EmofeatError(`${runDir}: --explain shows attention maps, and this run's head (${head.head}) has none (no cross-modal blocks, no decoder)`);
    const file = path.join(runDir, RUN_FILES.head);
    if (!(await exists(file))) throw new EmofeatError(`${file}: missing (the run directory is incomplete)`);
    return new Explainer(runDir, config, head, await createSession(await readFile(file), { threads: o.threads }));
  }

  /** Explains each item; with `outDir`, writes <id>.json and the heat maps (PNG) there. */
  async explain(items: readonly SequenceItem[], outDir?: string): Promise<Explanation[]> {
    const [a, t] = this.head.inputs;
    const labels = this.head.labels;
    const attention = this.head.outputs.attention!;
    const fetch = ["probs", ...(this.head.outputs.beta ? ["beta"] : []), ...attention];
    const out: Explanation[] = [];
    if (outDir) await mkdir(outDir, { recursive: true });
    for (const [n, item] of items.entries()) {
      const id = item.id ?? `utterance-${n + 1}`;
      const feeds: Record<string, ort.Tensor> = {};
      const positions: Record<string, string[]> = {};
      const lengths: number[] = [];
      for (const inp of [a, t]) {
        const x = item.inputs[inp.name];
        if (!x) throw new EmofeatError(`${id}: no "${inp.name}" sequence given (the run's stores: ${a.name}, ${t.name})`);
        if (!inp.sequence) {
          // A pooled store beside a sequence store: one position (the utterance's vector).
          if (x.values.length !== inp.dim) throw new EmofeatError(`${id}: store "${inp.name}" takes one ${inp.dim}-wide vector per utterance, got ${x.values.length} values`);
          feeds[inp.name] = floatTensor(x.values, [1, inp.dim]);
          positions[inp.name] = [`${inp.name} (utterance)`];
          lengths.push(1);
          continue;
        }
        const len = x.values.length / inp.dim;
        if (!Number.isInteger(len) || len < 1) throw new EmofeatError(`${id}: the "${inp.name}" sequence has ${x.values.length} values, not a whole number (>= 1) of ${inp.dim}-wide positions`);
        if (x.labels && x.labels.length !== len) throw new EmofeatError(`${id}: ${x.labels.length} labels for ${len} "${inp.name}" positions`);
        feeds[inp.name] = floatTensor(x.values, [1, len, inp.dim]);
        feeds[maskInput(inp.name)] = floatTensor(new Float32Array(len).fill(1), [1, len]);
        positions[inp.name] = x.labels ?? Array.from({ length: len }, (_, i) => `${inp.name} ${i}`);
        lengths.push(len);
      }
      const [ta, tt] = lengths;
      const r = await this.session.run(feeds, fetch);
      const probs = r.probs.data as Float32Array;
      let best = 0;
      for (let j = 1; j < labels.length; j++) if (probs[j] > probs[best]) best = j;
      // Attention over a pooled store's one position is not an output of the head: every weight there is 1.
      const map = (name: string, q: number, k: number) =>
        r[name] ? rowsOf(r[name].data as Float32Array, q, k) : Array.from({ length: q }, () => Array<number>(k).fill(1));
      const blocks: Explanation["blocks"] = [];
      for (let b = 0; b < (this.config.arch.fusion?.blocks ?? 0); b++)
        blocks.push({ audio_to_text: map(`attn.blocks.${b}.a_to_t`, ta, tt), text_to_audio: map(`attn.blocks.${b}.t_to_a`, tt, ta) });
      const fusedLabels = this.config.arch.fusion?.fuseLength === "text" ? positions[t.name] : [...positions[a.name], ...positions[t.name]];
      const decoder: Explanation["decoder"] = [];
      for (let l = 0; r[`attn.decoder.layers.${l}.multihead_attn`]; l++)
        decoder.push({ emotion_to_position: rowsOf(r[`attn.decoder.layers.${l}.multihead_attn`].data as Float32Array, labels.length, fusedLabels.length), positions: fusedLabels });
      const e: Explanation = {
        id,
        label: labels[best],
        probabilities: Object.fromEntries(labels.map((l, j) => [l, probs[j]])),
        ...(r.beta ? { beta: (r.beta.data as Float32Array)[0] } : {}),
        positions,
        blocks,
        decoder,
        files: [],
      };
      if (outDir) await this.write(e, outDir, a.name, t.name, fusedLabels.length - positions[t.name].length);
      out.push(e);
    }
    return out;
  }

  private async write(e: Explanation, outDir: string, aName: string, tName: string, audioInFused: number): Promise<void> {
    const base = safe(e.id);
    const maps: [string, HeatmapSpec][] = [];
    const tokens = e.positions[tName];
    const frames = e.positions[aName];
    const head = `${e.id}: ${e.label}${e.beta !== undefined ? `, beta ${e.beta.toFixed(3)}` : ""}`;
    e.blocks.forEach((b, i) => {
      // Both maps with time across and tokens down, so they can be compared side by side. Attention over one key
      // (a pooled store's vector, a one-token text) is 1 everywhere: in the JSON, not drawn.
      if (tokens.length > 1)
        maps.push([
          `${base}.block${i}.audio_to_text`,
          {
            title: `${head} - block ${i + 1}: audio attends to text`,
            note: "each column (an audio position) sums to 1 over the tokens",
            values: tokens.map((_, k) => frames.map((_, f) => b.audio_to_text[f][k])),
            rowLabels: tokens,
            colLabels: frames,
            rowTitle: `${tName} (keys)`,
            colTitle: `${aName} (queries)`,
          },
        ]);
      if (frames.length > 1)
        maps.push([
          `${base}.block${i}.text_to_audio`,
          {
            title: `${head} - block ${i + 1}: text attends to audio`,
            note: "each row (a token) sums to 1 over the audio positions",
            values: b.text_to_audio,
            rowLabels: tokens,
            colLabels: frames,
            rowTitle: `${tName} (queries)`,
            colTitle: `${aName} (keys)`,
          },
        ]);
    });
    e.decoder.forEach((d, l) =>
      maps.push([
        `${base}.decoder${l}`,
        {
          title: `${head} - decoder layer ${l + 1}: emotion queries attend to the fused positions`,
          note:
            audioInFused > 0
              ? `each row sums to 1; ${aName} positions left of the red line (${shares(d.emotion_to_position, audioInFused)}), ${tName} right`
              : "each row sums to 1",
          values: d.emotion_to_position,
          rowLabels: Object.keys(e.probabilities),
          colLabels: d.positions,
          rowTitle: "emotion",
          colTitle: "fused position",
          colBreaks: audioInFused > 0 ? [audioInFused] : [],
          wideFrom: audioInFused > 0 ? audioInFused : undefined,
        },
      ]),
    );
    for (const [name, spec] of maps) {
      const svg = heatmapSvg(spec);
      const png = await renderPng(svg);
      const file = png ? `${name}.png` : `${name}.svg`;
      await writeFile(path.join(outDir, file), png ?? svg);
      e.files.push(file);
    }
    const json = `${base}.json`;
    e.files.unshift(json);
    await writeFile(path.join(outDir, json), JSON.stringify(e, null, 1) + "\n");
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
