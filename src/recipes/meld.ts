/**
 * MELD recipe: `train_sent_emo.csv`, `dev_sent_emo.csv` and `test_sent_emo.csv` (anywhere under the root)
 * give text, speaker, emotion and split (dev = val). MELD ships video, not audio: when clips extracted from
 * the videos exist as `<audio-dir>/<train|dev|test>/dia<D>_utt<U>.wav` (default audio-dir: `<root>/audio`),
 * rows point to them; otherwise the index is text-only (empty audio_path).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { capText, EmofeatError } from "../errors.js";
import type { Split } from "../manifest/index-csv.js";
import { exists, isDirectory } from "../util/fs.js";
import { requireDirectory, schemaColumns, walkFiles, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";
import { decodeText, fixCp1252Controls } from "./text-decode.js";

export interface MeldOptions extends CommonRecipeOptions {
  /** Folder with extracted clips `<split>/dia<D>_utt<U>.wav` (default `<root>/audio`). */
  audioDir?: string;
}

export const MELD_EMOTIONS: Record<string, string> = {
  neutral: "neutral",
  joy: "happy",
  sadness: "sad",
  anger: "angry",
  surprise: "surprise",
  fear: "fear",
  disgust: "disgust",
};
const MELD_SPLITS: Record<string, Split> = { train: "train", dev: "val", test: "test" };
const REQUIRED = ["Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID"];

export const MELD_PROBLEMS = {
  badRow: "row with a missing or invalid field (not indexed)",
  duplicate: "dialogue/utterance pair listed twice (first kept)",
  noClip: "no extracted audio clip for this row (row kept, text only)",
  extraCsv: "a second copy of a split's CSV (ignored)",
} as const;

export async function buildMeld(options: MeldOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "MELD root");
  const problems: RecipeProblem[] = [];
  const csvs = new Map<string, string>();
  for (const f of await walkFiles(root, "_sent_emo.csv")) {
    const m = /^(train|dev|test)_sent_emo\.csv$/.exec(path.basename(f));
    if (!m) continue;
    if (csvs.has(m[1])) problems.push({ reason: MELD_PROBLEMS.extraCsv, file: f, detail: `using ${csvs.get(m[1])}` });
    else csvs.set(m[1], f);
  }
  if (csvs.size === 0) throw new EmofeatError(`${root}: no train_sent_emo.csv, dev_sent_emo.csv or test_sent_emo.csv under this folder`);

  const audioDir = path.resolve(options.audioDir ?? path.join(root, "audio"));
  if (options.audioDir !== undefined && !(await isDirectory(audioDir))) throw new EmofeatError(`--audio-dir ${audioDir}: no such folder`);
  const haveAudio = await isDirectory(audioDir);

  const rows: IndexRow[] = [];
  const notes: string[] = [];
  let controlFixes = 0;
  for (const splitName of ["train", "dev", "test"]) {
    const file = csvs.get(splitName);
    if (!file) {
      notes.push(`no ${splitName}_sent_emo.csv: the ${MELD_SPLITS[splitName]} split is empty`);
      continue;
    }
    const { text: content, encoding } = decodeText(await readFile(file));
    if (encoding !== "utf-8") notes.push(`${path.basename(file)} read as Windows-1252 (not valid UTF-8)`);
    let records: { record: Record<string, string>; info: { lines: number } }[];
    try {
      records = parse(content, { columns: true, bom: true, skip_empty_lines: true, info: true, relax_column_count: false }) as unknown as typeof records;
    } catch (err) {
      throw new EmofeatError(`${file}: not a readable CSV: ${capText((err as Error).message, 200)}`);
    }
    const header = records.length > 0 ? Object.keys(records[0].record) : [];
    const missing = REQUIRED.filter((c) => !header.includes(c));
    if (records.length > 0 && missing.length > 0)
      throw new EmofeatError(`${file}: missing column(s) ${missing.join(", ")} (header has: ${header.join(", ")})`);
    const seen = new Map<string, number>();
    for (const { record, info } of records) {
      const d = record.Dialogue_ID.trim();
      const u = record.Utterance_ID.trim();
      const { text, fixed } = fixCp1252Controls(record.Utterance.trim());
      if (fixed > 0) controlFixes++;
      const emotion = record.Emotion.trim().toLowerCase();
      const bad = [
        /^\d+$/.test(d) ? null : `Dialogue_ID "${d}"`,
        /^\d+$/.test(u) ? null : `Utterance_ID "${u}"`,
        MELD_EMOTIONS[emotion] ? null : `Emotion "${record.Emotion}"`,
        text !== "" ? null : "empty Utterance",
      ].filter((x) => x !== null);
      if (bad.length > 0) {
        problems.push({ reason: MELD_PROBLEMS.badRow, file, line: info.lines, detail: bad.join(", ") });
        continue;
      }
      const utt = `${splitName}_dia${Number(d)}_utt${Number(u)}`;
      if (seen.has(utt)) {
        problems.push({ reason: MELD_PROBLEMS.duplicate, file, line: info.lines, utterance: utt, detail: `first at line ${seen.get(utt)}` });
        continue;
      }
      seen.set(utt, info.lines);
      let audio = "";
      if (haveAudio) {
        const clip = path.join(audioDir, splitName, `dia${Number(d)}_utt${Number(u)}.wav`);
        if (await exists(clip)) audio = clip;
        else problems.push({ reason: MELD_PROBLEMS.noClip, file: clip, utterance: utt });
      }
      rows.push({
        utter_id: utt,
        session: `${splitName}_dia${Number(d)}`,
        audio_path: audio,
        text,
        label: MELD_EMOTIONS[emotion],
        split: MELD_SPLITS[splitName],
        speaker: record.Speaker.trim(),
        emotion,
        sentiment: (record.Sentiment ?? "").trim(),
        season: (record.Season ?? "").trim(),
        episode: (record.Episode ?? "").trim(),
        start: (record.StartTime ?? "").trim(),
        end: (record.EndTime ?? "").trim(),
      });
    }
  }
  if (controlFixes > 0)
    notes.push(`utterances with Windows-1252 control codes (U+0092 for ’, ...) turned into their characters: ${controlFixes}`);
  notes.push(
    haveAudio
      ? `audio clips looked up in ${audioDir}/<train|dev|test>/dia<D>_utt<U>.wav`
      : `no audio folder (${audioDir}): text-only index (audio_path empty; only text extraction applies)`,
  );
  return {
    columns: schemaColumns(["speaker", "emotion", "sentiment", "season", "episode", "start", "end"]),
    rows,
    problems,
    notes,
    settings: { audioDir: haveAudio ? audioDir : "" },
  };
}
