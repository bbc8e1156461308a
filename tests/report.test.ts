/**
 * `emofeat report` end to end on small trained runs, runs written by hand in the CONTRACTS shapes of other
 * streams (layer weights, per-layer results, gated-fusion beta) and stores with hand-written clips.csv /
 * texts.csv; the page checked in headless Chromium.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cellText, type Block, type ReportDoc } from "../src/report/doc.js";
import { buildReport, writeReport } from "../src/report/report.js";
import { utteranceMatrix } from "../src/report/sections/stores.js";
import { mcnemarExact } from "../src/report/stats.js";
import { validateStores } from "../src/store/validate.js";
import { EXIT } from "../src/errors.js";
import { computeMetrics } from "../src/train/metrics.js";
import { trainProbe } from "../src/train/probe.js";
import type { RunMetrics } from "../src/train/run-dir.js";
import { launchChromium } from "./helpers/browser.js";
import { runEmofeatInProcess } from "./helpers/cli.js";
import { EMOTIONS, writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { removeDir, ROOT, tempDir } from "./helpers/paths.js";
import { loadSynth, type Synth } from "./helpers/synth.js";

const readJson = <T>(f: string) => JSON.parse(readFileSync(f, "utf8")) as T;
const readCsv = (f: string) => parse(readFileSync(f), { columns: true }) as Record<string, string>[];

/** Every block of the document, nested ones included. */
function blocks(doc: ReportDoc): Block[] {
  const out: Block[] = [];
  const walk = (b: Block) => {
    out.push(b);
    if (b.kind === "details" || b.kind === "group") b.blocks.forEach(walk);
  };
  doc.sections.forEach((s) => s.blocks.forEach(walk));
  return out;
}
const tables = (doc: ReportDoc) => blocks(doc).filter((b): b is Extract<Block, { kind: "table" }> => b.kind === "table");
const figures = (doc: ReportDoc) =>
  blocks(doc).flatMap((b) => (b.kind === "figure" ? [b] : b.kind === "figures" ? b.items : [])) as { id: string; svg: string; caption: string }[];

describe("emofeat report", () => {
  let dir: string;
  let s: Synth;
  let fx: ProbeFixture;
  let runs: Record<"text" | "concat" | "folds" | "layers", string>;
  const dropped = [3, 10, 700];

  beforeAll(async () => {
    dir = await tempDir("emofeat-report-");
    s = await loadSynth();
    fx = await writeProbeFixture(dir, s, { dropFromAudio: dropped });
    runs = {
      text: path.join(dir, "runs", "text-mlp"),
      concat: path.join(dir, "runs", "concat"),
      folds: path.join(dir, "runs", "text-loso"),
      layers: path.join(dir, "runs", "layers-gated"),
    };
    await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out: runs.text, seeds: 2, settings: { epochs: 3 } });
    await trainProbe({ csv: fx.csv, features: `audio=${fx.audio},text=${fx.text}`, head: "concat-linear", out: runs.concat, seeds: 2, settings: { epochs: 2 } });
    await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: runs.folds, protocol: { kind: "session-folds", val: "stratified" }, settings: { epochs: 2 } });

    // A run in the shapes of the layers and fusion streams (CONTRACTS), written by hand from the text run.
    await cp(runs.text, runs.layers, { recursive: true });
    const m = readJson<RunMetrics & Record<string, unknown>>(path.join(runs.layers, "metrics.json"));
    m.layer_weights = { layers: [0, 1, 2, 3, 4], mean: [0.1, 0.15, 0.2, 0.25, 0.3], std: [0.01, 0.02, 0.01, 0.03, 0.02] };
    m.per_layer = [0, 1, 2, 3, 4].map((layer) => ({
      layer,
      test: { accuracy: 0.4 + layer * 0.05, unweighted_accuracy: 0.38 + layer * 0.05, macro_f1: 0.35 + layer * 0.05 },
      test_std: { accuracy: 0.01, unweighted_accuracy: 0.02, macro_f1: 0.015 },
    }));
    m.beta = { mean_by_class: { train: { angry: 0.61, happy: 0.42, neutral: 0.5, sad: 0.33 }, test: { angry: 0.58, happy: 0.4, neutral: 0.52, sad: 0.3 } } };
    await writeFile(path.join(runs.layers, "metrics.json"), JSON.stringify(m, null, 2));
    const preds = readCsv(path.join(runs.text, "predictions.csv"));
    const betaRows = preds.map((p, i) => `${p.utter_id},test,${p.seed},,${p.label},${((i * 37) % 100) / 100}`);
    await writeFile(path.join(runs.layers, "beta.csv"), "utter_id,split,seed,fold,label,beta\n" + betaRows.join("\n") + "\n");

    // Store records in the CONTRACTS shapes: clips.csv for audio, texts.csv for text (harden writes the latter).
    const audioIds = readFileSync(path.join(fx.audio, "ids.txt"), "utf8").trim().split("\n");
    await writeFile(
      path.join(fx.audio, "clips.csv"),
      "utter_id,row,duration_s,kept_s,sample_rate,channels,truncated\n" +
        audioIds.map((id, i) => `${id},${i + 1},${(1 + (i % 13)).toFixed(3)},${Math.min(10, 1 + (i % 13)).toFixed(3)},16000,1,${1 + (i % 13) > 10 ? "yes" : "no"}`).join("\n") +
        "\n",
    );
    await writeFile(
      path.join(fx.text, "texts.csv"),
      "utter_id,row,tokens,kept_tokens,truncated\n" + fx.ids.map((id, i) => `${id},${i + 1},${5 + (i % 140)},${Math.min(128, 5 + (i % 140))},${5 + (i % 140) > 128}`).join("\n") + "\n",
    );
  });
  afterAll(() => removeDir(dir));

  it("train writes predictions.csv: one line per seed x test row, consistent with metrics.json", () => {
    const m = readJson<RunMetrics>(path.join(runs.text, "metrics.json"));
    const rows = readCsv(path.join(runs.text, "predictions.csv"));
    expect(Object.keys(rows[0])).toEqual(["utter_id", "split", "seed", "fold", "label", "pred"]);
    expect(rows).toHaveLength(2 * 350);
    expect(new Set(rows.map((r) => r.fold))).toEqual(new Set([""]));
    const byId = new Map(fx.ids.map((id, i) => [id, i]));
    for (const seed of m.seeds) {
      const mine = rows.filter((r) => Number(r.seed) === seed.seed);
      expect(mine.every((r) => r.split === "test" && s.split[byId.get(r.utter_id)!] === "test" && r.label === EMOTIONS[s.y[byId.get(r.utter_id)!]])).toBe(true);
      const again = computeMetrics(mine.map((r) => EMOTIONS.indexOf(r.label)), mine.map((r) => EMOTIONS.indexOf(r.pred)), EMOTIONS);
      expect(again.confusion).toEqual(seed.test.confusion);
      expect(again.accuracy).toBeCloseTo(seed.test.accuracy, 12);
    }
    // Cross-validation: every utterance tested once per seed, in the fold of its session.
    const folds = readCsv(path.join(runs.folds, "predictions.csv"));
    expect(folds).toHaveLength(1000);
    expect(new Set(folds.map((r) => r.utter_id)).size).toBe(1000);
    for (const r of folds) expect(r.fold).toBe(`Session${(byId.get(r.utter_id)! % 4) + 1}`);
  });

  it("builds every section from the inputs, with figures captioned with their n", async () => {
    const { doc, inputs } = await buildReport({ runs: [...Object.values(runs), path.join(dir, "nothing-here")], csv: fx.csv, features: [fx.audio, fx.text], out: "", baselines: true, resamples: 300, maxPoints: 150 });
    expect(inputs.skipped.map((x) => x.reason)).toEqual(["no such folder"]);
    expect(doc.sections.map((x) => x.id)).toEqual(["results", "runs", "corpus", "stores"]);

    // Results: one row per run with metrics.json's numbers, and the reference baselines.
    const results = tables(doc).find((t) => t.id === "results-table")!;
    const text = readJson<RunMetrics>(path.join(runs.text, "metrics.json"));
    const row = results.rows.find((r) => cellText(r[0]) === "text-mlp")!;
    expect(cellText(row[7])).toBe(`${(100 * text.test.accuracy).toFixed(2)} ± ${(100 * text.test_std.accuracy).toFixed(2)}`);
    expect(cellText(row[8])).toBe(`${(100 * text.test.unweighted_accuracy).toFixed(2)} ± ${(100 * text.test_std.unweighted_accuracy).toFixed(2)}`);
    expect(cellText(results.rows.find((r) => cellText(r[0]) === "text-loso")![5])).toBe("4-fold LOSO");
    expect(cellText(results.rows.find((r) => cellText(r[0]) === "layers-gated")![4])).toBe("weighted sum of 5 layers");
    const baselines = results.rows.filter((r) => cellText(r[0]).startsWith("reference: "));
    expect(baselines.map((r) => [cellText(r[0]), cellText(r[7]), cellText(r[9])])).toEqual([
      ["reference: audio", "40.00", "33.00"],
      ["reference: text", "47.00", "39.00"],
      ["reference: concat", "53.00", "42.00"],
    ]);

    // Significance: runs are paired only on identical test rows (the concat run lacks the rows missing from the
    // audio store, so it pairs with the text runs only if none of those is a test row).
    const sig = tables(doc).filter((t) => t.id.startsWith("significance-"));
    expect(sig.length).toBeGreaterThanOrEqual(1);
    const pair = sig.flatMap((t) => t.rows).find((r) => new Set([cellText(r[0]), cellText(r[1])]).has("text-mlp") && new Set([cellText(r[0]), cellText(r[1])]).has("layers-gated"));
    // The hand-made run has the text run's predictions: no discordant rows, p = 1, difference 0.
    expect(pair).toBeDefined();
    expect(cellText(pair![4])).toBe("0 / 0");
    expect(cellText(pair![5])).toBe("1.000");
    // McNemar counts for text vs concat, recomputed here from the two predictions.csv (when they share rows).
    const a = readCsv(path.join(runs.text, "predictions.csv"));
    const b = readCsv(path.join(runs.concat, "predictions.csv"));
    const tp = sig.flatMap((t) => t.rows).find((r) => new Set([cellText(r[0]), cellText(r[1])]).has("concat") && new Set([cellText(r[0]), cellText(r[1])]).has("text-mlp"));
    if (new Set(a.map((r) => r.utter_id)).size === new Set(b.map((r) => r.utter_id)).size) {
      expect(tp).toBeDefined();
      const ps = [0, 1].map((seed) => {
        const bMap = new Map(b.filter((r) => Number(r.seed) === seed).map((r) => [r.utter_id, r]));
        let onlyA = 0;
        let onlyB = 0;
        for (const r of a.filter((x) => Number(x.seed) === seed)) {
          const ra = r.pred === r.label;
          const rb = bMap.get(r.utter_id)!.pred === r.label;
          if (ra && !rb) onlyA++;
          if (!ra && rb) onlyB++;
        }
        const aIsText = cellText(tp![0]) === "text-mlp";
        return { p: mcnemarExact(onlyA, onlyB), counts: aIsText ? `${onlyA} / ${onlyB}` : `${onlyB} / ${onlyA}` };
      });
      const worst = ps.reduce((x, y) => (y.p > x.p ? y : x));
      expect(cellText(tp![4])).toBe(worst.counts);
    } else expect(tp).toBeUndefined();

    // Per run: confusion, per-class bars, curves; layer weights, per-layer and beta for the hand-made run.
    const figs = figures(doc);
    const ids = figs.map((f) => f.id);
    for (const name of ["text-mlp", "concat", "text-loso", "layers-gated"]) {
      expect(ids).toContain(`${name}-confusion`);
      expect(ids).toContain(`${name}-per-class`);
      expect(ids).toContain(`${name}-curves`);
    }
    expect(ids).toContain("layers-gated-layer-weights");
    expect(ids).toContain("layers-gated-per-layer");
    expect(ids).toContain("layers-gated-beta");
    expect(ids.filter((i) => i.endsWith("-layer-weights"))).toEqual(["layers-gated-layer-weights"]);
    const lw = figs.find((f) => f.id === "layers-gated-layer-weights")!;
    expect(lw.svg).toContain("4 weight: 0.3000");
    expect(lw.caption).toMatch(/mean ± std over 2 trained head/);
    expect(figs.find((f) => f.id === "layers-gated-beta")!.caption).toMatch(/n per class \(test\): angry \d+, happy \d+/);
    expect(figs.find((f) => f.id === "text-loso-curves")!.caption).toMatch(/4 curve\(s\)/);
    // A cross-validation run's per-class scores are metrics.json's means over its folds, and the caption says so.
    const folds = readJson<{ protocol: { folds: unknown[] } }>(path.join(runs.folds, "config.json")).protocol.folds.length;
    expect(figs.find((f) => f.id === "text-loso-per-class")!.caption).toContain(`Per-class test precision, recall and F1 of text-loso, the mean over its ${folds} folds.`);
    expect(figs.find((f) => f.id === "text-mlp-per-class")!.caption).toMatch(/^Per-class test precision, recall and F1 of text-mlp, mean over 2 seeds/);
    expect(figs.find((f) => f.id === "text-mlp-confusion")!.caption).toMatch(/n = 350 test rows per seed/);
    const betaTable = tables(doc).find((t) => t.id === "layers-gated-beta-table")!;
    expect(betaTable.rows.find((r) => r[0] === "sad")!.map(cellText)).toEqual(["sad", "0.330", "0.300"]);
    for (const f of figs) {
      expect(f.caption.length, f.id).toBeGreaterThan(40);
      expect(f.svg.startsWith("<svg"), f.id).toBe(true);
    }

    // Corpus: split x label counts from the index, durations and cut from clips.csv, tokens from texts.csv, failures.
    const sl = tables(doc).find((t) => t.id === "corpus-split-label")!;
    const count = (split: string, label: number) => s.y.filter((y, i) => y === label && s.split[i] === split).length;
    expect(sl.rows.find((r) => r[0] === "sad")!.map(cellText)).toEqual(["sad", String(count("train", 3)), String(count("val", 3)), String(count("test", 3)), String(s.y.filter((y) => y === 3).length)]);
    const dur = tables(doc).find((t) => t.id === "corpus-durations-table")!;
    const audioIds = readFileSync(path.join(fx.audio, "ids.txt"), "utf8").trim().split("\n");
    const cut = audioIds.filter((_, i) => 1 + (i % 13) > 10).length;
    expect(cellText(dur.rows[dur.rows.length - 1][5])).toBe(`${cut} (${((100 * cut) / audioIds.length).toFixed(1)}%)`);
    const tok = figs.find((f) => f.id.startsWith("fig-tokens"))!;
    const truncated = fx.ids.filter((_, i) => 5 + (i % 140) > 128).length;
    expect(tok.caption).toContain(`${truncated} text(s)`);
    expect(tok.caption).toContain("n = 1000 texts");
    const fail = tables(doc).find((t) => t.id === "corpus-failures-table")!;
    expect(fail.rows.map((r) => cellText(r[2]))).toEqual(["2"]);
    expect(cellText(fail.rows[0][1])).toBe("could not decode the audio");

    // Stores: validation status per store, PCA and UMAP on a subsample that the caption states.
    const st = tables(doc).find((t) => t.id === "stores-table")!;
    // The fixture's hand-written stores fail some checks (e.g. their recorded sha256); the page says what validate says.
    const v = await validateStores([fx.audio, fx.text], fx.csv);
    expect(st.rows.map((r) => cellText(r[8]))).toEqual(v.stores.map((x) => (x.ok ? "valid" : `INVALID (${x.checks.filter((c) => !c.ok).length} check(s) failed)`)));
    expect(v.stores.some((x) => !x.ok)).toBe(true);
    const pca = figs.find((f) => f.id === "text-pca")!;
    expect(pca.caption).toContain("fit on all 1000 rows");
    expect(pca.caption).toContain("150 of the 1000 rows are drawn");
    expect(figs.some((f) => f.id === "text-umap")).toBe(true);
  });

  it("is a pure function of its inputs: same bytes apart from the generated-at line", async () => {
    const o = { runs: [runs.text, runs.concat], csv: fx.csv, features: [fx.text], resamples: 200, maxPoints: 300, projection: ["pca" as const] };
    const a = await writeReport({ ...o, out: path.join(dir, "r1.html"), now: new Date("2026-01-01T00:00:00Z") });
    const b = await writeReport({ ...o, out: path.join(dir, "r2.html"), now: new Date("2026-06-01T12:00:00Z") });
    const [ha, hb] = await Promise.all([readFile(a.file, "utf8"), readFile(b.file, "utf8")]);
    const la = ha.split("\n");
    const lb = hb.split("\n");
    expect(la.length).toBe(lb.length);
    const diff = la.map((l, i) => (l === lb[i] ? -1 : i)).filter((i) => i >= 0);
    expect(diff).toHaveLength(1);
    expect(la[diff[0]]).toMatch(/^<p class="generated">Generated 2026-01-01T00:00:00Z by emofeat/);
    // Self-contained: nothing is fetched from elsewhere.
    expect(ha).not.toMatch(/<(script|img|link)[^>]+(src|href)=/i);
    expect(ha).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    // An existing file that is not a report is never overwritten.
    const other = path.join(dir, "mine.html");
    await writeFile(other, "<html>my notes</html>");
    await expect(writeReport({ ...o, out: other })).rejects.toThrow(/not an emofeat report; refusing to overwrite/);
    expect(readFileSync(other, "utf8")).toBe("<html>my notes</html>");
  });

  it("CLI: --format md writes report.md and PNG figures; bad input is a one-line error", async () => {
    const out = path.join(dir, "md");
    const r = await runEmofeatInProcess(["report", runs.text, runs.layers, "--csv", fx.csv, "--features", fx.text, "--out", out, "--format", "md", "--projection", "pca", "--resamples", "200", "-q"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*report\.md \(\d+ KiB, 2 run\(s\), 1 store\(s\), \d+ figure\(s\)\)\n$/);
    const md = readFileSync(path.join(out, "report.md"), "utf8");
    expect(md).toMatch(/\| run \| head \| inputs \| pooling \|/);
    const pngs = [...md.matchAll(/!\[Figure \d+\]\((figures\/[^)]+\.png)\)/g)].map((x) => x[1]);
    expect(pngs.length).toBeGreaterThan(8);
    for (const p of pngs) expect(readFileSync(path.join(out, p)).subarray(1, 4).toString()).toBe("PNG");
    expect(md).toContain("*Figure 1. ");

    const bad = await runEmofeatInProcess(["report", path.join(dir, "none"), "--out", path.join(dir, "x.html")]);
    expect(bad.code).toBe(EXIT.input);
    expect(bad.stderr).toMatch(/^emofeat: nothing to report: no finished run, store or index \(.*none: no such folder\)\n$/);
    expect(existsSync(path.join(dir, "x.html"))).toBe(false);
  });

  it("sequence stores are projected as the mean over each utterance's frames (the contract's reader)", async () => {
    const frames = [
      [[1, 2], [3, 4]],
      [[10, 0]],
      [[0, 1], [0, 3], [0, 5]],
    ];
    const opener = async () => ({
      ids: ["a", "b", "c"],
      lengths: Int32Array.from(frames.map((f) => f.length)),
      n: 3,
      d: 2,
      read: async (rows: number[]) => rows.map((r) => Float32Array.from(frames[r].flat())),
      close: async () => {},
    });
    const m = await utteranceMatrix({ dir: "seq", meta: { pooling: "none" } as never, validation: null, clips: null, texts: null, failures: [] }, opener);
    if (typeof m === "string") throw new Error(m);
    expect(Array.from(m.x)).toEqual([2, 3, 10, 0, 0, 3]);
    expect(m.note).toBe("mean over each utterance's frames");
  });

  it("renders in Chromium without console errors; tables sort; figures are visible (screenshot kept)", async () => {
    const out = path.join(dir, "page.html");
    await writeReport({ runs: Object.values(runs), csv: fx.csv, features: [fx.audio, fx.text], out, baselines: true, resamples: 200, maxPoints: 150 });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(`file://${out}`, { waitUntil: "load" });
      expect(errors).toEqual([]);

      const column = async (col: number) =>
        page.$$eval(`#results-table tbody tr`, (trs, c) => trs.map((tr) => (tr as unknown as { cells: { getAttribute(n: string): string | null }[] }).cells[c as number].getAttribute("data-sort") ?? ""), col);
      const ua = 8;
      await page.click(`#results-table thead th:nth-child(${ua + 1})`);
      const desc = (await column(ua)).map(Number);
      expect(desc).toEqual([...desc].sort((x, y) => y - x));
      expect(await page.$eval(`#results-table thead th:nth-child(${ua + 1})`, (th) => th.getAttribute("aria-sort"))).toBe("descending");
      await page.click(`#results-table thead th:nth-child(${ua + 1})`);
      const asc = (await column(ua)).map(Number);
      expect(asc).toEqual([...asc].sort((x, y) => x - y));
      expect(asc).not.toEqual(desc);
      await page.click(`#results-table thead th:nth-child(1)`);
      const names = await page.$$eval(`#results-table tbody tr td:first-child`, (tds) => tds.map((td) => td.textContent ?? ""));
      expect(names).toHaveLength(7);
      expect(names).toEqual([...names].sort((x, y) => x.localeCompare(y)));

      const sizes = await page.$$eval("figure svg", (svgs) => svgs.map((s) => s.getBoundingClientRect()).map((r) => [r.width, r.height]));
      expect(sizes.length).toBeGreaterThan(15);
      for (const [w, h] of sizes) expect(w > 100 && h > 100).toBe(true);
      const captions = await page.$$eval("figure", (fs) => fs.filter((f) => !f.querySelector("figcaption")).length);
      expect(captions).toBe(0);

      const shots = path.join(ROOT, "test-output");
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, "report.png"), fullPage: true });
      expect(readFileSync(path.join(shots, "report.png")).length).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
