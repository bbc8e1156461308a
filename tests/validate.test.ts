import { execFileSync } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractText } from "../src/extract/text.js";
import { parseNpyHeader } from "../src/store/npy.js";
import { validateStores, type ValidationReport } from "../src/store/validate.js";
import { sha256File } from "../src/util/fs.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT, removeDir, tempDir } from "./helpers/paths.js";
import { runEmofeatInProcess } from "./helpers/cli.js";

const failed = (r: ValidationReport) => r.stores.flatMap((s) => s.checks.filter((c) => !c.ok).map((c) => c.name));

describe("validate", () => {
  let dir: string;
  let good: string;
  beforeAll(async () => {
    dir = await tempDir();
    good = path.join(dir, "good");
    await extractText({ csv: DEMO_INDEX, out: good, model: DEMO_MODEL, offline: true });
  });
  afterAll(() => removeDir(dir));

  async function copy(name: string): Promise<string> {
    const d = path.join(dir, name);
    await cp(good, d, { recursive: true });
    return d;
  }

  /** Rewrites meta.json's hash so only the check under test can catch the corruption. */
  async function rehash(store: string): Promise<void> {
    const meta = JSON.parse(await readFile(path.join(store, "meta.json"), "utf8"));
    meta.embeddings_sha256 = await sha256File(path.join(store, "embeddings.npy"));
    await writeFile(path.join(store, "meta.json"), JSON.stringify(meta));
  }

  it("passes a good store, checking every row", async () => {
    const r = await validateStores([good], DEMO_INDEX);
    expect(failed(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.stores[0].checks.find((c) => c.name === "finite values")!.message).toContain("all 768 values");
  });

  it("catches a NaN injected into one row, naming the row and id", async () => {
    const s = await copy("nan");
    const file = path.join(s, "embeddings.npy");
    const bytes = await readFile(file);
    const off = parseNpyHeader(bytes).dataOffset;
    bytes.writeFloatLE(Number.NaN, off + (17 * 32 + 3) * 4);
    bytes.writeFloatLE(Number.POSITIVE_INFINITY, off + (2 * 32) * 4);
    await writeFile(file, bytes);
    let r = await validateStores([s], DEMO_INDEX);
    expect(failed(r)).toEqual(["sha256", "finite values"]);
    await rehash(s);
    r = await validateStores([s], DEMO_INDEX);
    expect(failed(r)).toEqual(["finite values"]);
    const msg = r.stores[0].checks.find((c) => c.name === "finite values")!.message;
    expect(msg).toMatch(/2 row\(s\) with NaN\/Inf: row 3 \(demo_s1_003\), row 18 \(demo_s2_002\)/);
  });

  it("catches a missing row (numpy rewrite of the store without row 5)", async () => {
    const s = await copy("missing");
    execFileSync("python3", ["-c", `import numpy as np; a=np.load("${s}/embeddings.npy"); np.save("${s}/embeddings.npy", np.delete(a, 4, axis=0))`]);
    const ids = (await readFile(path.join(s, "ids.txt"), "utf8")).split("\n");
    ids.splice(4, 1);
    await writeFile(path.join(s, "ids.txt"), ids.join("\n"));
    const meta = JSON.parse(await readFile(path.join(s, "meta.json"), "utf8"));
    meta.n = 23;
    await writeFile(path.join(s, "meta.json"), JSON.stringify(meta));
    await rehash(s);
    const r = await validateStores([s], DEMO_INDEX);
    expect(failed(r)).toEqual(["row count", "aligned with index"]);
    expect(r.stores[0].checks.find((c) => c.name === "aligned with index")!.message).toMatch(/missing from the store: demo_s1_005/);
  });

  it("catches reordered ids", async () => {
    const s = await copy("reordered");
    const ids = (await readFile(path.join(s, "ids.txt"), "utf8")).split("\n");
    [ids[2], ids[7]] = [ids[7], ids[2]];
    await writeFile(path.join(s, "ids.txt"), ids.join("\n"));
    const r = await validateStores([s], DEMO_INDEX);
    expect(failed(r)).toEqual(["aligned with index"]);
    expect(r.stores[0].checks.find((c) => c.name === "aligned with index")!.message).toMatch(/first difference at row 3 of the store: "demo_s1_008" where the index order expects "demo_s1_003"/);
  });

  it("catches a shape that disagrees with meta.json and a store of another index", async () => {
    const s = await copy("shape");
    const meta = JSON.parse(await readFile(path.join(s, "meta.json"), "utf8"));
    meta.d = 16;
    meta.n = 48;
    await writeFile(path.join(s, "meta.json"), JSON.stringify(meta));
    const r = await validateStores([s], DEMO_INDEX);
    expect(failed(r)).toContain("shape and dtype");

    const other = path.join(dir, "other.csv");
    await writeFile(other, (await readFile(DEMO_INDEX, "utf8")).replace("Excuse me.", "Excuse me!"));
    const r2 = await validateStores([good], other);
    expect(failed(r2)).toEqual(["index hash"]);
  });

  it("with several stores, reports ids covered by one and not the other", async () => {
    const s = await copy("fewer");
    execFileSync("python3", ["-c", `import numpy as np; a=np.load("${s}/embeddings.npy"); np.save("${s}/embeddings.npy", a[:-1])`]);
    const ids = (await readFile(path.join(s, "ids.txt"), "utf8")).trimEnd().split("\n");
    const dropped = ids.pop()!;
    await writeFile(path.join(s, "ids.txt"), ids.join("\n") + "\n");
    await writeFile(path.join(s, "failures.csv"), `utter_id,row,reason\n${dropped},24,audio: file not found\n`);
    const meta = JSON.parse(await readFile(path.join(s, "meta.json"), "utf8"));
    Object.assign(meta, { n: 23, failures: 1 });
    await writeFile(path.join(s, "meta.json"), JSON.stringify(meta));
    await rehash(s);
    const r = await validateStores([good, s], DEMO_INDEX);
    expect(failed(r)).toEqual([]); // each store is consistent on its own (a recorded failure)...
    expect(r.cross).toHaveLength(1);
    expect(r.cross[0].ok).toBe(false); // ...but they do not cover the same ids
    expect(r.cross[0].message).toContain(`1 only in ${good} (${dropped})`);
    expect(r.ok).toBe(false);
  });

  it("exits non-zero from the CLI and prints JSON with --json", async () => {
    const run = async (args: string[]) => {
      const r = await runEmofeatInProcess(args);
      return { code: r.code, out: r.stdout };
    };
    const ok = await run(["validate", good, "--csv", DEMO_INDEX, "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).ok).toBe(true);
    const bad = await run(["validate", path.join(dir, "reordered"), "--csv", DEMO_INDEX]);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/FAIL aligned with index/);
    expect(bad.out.trim().endsWith("INVALID")).toBe(true);
  });
});
