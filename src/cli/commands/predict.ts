import path from "node:path";
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import { EmofeatError, UsageError } from "../../errors.js";
import { loadIndex, type IndexColumn, type IndexRequirement } from "../../manifest/index-csv.js";
import { readHeadLabels, readRunConfig } from "../../train/run-dir.js";
import type { Prediction, PredictInput } from "../../predict/predict.js";
import { writeFileAtomic } from "../../util/fs.js";
import { makeDir, prepareOutFile } from "../../util/out.js";
import { addRunModelOptions, checkMaxFailures, chosenDevice, MAX_FAILURES_HELP, maxFailuresArg } from "../options.js";

/** A file `predict --out` wrote before (CSV or JSON), which it may replace. */
function isPredictionsHead(head: Buffer): boolean {
  const t = head.toString("utf8").trimStart();
  // The fields of predictionsCsv / the JSON rows, in their order: someone's own file that merely starts with
  // an utter_id (a list of ids, an index) is not one of ours.
  if (t.startsWith("["))
    return t.replace(/\s/g, "") === "[]" || /^\[\s*\{\s*"utter_id":\s*"(?:[^"\\]|\\.)*",\s*("true_label":\s*(?:null|"(?:[^"\\]|\\.)*"),\s*)?"label":/.test(t);
  return /^utter_id,(true_label,)?label,probabilities\./.test(t);
}


const CHUNK = 256;

export function registerPredict(program: Command): void {
  const cmd = program
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
    .option("--explain <dir>", "fusion heads trained on sequence stores: write each utterance's attention maps to DIR (JSON + PNG heat maps)");
  addRunModelOptions(cmd)
    .option("--max-failures <n|p%>", MAX_FAILURES_HELP, maxFailuresArg)
    .option("-q, --quiet", "no summary on stderr (warnings about failed rows are still printed)", false)
    .addHelpText(
      "after",
      '\nExamples:\n  emofeat predict --run runs/text-mlp --text "I can\'t believe you did that"\n' +
        '  emofeat predict --run runs/concat --audio clip.wav --text "I can\'t believe you did that" --json\n' +
        "  emofeat predict --run runs/text-mlp --csv data/new.csv --out predictions.csv\n\n" +
        "Output fields (JSON and CSV alike): utter_id, true_label (when the CSV has a label column), label (the most " +
        "probable class), probabilities (CSV: one column probabilities.<class> per class), error (why a row has no prediction).",
    )
    .action(async (o) => {
      const single = o.text !== undefined || o.audio !== undefined;
      if (single === (o.csv !== undefined)) throw new UsageError("give either --text/--audio (one utterance) or --csv (many)");
      if (o.out && !o.csv) throw new UsageError("--out goes with --csv");
      // Everything that can be checked is checked before the encoders load and any prediction is made.
      const head = await readHeadLabels(o.run, await readRunConfig(o.run)).catch(() => null); // Predictor.load says why if this fails
      const modalities = head ? [...new Set(head.inputs.map((i) => i.modality))] : [];
      if (head && single)
        for (const m of ["text", "audio"] as const)
          if (o[m] !== undefined && !modalities.includes(m))
            throw new UsageError(`--${m}: this run's head uses ${modalities.join(" and ")} only, so --${m} would be ignored; leave it out`);
      const needs = modalities.filter((m): m is IndexRequirement => m === "text" || m === "audio");
      const index = o.csv ? await loadIndex(o.csv, { require: needs, columns: ["utter_id", ...needs.map((m) => (m === "audio" ? "audio_path" : "text") as IndexColumn)] }) : null;
      if (o.out) await prepareOutFile(o.out, { what: "a predictions file", recognise: isPredictionsHead });
      // Silent here (stdout and stderr are the predictions' and their summary's); extract says which device auto picks.
      const device = await chosenDevice(o.device, true);
      if (o.explain !== undefined) {
        const { explainUtterances } = await import("../explain.js");
        await explainUtterances(o.run, o.explain, index ? index.utterances.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile })) : [{ text: o.text, audio: o.audio }], {
          json: o.json,
          models: o.model,
          offline: o.offline,
          device,
          threads: o.threads,
        });
        return;
      }
      const { Predictor } = await import("../../predict/predict.js");
      const predictor = await Predictor.load(o.run, { models: o.model, offline: o.offline, device, threads: o.threads });
      try {
        if (!index) {
          const [p] = await predictor.predict([{ text: o.text, audio: o.audio }]);
          if (p.error !== undefined) throw new EmofeatError(p.error);
          process.stdout.write(o.json ? JSON.stringify(p) + "\n" : formatOne(p));
          return;
        }
        const labelled = index.columns.includes("label");
        const classMap = new Map(Object.entries(predictor.config.classes.map));
        const results: Row[] = [];
        for (let i = 0; i < index.utterances.length; i += CHUNK) {
          const rows = index.utterances.slice(i, i + CHUNK);
          const items: PredictInput[] = rows.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile }));
          const preds = await predictor.predict(items);
          preds.forEach((p, k) => {
            const { id: _id, ...rest } = p;
            results.push({ utter_id: rows[k].utterId, ...(labelled ? { true_label: classMap.get(rows[k].label) ?? null } : {}), ...rest });
          });
        }
        const text = o.json ? JSON.stringify(results, null, 2) + "\n" : predictionsCsv(results, predictor.labels, labelled);
        if (o.out) {
          await makeDir(path.dirname(path.resolve(o.out)));
          await writeFileAtomic(o.out, text);
        } else process.stdout.write(text);
        const failed = results.filter((r) => r.error !== undefined);
        if (failed.length > 0)
          process.stderr.write(
            `emofeat: warning: ${failed.length} row(s) could not be encoded and have no prediction (error column), e.g.\n` +
              failed.slice(0, 5).map((r) => `  ${r.utter_id}: ${r.error}`).join("\n") + "\n",
          );
        if (!o.quiet) {
          const scored = results.filter((r) => r.true_label != null && r.error === undefined);
          const hits = scored.filter((r) => r.true_label === r.label).length;
          process.stderr.write(
            `${results.length} rows: ${results.length - failed.length} predicted, ${failed.length} failed${o.out ? ` -> ${o.out}` : ""}` +
              (scored.length > 0 ? `; accuracy on the ${scored.length} predicted rows with a known label: ${((100 * hits) / scored.length).toFixed(2)}%` : "") +
              "\n",
          );
        }
        checkMaxFailures(o.maxFailures, failed.length, results.length);
      } finally {
        await predictor.dispose();
      }
    });
}

type Row = Omit<Prediction, "id"> & { utter_id: string; true_label?: string | null };

/** The CSV form of the JSON rows: the same field names, probabilities flattened as probabilities.<class>. */
function predictionsCsv(rows: Row[], labels: readonly string[], labelled: boolean): string {
  const beta = (r: Row) => (r as { beta?: number }).beta; // gated fusion heads only
  const extra = rows.some((r) => beta(r) !== undefined) ? ["beta"] : [];
  const columns = ["utter_id", ...(labelled ? ["true_label"] : []), "label", ...labels.map((l) => `probabilities.${l}`), ...extra, "error"];
  return stringify(
    rows.map((r) => [
      r.utter_id,
      ...(labelled ? [r.true_label ?? ""] : []),
      r.label ?? "",
      ...labels.map((l) => r.probabilities?.[l] ?? ""),
      ...extra.map(() => beta(r) ?? ""),
      r.error ?? "",
    ]),
    { header: true, columns },
  );
}

function formatOne(p: Prediction): string {
  const probs = p.probabilities!;
  const width = Math.max(...Object.keys(probs).map((l) => l.length));
  const lines = Object.entries(probs)
    .sort((a, b) => b[1] - a[1])
    .map(([l, v]) => `  ${l.padEnd(width)}  ${v.toFixed(4)}`);
  return `${p.label}\n${lines.join("\n")}\n${p.beta !== undefined ? `beta ${p.beta.toFixed(4)} (gate weight: 1 = audio, 0 = text)\n` : ""}`;
}
