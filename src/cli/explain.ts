/** `emofeat predict --explain DIR`: attention maps of a sequence fusion head (library: predict/explain.ts). */
import path from "node:path";
import type { Device } from "../backends/onnx.js";
import { EmofeatError } from "../errors.js";
import { Explainer, type Explanation } from "../predict/explain.js";
import { Predictor, type PredictInput } from "../predict/predict.js";
import { makeDir } from "../util/out.js";

const CHUNK = 64;

export async function explainUtterances(
  run: string,
  dir: string,
  items: PredictInput[],
  o: { json?: boolean; models?: Record<string, string>; offline?: boolean; device?: Device; threads?: number },
): Promise<void> {
  const explainer = await Explainer.load(run, { threads: o.threads });
  let predictor: Predictor;
  try {
    predictor = await Predictor.load(run, { models: o.models, offline: o.offline, device: o.device, threads: o.threads });
  } catch (err) {
    await explainer.dispose();
    throw err;
  }
  try {
    await makeDir(path.resolve(dir));
    // One utterance from the command line is named after its audio file.
    const named = items.map((it) => (it.id !== undefined ? it : { ...it, id: typeof it.audio === "string" ? path.basename(it.audio).replace(/\.[^.]+$/, "") : "utterance" }));
    const out: Explanation[] = [];
    for (let i = 0; i < named.length; i += CHUNK) {
      const chunk = named.slice(i, i + CHUNK);
      const seqs = await predictor.sequences(chunk);
      seqs.forEach((q, k) => q.error !== null && process.stderr.write(`emofeat: warning: ${chunk[k].id}: ${q.error}; not explained\n`));
      const ok = chunk.flatMap((it, k) => (seqs[k].inputs ? [{ id: it.id, inputs: seqs[k].inputs! }] : []));
      out.push(...(await explainer.explain(ok, dir)));
    }
    if (out.length === 0) throw new EmofeatError("--explain: no utterance could be encoded");
    if (o.json) process.stdout.write(JSON.stringify(out.map((e) => ({ id: e.id, label: e.label, probabilities: e.probabilities, beta: e.beta, files: e.files })), null, 2) + "\n");
    else for (const e of out) process.stdout.write(`${e.id}: ${e.label}${e.beta !== undefined ? `, beta ${e.beta.toFixed(4)}` : ""} -> ${e.files.map((f) => path.join(dir, f)).join(", ")}\n`);
  } finally {
    await explainer.dispose();
    await predictor.dispose();
  }
}
