/**
 * Generic recipe, for corpora without a recipe of their own:
 *
 * - a folder of `<label>/*.wav` (or `<split>/<label>/*.wav` when every top-level folder is train, val, dev
 *   or test): label from the folder, utter_id from the file name, no text, no session;
 * - a CSV with other column names, mapped by flags (`--id-col`, `--label-col`, `--audio-col`, ...);
 *   relative audio paths resolve against `--audio-root` (default: the CSV's folder) and are written absolute.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { capText, EmofeatError, InputFileError, UsageError } from "../errors.js";
import { SPLITS, type Split } from "../manifest/index-csv.js";
import { exists } from "../util/fs.js";
import { firstOfId, isHidden, requireDirectory, schemaColumns, walkFiles, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";
import { decodeText } from "./text-decode.js";

export interface GenericOptions {
  /** Folder of `<label>/*.wav` (folder mode), or the folder audio paths resolve against (CSV mode). */
  root?: string;
  /** CSV mode: the source table. */
  csv?: string;
  idCol?: string;
  sessionCol?: string;
  audioCol?: string;
  textCol?: string;
  labelCol?: string;
  splitCol?: string;
  /** Split for every row when there is no split column or split folders (default "train"). */
  split?: string;
  durations?: boolean;
}

export const GENERIC_PROBLEMS = {
  duplicate: "utter_id seen before (first kept)",
  badSplit: "unknown split value (not indexed)",
  emptyId: "empty id (not indexed)",
  emptyLabel: "empty label (not indexed)",
  noAudioOrText: "neither audio nor text (not indexed)",
  missingAudio: "audio file does not exist (row kept)",
  looseFile: "wav not inside a label folder (not indexed)",
} as const;

const SPLIT_ALIASES: Record<string, Split> = {
  train: "train",
  training: "train",
  val: "val",
  valid: "val",
  validation: "val",
  dev: "val",
  test: "test",
  testing: "test",
};

/** train/val/test with the usual aliases (training, valid, validation, dev, testing); null otherwise. */
export function normalizeSplit(value: string): Split | null {
  return SPLIT_ALIASES[value.trim().toLowerCase()] ?? null;
}

function defaultSplit(value: string | undefined): Split {
  const s = normalizeSplit(value ?? "train");
  if (s === null) throw new UsageError(`--split must be one of ${SPLITS.join(", ")} (got ${JSON.stringify(value)})`);
  return s;
}

async function buildFromFolder(options: GenericOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root!, "generic root");
  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, string>();
  const top = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !isHidden(e.name)).map((e) => e.name);
  const splitFolders = top.length > 0 && top.every((n) => normalizeSplit(n) !== null);
  const fallback = defaultSplit(options.split);
  for (const file of await walkFiles(root, ".wav")) {
    const parts = path.relative(root, file).split(path.sep);
    const need = splitFolders ? 3 : 2;
    if (parts.length !== need) {
      problems.push({ reason: GENERIC_PROBLEMS.looseFile, file, detail: `expected ${splitFolders ? "<split>/<label>/<file>.wav" : "<label>/<file>.wav"}` });
      continue;
    }
    const split = splitFolders ? normalizeSplit(parts[0])! : fallback;
    const label = parts[need - 2];
    const utt = path.basename(file).replace(/\.wav$/i, "");
    if (!firstOfId(seen, utt, file, problems, GENERIC_PROBLEMS.duplicate)) continue;
    rows.push({ utter_id: utt, session: "", audio_path: file, text: "", label, split });
  }
  return {
    columns: schemaColumns([]),
    rows,
    problems,
    notes: [
      splitFolders ? "split from the top-level folders" : `every row in split "${fallback}" (no split folders)`,
      "no transcripts (text empty: only audio extraction applies) and no sessions (session empty)",
    ],
    settings: { layout: splitFolders ? "split/label/*.wav" : "label/*.wav" },
  };
}

async function buildFromCsv(options: GenericOptions): Promise<RecipeOutput> {
  const csvFile = path.resolve(options.csv!);
  if (!(await exists(csvFile))) throw new EmofeatError(`--csv ${csvFile}: no such file`);
  const audioRoot = path.resolve(options.root ?? path.dirname(csvFile));
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(decodeText(await readFile(csvFile)).text, { columns: true, bom: true, skip_empty_lines: true, info: true }) as unknown as typeof records;
  } catch (err) {
    throw new EmofeatError(`${csvFile}: not a readable CSV: ${capText((err as Error).message, 200)}`);
  }
  if (records.length === 0) throw new EmofeatError(`${csvFile}: no data rows`);
  const header = Object.keys(records[0].record);
  const cols = {
    id: options.idCol ?? "utter_id",
    session: options.sessionCol ?? "session",
    audio: options.audioCol ?? "audio_path",
    text: options.textCol ?? "text",
    label: options.labelCol ?? "label",
    split: options.splitCol ?? "split",
  };
  const has = (c: string) => header.includes(c);
  // Named columns must exist; default-named optional columns may be absent.
  const missing: string[] = [];
  for (const [flag, name, required] of [
    ["--id-col", cols.id, true],
    ["--label-col", cols.label, true],
    ["--session-col", cols.session, options.sessionCol !== undefined],
    ["--audio-col", cols.audio, options.audioCol !== undefined],
    ["--text-col", cols.text, options.textCol !== undefined],
    ["--split-col", cols.split, options.splitCol !== undefined],
  ] as const) {
    if (required && !has(name)) missing.push(`${flag} ${name}`);
  }
  if (!has(cols.audio) && !has(cols.text)) missing.push(`an audio column (--audio-col) or a text column (--text-col)`);
  if (missing.length > 0)
    throw new InputFileError(csvFile, [{ row: null, line: 1, message: `missing column(s): ${missing.join("; ")} (header has: ${capText(header.join(", "), 200)})` }], "cannot map columns");
  const fallback = defaultSplit(options.split);
  const used = new Set(Object.values(cols));
  const extras = header.filter((h) => !used.has(h) && !(schemaColumns([]) as string[]).includes(h));

  const problems: RecipeProblem[] = [];
  const rows: IndexRow[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of records) {
    const at = { file: csvFile, line: info.lines };
    const id = (record[cols.id] ?? "").trim();
    const label = (record[cols.label] ?? "").trim();
    const text = has(cols.text) ? (record[cols.text] ?? "").trim() : "";
    const rawAudio = has(cols.audio) ? (record[cols.audio] ?? "").trim() : "";
    if (id === "") {
      problems.push({ reason: GENERIC_PROBLEMS.emptyId, ...at });
      continue;
    }
    if (label === "") {
      problems.push({ reason: GENERIC_PROBLEMS.emptyLabel, ...at, utterance: id });
      continue;
    }
    const split = has(cols.split) ? normalizeSplit(record[cols.split] ?? "") : fallback;
    if (split === null) {
      problems.push({ reason: GENERIC_PROBLEMS.badSplit, ...at, utterance: id, detail: JSON.stringify(record[cols.split]) });
      continue;
    }
    if (rawAudio === "" && text === "") {
      problems.push({ reason: GENERIC_PROBLEMS.noAudioOrText, ...at, utterance: id });
      continue;
    }
    if (seen.has(id)) {
      problems.push({ reason: GENERIC_PROBLEMS.duplicate, ...at, utterance: id, detail: `first at line ${seen.get(id)}` });
      continue;
    }
    seen.set(id, info.lines);
    const audio = rawAudio === "" ? "" : path.resolve(audioRoot, rawAudio);
    if (audio !== "" && !(await exists(audio))) problems.push({ reason: GENERIC_PROBLEMS.missingAudio, ...at, utterance: id, detail: audio });
    const row: IndexRow = {
      utter_id: id,
      session: has(cols.session) ? (record[cols.session] ?? "").trim() : "",
      audio_path: audio,
      text,
      label,
      split,
    };
    for (const e of extras) row[e] = record[e] ?? "";
    rows.push(row);
  }
  return {
    columns: schemaColumns(extras),
    rows,
    problems,
    notes: [`columns: utter_id<-${cols.id}, label<-${cols.label}${has(cols.audio) ? `, audio_path<-${cols.audio}` : ""}${has(cols.text) ? `, text<-${cols.text}` : ""}`],
    settings: { csv: csvFile },
  };
}

export async function buildGeneric(options: GenericOptions): Promise<RecipeOutput> {
  if (options.csv !== undefined) return buildFromCsv(options);
  if (options.root === undefined) throw new EmofeatError("generic: give --root DIR (a folder of <label>/*.wav) or --csv FILE");
  return buildFromFolder(options);
}
