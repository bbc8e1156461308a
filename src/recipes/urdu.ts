/**
 * URDU recipe: `<Emotion>/SGX_FXX_EYY.wav` with Emotion one of Angry, Happy, Neutral, Sad. The label comes
 * from the folder, the speaker (gender G, number X) from the name. The corpus has no transcripts: the text
 * column is empty, so only audio extraction applies to this index.
 */
import path from "node:path";
import type { Split } from "../manifest/index-csv.js";
import { firstOfId, requireDirectory, schemaColumns, walkFiles, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";

export type UrduOptions = CommonRecipeOptions;

export const URDU_FOLDERS: Record<string, string> = { angry: "angry", happy: "happy", neutral: "neutral", sad: "sad" };
const LETTERS: Record<string, string> = { A: "angry", H: "happy", N: "neutral", S: "sad" };

export const URDU_PROBLEMS = {
  notInEmotionFolder: "wav not inside an Angry/Happy/Neutral/Sad folder (not indexed)",
  badName: "file name does not follow SGX_FXX_EYY, so its speaker is unknown (not indexed)",
  letterDisagrees: "emotion letter in the file name differs from the folder (folder used)",
  duplicate: "same file name twice (first kept)",
} as const;

const NAME_RE = /^S([MF])(\d+)_F(\d+)_([A-Z])(\d+)\.wav$/i;

/**
 * Speaker-independent split that does not depend on which files are present: speaker number n
 * (per gender) goes to test when n % 5 == 0, to val when n % 5 == 4, else to train (about 60/20/20).
 */
export function urduSplit(speakerNumber: number): Split {
  return speakerNumber % 5 === 0 ? "test" : speakerNumber % 5 === 4 ? "val" : "train";
}

export async function buildUrdu(options: UrduOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "URDU root");
  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, string>();
  for (const file of await walkFiles(root, ".wav")) {
    const folder = path.basename(path.dirname(file));
    const label = URDU_FOLDERS[folder.toLowerCase()];
    if (!label) {
      problems.push({ reason: URDU_PROBLEMS.notInEmotionFolder, file, detail: `folder "${folder}"` });
      continue;
    }
    const name = path.basename(file);
    const m = NAME_RE.exec(name);
    if (!m) {
      problems.push({ reason: URDU_PROBLEMS.badName, file });
      continue;
    }
    const [, g, num, fileNo, letter] = m;
    const utt = name.slice(0, -4);
    if (!firstOfId(seen, utt, file, problems, URDU_PROBLEMS.duplicate)) continue;
    if (LETTERS[letter.toUpperCase()] !== label)
      problems.push({ reason: URDU_PROBLEMS.letterDisagrees, file, utterance: utt, detail: `letter ${letter}, folder ${folder}` });
    const speaker = `S${g.toUpperCase()}${Number(num)}`;
    rows.push({
      utter_id: utt,
      session: speaker,
      audio_path: file,
      text: "",
      label,
      split: urduSplit(Number(num)),
      speaker,
      gender: g.toUpperCase() === "M" ? "male" : "female",
      file_number: fileNo,
    });
  }
  return {
    columns: schemaColumns(["speaker", "gender", "file_number"]),
    rows,
    problems,
    notes: ["URDU has no transcripts: the text column is empty, so only audio extraction applies (text extraction will refuse this index)"],
    settings: {},
  };
}
