/** Speaker-independent, stratified, seeded splits: `emofeat split`, `emofeat index ... --split`, and train's warnings. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadIndex } from "../src/manifest/index-csv.js";
import { assignSplits, parseRatios, type SplitRowInput } from "../src/manifest/split.js";
import { trainProbe } from "../src/train/probe.js";
import type { RunConfig } from "../src/train/run-dir.js";
import { Rng } from "../src/util/rng.js";
import { runEmofeatInProcess } from "./helpers/cli.js";
import { writeIndex } from "./helpers/csv.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { writeStore } from "./helpers/probe-data.js";

const LABELS = ["angry", "happy", "neutral", "sad"];

/** `speakers` groups of 5-40 rows each, every speaker with its own label mix (as real corpora have). */
function corpus(speakers: number, seed: number): SplitRowInput[] {
  const rng = new Rng(seed);
  const rows: SplitRowInput[] = [];
  for (let s = 0; s < speakers; s++) {
    const n = 5 + rng.int(36);
    const w = LABELS.map(() => 0.2 + rng.next());
    const tot = w.reduce((a, b) => a + b, 0);
    for (let i = 0; i < n; i++) {
      let u = rng.next() * tot;
      let k = 0;
      while (u > w[k] && k < LABELS.length - 1) u -= w[k++];
      rows.push({ group: `spk${s}`, label: LABELS[k] });
    }
  }
  return rows;
}

/** Sum over splits and labels of |share of the label in the split - its share overall|. */
function mixError(rows: SplitRowInput[], splits: string[]): number {
  let err = 0;
  for (const s of ["train", "val", "test"]) {
    const idx = rows.map((_, i) => i).filter((i) => splits[i] === s);
    for (const l of LABELS) {
      const all = rows.filter((r) => r.label === l).length / rows.length;
      const here = idx.filter((i) => rows[i].label === l).length / idx.length;
      err += Math.abs(here - all);
    }
  }
  return err;
}

describe("assignSplits", () => {
  it("keeps every speaker in one split, meets the ratios within one speaker's rows, and is seeded", () => {
    const rows = corpus(40, 7);
    const ratios = parseRatios("80/10/10");
    const a = assignSplits(rows, ratios, 0);
    const home = new Map<string, string>();
    rows.forEach((r, i) => {
      expect(home.get(r.group) ?? a.splits[i]).toBe(a.splits[i]);
      home.set(r.group, a.splits[i]);
    });
    const biggest = Math.max(...[...home.keys()].map((g) => rows.filter((r) => r.group === g).length));
    (["train", "val", "test"] as const).forEach((s, k) => {
      const n = a.splits.filter((x) => x === s).length;
      expect(Math.abs(n - ratios[k] * rows.length), s).toBeLessThanOrEqual(biggest);
    });
    expect(assignSplits(rows, ratios, 0).splits).toEqual(a.splits);
    expect(assignSplits(rows, ratios, 1).groups).toBeDefined();
  });

  it("is stratified: its label mixes are closer to the whole corpus's than random speaker-independent splits", () => {
    const rows = corpus(40, 11);
    const ratios = parseRatios("70/15/15");
    const ours = mixError(rows, assignSplits(rows, ratios, 0).splits);
    // Baseline: speakers shuffled and cut at the same row counts (what a plain group split does), 50 draws.
    const groups = [...new Set(rows.map((r) => r.group))];
    const errs: number[] = [];
    for (let seed = 0; seed < 50; seed++) {
      const order = groups.slice();
      new Rng(100 + seed).shuffle(order);
      const home = new Map<string, string>();
      let acc = 0;
      for (const g of order) {
        const frac = acc / rows.length;
        home.set(g, frac < 0.7 ? "train" : frac < 0.85 ? "val" : "test");
        acc += rows.filter((r) => r.group === g).length;
      }
      errs.push(mixError(rows, rows.map((r) => home.get(r.group)!)));
    }
    errs.sort((a, b) => a - b);
    expect(ours).toBeLessThan(errs[0]); // better than the best of 50 random group splits
  });

  it("refuses too few groups, fills every non-zero split, and places rows without a session one by one", () => {
    const two = [...Array(10)].map((_, i) => ({ group: i < 5 ? "A" : "B", label: LABELS[i % 4] }));
    expect(() => assignSplits(two, parseRatios("80/10/10"), 0)).toThrow(/needs at least 3 groups by "session"; the index has 2 \(A, B\).*80\/0\/20/);
    const ok = assignSplits(two, parseRatios("80/0/20"), 0);
    expect(new Set(ok.splits)).toEqual(new Set(["train", "test"]));
    const loose = [...Array(30)].map((_, i) => ({ group: "", label: LABELS[i % 4] }));
    const a = assignSplits(loose, parseRatios("80/10/10"), 3);
    expect(a.ungrouped).toBe(30);
    expect(Math.abs(a.splits.filter((s) => s === "test").length - 3)).toBeLessThanOrEqual(1);
    expect(() => parseRatios("80/20")).toThrow(/three non-negative numbers/);
  });
});

describe("emofeat split and index --split", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-split-");
  });
  afterAll(() => removeDir(dir));

  it("writes a new index with every other column kept and relative audio paths still pointing at the same files", async () => {
    const src = path.join(dir, "corpus", "meta.csv");
    await mkdir(path.dirname(src), { recursive: true });
    const rows = corpus(12, 3).map((r, i) => `u${i},${r.group},wav/u${i}.wav,text ${i},${r.label},train,extra${i}`);
    const text = `utter_id,session,audio_path,text,label,split,note\n${rows.join("\n")}\n`;
    await writeFile(src, text);
    const out = path.join(dir, "out", "split.csv");
    const r = await runEmofeatInProcess(["split", src, "--ratios", "70/15/15", "--seed", "2", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/split 70\/15\/15 by session \(seed 2\)/);
    expect(r.stdout).toMatch(/wrote \d+ rows to .*split\.csv/);
    const before = await loadIndex(src);
    const after = await loadIndex(out);
    expect(after.columns).toEqual(before.columns);
    expect(after.utterances.map((u) => [u.utterId, u.audioFile, u.text, u.label, u.extra.note])).toEqual(
      before.utterances.map((u) => [u.utterId, u.audioFile, u.text, u.label, u.extra.note]),
    );
    expect(new Set(after.utterances.map((u) => u.split))).toEqual(new Set(["train", "val", "test"]));
    expect(await readFile(src, "utf8")).toBe(text); // the input is untouched
    const same = await runEmofeatInProcess(["split", src, "--out", src]);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/is the input index/);
  });

  it("index generic --split 80/10/10 replaces the single train split", async () => {
    const src = path.join(dir, "gen.csv");
    const lines = corpus(15, 5).map((r, i) => `g${i},${r.label},${r.group},words ${i}`);
    await writeFile(src, `file,emotion,speaker,transcript\n${lines.join("\n")}\n`);
    const out = path.join(dir, "gen-index.csv");
    const r = await runEmofeatInProcess(["index", "generic", "--csv", src, "--id-col", "file", "--label-col", "emotion", "--session-col", "speaker", "--text-col", "transcript", "--split", "80/10/10", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/split 80\/10\/10 by session \(seed 0\).*replacing the recipe's split/);
    const idx = await loadIndex(out);
    const bySession = new Map<string, Set<string>>();
    for (const u of idx.utterances) bySession.set(u.session, (bySession.get(u.session) ?? new Set()).add(u.split));
    expect([...bySession.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set(idx.utterances.map((u) => u.split))).toEqual(new Set(["train", "val", "test"]));
  });
});

describe("train warns about splits it cannot trust", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-split-train-");
  });
  afterAll(() => removeDir(dir));

  it("names small splits and the classes a split lacks, on stderr and in config.json", async () => {
    // 7 classes; test = 3 rows of 2 classes (EmoDB's sample as found by the issue).
    const labels = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"];
    const rows = Array.from({ length: 70 }, (_, i) => ({ utter_id: `r${i}`, label: labels[i % 7], split: i < 3 ? "test" : i < 10 ? "val" : "train", text: "x" }));
    const csv = await writeIndex(dir, rows);
    const x = Float32Array.from({ length: 70 * 4 }, (_, i) => Math.sin(i));
    const store = await writeStore(path.join(dir, "store"), rows.map((r) => r.utter_id), x, 4, "text");
    const logged: string[] = [];
    const res = await trainProbe({ csv, features: store, head: "linear", out: path.join(dir, "run"), settings: { epochs: 1 }, log: (l) => logged.push(l) });
    const expected = [
      "warning: val has 7 row(s), fewer than 5 per class for 7 classes: its metrics are unreliable",
      "warning: test has 3 row(s), fewer than 5 per class for 7 classes: its metrics are unreliable",
      "warning: test has no rows of fear, happiness, neutral, sadness (test metrics leave them out)",
    ];
    for (const w of expected) expect(logged).toContain(w);
    const config = JSON.parse(await readFile(path.join(res.runDir, "config.json"), "utf8")) as RunConfig;
    expect(config.warnings).toEqual(expected.map((w) => w.slice("warning: ".length)));
  });
});
