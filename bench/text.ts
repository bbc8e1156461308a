/**
 * npm run bench:text — emofeat's text extraction against the engine floor and the reference configuration.
 *
 * 1. Engine floor vs emofeat, whole process, on the same BERT-base-sized random model (12 x 768) and the same
 *    BENCH_N (default 800) IEMOCAP-like texts: bench/floor-text.ts (a plain onnxruntime-node loop, see there)
 *    and `emofeat extract text` with default settings, as child processes of this one. Prints both, and
 *    emofeat's whole-process time over the floor's load + runs (target <= 1.15), then the same for 2 rows
 *    (target: emofeat <= floor load + 1 s). emofeat runs twice: the first run may hash the model file (a new
 *    path, size or mtime), the second finds the hash in the cache.
 * 2. The reference configuration, in this process as before: texts in index order, batches of 64, every text
 *    padded to 128 tokens, against emofeat's encoder (length-grouped, padded to each batch's longest) on
 *    BENCH_REF_N (default 256) texts; utterances/s, the ratio, the largest difference between the embeddings.
 * 3. Memory: BENCH_MEM_N (default 100000) rows through the tiny demo model (the pipeline, not the model, is
 *    what could grow with the corpus), peak RSS at 10 % of the rows and at the end.
 *
 * The machine may be busy: every section prints the load average, and ratios compare runs made here, now.
 * Needs bench/models/bert-base-random: /usr/bin/python3 scripts/gen/text_fixtures.py --bench
 * Env: BENCH_N, BENCH_REF_N, BENCH_MEM_N (0 skips a section), BENCH_SMALL=0 skips the 2-row run, BENCH_FLOOR_BATCH (floor batch size, default 16).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { TextEncoder } from "../src/text/encoder.js";
import { buildCli } from "../tests/helpers/build-cli.js";
import { benchModel, floorVsEmofeat, spinningLine, fmtS, lastJson, machineLine, mustRun, printMemory, ROOT, seededRandom, type FloorTimes } from "./common.js";

const MODEL = benchModel("bert-base-random", "scripts/gen/text_fixtures.py");
const N = Number(process.env.BENCH_N ?? 800);
const REF_N = Number(process.env.BENCH_REF_N ?? 256);
const MEM_N = Number(process.env.BENCH_MEM_N ?? 100_000);
const FLOOR_BATCH = Number(process.env.BENCH_FLOOR_BATCH ?? 16);

// Utterance lengths in words: log-normal around 9 words (IEMOCAP transcripts: median about 10 words),
// clipped to 1..60; a fixed seed so every run sees the same texts.
const WORDS = ("i you we they it really never always why what where no yes please stop wait love hate this that right now here " +
  "there so very sorry happy sad angry okay well maybe tomorrow today house car work know think mean just like want going " +
  "get tell said believe can't don't didn't it's that's i'm you're about because something nothing everything").split(" ");
function makeTexts(n: number, seed = 42): string[] {
  const { rnd, gauss } = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const k = Math.min(60, Math.max(1, Math.round(Math.exp(Math.log(9) + 0.7 * gauss()))));
    return Array.from({ length: k }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(" ") + (rnd() < 0.3 ? "?" : ".");
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), "emofeat-bench-text-"));
function writeData(name: string, texts: string[]): { csv: string; json: string } {
  const csv = path.join(dir, `${name}.csv`);
  const rows = texts.map((t, i) => [`utt${String(i).padStart(6, "0")}`, `S${(i % 5) + 1}`, "", t, "neutral", "train"]);
  writeFileSync(csv, stringify(rows, { header: true, columns: ["utter_id", "session", "audio_path", "text", "label", "split"] }));
  const json = path.join(dir, `${name}.json`);
  writeFileSync(json, JSON.stringify(texts));
  return { csv, json };
}

const cli = await buildCli();
console.log(`bench:text: model ${path.relative(ROOT, MODEL)}; emofeat = node ${path.relative(ROOT, cli)} (src/ built by esbuild)`);
console.log(spinningLine());

async function compare(n: number, label: string, target: (f: FloorTimes) => number, targetText: string): Promise<void> {
  const { csv, json } = writeData(`texts-${n}`, makeTexts(n));
  console.log(`\n[${label}] ${n} texts; ${machineLine()}`);
  await floorVsEmofeat({
    modality: "text",
    floorScript: "floor-text.ts",
    floorArgs: [MODEL, json, String(FLOOR_BATCH)],
    floorRuns: `runs of <= ${FLOOR_BATCH} length-sorted texts`,
    emofeatArgs: [cli, "extract", "text", "--csv", csv, "--model", MODEL, "--offline"],
    workDir: path.join(dir, `work-${n}`),
    target,
    targetText,
  });
}

if (N > 0) await compare(N, "speed", (f) => 1.15 * (f.load_s + f.runs_s), "target 1.15x =");
if (process.env.BENCH_SMALL !== "0") await compare(2, "2 rows", (f) => f.load_s + 1, "target floor load + 1 s =");

if (REF_N > 0) {
  const texts = makeTexts(REF_N);
  console.log(`\n[reference configuration] ${REF_N} texts, in this process; ${machineLine()}`);
  const enc = await TextEncoder.load({ model: MODEL, offline: true });
  const tokenized = texts.map((t) => enc.tokenize(t));
  const lens = tokenized.map((t) => t.length).sort((a, b) => a - b);
  console.log(`tokens per text: median ${lens[REF_N >> 1]}, p90 ${lens[Math.floor(REF_N * 0.9)]}, max ${lens[REF_N - 1]} (dim ${enc.dim})`);
  await enc.embedTokenized(tokenized.slice(0, 8)); // warm-up

  let t0 = performance.now();
  const reference = new Float32Array(REF_N * enc.dim);
  for (let i = 0; i < REF_N; i += 64) reference.set(await enc.embedTokenized(tokenized.slice(i, i + 64), 128), i * enc.dim);
  const refSecs = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const ours = await enc.embed(texts);
  const ourSecs = (performance.now() - t0) / 1000;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < REF_N; i++) {
    let scale = 0;
    for (let j = 0; j < enc.dim; j++) scale = Math.max(scale, Math.abs(reference[i * enc.dim + j]));
    for (let j = 0; j < enc.dim; j++) {
      const d = Math.abs(reference[i * enc.dim + j] - ours[i * enc.dim + j]);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.max(scale, 1e-6));
    }
  }
  await enc.dispose();
  console.log(`reference (index order, batches of 64 padded to 128): ${(REF_N / refSecs).toFixed(1)} utt/s (${fmtS(refSecs)})`);
  console.log(`emofeat (length-grouped, default batch size, padded to batch max): ${(REF_N / ourSecs).toFixed(1)} utt/s (${fmtS(ourSecs)})`);
  console.log(`speed-up: ${(refSecs / ourSecs).toFixed(2)}x (target >= 4x); embeddings max abs diff ${maxAbs.toExponential(2)}, max relative ${maxRel.toExponential(2)}`);
}

if (MEM_N > 0) {
  const { csv } = writeData(`texts-${MEM_N}`, makeTexts(MEM_N, 7));
  console.log(`\n[memory] ${MEM_N} rows through models/tiny-bert-demo; ${machineLine()}`);
  const r = await mustRun("memory run", ["--import", "tsx", path.join(ROOT, "bench", "memory-child.ts"), "text", csv, path.join(ROOT, "models", "tiny-bert-demo"), path.join(dir, "mem-store")]);
  printMemory(lastJson(r.stdout), r.wallS);
}

rmSync(dir, { recursive: true, force: true });
