import { Command, Option } from "commander";
import { AUDIO_COMPAT_MODES, AUDIO_DEFAULTS, AUDIO_POOLING_MODES, BATCHING_MODES } from "../../audio/defaults.js";
import { BUILTIN_FEATURES } from "../../audio/builtin.js";
import { addModelOptions, addRepresentationOptions, addStoreOptions, checkMaxFailures, intArg, noteShardFailure, numberArg, storeAndModelArgs, withProgress } from "../options.js";
import { printSummary } from "./extract.js";

/** `emofeat extract audio`, registered under the `extract` command. */
export function registerExtractAudio(extract: Command): void {
  const audio = extract
    .command("audio")
    .summary("embed each row's audio file with a WavLM/HuBERT/wav2vec2 encoder")
    .description(
      "Embed each row's audio (WAV in any common encoding, FLAC, MP3, Ogg) with a speech encoder: decode -> mean over " +
        "channels -> torchaudio-exact resampling to --target-sr -> divide by the clip's peak -> keep the first " +
        "--max-seconds -> feature extractor (preprocessor_config.json) -> encoder (--layers: which hidden states) -> " +
        "pooling over frames (--pooling: mean by default; none keeps the frames). " +
        "A row whose file cannot be used is named on stderr and recorded in failures.csv; the run goes on " +
        "(--fail-fast stops instead). clips.csv beside the store lists each clip's duration and whether the cut shortened it.",
    );
  addRepresentationOptions(addStoreOptions(addModelOptions(audio, "Xenova/wavlm-base-plus")), AUDIO_POOLING_MODES)
    .option("--target-sr <hz>", "resample every clip to this rate (must match the model's sampling_rate)", intArg("--target-sr"), AUDIO_DEFAULTS.targetSampleRate)
    .option("--max-seconds <s>", "keep at most this many seconds of each clip (after peak normalisation over the whole clip)", numberArg("--max-seconds"), AUDIO_DEFAULTS.maxSeconds)
    .addOption(
      new Option(
        "--batching <mode>",
        "exact: no clip is padded, embeddings never depend on batch composition; reference: the reference system's " +
          "padded batches in index order with round(linspace) frame masks (reproduces published feature sets)",
      )
        .choices([...BATCHING_MODES])
        .default(AUDIO_DEFAULTS.batching),
    )
    .addOption(
      new Option(
        "--compat <mode>",
        "seq-reference: the reference's sequence extractor: every clip alone, zero-padded to --max-seconds before the " +
          "encoder, frame mask by round(linspace), real frames kept (use with --pooling none)",
      ).choices([...AUDIO_COMPAT_MODES]),
    )
    .option("--batch-size <n>", "clips per batch (reference mode: the padded batch, as in the reference)", intArg("--batch-size"), AUDIO_DEFAULTS.batchSize)
    .option("--fail-fast", "stop at the first row whose audio cannot be used (otherwise such rows go to failures.csv and the run goes on)", false)
    .addHelpText(
      "after",
      "\nWeight-free baselines (no model file; the same clips, features at 100 frames/s, mean over frames):\n" +
        Object.values(BUILTIN_FEATURES)
          .map((f) => `  --model ${f.id}  ${f.description}\n`)
          .join("") +
        "\nExamples:\n  emofeat extract audio --csv data/index.csv --model Xenova/wavlm-base-plus --out features/audio\n" +
        "  emofeat extract audio --csv data/index.csv --model builtin:fbank --out features/fbank\n" +
        "  emofeat extract audio --csv data/index.csv --model ./models/wavlm --batching reference --out features/audio-ref\n" +
        "  emofeat extract audio --csv data/index.csv --model Xenova/wavlm-base-plus --layers all --out features/audio-layers\n" +
        "  emofeat extract audio --csv data/index.csv --model Xenova/wavlm-base-plus --pooling none --store-dtype float16 --out features/audio-seq",
    )
    .action(async (o) => {
      const { extractAudio } = await import("../../extract/audio.js");
      const args = await storeAndModelArgs(o);
      const summary = await noteShardFailure(args.out, args.shard, () =>
        withProgress("extract audio", o.quiet, (io) =>
          extractAudio({
            ...args,
            targetSampleRate: o.targetSr,
            maxSeconds: o.maxSeconds,
            // --compat seq-reference implies reference batching; an explicit --batching exact is refused by the library.
            batching: o.compat && audio.getOptionValueSource("batching") === "default" ? undefined : o.batching,
            compat: o.compat,
            batchSize: o.batchSize,
            failFast: o.failFast,
            // Failures are always reported, even with --quiet: they change what the store holds.
            onRowFailure: (message) => process.stderr.write(`emofeat: warning: ${message}\n`),
            ...io,
          }),
        ),
      );
      printSummary(summary, o.quiet);
      const t = summary.meta.totals;
      if (!o.quiet && t && !summary.shard)
        process.stderr.write(
          `  audio: ${t.clips} clips, ${t.seconds_total} s in total; the ${summary.meta.max_seconds} s cut shortened ${t.clips_truncated} ` +
            `clip(s), removing ${t.seconds_removed_by_cut} s (per clip: clips.csv)\n`,
        );
      checkMaxFailures(o.maxFailures, summary.meta.failures, summary.shard?.rows ?? summary.meta.index.rows, { allFailedFails: !summary.shard });
    });
}
