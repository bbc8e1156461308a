/**
 * The fusion heads in `npm run bench:train`: ours against bench/torch_fusion.py (torch.nn modules, the
 * reference's training loop) on the same synthetic data, in the same run.
 *
 *   fusion      utterance level, the reference settings: 3,000 train utterances x (768, 768), d 768, 8 heads,
 *               2 blocks, batch 64, 30 epochs, validation accuracy every epoch. PyTorch runs BENCH_TORCH_EPOCHS
 *               epochs (default 1; Debian's torch uses the reference BLAS here, ~1 GFLOPS, so its full run takes
 *               hours) with 1 and 2 threads; the ratio is seconds per epoch. Our time split is printed: the
 *               onnxruntime runs (forward + backward, parameters fed and gradients written in place), the AdamW
 *               kernel, batch assembly, validation.
 *   fusion-seq  sequence level, fusion-decoder at its reference settings (batch 8) on 500 utterances of 250
 *               frames and 40 tokens (768 wide): both sides run BENCH_SEQ_STEPS optimiser steps (default 8,
 *               the first excluded as warm-up); seconds per epoch = seconds per step x steps per epoch. Ours
 *               reads every batch from a sequence store on disk (frames.npy + lengths.npy, CONTRACTS.md's
 *               layout); peak memory (max RSS) is printed for both processes.
 * Env: BENCH_FUSION_N (3000), BENCH_EPOCHS (ours, default 30), BENCH_TORCH_EPOCHS (1), BENCH_SEQ_STEPS (8),
 * BENCH_THREADS, BENCH_TORCH_THREADS ("1,2"), BENCH_PYTHON.
 */
import { execFile } from "node:child_process";
import { open, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { encodeNpy, npyHeader, parseNpyHeader } from "../src/store/npy.js";
import { Evaluator, trainHead, type Dataset, type SequenceSource } from "../src/train/engine.js";
import type { HeadArch } from "../src/train/heads.js";
import { FUSION_TRAINING, resolveFusionArch } from "../src/train/heads/fusion.js";
import { Rng } from "../src/train/rng.js";
import { ROOT } from "./common.js";

const exec = promisify(execFile);
const C = 4;
const D = 768;
const labels = ["a", "b", "c", "d"];

interface Ctx {
  dir: string;
  python: string;
  threads?: number;
  torchThreads: number[];
}

/** Class centres in a 16-dim subspace of each modality plus noise; the class shows in both. */
function makeVectors(rng: Rng, n: number, d: number, centers: Float32Array[], y: Int32Array): Float32Array {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) x[i * d + k] = centers[y[i]][k] + gauss();
  return x;
}

function centersFor(rng: Rng, d: number, scale: number): Float32Array[] {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const basis = Array.from({ length: 16 }, () => Float32Array.from({ length: d }, () => gauss() / Math.sqrt(d)));
  return Array.from({ length: C }, () => {
    const c = new Float32Array(d);
    for (const b of basis) {
      const w = gauss() * scale;
      for (let k = 0; k < d; k++) c[k] += w * b[k];
    }
    return c;
  });
}

async function torchRun(ctx: Ctx, args: string[]): Promise<{ seconds: number; threads: number; torch: string; test: { accuracy: number }; epoch_seconds: number; step_seconds?: number; peak_rss_mb: number; params: number }> {
  const { stdout } = await exec(ctx.python, [path.join(ROOT, "bench", "torch_fusion.py"), ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

export async function benchFusionUtterance(ctx: Ctx): Promise<void> {
  const n = Number(process.env.BENCH_FUSION_N ?? 3000);
  const s = FUSION_TRAINING.fusion;
  const epochs = Number(process.env.BENCH_EPOCHS ?? s.epochs);
  const torchEpochs = Number(process.env.BENCH_TORCH_EPOCHS ?? 1);
  const rng = new Rng(7);
  const [ca, ct] = [centersFor(rng, D, 0.25), centersFor(rng, D, 0.25)];
  const sizes = { train: n, val: Math.round(n / 10), test: Math.round(n / 10) };
  const sets: Record<string, Dataset> = {};
  for (const [split, m] of Object.entries(sizes)) {
    const y = Int32Array.from({ length: m }, () => rng.int(C));
    sets[split] = { x: [makeVectors(rng, m, D, ca, y), makeVectors(rng, m, D, ct, y)], y, n: m };
    await writeFile(path.join(ctx.dir, `a_${split}.npy`), encodeNpy(sets[split].x[0] as Float32Array, [m, D]));
    await writeFile(path.join(ctx.dir, `t_${split}.npy`), encodeNpy(sets[split].x[1] as Float32Array, [m, D]));
    await writeFile(path.join(ctx.dir, `y_${split}.npy`), encodeNpy(Float32Array.from(y), [m]));
  }
  const inputs = [
    { name: "audio", dim: D },
    { name: "text", dim: D },
  ];
  const arch: HeadArch = {
    head: "fusion",
    inputs,
    numClasses: C,
    hidden: 0,
    dropoutIn: s.dropoutIn,
    dropoutHidden: s.dropoutHidden,
    fusion: resolveFusionArch("fusion", inputs.map((i) => ({ ...i, sequence: false })), {}, s.dropoutIn),
  };
  console.log(`fusion (utterance level): ${n} x (${D}, ${D}) train rows (+ ${sizes.val} val, ${sizes.test} test), ${C} classes, d ${D}, 8 heads, 2 blocks, batch ${s.batchSize}; ours ${epochs} epochs, PyTorch ${torchEpochs}; load average ${os.loadavg()[0].toFixed(2)}`);
  const t0 = performance.now();
  const res = await trainHead(arch, sets.train, sets.val, { ...s, epochs, seed: 0, labels, threads: ctx.threads });
  const ours = (performance.now() - t0) / 1000;
  const ev = await Evaluator.create(arch, ctx.threads);
  const acc = (await ev.evaluate(res.params, sets.test, labels)).metrics.accuracy;
  await ev.release();
  const p = res.profile;
  const total = p.run + p.optimizer + p.batches + p.validation;
  console.log(
    `  ours: ${ours.toFixed(1)} s for ${epochs} epochs (${(ours / epochs).toFixed(2)} s/epoch, ${res.paramCount} parameters, ${p.steps} steps); ` +
      `onnxruntime forward+backward ${pct(p.run, total)} (${((1000 * p.run) / p.steps).toFixed(0)} ms/step), AdamW kernel ${pct(p.optimizer, total)} (${((1000 * p.optimizer) / p.steps).toFixed(0)} ms/step), ` +
      `batches ${pct(p.batches, total)}, validation ${pct(p.validation, total)}; test accuracy ${acc.toFixed(4)}`,
  );
  let best: Awaited<ReturnType<typeof torchRun>> | undefined;
  for (const t of ctx.torchThreads) {
    const r = await torchRun(ctx, [ctx.dir, "fusion", "0", String(t), String(torchEpochs)]);
    console.log(`  PyTorch ${r.torch}, ${r.threads} thread(s): ${r.seconds.toFixed(1)} s for ${torchEpochs} epoch(s) (${r.epoch_seconds.toFixed(2)} s/epoch, ${r.params} parameters); test accuracy ${r.test.accuracy.toFixed(4)} after ${torchEpochs} epoch(s)`);
    if (!best || r.epoch_seconds < best.epoch_seconds) best = r;
  }
  console.log(
    `fusion         ours ${(ours / epochs).toFixed(2)} s/epoch, PyTorch (best: ${best!.threads} thread${best!.threads === 1 ? "" : "s"}) ${best!.epoch_seconds.toFixed(2)} s/epoch, ` +
      `ours/PyTorch ${(ours / epochs / best!.epoch_seconds).toFixed(3)}; a full ${epochs}-epoch run: ours ${ours.toFixed(0)} s, PyTorch ~${(best!.epoch_seconds * epochs).toFixed(0)} s (projected)`,
  );
}

/** A sequence store on disk in CONTRACTS.md's layout (frames.npy [sum T, D], lengths), read per batch. */
class DiskSequences implements SequenceSource {
  readonly offsets: number[];
  private constructor(
    private readonly fh: Awaited<ReturnType<typeof open>>,
    private readonly dataStart: number,
    readonly d: number,
    readonly lengths: Int32Array,
  ) {
    this.offsets = [0];
    for (const l of lengths) this.offsets.push(this.offsets[this.offsets.length - 1] + l);
  }

  /** Writes `count` rows made by `row(i)` one at a time (never all in memory), then opens the file. */
  static async write(file: string, count: number, len: number, d: number, row: (i: number) => Float32Array): Promise<DiskSequences> {
    const w = await open(file, "w");
    await w.write(npyHeader([count * len, d]));
    for (let i = 0; i < count; i++) {
      const r = row(i);
      await w.write(new Uint8Array(r.buffer, r.byteOffset, r.byteLength));
    }
    await w.close();
    const fh = await open(file, "r");
    const head = Buffer.alloc(4096);
    await fh.read(head, 0, 4096, 0);
    return new DiskSequences(fh, parseNpyHeader(head, file).dataOffset, d, new Int32Array(count).fill(len));
  }

  async read(rows: number[]): Promise<Float32Array[]> {
    return Promise.all(
      rows.map(async (r) => {
        const out = new Float32Array(this.lengths[r] * this.d);
        await this.fh.read(new Uint8Array(out.buffer), 0, out.byteLength, this.dataStart + 4 * this.d * this.offsets[r]);
        return out;
      }),
    );
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export async function benchFusionSequence(ctx: Ctx): Promise<void> {
  const s = FUSION_TRAINING["fusion-decoder"];
  const steps = Number(process.env.BENCH_SEQ_STEPS ?? 8);
  const [ta, tt, n] = [250, 40, 500];
  const sizes = { train: n, val: 16, test: 16 };
  const rng = new Rng(9);
  const [ca, ct] = [centersFor(rng, D, 0.25), centersFor(rng, D, 0.25)];
  const sources: Record<string, DiskSequences[]> = {};
  const ys: Record<string, Int32Array> = {};
  for (const [split, m] of Object.entries(sizes)) {
    const y = Int32Array.from({ length: m }, () => rng.int(C));
    ys[split] = y;
    const seq = (len: number, centers: Float32Array[]) => (i: number) => makeVectors(rng, len, D, centers, new Int32Array(len).fill(y[i]));
    sources[split] = [
      await DiskSequences.write(path.join(ctx.dir, `a_${split}.npy`), m, ta, D, seq(ta, ca)),
      await DiskSequences.write(path.join(ctx.dir, `t_${split}.npy`), m, tt, D, seq(tt, ct)),
    ];
    await writeFile(path.join(ctx.dir, `la_${split}.npy`), encodeNpy(new Float32Array(m).fill(ta), [m]));
    await writeFile(path.join(ctx.dir, `lt_${split}.npy`), encodeNpy(new Float32Array(m).fill(tt), [m]));
    await writeFile(path.join(ctx.dir, `y_${split}.npy`), encodeNpy(Float32Array.from(y), [m]));
  }
  const inputs = [
    { name: "audio", dim: D, sequence: true },
    { name: "text", dim: D, sequence: true },
  ];
  const arch: HeadArch = {
    head: "fusion-decoder",
    inputs,
    numClasses: C,
    hidden: 0,
    dropoutIn: s.dropoutIn,
    dropoutHidden: s.dropoutHidden,
    fusion: resolveFusionArch("fusion-decoder", inputs, {}, s.dropoutIn),
  };
  const ds = (split: string): Dataset => ({
    x: sources[split].map((src) => ({ source: src, rows: Int32Array.from({ length: sizes[split as "train"] }, (_, i) => i) })),
    y: ys[split],
    n: sizes[split as "train"],
  });
  const perEpoch = Math.ceil(n / s.batchSize);
  console.log(
    `fusion-seq (fusion-decoder, sequence level): ${n} utterances of ${ta} frames and ${tt} tokens (${D} wide), batch ${s.batchSize} (${perEpoch} steps/epoch), ` +
      `d ${D}, 8 heads, 2 blocks, 2 decoder layers; ${steps} steps each side, the first as warm-up; load average ${os.loadavg()[0].toFixed(2)}`,
  );
  const rss0 = process.resourceUsage().maxRSS;
  // Warm-up step (session creation, first allocations), then the timed steps.
  const warm = await trainHead(arch, ds("train"), undefined, { ...s, epochs: 1, seed: 0, labels, threads: ctx.threads, select: "last", maxSteps: 1 });
  const res = await trainHead(arch, ds("train"), undefined, { ...s, epochs: 1, seed: 0, labels, threads: ctx.threads, select: "last", maxSteps: steps - 1 });
  const rss = process.resourceUsage().maxRSS;
  const p = res.profile;
  const perStep = (p.run + p.optimizer + p.batches) / p.steps;
  console.log(
    `  ours: ${perStep.toFixed(2)} s/step (${warm.paramCount} parameters; warm-up step ${(warm.profile.run + warm.profile.optimizer + warm.profile.batches).toFixed(1)} s); ` +
      `onnxruntime ${((1000 * p.run) / p.steps).toFixed(0)} ms/step, AdamW ${((1000 * p.optimizer) / p.steps).toFixed(0)} ms/step, reading + padding batches ${((1000 * p.batches) / p.steps).toFixed(0)} ms/step; ` +
      `peak RSS ${mb(rss)} (${mb(rss0)} before training; the data set on disk is ${((4 * D * (ta + tt) * (n + 32)) / 2 ** 20).toFixed(0)} MB)`,
  );
  let best: Awaited<ReturnType<typeof torchRun>> | undefined;
  for (const t of ctx.torchThreads) {
    const r = await torchRun(ctx, [ctx.dir, "fusion-decoder", "0", String(t), "1", "seq", String(steps)]);
    console.log(`  PyTorch ${r.torch}, ${r.threads} thread(s): ${r.step_seconds!.toFixed(2)} s/step; peak RSS ${r.peak_rss_mb.toFixed(0)} MB (all sequences in memory)`);
    if (!best || r.step_seconds! < best.step_seconds!) best = r;
  }
  console.log(
    `fusion-seq     ours ${(perStep * perEpoch).toFixed(0)} s/epoch, PyTorch (best: ${best!.threads} thread${best!.threads === 1 ? "" : "s"}) ${(best!.step_seconds! * perEpoch).toFixed(0)} s/epoch, ` +
      `ours/PyTorch ${(perStep / best!.step_seconds!).toFixed(3)} (from ${steps - 1} timed steps each); peak RSS ours ${mb(rss)}, PyTorch ${best!.peak_rss_mb.toFixed(0)} MB`,
  );
  for (const list of Object.values(sources)) for (const src of list) await src.close();
}
