/**
 * `npm run bench:report`: a study of 50 runs (5 seeds each, 50 epochs, some with layer weights, per-layer results
 * and gate values) and two 10,000-row, 768-dim stores; builds the report, then opens it in headless Chromium.
 * Prints its size and load time against the targets (10 MB, 2 s) and, as the reference measured in the same run,
 * the load time of an empty page (the browser's own cost, so a loaded machine shows in the ratio).
 *
 *   npm run bench:report [-- --runs 50 --rows 10000 --dim 768 --keep DIR]
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { writeReport } from "../src/report/report.js";
import { launchChromium } from "../tests/helpers/browser.js";
import { writeIndex } from "../tests/helpers/csv.js";
import { writeStore } from "../tests/helpers/probe-data.js";
import { seededRandom } from "./common.js";

const { values: args } = parseArgs({ options: { runs: { type: "string", default: "50" }, rows: { type: "string", default: "10000" }, dim: { type: "string", default: "768" }, keep: { type: "string" } } });
const RUNS = Number(args.runs);
const N = Number(args.rows);
const D = Number(args.dim);
const LABELS = ["angry", "happy", "neutral", "sad"];
const SEEDS = 5;
const EPOCHS = 50;
const { rnd, gauss } = seededRandom(7);

const dir = args.keep ?? path.join(os.tmpdir(), `emofeat-bench-report-${process.pid}`);
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });

// Index: 5 sessions, 70/10/20 split, 4 labels.
const ids = Array.from({ length: N }, (_, i) => `utt_${String(i).padStart(6, "0")}`);
const y = ids.map(() => Math.floor(rnd() * 4));
const split = ids.map(() => (rnd() < 0.7 ? "train" : rnd() < 0.33 ? "val" : "test"));
const csv = await writeIndex(dir, ids.map((id, i) => ({ utter_id: id, session: `Session${(i % 5) + 1}`, text: "t", label: LABELS[y[i]], split: split[i] })));

// Two stores with class structure (a class mean plus noise).
const stores: string[] = [];
for (const modality of ["text", "audio"] as const) {
  const means = LABELS.map(() => Float32Array.from({ length: D }, () => gauss()));
  const x = new Float32Array(N * D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) x[i * D + j] = 0.6 * means[y[i]][j] + gauss();
  const failed = modality === "audio" ? [{ utterId: "ghost_1", row: N + 1, reason: "audio: file not found" }] : [];
  const sdir = await writeStore(path.join(dir, "features", modality), ids, x, D, modality, "", failed);
  if (modality === "audio")
    await writeFile(path.join(sdir, "clips.csv"), "utter_id,row,duration_s,kept_s,sample_rate,channels,truncated\n" + ids.map((id, i) => { const d = 1 + 14 * rnd(); return `${id},${i + 1},${d.toFixed(3)},${Math.min(d, 10).toFixed(3)},16000,1,${d > 10 ? "yes" : "no"}`; }).join("\n") + "\n");
  else
    await writeFile(path.join(sdir, "texts.csv"), "utter_id,row,tokens,kept_tokens,truncated\n" + ids.map((id, i) => { const t = 4 + Math.floor(60 * rnd() ** 2 * 3); return `${id},${i + 1},${t},${Math.min(t, 128)},${t > 128}`; }).join("\n") + "\n");
  stores.push(sdir);
}

// Runs in the run-directory format (metrics, config, epochs, predictions; some with layer weights, per-layer, beta).
const test = ids.map((_, i) => i).filter((i) => split[i] === "test");
const runDirs: string[] = [];
for (let r = 0; r < RUNS; r++) {
  const rdir = path.join(dir, "runs", `run-${String(r).padStart(2, "0")}`);
  await mkdir(rdir, { recursive: true });
  const skill = 0.35 + 0.3 * rnd();
  const seeds = Array.from({ length: SEEDS }, (_, s) => {
    const pred = test.map((i) => (rnd() < skill ? y[i] : Math.floor(rnd() * 4)));
    const cm = LABELS.map(() => LABELS.map(() => 0));
    test.forEach((i, k) => cm[y[i]][pred[k]]++);
    const acc = test.filter((i, k) => pred[k] === y[i]).length / test.length;
    const perClass = LABELS.map((label, c) => {
      const tp = cm[c][c];
      const sup = cm[c].reduce((a, b) => a + b, 0);
      const predicted = cm.reduce((a, row) => a + row[c], 0);
      const p = predicted ? tp / predicted : 0;
      const rc = sup ? tp / sup : 0;
      return { label, precision: p, recall: rc, f1: p + rc ? (2 * p * rc) / (p + rc) : 0, support: sup };
    });
    const ua = perClass.reduce((a, c) => a + c.recall, 0) / 4;
    const f1 = perClass.reduce((a, c) => a + c.f1, 0) / 4;
    const m = { n: test.length, accuracy: acc, unweighted_accuracy: ua, macro_f1: f1, weighted_f1: f1, per_class: perClass, confusion: cm };
    return { seed: s, pred, m };
  });
  const mean = (f: (m: (typeof seeds)[0]["m"]) => number) => seeds.reduce((a, s) => a + f(s.m), 0) / SEEDS;
  const std = (f: (m: (typeof seeds)[0]["m"]) => number) => Math.sqrt(seeds.reduce((a, s) => a + (f(s.m) - mean(f)) ** 2, 0) / (SEEDS - 1));
  const test_ = { ...seeds[0].m, accuracy: mean((m) => m.accuracy), unweighted_accuracy: mean((m) => m.unweighted_accuracy), macro_f1: mean((m) => m.macro_f1) };
  const metrics: Record<string, unknown> = {
    labels: LABELS,
    head: r % 2 ? "mlp" : "concat-linear",
    inputs: r % 2 ? ["text"] : ["audio", "text"],
    protocol: "split",
    selection: "best-val-macro-f1",
    train: test_,
    val: test_,
    test: test_,
    train_std: {},
    val_std: {},
    test_std: { accuracy: std((m) => m.accuracy), unweighted_accuracy: std((m) => m.unweighted_accuracy), macro_f1: std((m) => m.macro_f1), weighted_f1: 0 },
    seeds: seeds.map((s) => ({ seed: s.seed, train: s.m, val: s.m, test: s.m, selected_epoch: 30, seconds: 1 })),
  };
  if (r % 5 === 0) {
    const w = Array.from({ length: 13 }, () => rnd());
    const z = w.reduce((a, b) => a + b, 0);
    metrics.layer_weights = { layers: w.map((_, i) => i), mean: w.map((v) => v / z), std: w.map(() => 0.01) };
  }
  if (r % 7 === 0)
    metrics.per_layer = Array.from({ length: 13 }, (_, l) => ({ layer: l, test: { accuracy: 0.4 + l / 60, unweighted_accuracy: 0.38 + l / 60, macro_f1: 0.36 + l / 60 }, test_std: { accuracy: 0.01, unweighted_accuracy: 0.01, macro_f1: 0.01 } }));
  const features = (r % 2 ? ["text"] : ["audio", "text"]).map((name) => ({ name, dir: path.join(dir, "features", name), modality: name, model_id: `bench/${name}-base`, model_sha256: "0".repeat(64), pooling: "mean", d: D, n: N, fingerprint: "x", embeddings_sha256: "x" }));
  const config = { format: "emofeat.run", format_version: 1, tool: { name: "emofeat", version: "bench" }, created: "2026-01-01T00:00:00Z", command: null, index: { path: csv, sha256: "", rows: N }, features, head: metrics.head, arch: {}, settings: { select: "best-val-macro-f1", epochs: EPOCHS }, classes: { spec: null, labels: LABELS, map: {} }, protocol: { kind: "split", folds: [{ name: "split", train: 0, val: 0, test: test.length, val_source: "split column" }] }, seeds: seeds.map((s) => s.seed), threads: 2, join: {}, export: { file: null, reason: "bench" } };
  const epochRows = ["seed,fold,epoch,train_loss,val_loss,val_accuracy,val_unweighted_accuracy,val_macro_f1,val_weighted_f1,seconds,tested"];
  for (const s of seeds)
    for (let e = 1; e <= EPOCHS; e++) {
      const v = skill * (1 - Math.exp(-e / 10)) + 0.02 * gauss();
      epochRows.push(`${s.seed},split,${e},${(1.4 * Math.exp(-e / 20) + 0.3).toFixed(5)},${(1.4 * Math.exp(-e / 25) + 0.45).toFixed(5)},${v.toFixed(5)},${v.toFixed(5)},${(v - 0.02).toFixed(5)},${v.toFixed(5)},0.1,${e === 30 ? 1 : 0}`);
    }
  const preds = ["utter_id,split,seed,fold,label,pred"];
  for (const s of seeds) test.forEach((i, k) => preds.push(`${ids[i]},test,${s.seed},,${LABELS[y[i]]},${LABELS[s.pred[k]]}`));
  await writeFile(path.join(rdir, "metrics.json"), JSON.stringify(metrics));
  await writeFile(path.join(rdir, "config.json"), JSON.stringify(config));
  await writeFile(path.join(rdir, "epochs.csv"), epochRows.join("\n") + "\n");
  await writeFile(path.join(rdir, "predictions.csv"), preds.join("\n") + "\n");
  if (r % 10 === 3) {
    metrics.beta = { mean_by_class: { test: Object.fromEntries(LABELS.map((l) => [l, 0.5])) } };
    await writeFile(path.join(rdir, "metrics.json"), JSON.stringify(metrics));
    await writeFile(path.join(rdir, "beta.csv"), "utter_id,split,seed,fold,label,beta\n" + seeds.flatMap((s) => test.map((i) => `${ids[i]},test,${s.seed},,${LABELS[y[i]]},${rnd().toFixed(4)}`)).join("\n") + "\n");
  }
  runDirs.push(rdir);
}
console.log(`study: ${RUNS} runs x ${SEEDS} seeds (${test.length} test rows, ${EPOCHS} epochs), 2 stores of ${N} x ${D}, in ${dir}`);

const t0 = performance.now();
const rep = await writeReport({ runs: runDirs, features: stores, csv, out: path.join(dir, "report.html"), baselines: true });
const buildS = (performance.now() - t0) / 1000;
console.log(`report built in ${buildS.toFixed(1)} s: ${rep.file}, ${(rep.bytes / 2 ** 20).toFixed(2)} MiB, ${rep.figures} figures`);

// Reference: the browser alone (an empty page, loaded the same way), so a loaded machine shows in the ratio.
const plain = path.join(dir, "empty.html");
await writeFile(plain, "<!DOCTYPE html><html><body></body></html>");

const browser = await launchChromium();
async function loadMs(file: string): Promise<{ load: number; paint: number }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`file://${file}`, { waitUntil: "load" });
  // Wait for the first frame after load: layout and paint of the whole page are done.
  const t = await page.evaluate(
    () =>
      new Promise<{ load: number; paint: number }>((resolve) => {
        // Browser globals (the project's tsconfig has no DOM types).
        const g = globalThis as unknown as { requestAnimationFrame(f: () => void): void; performance: { now(): number; getEntriesByType(t: string): { loadEventEnd: number }[] } };
        g.requestAnimationFrame(() => setTimeout(() => resolve({ load: g.performance.getEntriesByType("navigation")[0].loadEventEnd, paint: g.performance.now() }), 0));
      }),
  );
  if (errors.length) throw new Error(`page errors in ${file}: ${errors.join("; ")}`);
  await page.close();
  return t;
}
try {
  const runs = 3;
  const ours: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < runs; i++) {
    ref.push((await loadMs(plain)).paint);
    ours.push((await loadMs(rep.file)).paint);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mb = rep.bytes / 1e6;
  console.log(`size: ${mb.toFixed(2)} MB (target < 10 MB) ${mb < 10 ? "OK" : "OVER"}`);
  console.log(`open (navigation start -> first frame after load, median of ${runs}): ${med(ours).toFixed(0)} ms (target < 2000 ms) ${med(ours) < 2000 ? "OK" : "OVER"}`);
  console.log(`reference: an empty page: ${med(ref).toFixed(0)} ms; report / reference = ${(med(ours) / med(ref)).toFixed(1)}x`);
} finally {
  await browser.close();
  if (!args.keep) await rm(dir, { recursive: true, force: true });
}
