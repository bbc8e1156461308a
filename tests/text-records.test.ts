/** texts.csv and meta.totals: every text that --max-len cuts is counted and listed, against Hugging Face's token counts. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractText } from "../src/extract/text.js";
import { writeIndex } from "./helpers/csv.js";
import { FIXTURES, removeDir, tempDir, tinyBert30522 } from "./helpers/paths.js";

describe("text truncation is counted", () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-texts-");
    model = await tinyBert30522();
  });
  afterAll(async () => {
    await removeDir(dir);
    await removeDir(model);
  });

  it("lists each text's tokens, kept tokens and whether it was cut (HF tokenizer lengths from the PyTorch fixtures)", async () => {
    // Reference: bert-base-uncased's Python tokenizer, unpadded ids with [CLS]/[SEP], at max_len 128 (never cut) and 16.
    const full = JSON.parse(await readFile(path.join(FIXTURES, "reference", "text", "tiny-bert-30522.json"), "utf8"));
    const cut = JSON.parse(await readFile(path.join(FIXTURES, "reference", "text", "tiny-bert-30522-maxlen16.json"), "utf8"));
    const texts: string[] = full.texts;
    const csv = await writeIndex(dir, texts.map((text, i) => ({ utter_id: `t${i}`, text })));
    const out = path.join(dir, "store");
    const s = await extractText({ csv, out, model, offline: true, maxLen: 16 });
    const rows = parse(await readFile(path.join(out, "texts.csv")), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.utter_id)).toEqual(texts.map((_, i) => `t${i}`));
    // Texts the 128-token reference did not cut have its exact length; the ones it cut are longer than 128.
    full.input_ids.forEach((ids: number[], i: number) => {
      if (ids.length < 128) expect(Number(rows[i].tokens), texts[i]).toBe(ids.length);
      else expect(Number(rows[i].tokens), texts[i]).toBeGreaterThan(128);
    });
    expect(rows.map((r) => Number(r.kept_tokens))).toEqual(cut.input_ids.map((ids: number[]) => ids.length));
    const truncated = full.input_ids.filter((ids: number[]) => ids.length > 16).length;
    expect(truncated).toBeGreaterThan(5);
    expect(rows.filter((r) => r.truncated === "yes")).toHaveLength(truncated);
    expect(s.meta.totals).toMatchObject({ texts: texts.length, truncated });
  });
});
