/**
 * What each representation option costs, measured on the demo corpus (samples/demo, the bundled tiny models),
 * and the error float16 adds: `npm run bench:repr`. Prints the numbers docs/representations.md quotes, with the
 * extrapolation to an IEMOCAP-sized corpus (rows x mean frames x D x bytes, D = 768 and 13 hidden states as in
 * the Base models).
 */
import { readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { openSequenceStore } from "../src/store/read.js";
import { ROOT } from "./common.js";

const CSV = path.join(ROOT, "samples", "demo", "index.csv");
const MODELS = { text: path.join(ROOT, "models", "tiny-bert-demo"), audio: path.join(ROOT, "models", "tiny-wavlm-demo") };
const OPTIONS = [
  { name: "pooled, last layer", layers: "last", pooling: "mean" },
  { name: "pooled, all layers", layers: "all", pooling: "mean" },
  { name: "mean+std, all layers", layers: "all", pooling: "mean+std" },
  { name: "sequence, last layer", layers: "last", pooling: "none" },
  { name: "sequence, all layers", layers: "all", pooling: "none" },
  { name: "sequence, all layers, float16", layers: "all", pooling: "none", storeDtype: "float16" },
] as const;

const IEMOCAP_ROWS = [5531, 7380]; // 4 classes (happy+excited), 6 classes: docs/recipes.md
const IEMOCAP_MEAN_SECONDS = 4.5; // commonly reported mean utterance duration; not measured here (IEMOCAP is licensed)
const BASE = { d: 768, hiddenStates: 13 };

const fmt = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "emofeat-bench-repr-"));
  try {
    const results: Record<string, Record<string, { bytes: number; meanRows: number; d: number; layers: number }>> = { text: {}, audio: {} };
    for (const modality of ["text", "audio"] as const) {
      for (const o of OPTIONS) {
        const out = path.join(dir, `${modality}-${o.name.replace(/[^a-z0-9]+/g, "-")}`);
        const args = { csv: CSV, out, model: MODELS[modality], offline: true, layers: o.layers, pooling: o.pooling, storeDtype: "storeDtype" in o ? o.storeDtype : undefined };
        const s = modality === "text" ? await extractText(args) : await extractAudio(args);
        const main = path.join(out, s.meta.pooling === "none" ? "frames.npy" : "embeddings.npy");
        results[modality][o.name] = {
          bytes: statSync(main).size,
          meanRows: s.meta.pooling === "none" ? s.meta.total_frames! / s.meta.n : 1,
          d: s.meta.d,
          layers: s.meta.layers?.length ?? 1,
        };
      }
    }
    const clips = parse(readFileSync(path.join(dir, "audio-pooled-last-layer", "clips.csv")), { columns: true }) as { kept_s: string }[];
    const meanSeconds = clips.reduce((a, c) => a + Number(c.kept_s), 0) / clips.length;
    const audioFrames = results.audio["sequence, last layer"].meanRows;
    const textTokens = results.text["sequence, last layer"].meanRows;

    console.log(`demo corpus: 24 utterances; audio ${meanSeconds.toFixed(2)} s and ${audioFrames.toFixed(1)} frames per clip (${(audioFrames / meanSeconds).toFixed(1)} frames/s); text ${textTokens.toFixed(1)} tokens per utterance (specials included)\n`);
    console.log("measured on the demo corpus (tiny models: D = 32 (64 for mean+std), 3 hidden states):");
    console.log("| option | text | audio |\n| --- | --- | --- |");
    for (const o of OPTIONS) console.log(`| ${o.name} | ${fmt(results.text[o.name].bytes)} | ${fmt(results.audio[o.name].bytes)} |`);

    console.log(`\nextrapolated to IEMOCAP (D = ${BASE.d}, ${BASE.hiddenStates} hidden states; text ${textTokens.toFixed(1)} tokens per row as measured; audio at ${IEMOCAP_MEAN_SECONDS} s per row x ${(audioFrames / meanSeconds).toFixed(1)} frames/s):`);
    console.log(`| option | text, ${IEMOCAP_ROWS.map((n) => n.toLocaleString("en")).join(" / ")} rows | audio, ${IEMOCAP_ROWS.map((n) => n.toLocaleString("en")).join(" / ")} rows |\n| --- | --- | --- |`);
    for (const o of OPTIONS) {
      const bytesPer = "storeDtype" in o && o.storeDtype === "float16" ? 2 : 4;
      const width = (o.pooling === "mean+std" ? 2 : 1) * BASE.d * (o.layers === "all" ? BASE.hiddenStates : 1) * bytesPer;
      const rowsText = o.pooling === "none" ? textTokens : 1;
      const rowsAudio = o.pooling === "none" ? (audioFrames / meanSeconds) * IEMOCAP_MEAN_SECONDS : 1;
      const cell = (per: number) => IEMOCAP_ROWS.map((n) => fmt(n * per * width)).join(" / ");
      console.log(`| ${o.name} | ${cell(rowsText)} | ${cell(rowsAudio)} |`);
    }

    // float16 against float32: the same sequence stores, every value.
    console.log("\nfloat16 vs float32 (sequence stores, all layers, every value):");
    for (const modality of ["text", "audio"] as const) {
      const a = await openSequenceStore(path.join(dir, `${modality}-sequence-all-layers`));
      const b = await openSequenceStore(path.join(dir, `${modality}-sequence-all-layers-float16`));
      let maxRel = 0;
      let maxAbs = 0;
      let maxRowRel = 0;
      let count = 0;
      let sumRel = 0;
      try {
        const rows = Array.from({ length: a.n }, (_, i) => i);
        const [x, y] = [await a.read(rows), await b.read(rows)];
        const w = (a.layers?.length ?? 1) * a.d;
        x.forEach((xa, i) => {
          for (let r = 0; r * w < xa.length; r++) {
            let scale = 0;
            let err = 0;
            for (let k = r * w; k < (r + 1) * w; k++) {
              const e = Math.abs(y[i][k] - xa[k]);
              scale = Math.max(scale, Math.abs(xa[k]));
              err = Math.max(err, e);
              maxAbs = Math.max(maxAbs, e);
              if (Math.abs(xa[k]) >= 2 ** -14) {
                maxRel = Math.max(maxRel, e / Math.abs(xa[k]));
                sumRel += e / Math.abs(xa[k]);
                count++;
              }
            }
            maxRowRel = Math.max(maxRowRel, err / scale);
          }
        });
      } finally {
        await a.close();
        await b.close();
      }
      console.log(
        `  ${modality}: ${count} values; relative error max ${maxRel.toExponential(2)}, mean ${(sumRel / count).toExponential(2)} ` +
          `(bound 2^-11 = ${(2 ** -11).toExponential(2)}); absolute max ${maxAbs.toExponential(2)}; relative to the frame's largest value max ${maxRowRel.toExponential(2)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
