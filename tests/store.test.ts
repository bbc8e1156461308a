import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractText } from "../src/extract/text.js";
import { InterruptedError } from "../src/extract/run.js";
import { encodeNpy, parseNpyHeader, readNpy } from "../src/store/npy.js";
import { readStore } from "../src/store/read.js";
import { writeIndex } from "./helpers/csv.js";
import { exitOf, killAfterParts } from "./helpers/kill-child.js";
import { texts } from "./helpers/texts.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT, removeDir, tempDir } from "./helpers/paths.js";

describe("npy codec", () => {
  it("writes 64-byte aligned headers numpy reads, and reads them back", async () => {
    const dir = await tempDir();
    try {
      const data = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
      const file = path.join(dir, "a.npy");
      await writeFile(file, encodeNpy(data, [3, 4]));
      const h = parseNpyHeader(await readFile(file));
      expect(h.dataOffset % 64).toBe(0);
      expect(h).toMatchObject({ descr: "<f4", fortranOrder: false, shape: [3, 4] });
      expect(Array.from((await readNpy(file)).data)).toEqual(Array.from(data));
      const out = execFileSync("python3", ["-c", `import numpy as np; a=np.load(${JSON.stringify(file)}); print(a.dtype, a.shape, a.flags['C_CONTIGUOUS'], float(a.sum()), float(a[2,3]))`]).toString().trim();
      expect(out).toBe(`float32 (3, 4) True ${data.reduce((a, b) => a + b, 0).toFixed(1)} 3.5`);
    } finally {
      await removeDir(dir);
    }
  });

  it("rejects truncated files and other dtypes", async () => {
    const dir = await tempDir();
    try {
      const file = path.join(dir, "t.npy");
      const full = encodeNpy(new Float32Array(8), [2, 4]);
      await writeFile(file, full.subarray(0, full.length - 4));
      await expect(readNpy(file)).rejects.toThrow(/size .* bytes, the header's shape \(2, 4\) needs/);
      execFileSync("python3", ["-c", `import numpy as np; np.save(${JSON.stringify(file)}, np.zeros((2,2), dtype=np.float64))`]);
      await expect(readNpy(file)).rejects.toThrow(/dtype <f8, expected float32/);
    } finally {
      await removeDir(dir);
    }
  });
});

describe("feature store written by extract text", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => removeDir(dir));

  it("round-trips through numpy, in index order, with meta.json describing it", async () => {
    const out = path.join(dir, "store");
    const s = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, layout: "per-utterance" });
    expect(s.status).toBe("created");
    const store = await readStore(out);
    const ids = (await readFile(DEMO_INDEX, "utf8")).trim().split("\n").slice(1).map((l) => l.split(",")[0]);
    expect(store.ids).toEqual(ids);
    expect(store.meta).toMatchObject({ modality: "text", n: 24, d: 32, pooling: "mean", max_len: 128, dtype: "float32", failures: 0, layout: "per-utterance" });
    expect(store.meta.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    const py = execFileSync("python3", [
      "-c",
      `import numpy as np, json, hashlib
a = np.load("${out}/embeddings.npy")
ids = open("${out}/ids.txt").read().split("\\n")[:-1]
one = np.load("${out}/per_utterance/" + ids[5] + ".npy")
m = json.load(open("${out}/meta.json"))
print(json.dumps({"shape": list(a.shape), "dtype": str(a.dtype), "ids": len(ids), "row5": bool((one == a[5]).all()), "one": list(one.shape),
  "sha": hashlib.sha256(open("${out}/embeddings.npy","rb").read()).hexdigest() == m["embeddings_sha256"], "v": float(a[3, 7])}))`,
    ]).toString();
    const r = JSON.parse(py);
    expect(r).toMatchObject({ shape: [24, 32], dtype: "float32", ids: 24, row5: true, one: [32], sha: true });
    expect(r.v).toBeCloseTo(store.embeddings[3 * 32 + 7], 6);
    // Nothing temporary is left behind.
    expect(readdirSync(out).sort()).toEqual(["embeddings.npy", "ids.txt", "meta.json", "per_utterance", "texts.csv"]);
  });

  it("says up to date for the same command, and refuses to mix settings without --overwrite", async () => {
    const out = path.join(dir, "again");
    await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true });
    const before = await readFile(path.join(out, "meta.json"), "utf8");
    const again = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true });
    expect(again.status).toBe("up-to-date");
    expect(await readFile(path.join(out, "meta.json"), "utf8")).toBe(before);
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, pooling: "cls", maxLen: 64 })).rejects.toThrow(
      /made with other settings: pooling mean -> cls, max_len 128 -> 64 \(model .*\).*--overwrite/s,
    );
    const replaced = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, pooling: "cls", overwrite: true });
    expect(replaced.meta.pooling).toBe("cls");
  });

  it("stops cleanly on abort and resumes to the same bytes", async () => {
    const csv = await writeIndex(dir, texts(300).map((text, i) => ({ utter_id: `u${i}`, text })), "abort.csv");
    const full = path.join(dir, "abort-full");
    const part = path.join(dir, "abort-part");
    await extractText({ csv, out: full, model: DEMO_MODEL, offline: true, batchSize: 8, flushRows: 8 });
    const ctrl = new AbortController();
    let seen = 0;
    const run = extractText({
      csv, out: part, model: DEMO_MODEL, offline: true, batchSize: 8, flushRows: 8, signal: ctrl.signal,
      onProgress: (e) => {
        if (e.phase === "extract" && e.done >= 80 && seen++ === 0) ctrl.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(InterruptedError);
    await expect(extractText({ csv, out: part, model: DEMO_MODEL, offline: true, batchSize: 16 })).rejects.toThrow(
      /unfinished extraction started .* with --batch-size 8 \(this command: 16\).* rerun with --batch-size 8, or pass --overwrite/,
    );
    expect(existsSync(path.join(part, "meta.json"))).toBe(false);
    expect(existsSync(path.join(part, "embeddings.npy"))).toBe(false);
    let resumed = 0;
    const s = await extractText({ csv, out: part, model: DEMO_MODEL, offline: true, batchSize: 8, flushRows: 8, onProgress: (e) => (resumed = e.resumed) });
    expect(s.resumedRows).toBeGreaterThanOrEqual(80);
    expect(resumed).toBe(s.resumedRows);
    expect((await readFile(path.join(part, "embeddings.npy"))).equals(await readFile(path.join(full, "embeddings.npy")))).toBe(true);
    expect(await readFile(path.join(part, "ids.txt"), "utf8")).toBe(await readFile(path.join(full, "ids.txt"), "utf8"));
  });

  it("resumes after kill -9 and ends byte-identical to an uninterrupted run", async () => {
    const csv = await writeIndex(dir, texts(600).map((text, i) => ({ utter_id: `k${i}`, text })), "kill.csv");
    // Only the killed run needs a process of its own; the reference run and the resumed one run here.
    const settings = { csv, model: DEMO_MODEL, offline: true, threads: 1, batchSize: 2, flushRows: 2 };
    const full = path.join(dir, "kill-full");
    await extractText({ ...settings, out: full });

    const out = path.join(dir, "kill-part");
    const p = spawn(process.execPath, [path.join(ROOT, "tests/helpers/extract-child.mjs"), csv, out, DEMO_MODEL, "2", "2"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    const partial = path.join(out, ".partial");
    await killAfterParts(p, partial);
    await exitOf(p);
    expect(existsSync(path.join(out, "meta.json")), "killed before it finished").toBe(false);

    let firstDone = -1;
    await extractText({
      ...settings,
      out,
      onProgress: (e) => {
        if (e.phase === "extract" && firstDone < 0) firstDone = e.done;
      },
    });
    expect(firstDone).toBeGreaterThan(0); // resumed: started with rows already done
    expect(firstDone).toBeLessThan(600);
    expect((await readFile(path.join(out, "embeddings.npy"))).equals(await readFile(path.join(full, "embeddings.npy")))).toBe(true);
    expect(existsSync(partial)).toBe(false);
  });

});
