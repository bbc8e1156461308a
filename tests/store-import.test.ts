/** emofeat store import: features from other tools become stores that validate, train and report. */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Predictor } from "../src/predict/predict.js";
import { importStore } from "../src/store/import.js";
import { readStore } from "../src/store/read.js";
import { validateStores } from "../src/store/validate.js";
import { trainProbe } from "../src/train/probe.js";
import { formatSummary, summarizeRuns } from "../src/train/summarize.js";
import { runEmofeatInProcess as cli } from "./helpers/cli.js";
import { writeIndex } from "./helpers/csv.js";
import { removeDir, tempDir } from "./helpers/paths.js";

const py = (code: string) => execFileSync("python3", ["-c", code]).toString();

describe("emofeat store import", () => {
  let dir: string;
  let csv: string;
  const N = 60;
  const D = 5;
  beforeAll(async () => {
    dir = await tempDir("emofeat-import-");
    const labels = ["angry", "happy", "sad"];
    csv = await writeIndex(
      dir,
      Array.from({ length: N }, (_, i) => ({ utter_id: `u${i}`, label: labels[i % 3], split: i % 5 === 0 ? "test" : i % 5 === 1 ? "val" : "train", text: "x" })),
    );
    // numpy writes the features the way another tool would: float64, Fortran order, rows shuffled, one id the
    // index lacks ("stranger"), one index row (u7) missing; and a folder of float32 (D,) files.
    py(`
import numpy as np
rng = np.random.default_rng(0)
ids = [f"u{i}" for i in range(${N}) if i != 7] + ["stranger"]
order = rng.permutation(len(ids))
ids = [ids[i] for i in order]
x = rng.normal(size=(len(ids), ${D}))
x[:, 0] += np.array([int(i[1:]) % 3 if i != "stranger" else 0 for i in ids]) * 2.0
np.save("${dir}/feats.npy", np.asfortranarray(x))
open("${dir}/feats_ids.txt", "w").write("\\n".join(ids) + "\\n")
import os
os.makedirs("${dir}/vecs", exist_ok=True)
for i, u in enumerate(ids):
    np.save(f"${dir}/vecs/{u}.npy", x[i].astype(np.float32))
# The reference the store must hold: index order, float32, without u7 and stranger.
ref = np.stack([x[ids.index(f"u{i}")] for i in range(${N}) if i != 7]).astype(np.float32)
np.save("${dir}/ref.npy", ref)
`);
  });
  afterAll(() => removeDir(dir));

  it("an .npy matrix with ids: index order, float64 -> float32, missing rows as failures; it validates, trains and reports", async () => {
    const out = path.join(dir, "features", "imported");
    const s = await importStore({ csv, out, modality: "audio", npy: path.join(dir, "feats.npy"), ids: path.join(dir, "feats_ids.txt"), name: "my-tool" });
    expect(s.ignored).toEqual(["stranger"]);
    expect(s.meta).toMatchObject({ n: N - 1, d: D, failures: 1, modality: "audio", model: { id: "my-tool", source: "imported", dtype: "<f8" } });
    const store = await readStore(out);
    expect(store.ids).toEqual(Array.from({ length: N }, (_, i) => `u${i}`).filter((id) => id !== "u7"));
    const same = py(`import numpy as np; print(bool((np.load("${out}/embeddings.npy") == np.load("${dir}/ref.npy")).all()))`).trim();
    expect(same).toBe("True");
    expect(await readFile(path.join(out, "failures.csv"), "utf8")).toBe("utter_id,row,reason\nu7,8,not in the imported features\n");
    const report = await validateStores([out], csv);
    expect(report.ok, JSON.stringify(report.stores[0].checks.filter((c) => !c.ok))).toBe(true);

    const run = path.join(dir, "runs", "imported");
    const res = await trainProbe({ csv, features: out, head: "linear", out: run, settings: { epochs: 100, lr: 0.1 } });
    expect(res.metrics.test.accuracy).toBeGreaterThan(0.6); // the features carry the label (dimension 0)
    const { rows } = await summarizeRuns([run]);
    expect(formatSummary(rows, "text")).toContain("audio (my-tool)");
    await expect(Predictor.load(run)).rejects.toThrow(/store "audio" of this run was imported .*cannot compute those features for new utterances/);
  });

  it("a folder of one .npy per utterance gives the same store", async () => {
    const out = path.join(dir, "features", "folder");
    const s = await importStore({ csv, out, modality: "text", perUtterance: path.join(dir, "vecs") });
    expect(s.meta).toMatchObject({ n: N - 1, d: D, failures: 1, model: { id: "vecs", dtype: "<f4" } });
    const a = await readStore(out);
    const b = await readStore(path.join(dir, "features", "imported"));
    expect(Array.from(a.embeddings)).toEqual(Array.from(b.embeddings));
    expect((await validateStores([out], csv)).ok).toBe(true);
  });

  it("refuses what it cannot import, with the reason; exit codes 1 (usage) and 2 (bad input)", async () => {
    py(`
import numpy as np
np.save("${dir}/half.npy", np.zeros((3, 2), dtype=np.float16))
np.save("${dir}/cube.npy", np.zeros((3, 2, 2), dtype=np.float32))
x = np.zeros((3, 2)); x[1, 1] = np.nan
np.save("${dir}/nan.npy", x)
open("${dir}/three.txt", "w").write("u0\\nu1\\nu1\\n")
open("${dir}/two.txt", "w").write("u0\\nu1\\n")
`);
    const imp = (npy: string, ids = "three.txt") => importStore({ csv, out: path.join(dir, "bad"), modality: "audio", npy: path.join(dir, npy), ids: path.join(dir, ids) });
    await expect(imp("half.npy")).rejects.toThrow(/dtype <f2; import takes float32 or float64/);
    await expect(imp("cube.npy")).rejects.toThrow(/shape \(3, 2, 2\); import takes pooled features/);
    await expect(imp("nan.npy", "two.txt")).rejects.toThrow(/has 2 ids, --npy .* has 3 rows/);
    await expect(imp("nan.npy")).rejects.toThrow(/line 3: duplicate id "u1" \(first at line 2\)[\s\S]*line 2: "u1": NaN or infinite value in row 1/);

    const usage = await cli(["store", "import", "--csv", csv, "--out", path.join(dir, "bad"), "--modality", "audio"]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/give either --npy FILE with --ids FILE, or --per-utterance DIR/);
    const bad = await cli(["store", "import", "--csv", csv, "--out", path.join(dir, "bad"), "--modality", "audio", "--per-utterance", path.join(dir, "nope")]);
    expect(bad.code).toBe(2);
    const ok = await cli(["store", "import", "--csv", csv, "--out", path.join(dir, "cli"), "--modality", "audio", "--per-utterance", path.join(dir, "vecs"), "-q"]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/^emofeat: warning: 1 imported id\(s\) are not in the index and were left out \(e\.g\. stranger\)\n$/);
    const again = await cli(["store", "import", "--csv", csv, "--out", path.join(dir, "cli"), "--modality", "audio", "--per-utterance", path.join(dir, "vecs"), "-q"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds a feature store .*--overwrite/);
  });
});
