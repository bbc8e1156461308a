/**
 * IEMOCAP `--compat reference`: reproduces the reference (Python) index builder row for row, quirks
 * included, so that features extracted here line up with the reference's 3,694-row index:
 *
 * - utterance ids come from `re.search(r"Ses\d{2}[MF]_[A-Za-z]+\d+_[MF]\d{3,4}", stem)` on every wav and
 *   wdseg file stem, so scripted dialogs (Ses01F_script01_1_F000) and lettered improvisations
 *   (Ses03M_impro05a_M001) never match and are silently dropped;
 * - labels are the header lines of `SessionN/dialog/EmoEvaluation/*.txt` that match its header pattern,
 *   restricted to ang/hap/sad/neu/fru/exc (always the 6-class set);
 * - text is the first transcript line starting with the id, cleaned by its regexes (which keep bracketed
 *   tags such as [LAUGHTER] and drop undecodable bytes, so Latin-1 letters vanish); when that is missing or
 *   empty, the forced-alignment fallback keeps the last token of every line with 3 or more fields,
 *   lower-cased, minus sil/sp/garbage/<s>/</s>/<sil>, with {}<> removed: the header's "Word" and the
 *   total score leak into the text, as do "++garbage++" tokens;
 * - rows need a wav and a text (possibly empty, from the fallback); sorted by session, then id;
 *   paths are absolute with symlinks resolved; split Session5 = test, Session4 = val, others = train;
 * - columns in the reference's order: session, utter_id, audio_path, wdseg_path, transcript_path, label,
 *   text, split.
 *
 * Python's text semantics are mirrored where they could change a row: str.splitlines, str.strip and
 * str.split whitespace, Unicode \d and \b, universal newlines, and the decoders in text-decode.ts.
 *
 * Where the reference would stop with an exception (a transcript, wdseg or EmoEvaluation path that is a
 * folder or cannot be read) this reports a problem and goes on as if the file did not exist; and where it
 * would write an utterance twice (labelled twice in one session) this keeps the first label, because an
 * index with duplicate ids is invalid.
 */
import { readdir, readFile, realpath } from "node:fs/promises";
import path from "node:path";
import type { Split } from "../manifest/index-csv.js";
import { comparePaths, type CommonRecipeOptions, type IndexRow, type RecipeOutput, type RecipeProblem, requireDirectory } from "./common.js";
import { decodeLikeReadTextRobust, decodeUtf8IgnoreErrors } from "./text-decode.js";

/** Python's str.isspace() characters (also what `\s` matches in Python 3 str patterns). */
const PY_WS = String.raw`\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`;
const D = String.raw`\p{Nd}`; // Python's \d on str is any Unicode decimal digit
const S = `[${PY_WS}]`;

const UID_SEARCH = new RegExp(`Ses${D}{2}[MF]_[A-Za-z]+${D}+_[MF]${D}{3,4}`, "u");
const DIALOG_OF_UID = new RegExp(`^(Ses${D}{2}[MF]_[A-Za-z]+${D}+)_`, "u");
const HEAD_RE = new RegExp(
  `^\\[(${D}+\\.${D}+)${S}*-${S}*(${D}+\\.${D}+)\\]${S}+([^${PY_WS}]+)${S}+([A-Za-z]{3})${S}*\\[${S}*([${D}\\.${PY_WS},]+)${S}*\\]${S}*$`,
  "u",
);
const CLEAN_ID = new RegExp(`^Ses${D}{2}[MF]_[A-Za-z]+${D}+_[MF]${D}{3,4}${S}*\\[[^\\n]*?\\]${S}*:${S}*`, "u");
const CLEAN_S = /<\/?s>/giu;
const CLEAN_NOISE = new RegExp(`<${S}*(sil|sp|noise|laughter)${S}*>`, "giu");
const CLEAN_NUM = new RegExp(`\\(${D}+\\)`, "gu");
const CLEAN_TAG = /<[^>]+>/gu;
const WS_RUN = new RegExp(`${S}+`, "gu");
const WS_EDGES = new RegExp(`^${S}+|${S}+$`, "gu");
const PY_WORD_CHAR = /[\p{L}\p{N}_]/u;

const KEEP_6: Record<string, string> = { ang: "angry", hap: "happy", sad: "sad", neu: "neutral", fru: "frustration", exc: "excited" };
const WDSEG_SKIP = new Set(["sil", "sp", "garbage", "<sil>", "</s>", "<s>"]);
const REFERENCE_COLUMNS = ["session", "utter_id", "audio_path", "wdseg_path", "transcript_path", "label", "text", "split"];

export const REFERENCE_PROBLEMS = {
  unreadable: "unreadable file (the reference would stop with an error here; treated as absent)",
  duplicateLabel: "utterance labelled twice in one session (the reference would write it twice; first label kept)",
} as const;

const pyStrip = (s: string) => s.replace(WS_EDGES, "");
const pySplitWs = (s: string) => pyStrip(s).split(WS_RUN).filter((x) => x !== "");
/** str.splitlines(): the line boundaries Python recognises, without the terminators. */
const pySplitlines = (s: string) => {
  const parts = s.split(/\r\n|[\n\r\x0B\x0C\x1C\x1D\x1E\x85\u2028\u2029]/);
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
};
/** Lines as a Python text-mode file yields them (universal newlines), without the terminators. */
const pyFileLines = (s: string) => s.split(/\r\n|\r|\n/);

/** `re.search(UID_PATTERN, stem)`: the reference's utterance id of a file stem, or null. */
export function referenceUid(stem: string): string | null {
  const m = UID_SEARCH.exec(stem);
  return m ? m[0] : null;
}

/** The reference's `clean_transcript_line`. */
export function referenceCleanLine(line: string): string {
  const s = line
    .replace(CLEAN_ID, "")
    .replace(CLEAN_S, " ")
    .replace(CLEAN_NOISE, " ")
    .replace(CLEAN_NUM, " ")
    .replace(CLEAN_TAG, " ")
    .replace(WS_RUN, " ");
  return pyStrip(s);
}

/** The reference's `wdseg_to_text` on decoded file content. */
export function referenceWdsegText(content: string): string {
  const sent: string[] = [];
  for (const line of pyFileLines(content)) {
    const parts = pySplitWs(line);
    if (parts.length < 3) continue;
    let w = parts[parts.length - 1].toLowerCase();
    if (WDSEG_SKIP.has(w)) continue;
    w = w.replace(/[{}<>]/g, "");
    if (w) sent.push(w);
  }
  return sent.join(" ");
}

/** First line starting with `uid` at a word boundary (`^uid\b`), cleaned; null when none. */
export function referenceTranscriptText(content: string, uid: string): string | null {
  for (const line of pyFileLines(content)) {
    if (!line.startsWith(uid)) continue;
    const next = line.codePointAt(uid.length);
    if (next !== undefined && PY_WORD_CHAR.test(String.fromCodePoint(next))) continue;
    return referenceCleanLine(line);
  }
  return null;
}

/** Every file under `dir` whose name ends in `suffix` (case-sensitive), skipping hidden names like Python's glob. */
async function globRecursive(dir: string, suffix: string, out: string[] = []): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    // glob's "*.txt" also matches folders with that name; they fail when opened, as in the reference.
    if (e.name.endsWith(suffix) && e.name.length > suffix.length) out.push(p);
    if (e.isDirectory()) await globRecursive(p, suffix, out);
  }
  return out;
}

const stemOf = (file: string) => {
  const base = path.basename(file);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
};

async function resolved(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return path.resolve(p);
  }
}

export async function buildIemocapReference(options: CommonRecipeOptions): Promise<RecipeOutput> {
  const root = await requireDirectory(options.root, "IEMOCAP root");
  const problems: RecipeProblem[] = [];
  const counts = { unmatchedStems: 0, badHeaders: 0, otherCodes: 0, noLabel: 0, noWav: 0, noText: 0, emptyText: 0, fromWdseg: 0 };

  // The reference reopens a dialog's transcript for each of its utterances; reading it once gives the same
  // bytes and reports an unreadable file once.
  const cache = new Map<string, Promise<Buffer | null>>();
  const readOrReport = (file: string): Promise<Buffer | null> => {
    let p = cache.get(file);
    if (!p) {
      p = readFile(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT")
          problems.push({ reason: REFERENCE_PROBLEMS.unreadable, file, detail: err.code === "EISDIR" ? "is a directory" : err.code ?? err.message });
        return null;
      });
      cache.set(file, p);
    }
    return p;
  };

  const firstNumber = (s: string) => Number(/\p{Nd}+/u.exec(s)![0]);
  const sessions = (await readdir(root))
    .filter((s) => s.toLowerCase().startsWith("session") && /\p{Nd}/u.test(s))
    .sort((a, b) => firstNumber(a) - firstNumber(b) || comparePaths(a, b));

  const rows: IndexRow[] = [];
  for (const S of sessions) {
    const sdir = path.join(root, S);

    // 1. labels
    const labels = new Map<string, { label: string; file: string; line: number }>();
    const emoDir = path.join(sdir, "dialog", "EmoEvaluation");
    let emoEntries: import("node:fs").Dirent[] = [];
    try {
      emoEntries = await readdir(emoDir, { withFileTypes: true });
    } catch {
      emoEntries = [];
    }
    const emoFiles = emoEntries
      .filter((e) => !e.name.startsWith(".") && e.name.endsWith(".txt") && e.name.length > 4)
      .map((e) => path.join(emoDir, e.name))
      .sort(comparePaths);
    for (const file of emoFiles) {
      const bytes = await readOrReport(file);
      if (bytes === null) continue;
      const lines = pySplitlines(decodeLikeReadTextRobust(bytes).text);
      for (let i = 0; i < lines.length; i++) {
        const t = pyStrip(lines[i]);
        const m = HEAD_RE.exec(t);
        if (!m) {
          if (t.startsWith("[")) counts.badHeaders++;
          continue;
        }
        const utt = m[3];
        const label = KEEP_6[m[4].toLowerCase()];
        if (label === undefined) {
          counts.otherCodes++;
          continue;
        }
        const prev = labels.get(utt);
        if (prev) {
          problems.push({ reason: REFERENCE_PROBLEMS.duplicateLabel, file, line: i + 1, utterance: utt, detail: `first at ${path.basename(prev.file)}:${prev.line}` });
          continue;
        }
        labels.set(utt, { label, file, line: i + 1 });
      }
    }

    // 2. paths by reference utterance id (a later file with the same id replaces an earlier one, as in its dict)
    const byUid = (files: string[]) => {
      const map = new Map<string, string>();
      let unmatched = 0;
      for (const f of files.sort(comparePaths)) {
        const uid = referenceUid(stemOf(f));
        if (uid === null) unmatched++;
        else map.set(uid, f);
      }
      return { map, unmatched };
    };
    const wavs = byUid(await globRecursive(path.join(sdir, "sentences"), ".wav"));
    const wavMap = wavs.map;
    counts.unmatchedStems += wavs.unmatched; // wdseg stems without a wav never make a row, so only wavs are counted
    const wdsegMap = byUid(await globRecursive(path.join(sdir, "sentences", "ForcedAlignment"), ".wdseg")).map;
    const txtMap = new Map<string, string>();
    for (const f of (await globRecursive(path.join(sdir, "dialog", "transcriptions"), ".txt")).sort(comparePaths)) txtMap.set(stemOf(f), f);

    // 3. merge with labels, 4. text, 5. keep rows with audio and text
    const uids = [...new Set([...wavMap.keys(), ...wdsegMap.keys()])].sort(comparePaths);
    for (const uid of uids) {
      const lab = labels.get(uid);
      if (!lab) {
        counts.noLabel++;
        continue;
      }
      const wav = wavMap.get(uid);
      if (wav === undefined) {
        counts.noWav++;
        continue;
      }
      const did = DIALOG_OF_UID.exec(uid)?.[1];
      const transcript = did !== undefined ? txtMap.get(did) : undefined;
      const wdseg = wdsegMap.get(uid);
      let text: string | null = null;
      if (transcript !== undefined) {
        const bytes = await readOrReport(transcript);
        if (bytes !== null) {
          const t = referenceTranscriptText(decodeUtf8IgnoreErrors(bytes), uid);
          if (t) text = t;
        }
      }
      if (text === null && wdseg !== undefined) {
        const bytes = await readOrReport(wdseg);
        text = bytes === null ? "" : referenceWdsegText(decodeUtf8IgnoreErrors(bytes));
        counts.fromWdseg++;
      }
      if (text === null) {
        counts.noText++;
        continue;
      }
      if (text === "") counts.emptyText++;
      rows.push({
        session: S,
        utter_id: uid,
        audio_path: await resolved(wav),
        wdseg_path: wdseg !== undefined ? await resolved(wdseg) : "",
        transcript_path: transcript !== undefined ? await resolved(transcript) : "",
        label: lab.label,
        text,
        split: (S === "Session5" ? "test" : S === "Session4" ? "val" : "train") as Split,
      });
    }
    for (const uid of labels.keys()) if (!wavMap.has(uid) && !wdsegMap.has(uid)) counts.noWav++;
  }
  rows.sort((a, b) => comparePaths(a.session, b.session) || comparePaths(a.utter_id, b.utter_id));

  const notes = [
    "compat reference: rows as the reference builder writes them (see docs/recipes.md for what it drops)",
    `wav files whose stem does not match the reference id pattern (scripted dialogs, lettered improvisations), dropped: ${counts.unmatchedStems}`,
    `EmoEvaluation header lines the reference pattern does not match, ignored: ${counts.badHeaders}`,
    `labels outside ang/hap/sad/neu/fru/exc, dropped: ${counts.otherCodes}`,
    `matched wav/wdseg ids without a label in the 6 classes, dropped: ${counts.noLabel}`,
    `labels without a matching wav, dropped: ${counts.noWav}`,
    `labelled wavs without any text, dropped: ${counts.noText}`,
    `rows whose text came from the forced-alignment fallback (with its leaked tokens): ${counts.fromWdseg}`,
  ];
  if (counts.emptyText > 0) notes.push(`rows with empty text (an empty fallback), kept as the reference keeps them: ${counts.emptyText}`);
  return { columns: REFERENCE_COLUMNS, rows, problems, notes, settings: { classes: 6, compat: "reference" }, durationColumn: false };
}
