/**
 * CREMA-D recipe: `AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav` (for example 1001_DFA_ANG_XX.wav).
 * Text from the sentence code (the 12 sentences of its SentenceFilenames documentation); session = actor;
 * split by actor: 1001-1073 train, 1074-1082 val, 1083-1091 test.
 */
import path from "node:path";
import type { Split } from "../manifest/index-csv.js";
import { isDirectory } from "../util/fs.js";
import { firstOfId, namedWavs, requireDirectory, schemaColumns, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";

export type CremadOptions = CommonRecipeOptions;

export const CREMAD_SENTENCES: Record<string, string> = {
  IEO: "It's eleven o'clock",
  TIE: "That is exactly what happened",
  IOM: "I'm on my way to the meeting",
  IWW: "I wonder what this is about",
  TAI: "The airplane is almost full",
  MTI: "Maybe tomorrow it will be cold",
  IWL: "I would like a new alarm clock",
  ITH: "I think I have a doctor's appointment",
  DFA: "Don't forget a jacket",
  ITS: "I think I've seen this before",
  TSI: "The surface is slick",
  WSI: "We'll stop in a couple of minutes",
};
export const CREMAD_EMOTIONS: Record<string, string> = {
  ANG: "angry",
  DIS: "disgust",
  FEA: "fear",
  HAP: "happy",
  NEU: "neutral",
  SAD: "sad",
};
// "X" is how older copies name one clip (1040_ITH_SAD_X.wav, renamed upstream in CREMA-D issue #6).
const LEVELS: Record<string, string> = { LO: "low", MD: "medium", HI: "high", XX: "unspecified", X: "unspecified" };

export const CREMAD_PROBLEMS = {
  badName: "file name does not follow <actor>_<sentence>_<emotion>_<level> (not indexed)",
  badCode: "unknown code in the file name (not indexed)",
  duplicate: "same file name twice (first kept)",
} as const;

const NAME_RE = /^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})\.wav$/;

export function cremadSplit(actor: number): Split {
  return actor >= 1083 ? "test" : actor >= 1074 ? "val" : "train";
}

export async function buildCremad(options: CremadOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "CREMA-D root");
  // The release keeps its clips in AudioWAV/; a folder of clips works too.
  const audioDir = (await isDirectory(path.join(root, "AudioWAV"))) ? path.join(root, "AudioWAV") : root;
  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, string>();
  for (const { file, utt, match } of await namedWavs(audioDir, NAME_RE, problems, CREMAD_PROBLEMS.badName)) {
    const [, actorCode, sentence, emotion, level] = match;
    const actor = Number(actorCode);
    const bad = [
      actor >= 1001 && actor <= 1091 ? null : `actor ${actorCode}`,
      CREMAD_SENTENCES[sentence] ? null : `sentence ${sentence}`,
      CREMAD_EMOTIONS[emotion] ? null : `emotion ${emotion}`,
      LEVELS[level] ? null : `level ${level}`,
    ].filter((x) => x !== null);
    if (bad.length > 0) {
      problems.push({ reason: CREMAD_PROBLEMS.badCode, file, detail: bad.join(", ") });
      continue;
    }
    if (!firstOfId(seen, utt, file, problems, CREMAD_PROBLEMS.duplicate)) continue;
    rows.push({
      utter_id: utt,
      session: `Actor_${actorCode}`,
      audio_path: file,
      text: CREMAD_SENTENCES[sentence],
      label: CREMAD_EMOTIONS[emotion],
      split: cremadSplit(actor),
      speaker: actorCode,
      sentence,
      level: LEVELS[level],
    });
  }
  return {
    columns: schemaColumns(["speaker", "sentence", "level"]),
    rows,
    problems,
    notes: ["text is the sentence read (one of twelve fixed sentences), so it carries no emotion"],
    settings: {},
  };
}
