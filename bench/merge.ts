/**
 * `emofeat merge` streams: its memory must not grow with the number of shards. The same synthetic store
 * (20,000 rows x 768 float32, 61 MB, written by the real extraction driver with a stand-in encoder) is cut
 * into 1, 4, 16 and 64 shards; each merge runs in a fresh process, which reports its time and peak RSS
 * (getrusage maxRSS). Printed as ratios against the 1-shard merge, measured in the same run, plus the store
 * size for scale. Usage: npm run bench:merge
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runExtraction } from "../src/extract/run.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { mergeShards } from "../src/shards/merge.js";
import { ROOT, seededRandom } from "./common.js";

const ROWS = 20_000;
const DIM = 768;
const BATCH = 32;
const COUNTS = [1, 4, 16, 64];

async function makeShards(csv: string, out: string, n: number): Promise<void> {
  const index = await loadIndex(csv);
  const batches: number[][] = [];
  for (let i = 0; i < ROWS; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, ROWS - i) }, (_, k) => i + k));
  for (let k = 0; k < n; k++)
    await runExtraction({
      index,
      outDir: out,
      modality: "text",
      fingerprintSettings: { bench: "merge", rows: ROWS, dim: DIM },
      batches,
      dim: DIM,
      meta: { model: { id: "bench", source: "local", file: "none", sha256: "0".repeat(64), dtype: "fp32" }, device: "cpu", pooling: "mean", settings: {} },
      shard: { k, n },
      processBatch: async (positions) => {
        const { gauss } = seededRandom(positions[0] + 1);
        return { positions, vectors: Float32Array.from({ length: positions.length * DIM }, gauss), failures: [] };
      },
    });
}

if (process.argv[2] === "--child") {
  const t0 = performance.now();
  await mergeShards({ out: process.argv[3] });
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + "\n");
} else {
  const dir = await mkdtemp(path.join(os.tmpdir(), "emofeat-bench-merge-"));
  try {
    const csv = path.join(dir, "index.csv");
    await writeFile(csv, "utter_id,session,audio_path,text,label,split\n" + Array.from({ length: ROWS }, (_, i) => `u${i},S1,,t${i},neutral,train\n`).join(""));
    const results: { n: number; seconds: number; maxRssMb: number }[] = [];
    let sha = "";
    for (const n of COUNTS) {
      const out = path.join(dir, `store-${n}`);
      await makeShards(csv, out, n);
      const r = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", path.join(ROOT, "bench", "merge.ts"), "--child", out], { cwd: ROOT }).toString());
      const meta = JSON.parse(await readFile(path.join(out, "meta.json"), "utf8"));
      if (sha && meta.embeddings_sha256 !== sha) throw new Error(`the ${n}-shard merge differs from the 1-shard merge`);
      sha = meta.embeddings_sha256;
      results.push({ n, ...r });
      await rm(out, { recursive: true, force: true });
    }
    const base = results[0];
    console.log(`merge of ${ROWS} x ${DIM} float32 (${((ROWS * DIM * 4) / 1e6).toFixed(0)} MB), one fresh process per merge; identical embeddings.npy for every shard count`);
    console.log("shards  seconds  peak RSS (MB)  time ratio  memory ratio (vs 1 shard)");
    for (const r of results)
      console.log(
        `${String(r.n).padStart(6)}  ${r.seconds.toFixed(2).padStart(7)}  ${r.maxRssMb.toFixed(0).padStart(13)}  ${(r.seconds / base.seconds).toFixed(2).padStart(10)}  ${(r.maxRssMb / base.maxRssMb).toFixed(2).padStart(12)}`,
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
