import { Command, InvalidArgumentError, Option } from "commander";
import { HEAD_DEFAULTS, HEAD_NAMES, headNames, type HeadName, type TrainSettings } from "../../train/heads.js";
import { headModule } from "../../train/heads/registry.js";
import { parseLayerChoice } from "../../train/layer-select.js";
import { trainPerLayer } from "../../train/per-layer.js";
import { EXPORT_HEADS, trainProbe } from "../../train/probe.js";
import type { Protocol } from "../../train/splits.js";
import { addFusionOptions, fusionSettingsFrom } from "../fusion-options.js";
import { intArg, interruptSignal, THREADS_HELP, threadsArg } from "../options.js";

function positive(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0`);
    return n;
  };
}

function nonNegative(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
    return n;
  };
}

/** `p` sets both mlp dropouts; `pIn,pHidden` sets them separately. */
function dropoutArg(v: string): [number, number] {
  const parts = v.split(",").map((s) => Number(s.trim()));
  if (parts.length < 1 || parts.length > 2 || parts.some((p) => !Number.isFinite(p) || p < 0 || p >= 1))
    throw new InvalidArgumentError("--dropout takes p or pIn,pHidden with each in [0, 1)");
  return parts.length === 1 ? [parts[0], parts[0]] : [parts[0], parts[1]];
}

const HEAD_COL = Math.max(...headNames().map((h) => h.length));
const defaultsTable = HEAD_NAMES.map((h) => {
  const s = HEAD_DEFAULTS[h];
  const arch = h.endsWith("mlp") ? `LayerNorm -> Dropout ${s.dropoutIn} -> Linear(D, ${s.hidden}) -> ReLU -> Dropout ${s.dropoutHidden} -> Linear(${s.hidden}, C)` : "Linear(D, C)";
  return `  ${h.padEnd(HEAD_COL)} ${arch}; AdamW lr ${s.lr}, weight decay ${s.weightDecay}, batch ${s.batchSize}, ${s.epochs} epochs, tests ${s.select === "last" ? "the last epoch" : "the best validation macro-F1 epoch"}`;
})
  .concat(headNames().flatMap((h) => { const m = headModule(h); return m ? [`  ${h.padEnd(HEAD_COL)} ${m.help()}`] : []; }))
  .join("\n");

function layersArg(v: string): string {
  try {
    parseLayerChoice(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return v;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command("train")
    .summary("train a probe head on feature stores and report WA, UA, macro-F1")
    .description(
      "Train a probe (classifier head) on one or more feature stores joined by utter_id, evaluate it on the index's " +
        "splits (or leave-one-session-out folds) and write a run directory: config.json, metrics.json, epochs.csv, " +
        "head.onnx + labels.json, confusion and training-curve plots. Prints one summary line.",
    )
    .requiredOption("--csv <index.csv>", "the index CSV; labels from its label column, splits from its split column")
    .requiredOption("--features <stores>", "feature stores as name=folder, comma-separated, concatenated in this order (e.g. audio=features/audio,text=features/text); a bare folder is named after its modality")
    .requiredOption("--out <dir>", "run directory to write")
    .addOption(new Option("--head <head>", "probe head (see below; default mlp, or weighted-layers' base with --per-layer)").choices(headNames()))
    .option("--layers <which>", "layer stores: the encoder layers to use, by hidden_states index: all (default), last, or a list such as 0,4-8,12", layersArg)
    .option("--per-layer", "train the probe on each layer of a layer store alone; writes per_layer to metrics.json, per_layer.svg/png and one run per layer under layers/", false)
    .addOption(new Option("--base <head>", "weighted-layers: the classifier on the weighted sum (linear: s3prl's projection + linear; mlp: the mlp head)").choices(["linear", "mlp"]))
    .option("--layer-norm", "weighted-layers: LayerNorm each layer (no affine parameters) before the weighted sum, as s3prl's normalize option")
    .option("--classes <groups>", "labels to keep and merge, comma-separated; a+b merges (named a, or name=a+b); e.g. neutral,happy+excited,angry,sad")
    .addOption(new Option("--folds <by>", "leave-one-session-out cross-validation instead of the split column").choices(["session"]))
    .option(
      "--fold <K|auto>",
      "with --folds session: train only fold K (0-based, in session order; auto: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX) into <out>/folds/K/; then emofeat runs merge <out>",
      (v: string) => (v === "auto" ? "auto" : intArg("--fold", 0)(v)),
    )
    .addOption(
      new Option(
        "--export-head <how>",
        "the head saved as head.onnx for predict: first-seed (default without folds), refit (train once more on every " +
          "non-test row for the median tested epoch count), best-fold (with --folds: the fold with the best validation " +
          "macro-F1), none (default with --folds)",
      ).choices([...EXPORT_HEADS]),
    )
    .addOption(new Option("--fold-val <source>", "validation in each fold: a stratified 10% of the training sessions, or the next session").choices(["stratified", "session"]).default("stratified"))
    .option("--seeds <n>", "train with this many seeds (seed, seed+1, ...) and report mean +- std", intArg("--seeds"), 1)
    .option("--seed <n>", "first seed (initialisation, shuffling, dropout)", intArg("--seed", 0), 0)
    .option("--hidden <n>", "hidden width of mlp heads", intArg("--hidden"))
    .option("--epochs <n>", "training epochs", intArg("--epochs"))
    .option("--lr <rate>", "AdamW learning rate", positive("--lr"))
    .option("--batch-size <n>", "mini-batch size", intArg("--batch-size"))
    .option("--weight-decay <wd>", "AdamW decoupled weight decay", nonNegative("--weight-decay"))
    .option("--dropout <p>", "mlp dropout: p for both, or pIn,pHidden; fusion heads: p", dropoutArg)
    .addOption(new Option("--select <which>", "checkpoint to test (default: the head's reference setting)").choices(["best-val-macro-f1", "best-val-accuracy", "last"]))
    .option("--threads <n>", THREADS_HELP, threadsArg)
    .option("--overwrite", "replace an existing run directory (only a folder emofeat train made; anything else is refused)", false)
    .option("--force-unlock", "remove the lock of another train into --out that is known to be gone", false)
    .option("-v, --verbose", "print every epoch", false)
    .option("-q, --quiet", "no progress output (warnings are still printed)", false);
  addFusionOptions(cmd)
    .addHelpText("after", `\nHeads and their reference settings:\n${defaultsTable}\n\nExamples:\n  emofeat train --csv data/index.csv --features text=features/text --head mlp --out runs/text-mlp\n  emofeat train --csv data/index.csv --features audio=features/audio,text=features/text --head concat-linear --out runs/concat\n  emofeat train --csv data/index.csv --features text=features/text --classes neutral,happy+excited,angry,sad --folds session --seeds 5 --out runs/text-loso
  emofeat train --csv data/index.csv --features audio=features/audio-layers --head weighted-layers --out runs/superb
  emofeat train --csv data/index.csv --features audio=features/audio-layers --per-layer --seeds 3 --out runs/layers
  emofeat train --csv data/index.csv --features audio=features/audio,text=features/text --head fusion --out runs/fusion
  emofeat train --csv data/index.csv --features audio=features/audio-seq,text=features/text-seq --head fusion-decoder --out runs/dec`)
    .action(async (o) => {
      const settings: Partial<TrainSettings> = {};
      if (o.hidden !== undefined) settings.hidden = o.hidden;
      if (o.epochs !== undefined) settings.epochs = o.epochs;
      if (o.lr !== undefined) settings.lr = o.lr;
      if (o.batchSize !== undefined) settings.batchSize = o.batchSize;
      if (o.weightDecay !== undefined) settings.weightDecay = o.weightDecay;
      if (o.dropout !== undefined) [settings.dropoutIn, settings.dropoutHidden] = o.dropout;
      if (o.select !== undefined) settings.select = o.select;
      const fusion = fusionSettingsFrom(o);
      if (Object.keys(fusion).length > 0) settings.fusion = fusion;
      if (o.base !== undefined) settings.base = o.base;
      if (o.layerNorm) settings.layerNorm = true;
      // --per-layer trains weighted-layers' base (s3prl's probe) on each layer unless another head is asked for,
      // so its scores compare with a --head weighted-layers run on the same store.
      const head = (o.head ?? (o.perLayer ? "weighted-layers" : "mlp")) as HeadName;
      const protocol: Protocol = o.folds === "session" ? { kind: "session-folds", val: o.foldVal } : { kind: "split" };
      const interrupt = interruptSignal("at the end of the current epoch; nothing is written");
      const { trainPerLayer } = await import("../../train/per-layer.js");
      const res = await (o.perLayer ? trainPerLayer : trainProbe)({
        csv: o.csv,
        features: o.features,
        head,
        layers: o.layers,
        out: o.out,
        classes: o.classes,
        protocol,
        seeds: o.seeds,
        seed: o.seed,
        settings,
        threads: o.threads,
        overwrite: o.overwrite,
        fold: o.fold,
        exportHead: o.exportHead,
        forceUnlock: o.forceUnlock,
        signal: interrupt.signal,
        verbose: o.verbose,
        log: (line) => {
          if (!o.quiet || line.startsWith("warning")) process.stderr.write(line + "\n");
        },
        command: ["emofeat", ...process.argv.slice(2)],
      }).finally(() => interrupt.dispose());
      process.stdout.write(res.summary + "\n");
    });
}
