/**
 * Per-row records written beside a store: clips.csv (audio: duration, seconds kept, whether the cut shortened
 * the clip) and texts.csv (text: tokens, tokens kept, whether --max-len truncated the text). Stores made before
 * a record existed simply lack the file (null).
 */
import path from "node:path";
import { intField, numField, readCsvRecords } from "../util/csv.js";
import { exists } from "../util/fs.js";
import { STORE_FILES } from "./meta.js";

export interface ClipRecord {
  utterId: string;
  row: number;
  durationS: number;
  keptS: number;
  sampleRate: number;
  channels: number;
  truncated: boolean;
}

export interface TextRecord {
  utterId: string;
  row: number;
  tokens: number;
  keptTokens: number;
  truncated: boolean;
}

/** The file name of the text records (contract: `utter_id,row,tokens,kept_tokens,truncated`). */
export const TEXTS_FILE = "texts.csv";

const yes = (v: string | undefined) => v === "yes" || v === "true" || v === "1";

export async function readClipRecords(dir: string): Promise<ClipRecord[] | null> {
  const file = path.join(dir, STORE_FILES.clips);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, ["utter_id", "row", "duration_s", "kept_s", "truncated"])).map((r, i) => ({
    utterId: r.utter_id,
    row: intField(file, i + 2, "row", r.row),
    durationS: numField(file, i + 2, "duration_s", r.duration_s),
    keptS: numField(file, i + 2, "kept_s", r.kept_s),
    sampleRate: numField(file, i + 2, "sample_rate", r.sample_rate),
    channels: numField(file, i + 2, "channels", r.channels),
    truncated: yes(r.truncated),
  }));
}

export async function readTextRecords(dir: string): Promise<TextRecord[] | null> {
  const file = path.join(dir, TEXTS_FILE);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, ["utter_id", "row", "tokens", "kept_tokens", "truncated"])).map((r, i) => ({
    utterId: r.utter_id,
    row: intField(file, i + 2, "row", r.row),
    tokens: intField(file, i + 2, "tokens", r.tokens),
    keptTokens: intField(file, i + 2, "kept_tokens", r.kept_tokens),
    truncated: yes(r.truncated),
  }));
}
