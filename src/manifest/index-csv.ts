/**
 * The corpus index (manifest): one row per utterance, in the reference schema
 * `utter_id, session, audio_path, text, label, split` (extra columns are kept).
 *
 * Rows are numbered from 1 for the first data row (the header is not counted); messages also give the
 * source line, which differs from the row when quoted fields contain newlines.
 */
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { capText, EmofeatError, InputFileError, type InputProblem } from "../errors.js";

export const INDEX_COLUMNS = ["utter_id", "session", "audio_path", "text", "label", "split"] as const;
export type IndexColumn = (typeof INDEX_COLUMNS)[number];
export const SPLITS = ["train", "val", "test"] as const;
export type Split = (typeof SPLITS)[number];

export interface Utterance {
  /** 1-based data row in the index CSV (header excluded). */
  row: number;
  utterId: string;
  session: string;
  /** As written in the CSV. */
  audioPath: string;
  /** `audioPath` resolved against the CSV's folder ("" when the CSV has none). */
  audioFile: string;
  text: string;
  label: string;
  split: Split;
  /** Columns beyond the reference schema, by header name. */
  extra: Record<string, string>;
}

export interface IndexManifest {
  /** Absolute path of the CSV ("<memory>" when parsed from a string). */
  path: string;
  /** sha256 of the CSV bytes, recorded in feature stores and runs. */
  sha256: string;
  columns: string[];
  utterances: Utterance[];
}

/** What a consumer needs from every row; missing values are reported as problems. */
export type IndexRequirement = "text" | "audio" | "label";

export interface ParseIndexOptions {
  /** Folder that relative audio paths resolve against (default: the CSV's folder, or cwd). */
  baseDir?: string;
  /** Display name / path of the CSV for messages. */
  path?: string;
  require?: IndexRequirement[];
  /**
   * Columns the CSV must have (default: all six). Others may be absent and read as ""; the split column's
   * values are checked only when it is required. `predict --csv` needs utter_id plus what its stores use.
   */
  columns?: readonly IndexColumn[];
}

export function parseIndex(content: string | Buffer, options: ParseIndexOptions = {}): IndexManifest {
  const file = options.path ?? "<memory>";
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const baseDir = options.baseDir ?? (options.path ? path.dirname(path.resolve(options.path)) : process.cwd());

  // csv-parse would turn invalid UTF-8 into U+FFFD without a word; say where instead of corrupting text.
  const badByte = firstInvalidUtf8(bytes);
  if (badByte >= 0) {
    const line = bytes.subarray(0, badByte).toString("latin1").split("\n").length;
    throw new InputFileError(file, [
      { row: null, line, message: `not valid UTF-8 (byte ${badByte}: 0x${bytes[badByte].toString(16)}); save the index as UTF-8` },
    ]);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(bytes, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new InputFileError(file, [{ row: null, line: e.lines, message: `not a readable CSV: ${capText(e.message, 200)}` }]);
  }
  if (records.length === 0) throw new InputFileError(file, [{ row: null, message: "the file is empty (no header row)" }]);

  const header = records[0].record.map((h) => h.trim());
  const problems: InputProblem[] = [];
  const requiredCols = options.columns ?? INDEX_COLUMNS;
  const missing = requiredCols.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    problems.push({
      row: null,
      line: 1,
      message: `missing required column(s): ${missing.join(", ")} (header has: ${capText(header.join(", "))}; required: ${requiredCols.join(", ")})`,
    });
  }
  const seenHeader = new Set<string>();
  for (const h of header) {
    if (seenHeader.has(h)) problems.push({ row: null, line: 1, column: h, message: "duplicate column name in header" });
    seenHeader.add(h);
  }
  if (problems.length > 0) throw new InputFileError(file, problems, "invalid index header");

  const col = Object.fromEntries(INDEX_COLUMNS.map((c) => [c, header.indexOf(c)])) as Record<IndexColumn, number>;
  const extraCols = header.map((h, i) => [h, i] as const).filter(([h]) => !(INDEX_COLUMNS as readonly string[]).includes(h));
  const required = new Set(options.require ?? []);
  const firstRowOfId = new Map<string, number>();
  const utterances: Utterance[] = [];

  for (let r = 1; r < records.length; r++) {
    const { record, info } = records[r];
    // info.lines is the line where the record ended; good enough to find it in an editor.
    const at = { row: r, line: info.lines };
    if (record.length !== header.length) {
      problems.push({ ...at, message: `has ${record.length} field(s), the header has ${header.length}` });
      continue;
    }
    const get = (c: IndexColumn) => (col[c] >= 0 ? record[col[c]] : "");
    const utterId = get("utter_id").trim();
    const split = get("split").trim();
    const text = get("text");
    const audioPath = get("audio_path").trim();
    const label = get("label").trim();

    if (utterId === "") problems.push({ ...at, column: "utter_id", message: "empty utter_id" });
    // ids become lines of ids.txt and file names, so they may not hold line breaks or other control characters.
    else if (/[\u0000-\u001f\u007f]/.test(utterId))
      problems.push({ ...at, column: "utter_id", message: `utter_id "${capText(utterId, 80)}" contains a line break or control character` });
    else if (firstRowOfId.has(utterId))
      problems.push({ ...at, column: "utter_id", message: `duplicate utter_id "${capText(utterId, 80)}" (first seen at row ${firstRowOfId.get(utterId)})` });
    else firstRowOfId.set(utterId, r);
    if (requiredCols.includes("split") && !(SPLITS as readonly string[]).includes(split))
      problems.push({ ...at, column: "split", message: `unknown split "${capText(split, 40)}" (expected one of: ${SPLITS.join(", ")})` });
    if (required.has("text") && text.trim() === "")
      problems.push({ ...at, column: "text", message: `empty text for "${capText(utterId, 80)}" (text extraction needs a transcript on every row)` });
    if (required.has("audio") && audioPath === "")
      problems.push({ ...at, column: "audio_path", message: `empty audio_path for "${capText(utterId, 80)}"` });
    if (required.has("label") && label === "")
      problems.push({ ...at, column: "label", message: `empty label for "${capText(utterId, 80)}"` });

    utterances.push({
      row: r,
      utterId,
      session: get("session").trim(),
      audioPath,
      audioFile: audioPath === "" ? "" : path.resolve(baseDir, audioPath),
      text,
      label,
      split: split as Split,
      extra: Object.fromEntries(extraCols.map(([h, i]) => [h, record[i]])),
    });
  }
  // An index without transcripts (e.g. URDU) gets one clear line instead of one per row.
  const emptyText = problems.filter((p) => p.column === "text");
  if (emptyText.length > 1 && emptyText.length === utterances.length)
    problems.splice(0, problems.length, {
      row: null,
      column: "text",
      message: `no row has text (the text column is empty on all ${utterances.length} rows): this index has no transcripts, so text extraction does not apply; use audio extraction`,
    }, ...problems.filter((p) => p.column !== "text"));
  if (problems.length > 0) throw new InputFileError(file, problems, "invalid index");
  if (utterances.length === 0) throw new InputFileError(file, [{ row: null, message: "the index has a header but no rows" }]);
  return { path: options.path ? path.resolve(options.path) : file, sha256, columns: header, utterances };
}

/** Byte offset of the first invalid UTF-8 sequence, or -1 (a literal U+FFFD in the file is valid). */
function firstInvalidUtf8(b: Buffer): number {
  const text = b.toString("utf8");
  for (let i = text.indexOf("\uFFFD"); i >= 0; i = text.indexOf("\uFFFD", i + 1)) {
    const off = Buffer.byteLength(text.slice(0, i), "utf8");
    if (!(b[off] === 0xef && b[off + 1] === 0xbf && b[off + 2] === 0xbd)) return off;
  }
  return -1;
}

export async function loadIndex(csvPath: string, options: Omit<ParseIndexOptions, "path"> = {}): Promise<IndexManifest> {
  let bytes: Buffer;
  try {
    bytes = await readFile(csvPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a CSV file" : (err as Error).message;
    throw new EmofeatError(`index CSV ${csvPath}: ${why}`);
  }
  return parseIndex(bytes, { ...options, path: csvPath });
}
