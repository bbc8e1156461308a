/**
 * Text embeddings against the PyTorch reference written by scripts/gen/text_fixtures.py: token ids from an
 * independent Python WordPiece implementation, embeddings from the torch model padded to max_len as the
 * reference pipeline does.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embedTexts } from "../src/extract/text.js";
import { TextEncoder } from "../src/text/encoder.js";
import { DEMO_MODEL, FIXTURES, removeDir, tinyBert30522 } from "./helpers/paths.js";

interface Reference {
  max_len: number;
  texts: string[];
  input_ids: number[][];
  mean: number[][];
  cls: number[][];
}

const ref = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, "reference", "text", name), "utf8")) as Reference;

/** Max over rows of |a - b| / max(|b|_inf, 1e-6): relative to each row's scale. */
function maxRelDiff(got: Float32Array, want: number[][], dim: number): number {
  let worst = 0;
  want.forEach((row, i) => {
    const scale = Math.max(1e-6, ...row.map(Math.abs));
    row.forEach((w, j) => {
      worst = Math.max(worst, Math.abs(got[i * dim + j] - w) / scale);
    });
  });
  return worst;
}

const TOL = 1e-5;

describe("tiny BERT with the real bert-base-uncased tokenizer", () => {
  let dir: string;
  const r128 = ref("tiny-bert-30522.json");
  const r16 = ref("tiny-bert-30522-maxlen16.json");
  beforeAll(async () => {
    dir = await tinyBert30522();
  });
  afterAll(() => removeDir(dir));

  it("tokenizes like the reference WordPiece (truncation keeps [CLS] ... [SEP])", async () => {
    for (const r of [r128, r16]) {
      const enc = await TextEncoder.load({ model: dir, maxLen: r.max_len, offline: true });
      try {
        r.texts.forEach((t, i) => expect(enc.tokenize(t), `text ${i}: ${JSON.stringify(t).slice(0, 60)}`).toEqual(r.input_ids[i]));
      } finally {
        await enc.dispose();
      }
    }
    // The long texts really are truncated, so the test covers truncation.
    expect(r128.input_ids.filter((ids) => ids.length === 128).length).toBeGreaterThanOrEqual(3);
    expect(r128.input_ids.filter((ids) => ids.length === 128).every((ids) => ids[127] === 102)).toBe(true);
  });

  for (const [name, r] of [["max_len 128", r128], ["max_len 16", r16]] as const) {
    for (const pooling of ["mean", "cls"] as const) {
      it(`matches torch ${pooling} pooling within ${TOL} relative (${name})`, async () => {
        const { embeddings, dim } = await embedTexts(r.texts, { model: dir, maxLen: r.max_len, pooling, offline: true });
        expect(dim).toBe(32);
        expect(maxRelDiff(embeddings, r[pooling], dim)).toBeLessThan(TOL);
      });
    }
  }

  it("gives the same embeddings whatever the batch size and input order", async () => {
    const enc = await TextEncoder.load({ model: dir, offline: true });
    try {
      const base = await enc.embed(r128.texts, 64);
      const perm = r128.texts.map((_, i) => i).reverse();
      perm.push(perm.shift()!);
      for (const bs of [1, 3, 7]) {
        const shuffled = await enc.embed(perm.map((i) => r128.texts[i]), bs);
        const back = new Float32Array(base.length);
        perm.forEach((orig, k) => back.set(shuffled.subarray(k * enc.dim, (k + 1) * enc.dim), orig * enc.dim));
        let worst = 0;
        for (let j = 0; j < base.length; j++) worst = Math.max(worst, Math.abs(back[j] - base[j]));
        expect(worst, `batch size ${bs}`).toBeLessThan(1e-5);
      }
    } finally {
      await enc.dispose();
    }
  });
});

describe("bundled demo model", () => {
  it("matches its torch reference", async () => {
    const r = ref("tiny-bert-demo.json");
    const enc = await TextEncoder.load({ model: DEMO_MODEL, offline: true });
    try {
      r.texts.forEach((t, i) => expect(enc.tokenize(t)).toEqual(r.input_ids[i]));
      expect(maxRelDiff(await enc.embed(r.texts), r.mean, enc.dim)).toBeLessThan(TOL);
    } finally {
      await enc.dispose();
    }
  });
});
