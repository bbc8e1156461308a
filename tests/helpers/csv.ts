import { writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";

export interface Row {
  utter_id: string;
  session?: string;
  audio_path?: string;
  text?: string;
  label?: string;
  split?: string;
}

/** Writes an index CSV with the reference columns. */
export async function writeIndex(dir: string, rows: Row[], name = "index.csv"): Promise<string> {
  const file = path.join(dir, name);
  const cols = ["utter_id", "session", "audio_path", "text", "label", "split"] as const;
  await writeFile(
    file,
    stringify(
      rows.map((r) => cols.map((c) => (r as unknown as Record<string, string | undefined>)[c] ?? (c === "split" ? "train" : c === "session" ? "S1" : c === "label" ? "neutral" : ""))),
      { header: true, columns: [...cols] },
    ),
  );
  return file;
}
