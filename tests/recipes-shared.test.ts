/**
 * RAVDESS, EmoDB and URDU recipes on the real samples in ../shared/data. Expected counts come from the
 * file listings and ../shared/data/README.md (worked out with ls/cut, not with the code under test);
 * durations are checked against Python's wave module (fixtures/recipes/shared-wav-headers.json).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputFileError } from "../src/errors.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { EMODB_PROBLEMS } from "../src/recipes/emodb.js";
import { buildIndex, countByReason, readWavHeader, writeIndexCsv, type IndexBuild } from "../src/recipes/index.js";
import { REPO, SHARED_DATA, sharedData } from "./helpers/shared.js";

interface RefHeader {
  sampleRate: number;
  channels: number;
  sampleWidth: number;
  frames: number;
}
const REF: Record<string, RefHeader> = JSON.parse(readFileSync(path.join(REPO, "fixtures/recipes/shared-wav-headers.json"), "utf8")).files;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "emofeat-shared-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const labelCounts = (b: IndexBuild) => Object.fromEntries(b.stats.labels.map((l) => [l, b.stats.counts[l].train + b.stats.counts[l].val + b.stats.counts[l].test]));
const row = (b: IndexBuild, id: string) => b.rows.find((r) => r.utter_id === id);

describe("WAV headers of the real samples", () => {
  it("match Python's wave module on every file (RAVDESS has a LIST chunk before data)", async () => {
    const names = Object.keys(REF);
    expect(names).toHaveLength(58 + 60 + 55 + 40);
    for (const rel of names) {
      const h = await readWavHeader(path.join(SHARED_DATA, rel));
      const ref = REF[rel];
      expect([h.sampleRate, h.channels, h.bitsPerSample, h.frames], rel).toEqual([ref.sampleRate, ref.channels, ref.sampleWidth * 8, ref.frames]);
      expect(h.duration).toBeCloseTo(ref.frames / ref.sampleRate, 12);
    }
  });
});

describe("RAVDESS sample", () => {
  it("indexes the 118 speech clips of actors 1 and 2 with labels, statements and durations", async () => {
    const b = await buildIndex("ravdess", { root: sharedData("ravdess") });
    expect(b.rows).toHaveLength(118);
    expect(b.problems).toEqual([]);
    // ls ravdess/*/ | cut -d- -f3 | sort | uniq -c
    expect(labelCounts(b)).toEqual({ neutral: 8, calm: 15, happy: 16, sad: 16, angry: 16, fear: 16, disgust: 16, surprise: 15 });
    expect(b.stats.splitTotals).toEqual({ train: 118, val: 0, test: 0 });
    expect(row(b, "03-01-01-01-01-01-01")).toEqual({
      utter_id: "03-01-01-01-01-01-01",
      session: "Actor_01",
      audio_path: path.join(SHARED_DATA, "ravdess/Actor_01/03-01-01-01-01-01-01.wav"),
      text: "Kids are talking by the door",
      label: "neutral",
      split: "train",
      speaker: "Actor_01",
      gender: "male",
      intensity: "normal",
      statement: "01",
      repetition: "01",
      channel: "speech",
      duration: "2.389",
    });
    expect(row(b, "03-01-08-02-02-02-02")).toMatchObject({ label: "surprise", text: "Dogs are sitting by the door", session: "Actor_02", gender: "female", intensity: "strong" });
    // every clip of this copy is cut at 2.389 s (README)
    expect(new Set(b.rows.map((r) => r.duration))).toEqual(new Set(["2.389"]));
    const { file } = await writeIndexCsv(b, path.join(dir, "ravdess"));
    expect(file).toBe(path.join(dir, "ravdess", "index.csv"));
    const m = await loadIndex(file, { require: ["text", "audio", "label"] });
    expect(m.utterances).toHaveLength(118);
  });
});

describe("EmoDB sample", () => {
  it("takes labels from the file-name letter, text from the sentence code, splits by speaker", async () => {
    const b = await buildIndex("emodb", { root: sharedData("emodb") });
    expect(b.rows).toHaveLength(55);
    // letters in audio_labels.csv: A 8, E 7, F 8, L 8, N 8, T 8, W 8
    expect(labelCounts(b)).toEqual({ fear: 8, disgust: 7, happy: 8, boredom: 8, neutral: 8, sad: 8, angry: 8 });
    // speakers (ls | cut -c1-2): train 03 08 09 10 11 14 = 42, val 12 13 = 10, test 15 16 = 3
    expect(b.stats.splitTotals).toEqual({ train: 42, val: 10, test: 3 });
    expect(row(b, "03a01Fa")).toEqual({
      utter_id: "03a01Fa",
      session: "Speaker_03",
      audio_path: path.join(SHARED_DATA, "emodb/wav/03a01Fa.wav"),
      text: "Der Lappen liegt auf dem Eisschrank.",
      label: "happy",
      split: "train",
      speaker: "03",
      gender: "male",
      sentence: "a01",
      version: "a",
      duration: "2.000",
    });
    expect(row(b, "16b02Eb")).toMatchObject({ label: "disgust", split: "test", gender: "female", text: "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter." });
    expect(row(b, "13a01Ea")).toMatchObject({ label: "disgust", split: "val" });
    expect(new Set(b.rows.map((r) => r.duration))).toEqual(new Set(["2.000"])); // cropped/padded to 2.0 s (README)
  });

  it("reports every file where audio_labels.csv contradicts the file-name letter", async () => {
    const b = await buildIndex("emodb", { root: sharedData("emodb"), durations: false });
    expect(countByReason(b.problems)).toEqual({ [EMODB_PROBLEMS.csvDisagrees]: 23 });
    // this copy's CSV calls E "anxiety", A "happiness", F "disgust" (the letters are Ekel, Angst, Freude)
    const pairs = new Set(b.problems.map((p) => `${p.utterance![5]}: ${/csv says "([^"]+)"/.exec(p.detail!)![1]}`));
    expect(pairs).toEqual(new Set(["E: anxiety", "A: happiness", "F: disgust"]));
    const m = await loadIndex((await writeIndexCsv(b, path.join(dir, "emodb.csv"))).file, { require: ["text", "audio", "label"] });
    expect(m.utterances.find((u) => u.utterId === "03a04Ad")?.label).toBe("fear");
  });
});

describe("URDU sample", () => {
  it("takes labels from the folders, speakers from the names, and leaves text empty", async () => {
    const b = await buildIndex("urdu", { root: sharedData("urdu") });
    expect(b.rows).toHaveLength(40);
    expect(b.problems).toEqual([]);
    expect(labelCounts(b)).toEqual({ angry: 10, happy: 10, neutral: 10, sad: 10 });
    // speaker number n: n % 5 == 0 test, n % 5 == 4 val (SM4, SM24, SF9), else train
    expect(b.stats.counts).toEqual({
      angry: { train: 5, val: 5, test: 0 },
      happy: { train: 9, val: 0, test: 1 },
      neutral: { train: 1, val: 1, test: 8 },
      sad: { train: 2, val: 4, test: 4 },
    });
    expect(row(b, "SF9_F3_N03")).toMatchObject({ session: "SF9", speaker: "SF9", gender: "female", label: "neutral", split: "val", text: "" });
    expect(b.rows.every((r) => r.text === "")).toBe(true);
    const expectedSeconds = Object.entries(REF)
      .filter(([rel]) => rel.startsWith("urdu/"))
      .reduce((s, [, h]) => s + h.frames / h.sampleRate, 0);
    expect(b.stats.durations!.total).toBeCloseTo(expectedSeconds, 6);
    expect(b.notes.join("\n")).toMatch(/no transcripts.*only audio extraction applies/);
  });

  it("loads for audio, and text consumers are told the index has no transcripts", async () => {
    const b = await buildIndex("urdu", { root: sharedData("urdu"), durations: false });
    const { file } = await writeIndexCsv(b, path.join(dir, "urdu"));
    await expect(loadIndex(file, { require: ["audio", "label"] })).resolves.toMatchObject({ utterances: expect.any(Array) });
    const err = await loadIndex(file, { require: ["text"] }).catch((e) => e);
    expect(err).toBeInstanceOf(InputFileError);
    expect((err as InputFileError).problems).toHaveLength(1);
    expect((err as InputFileError).message).toContain("no row has text (the text column is empty on all 40 rows): this index has no transcripts, so text extraction does not apply; use audio extraction");
  });
});
