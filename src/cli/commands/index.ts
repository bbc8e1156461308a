import path from "node:path";
import { Command, Option } from "commander";
import { EmofeatError, UsageError } from "../../errors.js";
import { parseRatios } from "../../manifest/split.js";
import { intArg } from "../options.js";
import { buildIndex, checkIndexOut, formatProblems, formatStatsTable, withIndexLock, writeIndexCsv, type CorpusName, type IndexBuild, type RecipeOptionsMap } from "../../recipes/index.js";

const OUT_HELP =
  "where to write: a path ending in .csv is the index file itself; anything else is a folder " +
  "(created if needed) that receives index.csv. An existing index CSV is replaced atomically; any other file is refused.";

interface CommonFlags {
  root?: string;
  out: string;
  durations: boolean;
  strict?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  split?: string;
  splitSeed: number;
  forceUnlock?: boolean;
}

const SPLIT_HELP =
  "new train/val/test split with these ratios (e.g. 80/10/10), speaker-independent by session (no session in two " +
  "splits), stratified by label, seeded by --split-seed; replaces the recipe's split";

function addCommon(cmd: Command, rootRequired = true, splitOption = true): Command {
  if (rootRequired) cmd.requiredOption("--root <dir>", "the corpus folder");
  if (splitOption) cmd.option("--split <ratios>", SPLIT_HELP);
  return cmd
    .requiredOption("--out <path>", OUT_HELP)
    .option("--split-seed <n>", "seed of --split", intArg("--split-seed", 0), 0)
    .option("--no-durations", "do not read WAV headers (no duration column, no durations in the table)")
    .option("--strict", "write nothing and exit with status 2 if any problem was found")
    .option("--verbose", "list every problem (default: 5 examples per reason)")
    .option("--force-unlock", "remove the lock of another emofeat writing this index file that is known to be gone", false)
    .option("-q, --quiet", "print nothing but errors");
}

async function run<C extends CorpusName>(corpus: C, options: RecipeOptionsMap[C], flags: CommonFlags): Promise<void> {
  const split = flags.split !== undefined ? { ratios: parseRatios(flags.split, "--split"), seed: flags.splitSeed } : undefined;
  const { file: outFile } = await checkIndexOut(flags.out); // before reading the corpus, which can take minutes
  // The generic recipe's CSV is the user's own file: writing the index over it would replace it.
  const input = (options as { csv?: string }).csv;
  if (input !== undefined && path.resolve(input) === outFile)
    throw new UsageError(`--out ${flags.out} is the input --csv ${input}; write the index to another file (the input stays as it is)`);
  // One writer per index file, from before the corpus is read to the write.
  await withIndexLock(flags.out, { forceUnlock: flags.forceUnlock, log: (line) => process.stderr.write(`emofeat: ${line}\n`) }, async () => {
    const build = await buildIndex(corpus, { ...options, durations: flags.durations }, { split });
    report(build, flags);
    if (flags.strict && build.problems.length > 0)
      throw new EmofeatError(`--strict: ${build.problems.length} problem(s) found (listed above); nothing written`);
    const { file, replaced } = await writeIndexCsv(build, flags.out);
    if (!flags.quiet) process.stdout.write(`wrote ${build.rows.length} rows to ${file}${replaced ? " (replaced the previous file)" : ""}\n`);
  });
}

function report(build: IndexBuild, flags: CommonFlags): void {
  if (flags.quiet) return;
  const settings = Object.entries(build.settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const out: string[] = [`${build.corpus} index from ${build.root} (${settings})`, "", formatStatsTable(build.stats), ""];
  for (const n of build.notes) out.push(n.startsWith("warning:") ? n : `note: ${n}`);
  process.stdout.write(out.join("\n") + "\n");
  if (build.problems.length > 0)
    process.stderr.write(formatProblems(build.problems, build.root, flags.verbose ? Infinity : 5) + "\n");
  else process.stdout.write("problems: none\n");
}

export function registerIndex(program: Command): void {
  const index = program
    .command("index")
    .summary("build the index CSV from a corpus folder (iemocap, ravdess, emodb, urdu, cremad, meld, generic)")
    .description(
      "Build the index CSV (utter_id, session, audio_path, text, label, split, plus extra columns) from a corpus " +
        "folder, print rows per split x label (and total duration, read from WAV headers), and list every " +
        "problem found in the corpus grouped by reason. Problems never stop the build; --strict makes them fatal. " +
        "Audio paths are written absolute.",
    );

  addCommon(
    index
      .command("iemocap")
      .summary("IEMOCAP_full_release: labels, transcripts, wavs (Session5 test, Session4 val)")
      .description(
        "Index IEMOCAP (--root is the IEMOCAP_full_release folder).\n\n" +
          "Default: every utterance with a wav (SessionN/sentences/wav/<dialog>/<utt>.wav), a label in the class set " +
          "(SessionN/dialog/EmoEvaluation/<dialog>.txt) and text: its transcript line with ids, timestamps and " +
          "tags ([LAUGHTER], <sil>, (2)) removed, else the words of its forced alignment (.wdseg). Improvised, " +
          "lettered (Ses03M_impro05a) and scripted (Ses01F_script01_1) dialogs are all included. " +
          "session = Session1..Session5; split: Session5 test, Session4 val, others train.\n\n" +
          "--compat reference reproduces the reference builder row for row (3,694 rows on the full corpus): it " +
          "drops scripted and lettered dialogs, keeps [LAUGHTER]-style tags, drops Latin-1 letters, and its " +
          "forced-alignment fallback leaks the header word and total score. See docs/recipes.md.",
      ),
  )
    .addOption(new Option("--classes <n>", "6: angry happy sad neutral frustration excited; 4: neutral happy(+excited) angry sad").choices(["4", "6"]).default("6"))
    .addOption(new Option("--compat <mode>", "reference: reproduce the reference builder's rows and columns (6 classes)").choices(["reference"]))
    .addHelpText("after", "\nExamples:\n  emofeat index iemocap --root IEMOCAP_full_release --out data/\n  emofeat index iemocap --root IEMOCAP_full_release --out data/iemocap4.csv --classes 4\n  emofeat index iemocap --root IEMOCAP_full_release --out data/reference.csv --compat reference")
    .action(async (o) => run("iemocap", { root: o.root, classes: Number(o.classes) as 4 | 6, compat: o.compat ?? "none" }, o));

  addCommon(
    index
      .command("ravdess")
      .summary("RAVDESS speech: codes in the file names (actors 1-16 train, 17-20 val, 21-24 test)")
      .description(
        "Index RAVDESS (--root holds Actor_01 .. Actor_24 or any folder of MM-VV-EE-II-SS-RR-AA.wav files). " +
          "Label from the emotion code (neutral calm happy sad angry fear disgust surprise), text from the statement " +
          "code, session = Actor_NN; split by actor: 1-16 train, 17-20 val, 21-24 test. Speech only unless --include-song.",
      ),
  )
    .option("--include-song", "also index the sung clips (vocal channel 02)")
    .action(async (o) => run("ravdess", { root: o.root, includeSong: Boolean(o.includeSong) }, o));

  addCommon(
    index
      .command("emodb")
      .summary("EmoDB: speaker, sentence and emotion letter from the file names (split by speaker)")
      .description(
        "Index EmoDB (--root holds wav/ or the wav files). 03a01Fa.wav = speaker 03, sentence a01, emotion F, version a. " +
          "Labels: W angry, L boredom, E disgust, A fear, F happy, T sad, N neutral. Text: the German sentence of the code. " +
          "session = Speaker_NN; split by speaker: 12 and 13 val, 15 and 16 test, the other six train. " +
          "An audio_labels.csv in the root is checked against the file names; disagreements are reported.",
      ),
  ).action(async (o) => run("emodb", { root: o.root }, o));

  addCommon(
    index
      .command("urdu")
      .summary("URDU: label from the folder, speaker from the name; no transcripts (audio only)")
      .description(
        "Index URDU (--root holds Angry/ Happy/ Neutral/ Sad/ with SGX_FXX_EYY.wav files). Label from the folder, " +
          "session = speaker (for example SM1); split by speaker number n: n % 5 == 0 test, n % 5 == 4 val, else train. " +
          "URDU has no transcripts: the text column is empty, so only audio extraction applies to this index.",
      ),
  ).action(async (o) => run("urdu", { root: o.root }, o));

  addCommon(
    index
      .command("cremad")
      .summary("CREMA-D: AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (split by actor)")
      .description(
        "Index CREMA-D (--root holds AudioWAV/). Label from the emotion code (angry disgust fear happy neutral sad), " +
          "text from the sentence code (12 sentences), session = Actor_NNNN; split by actor: 1001-1073 train, " +
          "1074-1082 val, 1083-1091 test.",
      ),
  ).action(async (o) => run("cremad", { root: o.root }, o));

  addCommon(
    index
      .command("meld")
      .summary("MELD: *_sent_emo.csv text, speaker, emotion, split; audio clips when extracted")
      .description(
        "Index MELD (--root holds train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv, at any depth). " +
          "utter_id = <split>_dia<D>_utt<U>; session = <split>_dia<D>; dev becomes val. Labels: neutral, happy (joy), " +
          "sad, angry, surprise, fear, disgust (the original word is kept in the emotion column). Audio: clips " +
          "extracted from the videos as <audio-dir>/<train|dev|test>/dia<D>_utt<U>.wav; without that folder the " +
          "index is text-only.",
      ),
  )
    .option("--audio-dir <dir>", "folder of extracted clips (default: <root>/audio)")
    .action(async (o) => run("meld", { root: o.root, audioDir: o.audioDir }, o));

  addCommon(
    index
      .command("generic")
      .summary("any corpus: a folder of <label>/*.wav, or a CSV with its columns mapped by flags")
      .description(
        "Index a corpus that has no recipe.\n\n" +
          "Folder mode (--root DIR): <label>/*.wav, or <split>/<label>/*.wav when every top-level folder is " +
          "train/val/dev/test. utter_id = file name without .wav; text and session empty.\n\n" +
          "CSV mode (--csv FILE): columns mapped with --id-col, --label-col, --audio-col, --text-col, " +
          "--session-col, --split-col (defaults: the index's own names). Relative audio paths resolve against " +
          "--root (default: the CSV's folder). Split values may be train/training, val/valid/validation/dev, " +
          "test/testing. Other columns are kept as extra columns.",
      ),
    false,
    false,
  )
    .option("--root <dir>", "folder mode: the corpus folder; CSV mode: the folder audio paths resolve against")
    .option("--csv <file>", "CSV mode: the source table")
    .option("--id-col <name>", "column with the utterance id (default utter_id)")
    .option("--label-col <name>", "column with the label (default label)")
    .option("--audio-col <name>", "column with the audio path (default audio_path)")
    .option("--text-col <name>", "column with the transcript (default text)")
    .option("--session-col <name>", "column with the session or speaker (default session)")
    .option("--split-col <name>", "column with the split (default split)")
    .option(
      "--split <name-or-ratios>",
      "train, val or test: the split of every row when there is no split column or split folders (default train); " +
        "or ratios such as 80/10/10: " + SPLIT_HELP,
    )
    .addHelpText("after", "\nExamples:\n  emofeat index generic --root my_corpus --out data/\n  emofeat index generic --root my_corpus --split 80/10/10 --out data/\n  emofeat index generic --csv meta.csv --id-col file --label-col emotion --audio-col path --split-col fold --out data/")
    .action(async (o) => {
      if (o.root === undefined && o.csv === undefined)
        throw new UsageError("generic: give --root DIR (a folder of <label>/*.wav) or --csv FILE");
      const ratios = typeof o.split === "string" && o.split.includes("/");
      await run(
        "generic",
        {
          root: o.root,
          csv: o.csv,
          idCol: o.idCol,
          labelCol: o.labelCol,
          audioCol: o.audioCol,
          textCol: o.textCol,
          sessionCol: o.sessionCol,
          splitCol: o.splitCol,
          split: ratios ? "train" : (o.split ?? "train"),
        },
        { ...o, split: ratios ? o.split : undefined },
      );
    });
}
