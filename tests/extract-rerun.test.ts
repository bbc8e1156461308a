/**
 * Rerunning an extraction with a batch size other than the store's: the text batch size (whose default went
 * from 64 to 16) and the audio batch size in exact mode do not change a finished store's numbers, so such a
 * store is up to date (with a note); an unfinished one resumes only with its own batches, and the message says
 * which --batch-size to pass; reference batching (padded batches) and settings that do change the numbers are
 * still refused.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT, removeDir, tempDir } from "./helpers/paths.js";

const WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
let dir: string;
beforeAll(async () => {
  dir = await tempDir("emofeat-rerun-");
});
afterAll(() => removeDir(dir));

describe("a rerun with another --batch-size", () => {
  it("text: a finished store made with --batch-size 64 is up to date under the default, with a note; other settings are refused", async () => {
    const out = path.join(dir, "text");
    await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 64 });
    const before = await readFile(path.join(out, "embeddings.npy"));
    const notes: string[] = [];
    const again = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, log: (l) => notes.push(l) });
    expect(again.status).toBe("up-to-date");
    expect(notes.join("\n")).toMatch(/made with --batch-size 64 \(this command: 16\), which does not change its numbers/);
    expect((await readFile(path.join(out, "embeddings.npy"))).equals(before)).toBe(true);
    expect(JSON.parse(await readFile(path.join(out, "meta.json"), "utf8")).settings.batch_size).toBe(64);
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, maxLen: 64 })).rejects.toThrow(/other settings: max_len 128 -> 64/);
  });

  it("text: an unfinished store resumes only with its own batch size, and the message names it", async () => {
    const out = path.join(dir, "text-unfinished");
    const ctrl = new AbortController();
    await expect(
      extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 4, flushRows: 1, signal: ctrl.signal, onProgress: (e) => e.done > 0 && ctrl.abort() }),
    ).rejects.toThrow(/interrupted/);
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true })).rejects.toThrow(
      /unfinished extraction .* with --batch-size 4 \(this command: 16\).*rerun with --batch-size 4, or pass --overwrite/,
    );
    const done = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 4 });
    expect(done.resumedRows).toBeGreaterThan(0);
  });

  it("a shard extracted with another batch size (another plan of batches) is refused, naming the setting", async () => {
    const out = path.join(dir, "text-shard");
    await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 4, shard: { k: 1, n: 2 } });
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, shard: { k: 1, n: 2 } })).rejects.toThrow(
      /holds a shard extracted with other settings, another index or another model \(batch_size 4 -> 16; fingerprint/,
    );
  });

  it("audio: up to date in exact mode; refused with reference batching, where the batch is padded", async () => {
    const lines = (await readFile(DEMO_INDEX, "utf8")).trim().split("\n").slice(1, 7);
    const csv = await writeIndex(
      dir,
      lines.map((l) => {
        const [utter_id, session, wav] = l.split(",");
        return { utter_id, session, audio_path: path.join(ROOT, "samples", "demo", wav), text: "x", label: "neutral", split: "train" };
      }),
      "audio.csv",
    );
    const exact = path.join(dir, "audio-exact");
    await extractAudio({ csv, out: exact, model: WAVLM, offline: true, batchSize: 4 });
    const notes: string[] = [];
    expect((await extractAudio({ csv, out: exact, model: WAVLM, offline: true, batchSize: 2, log: (l) => notes.push(l) })).status).toBe("up-to-date");
    expect(notes.join("\n")).toMatch(/--batch-size 4 \(this command: 2\)/);
    const ref = path.join(dir, "audio-reference");
    await extractAudio({ csv, out: ref, model: WAVLM, offline: true, batchSize: 4, batching: "reference" });
    await expect(extractAudio({ csv, out: ref, model: WAVLM, offline: true, batchSize: 2, batching: "reference" })).rejects.toThrow(/other settings: batch_size 4 -> 2/);
  });
});
