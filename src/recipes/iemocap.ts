/**
 * IEMOCAP recipe (default mode): every utterance of `IEMOCAP_full_release` that has a wav, a label in the
 * chosen class set and some text (its transcript line, else its forced-alignment words).
 *
 * Layout read (per SessionN):
 *   dialog/EmoEvaluation/<dialog>.txt            labels (subfolders such as Categorical/ are not read)
 *   dialog/transcriptions/<dialog>.txt           "<utt> [start-end]: text"
 *   sentences/wav/<dialog>/<utt>.wav
 *   sentences/ForcedAlignment/<dialog>/<utt>.wdseg
 *
 * `--compat reference` is in iemocap-reference.ts.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { EmofeatError, UsageError } from "../errors.js";
import type { Split } from "../manifest/index-csv.js";
import { comparePaths, isHidden, requireDirectory, schemaColumns, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem } from "./common.js";
import { buildIemocapReference } from "./iemocap-reference.js";
import { decodeText } from "./text-decode.js";

export interface IemocapOptions extends CommonRecipeOptions {
  /** 6 (default): ang, hap, sad, neu, fru, exc. 4: neutral, happy (+ excited), angry, sad. */
  classes?: 4 | 6;
  /** "reference": reproduce the reference builder row for row (6 classes only). */
  compat?: "none" | "reference";
}

/** IEMOCAP category code -> label, per class set. Codes outside the map are left out of the index. */
export const IEMOCAP_CLASSES: Record<4 | 6, Record<string, string>> = {
  6: { ang: "angry", hap: "happy", sad: "sad", neu: "neutral", fru: "frustration", exc: "excited" },
  4: { neu: "neutral", hap: "happy", exc: "happy", ang: "angry", sad: "sad" },
};

export const IEMOCAP_PROBLEMS = {
  noEmoFolder: "session without a dialog/EmoEvaluation folder (its wavs have no labels)",
  unreadableEmo: "unreadable EmoEvaluation file (its labels are missing)",
  badHeader: "header line does not parse (that utterance has no label)",
  duplicateLabel: "utterance labelled twice (first label kept)",
  unreadableTranscript: "unreadable transcript (its utterances fall back to forced alignment)",
  badTranscriptLine: "transcript line does not parse (that utterance falls back to forced alignment)",
  duplicateTranscript: "utterance with two transcript lines (first kept)",
  unreadableWdseg: "unreadable forced-alignment file (no fallback text)",
  badWdseg: "forced-alignment file does not parse (no fallback text)",
  wavWithoutLabel: "wav without a label (not indexed)",
  labelWithoutWav: "label without a wav (not indexed)",
  noText: "no text: no usable transcript line and no forced-alignment words (not indexed)",
} as const;

const IEMOCAP_EXTRA_COLUMNS = ["dialog", "speaker", "start", "end", "label_code", "text_source"];

interface Label {
  code: string;
  start: string;
  end: string;
  file: string;
  line: number;
}

interface TranscriptLine {
  text: string;
  line: number;
}

/** "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]" */
const NUM = String.raw`-?\d+(?:\.\d+)?`;
const HEADER_RE = new RegExp(String.raw`^\[(${NUM})\s*-\s*(${NUM})\]\s+(\S+)\s+([A-Za-z]+)\s+\[\s*${NUM}\s*,\s*${NUM}\s*,\s*${NUM}\s*\]$`);
/** "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me." (the timestamp is not used) */
const TRANSCRIPT_RE = /^(Ses\S+)\s*\[[^\]]*\]\s*:\s*(.*)$/;
/** Utterance id -> actor ("Ses01F_impro01_M002" -> "Ses01M": the letter before the number is the speaker). */
const SPEAKER_RE = /^(Ses\d+)[MF]_.*_([MF])\d+$/;

export function iemocapSplit(sessionNumber: number): Split {
  return sessionNumber === 5 ? "test" : sessionNumber === 4 ? "val" : "train";
}

/** Transcript text without ids, timestamps and non-speech tags ([LAUGHTER], <sil>, pronunciation "(2)"). */
export function cleanIemocapText(raw: string): string {
  return raw
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/\(\d+\)/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Words of a .wdseg file: the Word column of each alignment row, without sentence/silence markers
 * (<s>, </s>, <sil>), noise tokens (++GARBAGE++, ++LAUGHTER++), {...} fillers and pronunciation variant
 * suffixes ("WHAT(2)"), lower-cased. Returns a string describing the first bad line when the file does not
 * have the SFrm/EFrm/SegAScr/Word layout.
 */
export function wdsegWords(content: string): { words: string[] } | { bad: { line: number; text: string } } {
  const words: string[] = [];
  const lines = content.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === "" || /^SFrm\s/.test(t) || /^Total Score:/i.test(t)) continue;
    const f = t.split(/\s+/);
    if (f.length !== 4 || !f.slice(0, 3).every((x) => /^-?\d+$/.test(x))) return { bad: { line: i + 1, text: t } };
    const w = f[3];
    if (/^<.*>$/.test(w) || /^\+\+.*\+\+$/.test(w) || /^\{.*\}$/.test(w)) continue;
    const word = w.replace(/\(\d+\)$/, "").toLowerCase();
    if (word !== "") words.push(word);
  }
  return { words };
}

export async function listIemocapSessions(root: string): Promise<{ name: string; number: number; dir: string }[]> {
  const entries = await readdir(root, { withFileTypes: true });
  const sessions = entries
    .filter((e) => e.isDirectory() && /^Session\d+$/.test(e.name))
    .map((e) => ({ name: e.name, number: Number(e.name.slice("Session".length)), dir: path.join(root, e.name) }))
    .sort((a, b) => a.number - b.number);
  if (sessions.length === 0) {
    throw new EmofeatError(
      `${root}: no Session1..Session5 folders here; --root must be the IEMOCAP_full_release folder ` +
        `(the one holding Session1/dialog/EmoEvaluation, Session1/sentences/wav, ...)`,
    );
  }
  return sessions;
}

async function listDir(dir: string): Promise<import("node:fs").Dirent[] | null> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => !isHidden(e.name)).sort((a, b) => comparePaths(a.name, b.name));
  } catch {
    return null;
  }
}

/** Names of the text files that were not UTF-8 (decoded as Windows-1252), for the notes. */
interface Latin1Files {
  emo: string[];
  transcripts: string[];
}

async function readLabels(emoDir: string, problems: RecipeProblem[], latin1: Latin1Files): Promise<Map<string, Label>> {
  const labels = new Map<string, Label>();
  const entries = (await listDir(emoDir)) ?? [];
  // Only the files directly in EmoEvaluation hold the consensus labels; Categorical/, Attribute/ and
  // Self-evaluation/ hold per-evaluator judgements and are not read.
  for (const e of entries) {
    if (!e.name.endsWith(".txt")) continue;
    const file = path.join(emoDir, e.name);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push({ reason: IEMOCAP_PROBLEMS.unreadableEmo, file, detail: code === "EISDIR" ? "is a directory" : code ?? (err as Error).message });
      continue;
    }
    const { text, encoding } = decodeText(bytes);
    if (encoding !== "utf-8") latin1.emo.push(path.basename(file));
    const lines = text.split(/\r\n|\r|\n/);
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i].trim();
      if (!t.startsWith("[")) continue; // comments (%), evaluator lines (C-E2:, A-E3:) and blank lines
      const m = HEADER_RE.exec(t);
      if (!m) {
        problems.push({ reason: IEMOCAP_PROBLEMS.badHeader, file, line: i + 1, detail: JSON.stringify(t) });
        continue;
      }
      const [, start, end, utt, code] = m;
      const prev = labels.get(utt);
      if (prev) {
        problems.push({
          reason: IEMOCAP_PROBLEMS.duplicateLabel,
          file,
          line: i + 1,
          utterance: utt,
          detail: `"${code.toLowerCase()}" here, "${prev.code}" at ${path.basename(prev.file)}:${prev.line}`,
        });
        continue;
      }
      labels.set(utt, { code: code.toLowerCase(), start, end, file, line: i + 1 });
    }
  }
  return labels;
}

async function readTranscript(file: string, problems: RecipeProblem[], latin1: Latin1Files, counters: { otherLines: number }): Promise<Map<string, TranscriptLine> | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    problems.push({ reason: IEMOCAP_PROBLEMS.unreadableTranscript, file, detail: code === "EISDIR" ? "is a directory" : code ?? (err as Error).message });
    return null;
  }
  const { text, encoding } = decodeText(bytes);
  if (encoding !== "utf-8") latin1.transcripts.push(path.basename(file));
  const out = new Map<string, TranscriptLine>();
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === "") continue;
    if (!t.startsWith("Ses")) {
      counters.otherLines++; // non-target speakers ("M: ...", "F: ...") and other remarks
      continue;
    }
    const m = TRANSCRIPT_RE.exec(t);
    if (!m) {
      const utt = t.split(/[\s:[]/, 1)[0];
      problems.push({ reason: IEMOCAP_PROBLEMS.badTranscriptLine, file, line: i + 1, utterance: utt, detail: JSON.stringify(t) });
      continue;
    }
    const [, utt, said] = m;
    if (out.has(utt)) {
      problems.push({ reason: IEMOCAP_PROBLEMS.duplicateTranscript, file, line: i + 1, utterance: utt, detail: `first at line ${out.get(utt)!.line}` });
      continue;
    }
    out.set(utt, { text: said, line: i + 1 });
  }
  return out;
}

async function readWdsegText(file: string, utt: string, problems: RecipeProblem[]): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") problems.push({ reason: IEMOCAP_PROBLEMS.unreadableWdseg, file, utterance: utt, detail: code ?? (err as Error).message });
    return "";
  }
  const parsed = wdsegWords(decodeText(bytes).text);
  if ("bad" in parsed) {
    problems.push({ reason: IEMOCAP_PROBLEMS.badWdseg, file, line: parsed.bad.line, utterance: utt, detail: JSON.stringify(parsed.bad.text) });
    return "";
  }
  return parsed.words.join(" ");
}

export async function buildIemocap(options: IemocapOptions): Promise<RecipeOutput> {
  const classes = options.classes ?? 6;
  if (classes !== 4 && classes !== 6) throw new UsageError(`--classes must be 4 or 6 (got ${String(classes)})`);
  if (options.compat === "reference") {
    if (classes !== 6) throw new UsageError("--compat reference reproduces the reference builder, which only has the 6-class set; drop --classes 4");
    return buildIemocapReference(options);
  }
  if (options.compat !== undefined && options.compat !== "none")
    throw new UsageError(`--compat must be "reference" or left out (got ${JSON.stringify(options.compat)})`);

  const root = await requireDirectory(options.root, "IEMOCAP root");
  const classMap = IEMOCAP_CLASSES[classes];
  const problems: RecipeProblem[] = [];
  const latin1: Latin1Files = { emo: [], transcripts: [] };
  const counters = { otherLines: 0, fromWdseg: 0, hidden: 0 };
  const excluded = new Map<string, number>();
  const rows: IndexRow[] = [];

  for (const session of await listIemocapSessions(root)) {
    const emoDir = path.join(session.dir, "dialog", "EmoEvaluation");
    const emoEntries = await listDir(emoDir);
    if (emoEntries === null) problems.push({ reason: IEMOCAP_PROBLEMS.noEmoFolder, file: emoDir });
    const labels = emoEntries === null ? new Map<string, Label>() : await readLabels(emoDir, problems, latin1);
    const seen = new Set<string>();
    const transcripts = new Map<string, Map<string, TranscriptLine> | null>();

    const wavRoot = path.join(session.dir, "sentences", "wav");
    for (const dialogEntry of (await listDir(wavRoot)) ?? []) {
      if (!dialogEntry.isDirectory()) continue;
      const dialog = dialogEntry.name;
      const dialogDir = path.join(wavRoot, dialog);
      const all = await readdir(dialogDir);
      counters.hidden += all.filter((n) => isHidden(n) && n.toLowerCase().endsWith(".wav")).length;
      const wavs = all.filter((n) => !isHidden(n) && n.toLowerCase().endsWith(".wav")).sort(comparePaths);
      for (const name of wavs) {
        const utt = name.slice(0, -".wav".length);
        const wav = path.join(dialogDir, name);
        const label = labels.get(utt);
        if (!label) {
          problems.push({ reason: IEMOCAP_PROBLEMS.wavWithoutLabel, file: wav, utterance: utt });
          continue;
        }
        seen.add(utt);
        const mapped = classMap[label.code];
        if (mapped === undefined) {
          excluded.set(label.code, (excluded.get(label.code) ?? 0) + 1);
          continue;
        }
        if (!transcripts.has(dialog)) {
          transcripts.set(dialog, await readTranscript(path.join(session.dir, "dialog", "transcriptions", `${dialog}.txt`), problems, latin1, counters));
        }
        const line = transcripts.get(dialog)?.get(utt);
        let text = line ? cleanIemocapText(line.text) : "";
        let source = "transcript";
        if (text === "") {
          const wdseg = path.join(session.dir, "sentences", "ForcedAlignment", dialog, `${utt}.wdseg`);
          text = await readWdsegText(wdseg, utt, problems);
          source = "forced_alignment";
          if (text === "") {
            problems.push({
              reason: IEMOCAP_PROBLEMS.noText,
              file: wav,
              utterance: utt,
              detail: line ? `transcript line ${line.line} is only tags and there are no alignment words` : "no transcript line and no alignment words",
            });
            continue;
          }
          counters.fromWdseg++;
        }
        const sp = SPEAKER_RE.exec(utt);
        rows.push({
          utter_id: utt,
          session: session.name,
          audio_path: wav,
          text,
          label: mapped,
          split: iemocapSplit(session.number),
          dialog,
          speaker: sp ? sp[1] + sp[2] : "",
          start: label.start,
          end: label.end,
          label_code: label.code,
          text_source: source,
        });
      }
    }
    for (const [utt, label] of labels) {
      if (seen.has(utt)) continue;
      if (classMap[label.code] === undefined) excluded.set(label.code, (excluded.get(label.code) ?? 0) + 1);
      else problems.push({ reason: IEMOCAP_PROBLEMS.labelWithoutWav, file: label.file, line: label.line, utterance: utt });
    }
  }
  rows.sort((a, b) => {
    const sa = Number(a.session.slice(7));
    const sb = Number(b.session.slice(7));
    return sa !== sb ? sa - sb : comparePaths(a.utter_id, b.utter_id);
  });

  const notes: string[] = [];
  const list = (names: string[]) => names.slice(0, 5).join(", ") + (names.length > 5 ? `, ... (${names.length} files)` : "");
  if (latin1.emo.length > 0) notes.push(`EmoEvaluation files that are not UTF-8, read as Windows-1252/Latin-1: ${list(latin1.emo)}`);
  if (latin1.transcripts.length > 0) notes.push(`transcripts that are not UTF-8, read as Windows-1252/Latin-1: ${list(latin1.transcripts)}`);
  if (excluded.size > 0) {
    const list = [...excluded].sort((a, b) => comparePaths(a[0], b[0])).map(([c, n]) => `${c} ${n}`);
    notes.push(`labels outside the ${classes}-class set, not indexed: ${list.join(", ")}`);
  }
  if (counters.fromWdseg > 0) notes.push(`text from forced alignment (no usable transcript line): ${counters.fromWdseg} row(s)`);
  if (counters.otherLines > 0) notes.push(`transcript lines of non-target speakers skipped: ${counters.otherLines}`);
  if (counters.hidden > 0) notes.push(`hidden files skipped (for example macOS "._" copies): ${counters.hidden}`);
  return {
    columns: schemaColumns(IEMOCAP_EXTRA_COLUMNS),
    rows,
    problems,
    notes,
    settings: { classes, compat: "none" },
  };
}
