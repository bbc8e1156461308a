/**
 * The engine floor for text, run as a child process by bench/text.ts: what a plain script needs to embed the
 * same texts with onnxruntime-node alone. Timed from the first line: importing onnxruntime-node and the
 * tokenizer library, loading the tokenizer, tokenizing every text, building the length-sorted batches
 * (inputs prepared in advance) and InferenceSession.create (intraOpNumThreads 2, graphOptimizationLevel
 * "all", nothing else) = load; then one session.run per batch = runs. No pooling, no output handling.
 * Prints one JSON line (FloorTimes). Args: MODEL_DIR TEXTS_JSON BATCH_SIZE
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { timeEngine } from "./common.js";

const [modelDir, textsFile, batchArg] = process.argv.slice(2);
const t0 = performance.now();
const ort = await import("onnxruntime-node");
const { AutoTokenizer } = await import("@huggingface/transformers");
const tokenizer = await AutoTokenizer.from_pretrained(modelDir, { local_files_only: true });
const texts = JSON.parse(readFileSync(textsFile, "utf8")) as string[];
const ids = texts.map((t) => {
  const x = tokenizer.encode(t) as number[];
  return x.length > 128 ? [...x.slice(0, 127), x[x.length - 1]] : x;
});
const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length || a - b);
const B = Number(batchArg);
const feeds: Record<string, InstanceType<typeof ort.Tensor>>[] = [];
for (let i = 0; i < order.length; i += B) {
  const batch = order.slice(i, i + B).map((k) => ids[k]);
  const T = Math.max(...batch.map((x) => x.length));
  const inputIds = new BigInt64Array(batch.length * T);
  const mask = new BigInt64Array(batch.length * T);
  batch.forEach((x, b) => x.forEach((id, t) => ((inputIds[b * T + t] = BigInt(id)), (mask[b * T + t] = 1n))));
  const dims = [batch.length, T];
  feeds.push({
    input_ids: new ort.Tensor("int64", inputIds, dims),
    attention_mask: new ort.Tensor("int64", mask, dims),
    token_type_ids: new ort.Tensor("int64", new BigInt64Array(batch.length * T), dims),
  });
}
await timeEngine(ort, path.join(modelDir, "onnx", "model.onnx"), feeds, t0);
