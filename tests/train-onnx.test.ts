import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initParams } from "../src/train/engine.js";
import { buildInferenceModel, buildTrainingModel, type HeadArch } from "../src/train/heads.js";
import { encodeModel } from "../src/train/onnx/proto.js";
import { Rng } from "../src/train/rng.js";
import { removeDir, tempDir } from "./helpers/paths.js";

/** The official onnx checker (Debian python3-onnx) validates our hand-declared protobuf schema subset. */
function pythonOnnx(): boolean {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import onnx"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const hasOnnx = pythonOnnx();

const archs: HeadArch[] = [
  { head: "mlp", inputs: [{ name: "text", dim: 12 }], numClasses: 4, hidden: 8, dropoutIn: 0.1, dropoutHidden: 0.3 },
  { head: "concat-linear", inputs: [{ name: "audio", dim: 6 }, { name: "text", dim: 5 }], numClasses: 3, hidden: 0, dropoutIn: 0, dropoutHidden: 0 },
];

describe.skipIf(!hasOnnx)("models pass onnx.checker (full_check) [needs /usr/bin/python3 with onnx]", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-onnx-");
  });
  afterAll(() => removeDir(dir));

  for (const arch of archs) {
    it(arch.head, async () => {
      const train = buildTrainingModel(arch);
      const params = initParams(train.params, new Rng(1));
      const files = [
        [path.join(dir, `${arch.head}-train.onnx`), encodeModel(train.model)],
        [path.join(dir, `${arch.head}-head.onnx`), encodeModel(buildInferenceModel(arch, params, { metadata: { labels: "[]" } }).model)],
      ] as const;
      for (const [f, bytes] of files) await writeFile(f, bytes);
      const script =
        "import sys, onnx\n" +
        "for f in sys.argv[1:]:\n" +
        "    m = onnx.load(f)\n" +
        "    onnx.checker.check_model(m, full_check=True)\n" +
        "    print(f, m.ir_version, m.opset_import[0].version, len(m.graph.node), [i.name for i in m.graph.input][:3])\n";
      const out = execFileSync("/usr/bin/python3", ["-c", script, ...files.map(([f]) => f)], { encoding: "utf8" });
      expect(out.trim().split("\n")).toHaveLength(2);
      expect(out).toContain(" 8 17 ");
    });
  }
});
