/**
 * EmoDB (Berlin Database of Emotional Speech) recipe: every `SSTTTEV.wav` under the root, for example
 * `03a01Fa.wav` = speaker 03, sentence a01, emotion F (Freude), version a. Labels come from the emotion
 * letter, text from the sentence code, and the split is by speaker.
 *
 * An `audio_labels.csv` (Filename, Speaker Info, Emotion) in the root, as some redistributions carry, is
 * checked against the file names and every disagreement is reported; the file-name code, which is the
 * corpus's own documentation, wins.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import type { Split } from "../manifest/index-csv.js";
import { exists } from "../util/fs.js";
import { firstOfId, namedWavs, requireDirectory, schemaColumns, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";
import { decodeText } from "./text-decode.js";

export type EmodbOptions = CommonRecipeOptions;

/** Emotion letters (German initials: Wut, Langeweile, Ekel, Angst, Freude, Trauer, Neutral). */
export const EMODB_EMOTIONS: Record<string, string> = {
  W: "angry",
  L: "boredom",
  E: "disgust",
  A: "fear",
  F: "happy",
  T: "sad",
  N: "neutral",
};

export const EMODB_SENTENCES: Record<string, string> = {
  a01: "Der Lappen liegt auf dem Eisschrank.",
  a02: "Das will sie am Mittwoch abgeben.",
  a04: "Heute abend könnte ich es ihm sagen.",
  a05: "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
  a07: "In sieben Stunden wird es soweit sein.",
  b01: "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
  b02: "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
  b03: "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
  b09: "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
  b10: "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
};

/** The ten speakers (EmoDB documentation): gender and age. */
export const EMODB_SPEAKERS: Record<string, { gender: "male" | "female"; age: number }> = {
  "03": { gender: "male", age: 31 },
  "08": { gender: "female", age: 34 },
  "09": { gender: "female", age: 21 },
  "10": { gender: "male", age: 32 },
  "11": { gender: "male", age: 26 },
  "12": { gender: "male", age: 30 },
  "13": { gender: "female", age: 32 },
  "14": { gender: "female", age: 35 },
  "15": { gender: "male", age: 25 },
  "16": { gender: "female", age: 31 },
};

/** One man and one woman in each of val and test; the other six speakers (3 + 3) train. */
export function emodbSplit(speaker: string): Split {
  return speaker === "15" || speaker === "16" ? "test" : speaker === "12" || speaker === "13" ? "val" : "train";
}

/** Emotion words found in third-party `audio_labels.csv` files, mapped to this recipe's labels. */
const CSV_EMOTION_WORDS: Record<string, string> = {
  anger: "angry",
  angry: "angry",
  boredom: "boredom",
  disgust: "disgust",
  anxiety: "fear",
  fear: "fear",
  happiness: "happy",
  happy: "happy",
  joy: "happy",
  sadness: "sad",
  sad: "sad",
  neutral: "neutral",
};

export const EMODB_PROBLEMS = {
  badName: "file name does not follow the EmoDB code SSTTTEV (not indexed)",
  unknownSpeaker: "unknown speaker code (not indexed)",
  unknownSentence: "unknown sentence code (not indexed)",
  unknownEmotion: "unknown emotion letter (not indexed)",
  duplicate: "same file name twice (first kept)",
  csvDisagrees: "audio_labels.csv disagrees with the file-name emotion letter (file name used)",
  csvMissingWav: "audio_labels.csv lists a file that is not in the folder",
  csvUnreadable: "audio_labels.csv cannot be read (not used)",
} as const;

const NAME_RE = /^(\d\d)([ab]\d\d)([A-Z])([a-z])\.wav$/;

async function readLabelsCsv(file: string, problems: RecipeProblem[]): Promise<Map<string, { emotion: string; line: number }> | null> {
  try {
    const records = parse(decodeText(await readFile(file)).text, { columns: true, bom: true, skip_empty_lines: true, info: true }) as unknown as {
      record: Record<string, string>;
      info: { lines: number };
    }[];
    const out = new Map<string, { emotion: string; line: number }>();
    for (const { record, info } of records) {
      const name = (record.Filename ?? record.filename ?? "").trim();
      const emotion = (record.Emotion ?? record.emotion ?? "").trim();
      if (name !== "") out.set(name, { emotion, line: info.lines });
    }
    return out;
  } catch (err) {
    problems.push({ reason: EMODB_PROBLEMS.csvUnreadable, file, detail: (err as Error).message });
    return null;
  }
}

export async function buildEmodb(options: EmodbOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "EmoDB root");
  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, string>();
  const csvFile = path.join(root, "audio_labels.csv");
  const csv = (await exists(csvFile)) ? await readLabelsCsv(csvFile, problems) : null;
  const notListed: string[] = [];

  for (const { file, utt, match } of await namedWavs(root, NAME_RE, problems, EMODB_PROBLEMS.badName)) {
    const [, speaker, sentence, letter, version] = match;
    const name = path.basename(file);
    if (!EMODB_SPEAKERS[speaker]) {
      problems.push({ reason: EMODB_PROBLEMS.unknownSpeaker, file, utterance: utt, detail: `speaker ${speaker}` });
      continue;
    }
    if (!EMODB_SENTENCES[sentence]) {
      problems.push({ reason: EMODB_PROBLEMS.unknownSentence, file, utterance: utt, detail: `sentence ${sentence}` });
      continue;
    }
    const label = EMODB_EMOTIONS[letter];
    if (!label) {
      problems.push({ reason: EMODB_PROBLEMS.unknownEmotion, file, utterance: utt, detail: `letter ${letter}` });
      continue;
    }
    if (!firstOfId(seen, utt, file, problems, EMODB_PROBLEMS.duplicate)) continue;
    if (csv) {
      const listed = csv.get(name);
      if (!listed) notListed.push(name);
      else if (CSV_EMOTION_WORDS[listed.emotion.toLowerCase()] !== label) {
        problems.push({
          reason: EMODB_PROBLEMS.csvDisagrees,
          file: csvFile,
          line: listed.line,
          utterance: utt,
          detail: `csv says "${listed.emotion}", letter ${letter} = ${label}`,
        });
      }
    }
    rows.push({
      utter_id: utt,
      session: `Speaker_${speaker}`,
      audio_path: file,
      text: EMODB_SENTENCES[sentence],
      label,
      split: emodbSplit(speaker),
      speaker,
      gender: EMODB_SPEAKERS[speaker].gender,
      sentence,
      version,
    });
  }
  if (csv) {
    for (const [name, { line }] of csv) {
      if (!seen.has(name.replace(/\.wav$/i, ""))) problems.push({ reason: EMODB_PROBLEMS.csvMissingWav, file: csvFile, line, detail: name });
    }
  }
  const notes = ["text is the sentence read (one of ten fixed German sentences), so it carries no emotion"];
  if (csv) notes.push(`audio_labels.csv checked against the file names (${csv.size} entries)`);
  if (notListed.length > 0) notes.push(`wavs not listed in audio_labels.csv: ${notListed.length}`);
  return {
    columns: schemaColumns(["speaker", "gender", "sentence", "version"]),
    rows,
    problems,
    notes,
    settings: {},
  };
}
