import { Command, Option } from "commander";
import { importStore } from "../../store/import.js";

/** `emofeat store import`: features made by other tools become a feature store. */
export function registerStore(program: Command): void {
  const store = program.command("store").summary("feature-store tools (import)").description("Feature-store tools");
  store
    .command("import")
    .summary("turn features made by another tool (.npy + ids, or one .npy per utterance) into a feature store")
    .description(
      "Make a feature store from pooled features computed elsewhere, so that validate, train and runs summarize use " +
        "them like extracted ones: an .npy matrix [N, D] with its ids (--npy + --ids), or a folder of <utter_id>.npy " +
        "vectors (--per-utterance). float32 or float64 (stored as float32). Rows are put in index order; index rows " +
        "without features go to failures.csv, imported ids not in the index are left out and counted. A run trained " +
        "on an imported store cannot predict (emofeat cannot recompute the features).",
    )
    .requiredOption("--csv <index.csv>", "the index the features belong to")
    .requiredOption("--out <dir>", "feature store folder to write")
    .addOption(new Option("--modality <modality>", "what the features describe (names the store in train)").choices(["text", "audio"]).makeOptionMandatory())
    .option("--npy <file>", "a float32/float64 .npy matrix [N, D], one row per utterance")
    .option("--ids <file>", "with --npy: the utter_id of each row, one a line")
    .option("--per-utterance <dir>", "instead: a folder of <utter_id>.npy files, each (D,) or (1, D)")
    .option("--name <text>", "what made the features (e.g. opensmile-egemaps-v02), recorded as the store's model id")
    .option("--overwrite", "replace an existing store (or store files emofeat did not write) in --out", false)
    .option("--force-unlock", "remove the lock of another writer of --out that is known to be gone", false)
    .option("-q, --quiet", "print nothing but warnings and errors", false)
    .addHelpText(
      "after",
      "\nExamples:\n  emofeat store import --npy egemaps.npy --ids egemaps_ids.txt --csv data/index.csv --modality audio --name egemaps --out features/egemaps\n" +
        "  emofeat store import --per-utterance my_vectors/ --csv data/index.csv --modality text --out features/mine",
    )
    .action(async (o) => {
      const s = await importStore({
        csv: o.csv,
        out: o.out,
        modality: o.modality,
        npy: o.npy,
        ids: o.ids,
        perUtterance: o.perUtterance,
        name: o.name,
        overwrite: o.overwrite,
        forceUnlock: o.forceUnlock,
        log: (line) => process.stderr.write(`emofeat: ${line}\n`),
      });
      if (s.ignored.length > 0)
        process.stderr.write(
          `emofeat: warning: ${s.ignored.length} imported id(s) are not in the index and were left out (e.g. ${s.ignored.slice(0, 5).join(", ")})\n`,
        );
      if (!o.quiet)
        process.stderr.write(
          `${s.outDir}: imported ${s.meta.n} x ${s.meta.d} float32 (${s.meta.modality}, ${s.meta.model.id}, source ${s.meta.model.dtype}); ` +
            `${s.meta.failures} of ${s.meta.index.rows} index rows have no features` +
            (s.meta.failures > 0 ? ` (failures.csv)` : "") +
            "\n",
        );
    });
}
