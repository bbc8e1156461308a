/** The PyTorch references of scripts/gen/fusion_fixtures.py, and in-memory sequence sources for tests. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { readNpy } from "../../src/store/npy.js";
import type { Dataset, SequenceSource } from "../../src/train/batches.js";
import type { HeadArch } from "../../src/train/heads.js";
import { resolveFusionArch, type FusionHeadName } from "../../src/train/heads/fusion.js";

export const FUSION_FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/reference/fusion");

export interface ParityCase {
  name: string;
  head: FusionHeadName;
  /** Padded batches (at least one input a sequence). */
  sequence: boolean;
  /** Per input (audio, text): a sequence (true) or one vector per utterance. */
  sequence_inputs: [boolean, boolean];
  da: number;
  dt: number;
  num_classes: number;
  d_model: number;
  attn_heads: number;
  blocks: number;
  gate: "vector" | "scalar";
  decoder_layers: number;
  decoder_ffn: number;
  loss: "ce" | "bce";
  fuse_length: "both" | "text";
  n: number;
  batch_size: number;
  lr: number;
  weight_decay: number;
  steps: number;
  a: number[][];
  t: number[][];
  y: number[];
  names: string[];
  shapes: number[][];
  logits: number[];
  beta: number[];
  losses: number[];
  /** Parameters the loss does not depend on (float64 gradients zero; see the generator). */
  invariant: string[];
  /** Sequence cases: torch's attention weights averaged over heads on the padded batch of all rows, by our output name. */
  attention: Record<string, number[]>;
  /** Parameters before and after PyTorch's 3 AdamW steps, by name. */
  init: Map<string, Float32Array>;
  final: Map<string, Float32Array>;
}

export const PARITY_CASES = [
  "beta-gate-utt",
  "beta-gate-scalar-proj",
  "fusion-utt",
  "fusion-utt-proj",
  "fusion-utt-both",
  "fusion-mixed",
  "beta-gate-seq",
  "fusion-seq",
  "fusion-seq-text",
  "decoder-utt",
  "decoder-seq-bce",
  "decoder-seq-text",
];

export async function loadParityCase(name: string): Promise<ParityCase> {
  const meta = JSON.parse(readFileSync(path.join(FUSION_FIXTURES, `parity_${name}.json`), "utf8"));
  const { data, shape } = await readNpy(path.join(FUSION_FIXTURES, `parity_${name}.npy`));
  const p = shape[1];
  const init = new Map<string, Float32Array>();
  const final = new Map<string, Float32Array>();
  let off = 0;
  meta.names.forEach((n: string, i: number) => {
    const size = (meta.shapes[i] as number[]).reduce((a, b) => a * b, 1);
    init.set(n, data.slice(off, off + size));
    final.set(n, data.slice(p + off, p + off + size));
    off += size;
  });
  return { name, ...meta, init, final };
}

export function parityArch(c: ParityCase): HeadArch {
  const inputs = [
    { name: "audio", dim: c.da, sequence: c.sequence_inputs[0] },
    { name: "text", dim: c.dt, sequence: c.sequence_inputs[1] },
  ];
  const fusion = resolveFusionArch(
    c.head,
    inputs,
    {
      dModel: c.d_model,
      attnHeads: c.attn_heads,
      ...(c.head !== "beta-gate" ? { blocks: c.blocks } : {}),
      gate: c.gate,
      ...(c.head === "fusion-decoder" ? { decoderLayers: c.decoder_layers } : {}),
      loss: c.loss,
      fuseLength: c.fuse_length,
    },
    0,
  );
  fusion.decoderFfn = c.decoder_ffn;
  return { head: c.head, inputs, numClasses: c.num_classes, hidden: 0, dropoutIn: 0, dropoutHidden: 0, fusion };
}

/** A sequence store held in memory (the SequenceSource side of src/store's reader). */
export function memorySequences(rows: ArrayLike<number>[], d: number): SequenceSource & { reads: number } {
  const data = Array.from(rows, (r) => Float32Array.from(r));
  const src = {
    d,
    lengths: Int32Array.from(data, (r) => r.length / d),
    reads: 0,
    async read(idx: number[]) {
      src.reads += idx.length;
      return idx.map((i) => data[i]);
    },
  };
  return src;
}

export function parityDataset(c: ParityCase): Dataset {
  const input = (rows: number[][], d: number, sequence: boolean) =>
    sequence ? { source: memorySequences(rows, d), rows: Int32Array.from(rows, (_, i) => i) } : Float32Array.from(rows.flat());
  return { x: [input(c.a, c.da, c.sequence_inputs[0]), input(c.t, c.dt, c.sequence_inputs[1])], y: Int32Array.from(c.y), n: c.n };
}
