import { writeFile } from "node:fs/promises";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { stringify } from "csv-stringify/sync";
import { DEVICES, type Device } from "../../backends/onnx.js";
import { EmofeatError } from "../../errors.js";
import { loadIndex, type IndexRequirement } from "../../manifest/index-csv.js";
import { Explainer, type Explanation } from "../../predict/explain.js";
import { Predictor, type Prediction, type PredictInput } from "../../predict/predict.js";
import { intArg } from "../options.js";

function modelOverride(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq <= 0 || eq === v.length - 1) throw new InvalidArgumentError("--model takes STORE=FOLDER_OR_HUB_ID, e.g. text=./models/bert-base-uncased");
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

const CHUNK = 256;

export function registerPredict(program: Command): void {
  program
    .command("predict")
    .summary("predict emotions for new utterances with a trained run")
    .description(
      "Predict emotion probabilities with a run from emofeat train: the run's encoders (same model files, pooling, " +
        "max_len, sample rate as its feature stores) embed the utterance, and the run's head.onnx classifies it. " +
        "One utterance with --text/--audio, or every row of an index with --csv.",
    )
    .requiredOption("--run <dir>", "run directory (from emofeat train)")
    .option("--text <text>", "transcript of one utterance")
    .option("--audio <file>", "audio file of one utterance")
    .option("--csv <index.csv>", "predict every row of an index (uses its text / audio_path columns)")
    .option("--out <file>", "with --csv: write the predictions here instead of stdout")
    .option("--json", "print JSON (one object, or an array with --csv)", false)
    .option("--model <store=folder>", "use this model folder or hub id for a store (repeatable), when the recorded one is not available", modelOverride)
    .option("--offline", "never touch the network: hub models must already be cached", false)
    .addOption(new Option("--device <device>", "where the encoders run").choices([...DEVICES]).default("cpu"))
    .option("--threads <n>", "onnxruntime intra-op threads", intArg("--threads"))
    .option("--explain <dir>", "fusion heads trained on sequence stores: write the attention maps of each utterance to DIR (JSON + PNG heat maps)")
    .addHelpText(
      "after",
      '\nExamples:\n  emofeat predict --run runs/text-mlp --text "I can\'t believe you did that"\n' +
        '  emofeat predict --run runs/concat --audio clip.wav --text "I can\'t believe you did that" --json\n' +
        "  emofeat predict --run runs/text-mlp --csv data/new.csv --out predictions.csv",
    )
    .action(async (o) => {
      const single = o.text !== undefined || o.audio !== undefined;
      if (single === (o.csv !== undefined)) throw new EmofeatError("give either --text/--audio (one utterance) or --csv (many)");
      if (o.out && !o.csv) throw new EmofeatError("--out goes with --csv");
      if (o.explain !== undefined) {
        await explainCommand(o);
        return;
      }
      const predictor = await Predictor.load(o.run, { models: o.model, offline: o.offline, device: o.device as Device, threads: o.threads });
      try {
        if (single) {
          const [p] = await predictor.predict([{ text: o.text, audio: o.audio }]);
          if (p.error !== undefined) throw new EmofeatError(p.error);
          process.stdout.write(o.json ? JSON.stringify(p) + "\n" : formatOne(p));
          return;
        }
        const needs = predictor.modalities.filter((m): m is IndexRequirement => m === "text" || m === "audio");
        const index = await loadIndex(o.csv, { require: needs });
        const classMap = new Map(Object.entries(predictor.config.classes.map));
        const results: (Prediction & { true_label: string | null })[] = [];
        for (let i = 0; i < index.utterances.length; i += CHUNK) {
          const rows = index.utterances.slice(i, i + CHUNK);
          const items: PredictInput[] = rows.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile }));
          const preds = await predictor.predict(items);
          preds.forEach((p, k) => results.push({ ...p, true_label: classMap.get(rows[k].label) ?? null }));
        }
        const gated = predictor.head.outputs.beta !== undefined;
        const text = o.json
          ? JSON.stringify(results, null, 2) + "\n"
          : stringify(
              results.map((r) => [r.id, r.true_label ?? "", r.label ?? "", ...predictor.labels.map((l) => r.probs?.[l] ?? ""), ...(gated ? [r.beta ?? ""] : []), r.error ?? ""]),
              { header: true, columns: ["utter_id", "true_label", "predicted", ...predictor.labels.map((l) => `p_${l}`), ...(gated ? ["beta"] : []), "error"] },
            );
        if (o.out) await writeFile(o.out, text);
        else process.stdout.write(text);
        const failed = results.filter((r) => r.error !== undefined);
        if (failed.length > 0)
          process.stderr.write(
            `warning: ${failed.length} row(s) could not be encoded and have no prediction (error column), e.g.\n` +
              failed.slice(0, 5).map((r) => `  ${r.id}: ${r.error}`).join("\n") + "\n",
          );
        const labelled = results.filter((r) => r.true_label !== null && r.error === undefined);
        if (labelled.length > 0) {
          const hits = labelled.filter((r) => r.true_label === r.label).length;
          process.stderr.write(`${results.length} predictions${o.out ? ` -> ${o.out}` : ""}; accuracy on the ${labelled.length} rows with a known label: ${((100 * hits) / labelled.length).toFixed(2)}%\n`);
        }
      } finally {
        await predictor.dispose();
      }
    });
}

function formatOne(p: Prediction): string {
  const probs = p.probs!;
  const width = Math.max(...Object.keys(probs).map((l) => l.length));
  const lines = Object.entries(probs)
    .sort((a, b) => b[1] - a[1])
    .map(([l, v]) => `  ${l.padEnd(width)}  ${v.toFixed(4)}`);
  return `${p.label}\n${lines.join("\n")}\n${p.beta !== undefined ? `beta ${p.beta.toFixed(4)} (gate weight: 1 = audio, 0 = text)\n` : ""}`;
}

/** --explain DIR: the attention maps of a sequence head for one utterance (--text/--audio) or every row of --csv. */
async function explainCommand(o: { run: string; explain: string; text?: string; audio?: string; csv?: string; json?: boolean; model?: Record<string, string>; offline?: boolean; device?: string; threads?: number }): Promise<void> {
  const explainer = await Explainer.load(o.run, { threads: o.threads });
  const predictor = await Predictor.load(o.run, { models: o.model, offline: o.offline, device: o.device as Device, threads: o.threads }).catch(async (err) => {
    await explainer.dispose();
    throw err;
  });
  try {
    let items: PredictInput[];
    if (o.csv) {
      const needs = predictor.modalities.filter((m): m is IndexRequirement => m === "text" || m === "audio");
      items = (await loadIndex(o.csv, { require: needs })).utterances.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile }));
    } else items = [{ id: o.audio ? path.basename(o.audio).replace(/\.[^.]+$/, "") : "utterance", text: o.text, audio: o.audio }];
    const out: Explanation[] = [];
    for (let i = 0; i < items.length; i += CHUNK) {
      const chunk = items.slice(i, i + CHUNK);
      const seqs = await predictor.sequences(chunk);
      seqs.forEach((q, k) => q.error !== null && process.stderr.write(`warning: ${chunk[k].id}: ${q.error}; not explained\n`));
      const ok = chunk.flatMap((it, k) => (seqs[k].inputs ? [{ id: it.id, inputs: seqs[k].inputs! }] : []));
      out.push(...(await explainer.explain(ok, o.explain)));
    }
    if (out.length === 0) throw new EmofeatError("--explain: no utterance could be encoded");
    if (o.json) process.stdout.write(JSON.stringify(out.map((e) => ({ id: e.id, label: e.label, probabilities: e.probabilities, beta: e.beta, files: e.files })), null, 2) + "\n");
    else
      for (const e of out)
        process.stdout.write(`${e.id}: ${e.label}${e.beta !== undefined ? `, beta ${e.beta.toFixed(4)}` : ""} -> ${e.files.map((f) => `${o.explain}/${f}`).join(", ")}\n`);
  } finally {
    await explainer.dispose();
    await predictor.dispose();
  }
}
