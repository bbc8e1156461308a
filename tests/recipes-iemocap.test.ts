/**
 * The IEMOCAP recipe on the miniature tree of tests/helpers/mini-iemocap.ts, row by row, in both modes.
 * Every expected row below was worked out by hand from the rules in the issue (default mode) and from the
 * reference builder's documented behaviour (--compat reference), not by running the code.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadIndex } from "../src/manifest/index-csv.js";
import { buildIndex, countByReason, formatStatsTable, writeIndexCsv, type IndexBuild } from "../src/recipes/index.js";
import { IEMOCAP_PROBLEMS } from "../src/recipes/iemocap.js";
import { REFERENCE_PROBLEMS, referenceCleanLine, referenceTranscriptText, referenceUid, referenceWdsegText } from "../src/recipes/iemocap-reference.js";
import { makeMiniIemocap } from "./helpers/mini-iemocap.js";

let dir: string;
let root: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "emofeat-iemocap-"));
  root = await makeMiniIemocap(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const wavOf = (utt: string) => {
  const dialog = utt.replace(/_[MF]\d+$/, "");
  return path.join(root, `Session${Number(utt.slice(3, 5))}`, "sentences", "wav", dialog, `${utt}.wav`);
};
const wdsegOf = (utt: string) => {
  const dialog = utt.replace(/_[MF]\d+$/, "");
  return path.join(root, `Session${Number(utt.slice(3, 5))}`, "sentences", "ForcedAlignment", dialog, `${utt}.wdseg`);
};
const transcriptOf = (dialog: string) => path.join(root, `Session${Number(dialog.slice(3, 5))}`, "dialog", "transcriptions", `${dialog}.txt`);

// utter_id, session, text, label, split, speaker, start, end, label_code, text_source, duration
type DefaultRow = [string, string, string, string, string, string, string, string, string, string, string];
const DEFAULT_6: DefaultRow[] = [
  ["Ses01F_impro01_F000", "Session1", "Excuse me.", "neutral", "train", "Ses01F", "6.2901", "8.2357", "neu", "transcript", "1.000"],
  ["Ses01F_impro01_F001", "Session1", "excuse me", "angry", "train", "Ses01F", "12.5000", "13.0000", "ang", "forced_alignment", "0.250"],
  ["Ses01F_impro01_F003", "Session1", 'Señor, ¿qué "tal", amigo?', "excited", "train", "Ses01F", "20.0000", "21.0000", "exc", "transcript", "0.250"],
  ["Ses01F_impro01_M000", "Session1", "Yeah I do okay.", "frustration", "train", "Ses01M", "10.0100", "11.3925", "fru", "transcript", "0.250"],
  ["Ses01F_impro01_M001", "Session1", "okay fine", "happy", "train", "Ses01M", "16.0000", "17.0000", "hap", "forced_alignment", "0.250"],
  ["Ses01F_script01_1_F000", "Session1", "Où est le café?", "angry", "train", "Ses01F", "3.0000", "5.5000", "ang", "transcript", "0.250"],
  ["Ses01F_script01_1_M000", "Session1", "Just a minute.", "neutral", "train", "Ses01M", "6.0000", "8.0000", "neu", "transcript", "0.250"],
  ["Ses02M_impro02_F000", "Session2", "That café was naïve.", "sad", "train", "Ses02F", "1.0000", "2.0000", "sad", "transcript", "0.250"],
  ["Ses02M_impro02_M000", "Session2", "Fine, fine.", "neutral", "train", "Ses02M", "3.0000", "4.0000", "neu", "transcript", "0.250"],
  ["Ses02M_impro02_M001", "Session2", "hello there", "happy", "train", "Ses02M", "5.0000", "6.0000", "hap", "forced_alignment", "0.250"],
  ["Ses02M_impro03_M000", "Session2", "go away", "angry", "train", "Ses02M", "1.0000", "2.0000", "ang", "forced_alignment", "0.250"],
  ["Ses03M_impro05a_F000", "Session3", "Not again.", "frustration", "train", "Ses03F", "4.0000", "5.0000", "fru", "transcript", "0.250"],
  ["Ses03M_impro05a_M001", "Session3", "Stop it.", "angry", "train", "Ses03M", "2.0000", "3.5000", "ang", "transcript", "0.250"],
  ["Ses04F_impro02_F000", "Session4", "I got the job!", "happy", "val", "Ses04F", "1.0000", "2.5000", "hap", "transcript", "0.250"],
  ["Ses04F_impro02_F001", "Session4", "Sure.", "neutral", "val", "Ses04F", "4.5000", "5.0000", "neu", "transcript", ""],
  ["Ses05M_impro03_F000", "Session5", "I miss her.", "sad", "test", "Ses05F", "2.5000", "3.5000", "sad", "transcript", "0.250"],
  ["Ses05M_impro03_F001", "Session5", 'Get out, "now".', "angry", "test", "Ses05F", "4.0000", "5.0000", "ang", "transcript", "0.250"],
  ["Ses05M_impro03_M000", "Session5", "We won, we actually won!", "excited", "test", "Ses05M", "1.0000", "2.0000", "exc", "transcript", "0.500"],
];

const defaultRecord = (r: DefaultRow) => ({
  utter_id: r[0],
  session: r[1],
  audio_path: wavOf(r[0]),
  text: r[2],
  label: r[3],
  split: r[4],
  dialog: r[0].replace(/_[MF]\d+$/, ""),
  speaker: r[5],
  start: r[6],
  end: r[7],
  label_code: r[8],
  text_source: r[9],
  duration: r[10],
});

// Problems the default mode must report (reason -> count), found by reading the fixture.
const DEFAULT_PROBLEMS: Record<string, number> = {
  [IEMOCAP_PROBLEMS.badHeader]: 1, // Ses01F_impro01_F004 has no [V, A, D]
  [IEMOCAP_PROBLEMS.wavWithoutLabel]: 2, // F004 (its header is broken) and M003 (never labelled)
  [IEMOCAP_PROBLEMS.labelWithoutWav]: 1, // Ses01F_impro01_M004
  [IEMOCAP_PROBLEMS.noText]: 3, // F002 ([LAUGHTER] only), Ses02M_impro03_F000, Ses05M_impro03_M001
  [IEMOCAP_PROBLEMS.unreadableTranscript]: 1, // Ses02M_impro03.txt is a folder
  [IEMOCAP_PROBLEMS.badTranscriptLine]: 1, // Ses02M_impro02_M001 without [start-end]
  [IEMOCAP_PROBLEMS.duplicateTranscript]: 1, // Ses04F_impro02_F000 twice
  [IEMOCAP_PROBLEMS.duplicateLabel]: 1, // Ses04F_impro02_F000 hap, then ang
  [IEMOCAP_PROBLEMS.badWdseg]: 1, // Ses05M_impro03_M001 row "11 xx HELLO"
  [IEMOCAP_PROBLEMS.unreadableEmo]: 1, // Ses05M_impro09.txt is a folder
  "unreadable WAV header (row kept, duration unknown)": 1, // Ses04F_impro02_F001
};

async function writeAndLoad(build: IndexBuild, name: string) {
  const { file } = await writeIndexCsv(build, path.join(dir, name));
  const manifest = await loadIndex(file);
  return { file, manifest, text: await readFile(file, "utf8") };
}

describe("IEMOCAP default mode on the miniature corpus", () => {
  it("gives the hand-written rows for --classes 6", async () => {
    const build = await buildIndex("iemocap", { root });
    expect(build.columns).toEqual([
      "utter_id", "session", "audio_path", "text", "label", "split",
      "dialog", "speaker", "start", "end", "label_code", "text_source", "duration",
    ]);
    expect(build.rows).toEqual(DEFAULT_6.map(defaultRecord));
    expect(countByReason(build.problems)).toEqual(DEFAULT_PROBLEMS);
  });

  it("locates each problem by file, line and utterance", async () => {
    const build = await buildIndex("iemocap", { root, durations: false });
    const find = (reason: string) => build.problems.filter((p) => p.reason === reason);
    expect(find(IEMOCAP_PROBLEMS.badHeader)).toEqual([
      expect.objectContaining({ file: path.join(root, "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"), line: 28 }),
    ]);
    expect(find(IEMOCAP_PROBLEMS.wavWithoutLabel).map((p) => p.utterance)).toEqual(["Ses01F_impro01_F004", "Ses01F_impro01_M003"]);
    expect(find(IEMOCAP_PROBLEMS.labelWithoutWav)).toEqual([expect.objectContaining({ utterance: "Ses01F_impro01_M004", line: 31 })]);
    expect(find(IEMOCAP_PROBLEMS.noText).map((p) => p.utterance)).toEqual(["Ses01F_impro01_F002", "Ses02M_impro03_F000", "Ses05M_impro03_M001"]);
    expect(find(IEMOCAP_PROBLEMS.unreadableTranscript)).toEqual([expect.objectContaining({ file: transcriptOf("Ses02M_impro03"), detail: "is a directory" })]);
    expect(find(IEMOCAP_PROBLEMS.badTranscriptLine)).toEqual([expect.objectContaining({ utterance: "Ses02M_impro02_M001", line: 3 })]);
    expect(find(IEMOCAP_PROBLEMS.duplicateLabel)).toEqual([expect.objectContaining({ utterance: "Ses04F_impro02_F000", line: 4 })]);
    expect(find(IEMOCAP_PROBLEMS.badWdseg)).toEqual([expect.objectContaining({ file: wdsegOf("Ses05M_impro03_M001"), line: 3 })]);
    // Without --durations no header is read, so the broken wav is not a problem and there is no duration column.
    expect(build.problems.some((p) => p.reason.startsWith("unreadable WAV header"))).toBe(false);
    expect(build.columns).not.toContain("duration");
    expect(build.stats.durations).toBeNull();
  });

  it("merges excited into happy and drops frustration with --classes 4", async () => {
    const build = await buildIndex("iemocap", { root, classes: 4 });
    const expected = DEFAULT_6.filter((r) => r[8] !== "fru").map((r) => defaultRecord(r[8] === "exc" ? [...r.slice(0, 3), "happy", ...r.slice(4)] as DefaultRow : r));
    expect(expected).toHaveLength(16);
    expect(build.rows).toEqual(expected);
    expect(build.notes).toContain("labels outside the 4-class set, not indexed: fru 2, sur 1, xxx 1");
    expect(countByReason(build.problems)).toEqual(DEFAULT_PROBLEMS);
  });

  it("counts rows per split x label and sums durations", async () => {
    const build = await buildIndex("iemocap", { root });
    const s = build.stats;
    expect(s.total).toBe(18);
    expect(s.splitTotals).toEqual({ train: 13, val: 2, test: 3 });
    expect(s.counts).toEqual({
      angry: { train: 4, val: 0, test: 1 },
      excited: { train: 1, val: 0, test: 1 },
      frustration: { train: 2, val: 0, test: 0 },
      happy: { train: 2, val: 1, test: 0 },
      neutral: { train: 3, val: 1, test: 0 },
      sad: { train: 1, val: 0, test: 1 },
    });
    expect(s.durations).not.toBeNull();
    expect(s.durations!.bySplit.train).toBeCloseTo(4.0, 9);
    expect(s.durations!.bySplit.val).toBeCloseTo(0.25, 9);
    expect(s.durations!.bySplit.test).toBeCloseTo(1.0, 9);
    expect([s.durations!.known, s.durations!.unknown]).toEqual([17, 1]);
    const table = formatStatsTable(s);
    expect(table).toMatch(/^frustration\s+2\s+0\s+0\s+2$/m);
    expect(table).toMatch(/^total\s+13\s+2\s+3\s+18$/m);
    expect(table).toMatch(/^duration\s+0:00:04\.0\s+0:00:00\.3\s+0:00:01\.0\s+0:00:05\.3$/m);
    expect(table).toContain("durations of 17 of 18 rows");
  });

  it("writes a CSV that loadIndex accepts, with quoted fields and UTF-8 text", async () => {
    const build = await buildIndex("iemocap", { root });
    const { manifest, text } = await writeAndLoad(build, "default");
    expect(manifest.utterances.map((u) => u.utterId)).toEqual(DEFAULT_6.map((r) => r[0]));
    expect(manifest.utterances.map((u) => u.text)).toEqual(DEFAULT_6.map((r) => r[2]));
    expect(manifest.utterances.every((u) => path.isAbsolute(u.audioPath) && u.audioFile === u.audioPath)).toBe(true);
    expect(text).toContain(`"Señor, ¿qué ""tal"", amigo?"`);
    expect(text).toContain("That café was naïve.");
    // every row needs text for text extraction: none is empty in default mode
    await expect(loadIndex(path.join(dir, "default", "index.csv"), { require: ["text", "audio", "label"] })).resolves.toBeTruthy();
  });
});

// session, utter_id, wdseg?, transcript dialog, label, text, split
type RefRow = [string, string, boolean, string, string, string, string];
const REFERENCE: RefRow[] = [
  ["Session1", "Ses01F_impro01_F000", false, "Ses01F_impro01", "neutral", "Excuse me.", "train"],
  ["Session1", "Ses01F_impro01_F001", true, "Ses01F_impro01", "angry", "word excuse me(2) ++garbage++ br -668603", "train"],
  ["Session1", "Ses01F_impro01_F002", false, "Ses01F_impro01", "sad", "[LAUGHTER]", "train"],
  ["Session1", "Ses01F_impro01_F003", false, "Ses01F_impro01", "excited", 'Señor, ¿qué "tal", amigo?', "train"],
  ["Session1", "Ses01F_impro01_M000", false, "Ses01F_impro01", "frustration", "Yeah I do [LAUGHTER] okay.", "train"],
  ["Session1", "Ses01F_impro01_M001", true, "Ses01F_impro01", "happy", "word okay fine -68000", "train"],
  ["Session2", "Ses02M_impro02_F000", false, "Ses02M_impro02", "sad", "That caf was nave.", "train"],
  ["Session2", "Ses02M_impro02_M000", false, "Ses02M_impro02", "neutral", "Fine, fine.", "train"],
  ["Session2", "Ses02M_impro02_M001", true, "Ses02M_impro02", "happy", "Ses02M_impro02_M001: Missing timestamp here.", "train"],
  ["Session2", "Ses02M_impro03_M000", true, "Ses02M_impro03", "angry", "word go away -69000", "train"],
  ["Session4", "Ses04F_impro02_F000", false, "Ses04F_impro02", "happy", "I got the job!", "val"],
  ["Session4", "Ses04F_impro02_F001", false, "Ses04F_impro02", "neutral", "Sure.", "val"],
  ["Session5", "Ses05M_impro03_F000", false, "Ses05M_impro03", "sad", "I miss her.", "test"],
  ["Session5", "Ses05M_impro03_F001", false, "Ses05M_impro03", "angry", 'Get out, "now".', "test"],
  ["Session5", "Ses05M_impro03_M000", false, "Ses05M_impro03", "excited", "We won, we actually won!", "test"],
  ["Session5", "Ses05M_impro03_M001", true, "Ses05M_impro03", "neutral", "word hello -47000", "test"],
];

describe("IEMOCAP --compat reference on the miniature corpus", () => {
  it("gives the reference builder's rows and columns", async () => {
    const build = await buildIndex("iemocap", { root, compat: "reference" });
    expect(build.columns).toEqual(["session", "utter_id", "audio_path", "wdseg_path", "transcript_path", "label", "text", "split"]);
    expect(build.rows).toEqual(
      REFERENCE.map(([session, utt, hasWdseg, dialog, label, text, split]) => ({
        session,
        utter_id: utt,
        audio_path: wavOf(utt),
        wdseg_path: hasWdseg ? wdsegOf(utt) : "",
        transcript_path: transcriptOf(dialog),
        label,
        text,
        split,
      })),
    );
    expect(countByReason(build.problems)).toEqual({
      [REFERENCE_PROBLEMS.unreadable]: 2, // the transcript folder Ses02M_impro03.txt and EmoEvaluation folder Ses05M_impro09.txt
      [REFERENCE_PROBLEMS.duplicateLabel]: 1,
      "unreadable WAV header (row kept, duration unknown)": 1,
    });
    expect(build.notes).toContain(
      "wav files whose stem does not match the reference id pattern (scripted dialogs, lettered improvisations), dropped: 4",
    );
    expect(build.stats.splitTotals).toEqual({ train: 10, val: 2, test: 4 });
    expect(build.stats.durations!.total).toBeCloseTo(4.75, 9);
  });

  it("differs from the default mode exactly where the issue says", async () => {
    const def = await buildIndex("iemocap", { root, durations: false });
    const ref = await buildIndex("iemocap", { root, compat: "reference", durations: false });
    const defIds = new Set(def.rows.map((r) => r.utter_id));
    const refIds = new Set(ref.rows.map((r) => r.utter_id));
    // only in default: scripted and lettered dialogs
    expect([...defIds].filter((id) => !refIds.has(id))).toEqual([
      "Ses01F_script01_1_F000", "Ses01F_script01_1_M000", "Ses03M_impro05a_F000", "Ses03M_impro05a_M001",
    ]);
    // only in the reference: a tags-only transcript line it keeps, and a wdseg it reads despite a broken row
    expect([...refIds].filter((id) => !defIds.has(id))).toEqual(["Ses01F_impro01_F002", "Ses05M_impro03_M001"]);
  });

  it("writes a CSV that loadIndex accepts", async () => {
    const build = await buildIndex("iemocap", { root, compat: "reference" });
    const { manifest, text } = await writeAndLoad(build, "reference.csv");
    expect(manifest.columns).toEqual(build.columns);
    expect(manifest.utterances.map((u) => [u.utterId, u.text, u.label, u.split])).toEqual(REFERENCE.map((r) => [r[1], r[5], r[4], r[6]]));
    expect(text.split("\n")[0]).toBe("session,utter_id,audio_path,wdseg_path,transcript_path,label,text,split");
  });

  it("refuses --classes 4, which the reference never had", async () => {
    await expect(buildIndex("iemocap", { root, compat: "reference", classes: 4 })).rejects.toThrow(/only has the 6-class set/);
  });
});

describe("IEMOCAP recipe errors", () => {
  it("names the folder when --root is not an IEMOCAP release", async () => {
    await expect(buildIndex("iemocap", { root: path.join(root, "Session1") })).rejects.toThrow(/no Session1\.\.Session5 folders here/);
    await expect(buildIndex("iemocap", { root: path.join(dir, "nope") })).rejects.toThrow(/no such folder/);
  });
});

describe("reference text rules, with Python's string semantics", () => {
  // Worked out from Python's re/str rules; also cross-checked once against the public reference script run
  // locally on a tree with these lines (byte-identical CSV), which is not part of the repository.
  it("finds utterance ids by search in the stem", () => {
    expect(referenceUid("Ses01F_impro01_F000")).toBe("Ses01F_impro01_F000");
    expect(referenceUid("xSes01F_impro01_F005_take2")).toBe("Ses01F_impro01_F005");
    expect(referenceUid("Ses01F_impro01_F00612")).toBe("Ses01F_impro01_F0061");
    expect(referenceUid("Ses01F_script01_1_F000")).toBeNull();
    expect(referenceUid("Ses03M_impro05a_M001")).toBeNull();
  });

  it("takes the first line starting with the id at a word boundary and cleans it", () => {
    const content = "\uFEFFSes01F_impro01_F000 [1-2]: first line keeps its BOM\rSes01F_impro01_F001x [1-2]: not this\n" +
      "Ses01F_impro01_F001 [002.0000-003.0000]:\tTabs\u00A0and\u0085nel  <SIL> <Noise> </S> (12) <UNK> done\r\n" +
      "Ses01F_impro01_M000 [006.0000-007.0000] : [a] : colon games\n";
    expect(referenceTranscriptText(content, "Ses01F_impro01_F000")).toBeNull();
    expect(referenceTranscriptText(content, "Ses01F_impro01_F001")).toBe("Tabs and nel done");
    expect(referenceTranscriptText(content, "Ses01F_impro01_M000")).toBe("[a] : colon games");
    expect(referenceCleanLine("Ses01F_impro01_M001: no timestamp")).toBe("Ses01F_impro01_M001: no timestamp");
  });

  it("keeps the last token of lines with 3+ fields in the forced-alignment fallback", () => {
    const wdseg = " SFrm  EFrm    SegAScr Word\n 0 10 -5 <S>\n 11\u00A020\u00A0-7\u00A0HELLO\n 21 30 -7 {NOISE}\n 31 40 -7 <UNK>\n" +
      " 41 50 -7 SP\n 51 60 -7 a b\n short line\n Total Score:   -99\n";
    expect(referenceWdsegText(wdseg)).toBe("word hello noise unk b -99");
  });
});
