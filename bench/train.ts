/**
 * npm run bench:train — our probe training against PyTorch's on the same synthetic data in the same run:
 *   mlp:            5000 x 1536 train rows, LayerNorm -> Dropout -> 1536x256 -> ReLU -> Dropout -> 256xC,
 *                   AdamW, batch 256, 50 epochs, validation macro-F1 every epoch (the reference settings)
 *   concat-linear:  two 768-dim stores concatenated ([a; t] = 1536), one Linear, batch 64, 10 epochs
 * PyTorch runs bench/torch_probe.py under /usr/bin/python3 (Debian python3-torch + python3-sklearn); times
 * cover model construction and training, not data loading or interpreter start-up. Prints seconds, the
 * ratio ours / PyTorch (below 1 = we are faster) and both test accuracies (they should be close).
 * Options (env): BENCH_N (train rows, default 5000), BENCH_D (default 1536), BENCH_HEADS (default
 * "mlp,concat-linear"), BENCH_SEEDS (runs per side, default 1; times and accuracies are then means),
 * BENCH_THREADS (ours; default all cores), BENCH_TORCH_THREADS (PyTorch thread counts to try, default "1,2";
 * the fastest is the reference), BENCH_PYTHON.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { encodeNpy } from "../src/store/npy.js";
import { Evaluator, trainHead, type Dataset } from "../src/train/engine.js";
import { headSettings, type HeadArch, type HeadName } from "../src/train/heads.js";
import { Rng } from "../src/train/rng.js";
import { benchFusionSequence, benchFusionUtterance } from "./fusion.js";

const exec = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = process.env.BENCH_PYTHON ?? "/usr/bin/python3";
const N = Number(process.env.BENCH_N ?? 5000);
const D = Number(process.env.BENCH_D ?? 1536);
const C = 4;
const requested = (process.env.BENCH_HEADS ?? "mlp,concat-linear,fusion,fusion-seq").split(",");
const FUSION_BENCHES = ["fusion", "fusion-seq"];
const heads = requested.filter((h) => !FUSION_BENCHES.includes(h)) as HeadName[];
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;
const torchThreads = (process.env.BENCH_TORCH_THREADS ?? "1,2").split(",").map(Number);
const seeds = Array.from({ length: Number(process.env.BENCH_SEEDS ?? 1) }, (_, i) => i);
const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
const std = (a: number[]) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((p, q) => p + (q - mean(a)) ** 2, 0) / (a.length - 1)));

/** Gaussian classes in a 16-dim subspace plus isotropic noise: a learnable, not separable task. */
function makeData(rng: Rng, rows: number[]): { x: Float32Array; y: Int32Array }[] {
  const k = 16;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const basis = Float32Array.from({ length: k * D }, () => gauss() / Math.sqrt(D));
  const centers = Float32Array.from({ length: C * k }, () => gauss() * 0.07);
  const dir = new Float32Array(D);
  return rows.map((n) => {
    const x = new Float32Array(n * D);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = rng.int(C);
      dir.fill(0);
      for (let j = 0; j < k; j++) {
        const c = centers[y[i] * k + j] * Math.sqrt(D / k);
        for (let t = 0; t < D; t++) dir[t] += c * basis[j * D + t];
      }
      for (let t = 0; t < D; t++) x[i * D + t] = dir[t] + gauss();
    }
    return { x, y };
  });
}

async function main(): Promise<void> {
  try {
    await exec(PYTHON, ["-c", heads.length > 0 ? "import torch, sklearn" : "import torch"]);
  } catch {
    console.error(`bench:train needs PyTorch${heads.length > 0 ? " and scikit-learn" : ""} under ${PYTHON} (Debian: apt install python3-torch${heads.length > 0 ? " python3-sklearn" : ""})`);
    process.exit(2);
  }
  const [train, val, test] = heads.length > 0 ? makeData(new Rng(2024), [N, Math.round(N / 10), Math.round(N / 10)]) : [{ x: new Float32Array(0), y: new Int32Array(0) }, { x: new Float32Array(0), y: new Int32Array(0) }, { x: new Float32Array(0), y: new Int32Array(0) }];
  const dir = await mkdtemp(path.join(os.tmpdir(), "emofeat-bench-train-"));
  try {
    for (const [name, s] of [["train", train], ["val", val], ["test", test]] as const) {
      await writeFile(path.join(dir, `x_${name}.npy`), encodeNpy(s.x, [s.y.length, D]));
      await writeFile(path.join(dir, `y_${name}.npy`), encodeNpy(Float32Array.from(s.y), [s.y.length]));
    }
    console.log(
      `bench:train: ${os.availableParallelism()} cores; ours with ${threads ?? os.availableParallelism()} onnxruntime thread(s); load average ${os.loadavg()[0].toFixed(2)} (other processes skew timings)` +
        (heads.length > 0 ? `; probes on ${N} x ${D} train rows (+ ${val.y.length} val, ${test.y.length} test), ${C} classes` : ""),
    );
    for (const head of heads) {
      const s = headSettings(head);
      const split = head.startsWith("concat-") ? [D / 2, D / 2] : [D];
      const arch: HeadArch = {
        head,
        inputs: split.map((d, i) => ({ name: split.length > 1 ? ["audio", "text"][i] : "x", dim: d })),
        numClasses: C,
        hidden: s.hidden,
        dropoutIn: s.dropoutIn,
        dropoutHidden: s.dropoutHidden,
      };
      const asInputs = (set: { x: Float32Array; y: Int32Array }): Dataset => {
        if (split.length === 1) return { x: [set.x], y: set.y, n: set.y.length };
        const n = set.y.length;
        const parts = split.map((d) => new Float32Array(n * d));
        for (let i = 0; i < n; i++) {
          let off = 0;
          split.forEach((d, k) => {
            parts[k].set(set.x.subarray(i * D + off, i * D + off + d), i * d);
            off += d;
          });
        }
        return { x: parts, y: set.y, n };
      };
      const [tr, va, te] = [train, val, test].map(asInputs);
      const labels = ["a", "b", "c", "d"];

      const ours: number[] = [];
      const oursAcc: number[] = [];
      const theirs: number[] = [];
      const theirsAcc: number[] = [];
      let torchInfo = "";
      for (const seed of seeds) {
        const t0 = performance.now();
        const res = await trainHead(arch, tr, va, { ...s, seed, labels, threads });
        ours.push((performance.now() - t0) / 1000);
        const ev = await Evaluator.create(arch, threads);
        oursAcc.push((await ev.evaluate(res.params, te, labels)).metrics.accuracy);
        await ev.release();

        // PyTorch's reference time is its best over the thread counts tried (1 and 2 by default), so the
        // ratio never flatters us because of a poor threading choice on the PyTorch side.
        let best: { seconds: number; threads: number; torch: string; test: { accuracy: number } } | undefined;
        for (const t of torchThreads) {
          const { stdout } = await exec(PYTHON, [path.join(ROOT, "bench", "torch_probe.py"), dir, head, String(seed), String(t)], { maxBuffer: 1 << 20 });
          const run = JSON.parse(stdout.trim().split("\n").pop()!) as { seconds: number; threads: number; torch: string; test: { accuracy: number } };
          console.log(`  ${head} seed ${seed}: PyTorch with ${run.threads} thread(s) ${run.seconds.toFixed(2)} s`);
          if (!best || run.seconds < best.seconds) best = run;
        }
        theirs.push(best!.seconds);
        theirsAcc.push(best!.test.accuracy);
        torchInfo = `PyTorch ${best!.torch} (best: ${best!.threads} thread${best!.threads === 1 ? "" : "s"})`;
      }
      const acc = (a: number[]) => (a.length > 1 ? `${mean(a).toFixed(4)} +- ${std(a).toFixed(4)}` : a[0].toFixed(4));
      const line =
        `${head.padEnd(14)} ours ${mean(ours).toFixed(2)} s, ${torchInfo} ${mean(theirs).toFixed(2)} s, ` +
        `ours/PyTorch ${(mean(ours) / mean(theirs)).toFixed(3)}; test accuracy ours ${acc(oursAcc)}, PyTorch ${acc(theirsAcc)} ` +
        `(${s.epochs} epochs, batch ${s.batchSize}${seeds.length > 1 ? `, ${seeds.length} seeds` : ""})`;
      console.log(line);
    }
    // The fusion heads (bench/fusion.ts), each on its own data in the same folder.
    const ctx = { dir, python: PYTHON, threads, torchThreads };
    // Sequence level first: its peak memory is this process's high-water mark, which the 39 M-parameter
    // utterance-level head would otherwise set.
    if (requested.includes("fusion-seq")) await benchFusionSequence(ctx);
    if (requested.includes("fusion")) await benchFusionUtterance(ctx);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
