import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";
import { EmofeatError } from "../errors.js";

/**
 * A CSV file the tool wrote (run and store records) as header-keyed rows; a missing column or malformed CSV is
 * an EmofeatError naming the file (and csv-parse's line).
 */
export async function readCsvRecords(file: string, required: readonly string[]): Promise<Record<string, string>[]> {
  const text = await readFile(file, "utf8");
  let header: string[] = [];
  let rows: Record<string, string>[];
  try {
    rows = parse(text, {
      bom: true,
      skip_empty_lines: true,
      columns: (h: string[]) => {
        header = h;
        return h;
      },
    }) as Record<string, string>[];
  } catch (err) {
    throw new EmofeatError(`${file}: not a valid CSV: ${(err as Error).message}`);
  }
  const lacking = required.filter((c) => !header.includes(c));
  if (lacking.length > 0) throw new EmofeatError(`${file}: missing column(s) ${lacking.join(", ")} (header: ${header.join(",") || "none"})`);
  return rows;
}

/** An integer field of a record; `line` is the file's line (header = 1). */
export function intField(file: string, line: number, name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v === "" || !Number.isInteger(n)) throw new EmofeatError(`${file}: line ${line}: ${name} "${v ?? ""}" is not an integer`);
  return n;
}

/** A number field; empty reads as NaN (the writers leave unknown values empty). */
export function numField(file: string, line: number, name: string, v: string | undefined): number {
  if (v === undefined || v === "") return NaN;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new EmofeatError(`${file}: line ${line}: ${name} "${v}" is not a number`);
  return n;
}
