import { Command } from "commander";
import { POOLING_MODES } from "../../pooling.js";
import type { ExtractionSummary } from "../../extract/run.js";
import { TEXT_DEFAULTS } from "../../text/defaults.js";
import { addModelOptions, addRepresentationOptions, addStoreOptions, checkMaxFailures, intArg, noteShardFailure, storeAndModelArgs, withProgress } from "../options.js";
import { registerExtractAudio } from "./extract-audio.js";

export function registerExtract(program: Command): void {
  const extract = program
    .command("extract")
    .summary("extract utterance embeddings (text | audio) into a feature store")
    .description("Extract utterance embeddings from an index into a feature store (embeddings.npy, ids.txt, meta.json)");

  const text = extract
    .command("text")
    .summary("embed transcripts with a BERT-family encoder")
    .description(
      "Embed each row's transcript with a BERT-family encoder (tokenizer -> encoder -> pooling). " +
        "--layers keeps other hidden states than the last (a store [N, layers, D]); --pooling none keeps every token (a sequence store). " +
        "Defaults follow the reference: max 128 tokens, mean pooling over real tokens. " +
        "Texts are batched by length and padded only to each batch's longest member: the same embeddings " +
        "as padding everything to --max-len (the reference), with far less work.",
    );
  addRepresentationOptions(addStoreOptions(addModelOptions(text, "Xenova/bert-base-uncased")), POOLING_MODES)
    .option("--max-len <tokens>", "truncate to this many tokens, special tokens included", intArg("--max-len", 3), TEXT_DEFAULTS.maxLen)
    .option(
      "--batch-size <n>",
      "texts per encoder call (the embeddings do not depend on it; 8-16 ran fastest on a BERT-base-sized model on 2 cores, " +
        "64 (the reference's) about 20% slower)",
      intArg("--batch-size"),
      TEXT_DEFAULTS.batchSize,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  emofeat extract text --csv data/index.csv --model Xenova/bert-base-uncased --out features/text\n" +
        "  emofeat extract text --csv data/index.csv --model ./models/my-bert --offline --pooling cls --out features/text-cls\n" +
        "  emofeat extract text --csv data/index.csv --model Xenova/bert-base-uncased --layers all --out features/text-layers\n" +
        "  emofeat extract text --csv data/index.csv --model Xenova/bert-base-uncased --pooling none --out features/text-seq",
    )
    .action(async (o) => {
      const { extractText } = await import("../../extract/text.js");
      const args = await storeAndModelArgs(o);
      const summary = await noteShardFailure(args.out, args.shard, () =>
        withProgress("extract text", o.quiet, (io) => extractText({ ...args, maxLen: o.maxLen, batchSize: o.batchSize, ...io })),
      );
      printSummary(summary, o.quiet);
      const t = summary.meta.totals;
      if (!o.quiet && t?.truncated !== undefined)
        process.stderr.write(`  text: ${t.texts} texts; --max-len ${summary.meta.max_len} cut ${t.truncated} of them (per text: texts.csv)\n`);
      checkMaxFailures(o.maxFailures, summary.meta.failures, summary.shard?.rows ?? summary.meta.index.rows, { allFailedFails: !summary.shard });
    });
  registerExtractAudio(extract);
}

export function printSummary(s: ExtractionSummary, quiet: boolean): void {
  if (quiet) return;
  const m = s.meta;
  if (s.shard) {
    const what = s.status === "up-to-date" ? "already done" : s.resumedRows > 0 ? `finished (resumed with ${s.resumedRows} rows done)` : "written";
    process.stderr.write(
      `${s.shard.dir}: shard ${s.shard.spec.k} of ${s.shard.spec.n} ${what}: ${s.shard.rows} of the plan's ${s.shard.planRows} rows` +
        (m.failures > 0 ? `, ${m.failures} failed` : "") +
        `; when every shard is done: emofeat merge ${s.outDir}\n`,
    );
    return;
  }
  const what = s.status === "up-to-date" ? "already up to date" : s.resumedRows > 0 ? `finished (resumed with ${s.resumedRows} rows done)` : "written";
  const shape = m.pooling === "none" ? `${m.total_frames ?? "?"} frames of ${m.n} rows` : `${m.n}`;
  process.stderr.write(
    `${s.outDir}: ${what}: ${shape} x ${m.layers ? `${m.layers.length} layers x ` : ""}${m.d} ${m.dtype} (${m.modality}, ${m.model.id}, pooling ${m.pooling}); ` +
      (m.failures > 0 ? `${m.failures} of ${m.index.rows} row(s) failed, see ${s.outDir}/failures.csv` : `0 of ${m.index.rows} rows failed`) +
      "\n",
  );
}
