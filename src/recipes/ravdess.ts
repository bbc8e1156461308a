/**
 * RAVDESS recipe: every `MM-VV-EE-II-SS-RR-AA.wav` under the root (usually `Actor_01/` .. `Actor_24/`).
 * The name codes modality, vocal channel, emotion, intensity, statement, repetition and actor; the text is
 * the statement; session = actor; split by actor (1-16 train, 17-20 val, 21-24 test), so no speaker is in
 * two splits.
 */
import path from "node:path";
import type { Split } from "../manifest/index-csv.js";
import { firstOfId, namedWavs, requireDirectory, schemaColumns, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";

export interface RavdessOptions extends CommonRecipeOptions {
  /** Also index the sung clips (vocal channel 02); default: speech only. */
  includeSong?: boolean;
}

export const RAVDESS_EMOTIONS: Record<string, string> = {
  "01": "neutral",
  "02": "calm",
  "03": "happy",
  "04": "sad",
  "05": "angry",
  "06": "fear",
  "07": "disgust",
  "08": "surprise",
};
export const RAVDESS_STATEMENTS: Record<string, string> = {
  "01": "Kids are talking by the door",
  "02": "Dogs are sitting by the door",
};
const INTENSITY: Record<string, string> = { "01": "normal", "02": "strong" };
const CHANNEL: Record<string, string> = { "01": "speech", "02": "song" };
const MODALITY: Record<string, string> = { "01": "audio-video", "02": "video-only", "03": "audio-only" };

export const RAVDESS_PROBLEMS = {
  badName: "file name does not follow the RAVDESS code MM-VV-EE-II-SS-RR-AA (not indexed)",
  badCode: "unknown code in the file name (not indexed)",
  actorFolder: "actor in the file name differs from its Actor_NN folder (file name used)",
  duplicate: "same file name twice (first kept)",
} as const;

const NAME_RE = /^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$/i;

export function ravdessSplit(actor: number): Split {
  return actor >= 21 ? "test" : actor >= 17 ? "val" : "train";
}

export async function buildRavdess(options: RavdessOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "RAVDESS root");
  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, string>();
  let song = 0;
  for (const { file, utt, match } of await namedWavs(root, NAME_RE, problems, RAVDESS_PROBLEMS.badName)) {
    const [, modality, channel, emotion, intensity, statement, repetition, actorCode] = match;
    const actor = Number(actorCode);
    const bad = [
      MODALITY[modality] ? null : `modality ${modality}`,
      CHANNEL[channel] ? null : `vocal channel ${channel}`,
      RAVDESS_EMOTIONS[emotion] ? null : `emotion ${emotion}`,
      INTENSITY[intensity] ? null : `intensity ${intensity}`,
      RAVDESS_STATEMENTS[statement] ? null : `statement ${statement}`,
      repetition === "01" || repetition === "02" ? null : `repetition ${repetition}`,
      actor >= 1 && actor <= 24 ? null : `actor ${actorCode}`,
    ].filter((x) => x !== null);
    if (bad.length > 0) {
      problems.push({ reason: RAVDESS_PROBLEMS.badCode, file, detail: bad.join(", ") });
      continue;
    }
    if (channel === "02" && !options.includeSong) {
      song++;
      continue;
    }
    if (!firstOfId(seen, utt, file, problems, RAVDESS_PROBLEMS.duplicate)) continue;
    const folder = /^Actor_(\d+)$/i.exec(path.basename(path.dirname(file)));
    if (folder && Number(folder[1]) !== actor)
      problems.push({ reason: RAVDESS_PROBLEMS.actorFolder, file, utterance: utt, detail: `name says actor ${actor}` });
    rows.push({
      utter_id: utt,
      session: `Actor_${actorCode}`,
      audio_path: file,
      text: RAVDESS_STATEMENTS[statement],
      label: RAVDESS_EMOTIONS[emotion],
      split: ravdessSplit(actor),
      speaker: `Actor_${actorCode}`,
      gender: actor % 2 === 1 ? "male" : "female",
      intensity: INTENSITY[intensity],
      statement,
      repetition,
      channel: CHANNEL[channel],
    });
  }
  const notes = ["text is the statement read (one of two fixed sentences), so it carries no emotion"];
  if (song > 0) notes.push(`sung clips (vocal channel 02) skipped: ${song} (--include-song indexes them)`);
  return {
    columns: schemaColumns(["speaker", "gender", "intensity", "statement", "repetition", "channel"]),
    rows,
    problems,
    notes,
    settings: { includeSong: Boolean(options.includeSong) },
  };
}
