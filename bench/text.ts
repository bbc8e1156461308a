/**
 * npm run bench:text — throughput of our text extraction against the reference configuration on the same
 * engine and the same BERT-base-sized random model (12 layers, 768 hidden):
 *   reference: texts in index order, batches of 64, every text padded to 128 tokens;
 *   emofeat:   batches of 64 grouped by token length, padded to each batch's longest text.
 * Texts have IEMOCAP-like lengths (most 5-30 tokens). Prints utterances/s, the ratio, and the largest
 * difference between the two sets of embeddings. Needs bench/models/bert-base-random, made by
 *   /usr/bin/python3 scripts/gen/text_fixtures.py --bench
 * Options (env): BENCH_N (texts, default 256), BENCH_THREADS.
 */
import { TextEncoder } from "../src/text/encoder.js";
import { benchModel, seededRandom } from "./common.js";

const MODEL = benchModel("bert-base-random", "scripts/gen/text_fixtures.py");
const N = Number(process.env.BENCH_N ?? 256);
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;

// Utterance lengths in words: log-normal around 9 words (IEMOCAP transcripts: median about 10 words),
// clipped to 1..60; a fixed seed so every run sees the same texts.
const WORDS = ("i you we they it really never always why what where no yes please stop wait love hate this that right now here " +
  "there so very sorry happy sad angry okay well maybe tomorrow today house car work know think mean just like want going " +
  "get tell said believe can't don't didn't it's that's i'm you're about because something nothing everything").split(" ");
const { rnd, gauss } = seededRandom(42);
const texts = Array.from({ length: N }, () => {
  const n = Math.min(60, Math.max(1, Math.round(Math.exp(Math.log(9) + 0.7 * gauss()))));
  return Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(" ") + (rnd() < 0.3 ? "?" : ".");
});

const enc = await TextEncoder.load({ model: MODEL, offline: true, threads });
const tokenized = texts.map((t) => enc.tokenize(t));
const lens = tokenized.map((t) => t.length).sort((a, b) => a - b);
console.log(`bench:text: ${N} texts, tokens per text: median ${lens[N >> 1]}, p90 ${lens[Math.floor(N * 0.9)]}, max ${lens[N - 1]}; model ${MODEL} (dim ${enc.dim})`);

await enc.embedTokenized(tokenized.slice(0, 8)); // warm-up

let t0 = performance.now();
const reference = new Float32Array(N * enc.dim);
for (let i = 0; i < N; i += 64) {
  const batch = tokenized.slice(i, i + 64);
  reference.set(await enc.embedTokenized(batch, 128), i * enc.dim);
}
const refSecs = (performance.now() - t0) / 1000;

t0 = performance.now();
const ours = await enc.embed(texts, 64);
const ourSecs = (performance.now() - t0) / 1000;

let maxAbs = 0;
let maxRel = 0;
for (let i = 0; i < N; i++) {
  let scale = 0;
  for (let j = 0; j < enc.dim; j++) scale = Math.max(scale, Math.abs(reference[i * enc.dim + j]));
  for (let j = 0; j < enc.dim; j++) {
    const d = Math.abs(reference[i * enc.dim + j] - ours[i * enc.dim + j]);
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(scale, 1e-6));
  }
}
await enc.dispose();

console.log(`reference (index order, pad to 128): ${(N / refSecs).toFixed(1)} utt/s (${refSecs.toFixed(2)} s)`);
console.log(`emofeat (length-grouped, pad to batch max): ${(N / ourSecs).toFixed(1)} utt/s (${ourSecs.toFixed(2)} s)`);
console.log(`speed-up: ${(refSecs / ourSecs).toFixed(2)}x (target >= 4x); embeddings max abs diff ${maxAbs.toExponential(2)}, max relative ${maxRel.toExponential(2)}`);
