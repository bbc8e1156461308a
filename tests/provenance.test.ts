/** Provenance: what train and predict read is the data their records describe, or they refuse. */
import { createHash } from "node:crypto";
import { cp, open, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import type { RunConfig } from "../src/train/run-dir.js";
import { writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { loadSynth } from "./helpers/synth.js";

const sha = async (f: string) => createHash("sha256").update(await readFile(f)).digest("hex");

describe("store provenance", () => {
  let dir: string;
  let fx: ProbeFixture;
  beforeAll(async () => {
    dir = await tempDir("emofeat-prov-");
    fx = await writeProbeFixture(dir, await loadSynth());
  });
  afterAll(() => removeDir(dir));

  it("train records the sha256 of the bytes it read, and refuses a store edited after extraction", async () => {
    const out = path.join(dir, "runs", "ok");
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out, settings: { epochs: 1 } });
    const config = JSON.parse(await readFile(path.join(out, "config.json"), "utf8")) as RunConfig;
    expect(config.features[0].embeddings_sha256).toBe(await sha(path.join(fx.text, "embeddings.npy")));
    expect(res.config.files?.["head.onnx"]).toBe(await sha(path.join(out, "head.onnx")));

    // Change one float in the data part: same shape and size, so only the hash can tell.
    const edited = path.join(dir, "features", "edited");
    await cp(fx.text, edited, { recursive: true });
    const fh = await open(path.join(edited, "embeddings.npy"), "r+");
    await fh.write(Buffer.from(new Float32Array([42]).buffer), 0, 4, 200);
    await fh.close();
    await expect(readStore(edited)).rejects.toThrow(/edited: embeddings\.npy is not the file its meta\.json describes \(sha256 [0-9a-f]{12}\.\.\., meta\.json records [0-9a-f]{12}\.\.\.\): it was changed after extraction/);
    await expect(trainProbe({ csv: fx.csv, features: `text=${edited}`, head: "linear", out: path.join(dir, "runs", "bad"), settings: { epochs: 1 } })).rejects.toThrow(
      /edited: embeddings\.npy is not the file its meta\.json describes/,
    );
  });

  it("train refuses a store whose ids.txt was reordered after extraction (vectors would get the wrong labels)", async () => {
    const swapped = path.join(dir, "features", "swapped");
    await cp(fx.text, swapped, { recursive: true });
    const ids = (await readFile(path.join(swapped, "ids.txt"), "utf8")).split("\n");
    [ids[0], ids[1]] = [ids[1], ids[0]];
    await writeFile(path.join(swapped, "ids.txt"), ids.join("\n"));
    const meta = JSON.parse(await readFile(path.join(fx.text, "meta.json"), "utf8"));
    expect(meta.index.sha256).toBe(await sha(fx.csv)); // made from this index: its order is known
    await expect(trainProbe({ csv: fx.csv, features: `text=${swapped}`, head: "linear", out: path.join(dir, "runs", "swapped"), settings: { epochs: 1 } })).rejects.toThrow(
      new RegExp(`swapped: ids\\.txt is not in index order \\(line 2: "${ids[1]}" is index row 1, after row 2\\)`),
    );
  });
});

describe("model external data (weights in model.onnx_data beside model.onnx)", () => {
  let dir: string;
  afterAll(() => removeDir(dir));

  it("the store records the data file's sha256; a changed data file makes extract and predict refuse, naming it", async () => {
    const { extractText } = await import("../src/extract/text.js");
    const { predict } = await import("../src/predict/predict.js");
    const { DEMO_INDEX, ROOT } = await import("./helpers/paths.js");
    dir = await tempDir("emofeat-prov-data-");
    const model = path.join(dir, "tiny-roberta");
    await cp(path.join(ROOT, "fixtures", "models", "tiny-roberta"), model, { recursive: true });
    const dataFile = path.join(model, "onnx", "model.onnx_data");
    const store = path.join(dir, "text");
    await extractText({ csv: DEMO_INDEX, model, offline: true, out: store });
    const meta = JSON.parse(await readFile(path.join(store, "meta.json"), "utf8"));
    expect(meta.model.data_files).toEqual([{ file: "onnx/model.onnx_data", sha256: await sha(dataFile) }]);
    const run = path.join(dir, "run");
    await trainProbe({ csv: DEMO_INDEX, features: `text=${store}`, head: "linear", out: run, settings: { epochs: 1 } });
    const [before] = await predict(run, [{ text: "hello there" }], { offline: true });
    expect(before.label).not.toBeNull();

    // Same size, one weight changed: only the data file's hash can tell (model.onnx is untouched).
    const fh = await open(dataFile, "r+");
    await fh.write(Buffer.from(new Float32Array([3]).buffer), 0, 4, 4096);
    await fh.close();
    await expect(predict(run, [{ text: "hello there" }], { offline: true })).rejects.toThrow(
      /the external data file onnx\/model\.onnx_data found at .* differs \(sha256 [0-9a-f]{12}\.\.\. vs [0-9a-f]{12}\.\.\.\)/,
    );
    await expect(extractText({ csv: DEMO_INDEX, model, offline: true, out: store })).rejects.toThrow(/model external data file sha256/);
  });
});
