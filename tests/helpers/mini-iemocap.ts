/**
 * A miniature IEMOCAP_full_release tree, generated for the recipe tests (the real corpus is licensed and
 * not on these machines). It follows the release's layout and file formats and puts in one place every
 * case the IEMOCAP recipe must handle; the comments say which case each file is for. Expected index rows
 * for it are written out by hand in tests/recipes-iemocap.test.ts.
 */
import { mkdir, realpath } from "node:fs/promises";
import path from "node:path";
import { put, tinyWav } from "./wav.js";

const T = "\t";
const latin1 = (s: string) => Buffer.from(s, "latin1");
const crlf = (s: string) => s.replace(/\n/g, "\r\n");

/** `[start - end]<TAB>utt<TAB>code<TAB>[v, a, d]` */
const head = (start: string, end: string, utt: string, code: string, vad = "[2.5000, 2.5000, 2.5000]") =>
  `[${start} - ${end}]${T}${utt}${T}${code}${T}${vad}`;

const COMMENT = `% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]`;

const WDSEG_HEADER = " SFrm  EFrm    SegAScr Word";
const wdseg = (rows: [number, number, number, string][], total: number) =>
  [WDSEG_HEADER, ...rows.map(([s, e, sc, w]) => `${String(s).padStart(6)}${String(e).padStart(6)}${String(sc).padStart(10)} ${w}`), ` Total Score:   ${total}`, ""].join("\n");

/** Seconds of each wav (0.25 s unless listed). */
const LONGER: Record<string, number> = { Ses01F_impro01_F000: 1.0, Ses05M_impro03_M000: 0.5 };

/** Creates `<dir>/IEMOCAP_full_release` and returns its real (symlink-free) absolute path. */
export async function makeMiniIemocap(dir: string): Promise<string> {
  const root = path.join(dir, "IEMOCAP_full_release");
  const wav = async (session: number, dialog: string, utt: string) =>
    put(root, `Session${session}/sentences/wav/${dialog}/${utt}.wav`, tinyWav(LONGER[utt] ?? 0.25));

  // ---------------- Session1 (train) ----------------
  // Improvised dialog: UTF-8 evaluation file with a % comment, evaluator lines, an excluded code (xxx),
  // a header line that does not parse (F004: no [V, A, D]) and a label without a wav (M004).
  await put(
    root,
    "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt",
    [
      COMMENT,
      "",
      head("6.2901", "8.2357", "Ses01F_impro01_F000", "neu"),
      `C-E2:${T}Neutral;${T}()`,
      `C-E3:${T}Neutral;${T}()`,
      `A-E3:${T}val 3; act 2; dom  2;${T}()`,
      "",
      head("10.0100", "11.3925", "Ses01F_impro01_M000", "fru", "[2.0000, 3.0000, 3.0000]"),
      `C-E2:${T}Frustration;${T}()`,
      `A-E3:${T}val 2; act 3; dom  3;${T}()`,
      "",
      head("12.5000", "13.0000", "Ses01F_impro01_F001", "ang", "[2.0000, 4.0000, 4.0000]"),
      `C-E2:${T}Anger;${T}()`,
      "",
      head("14.0000", "15.2000", "Ses01F_impro01_F002", "sad", "[2.0000, 2.0000, 2.0000]"),
      `C-E2:${T}Sadness;${T}()`,
      "",
      head("16.0000", "17.0000", "Ses01F_impro01_M001", "hap", "[4.0000, 3.0000, 3.0000]"),
      `C-E2:${T}Happiness;${T}()`,
      "",
      head("18.0000", "19.0000", "Ses01F_impro01_M002", "xxx"),
      `C-E2:${T}Neutral;${T}()`,
      `C-E3:${T}Anger;${T}()`,
      "",
      head("20.0000", "21.0000", "Ses01F_impro01_F003", "exc", "[4.0000, 4.0000, 3.0000]"),
      `C-E2:${T}Excited;${T}()`,
      "",
      `[22.0000 - 23.0000]${T}Ses01F_impro01_F004${T}neu`,
      `C-E2:${T}Neutral;${T}()`,
      "",
      head("24.0000", "25.0000", "Ses01F_impro01_M004", "ang", "[1.5000, 4.0000, 4.0000]"),
      `C-E2:${T}Anger;${T}()`,
      "",
    ].join("\n"),
  );
  // Subfolders of EmoEvaluation must not be read: each holds a header-shaped line that would label an
  // utterance (M003 angry, F004 neutral) if it were.
  await put(root, "Session1/dialog/EmoEvaluation/Categorical/Ses01F_impro01_e2_cat.txt",
    `Ses01F_impro01_F000 :Neutral state; ()\n${head("19.5000", "19.9000", "Ses01F_impro01_M003", "ang")}\n`);
  await put(root, "Session1/dialog/EmoEvaluation/Attribute/Ses01F_impro01_atr.txt", "Ses01F_impro01_F000 :act 2; val 3; dom 2; ()\n");
  await put(root, "Session1/dialog/EmoEvaluation/Self-evaluation/Ses01F_impro01.txt", `${head("22.0000", "23.0000", "Ses01F_impro01_F004", "neu")}\n`);

  // Transcript (UTF-8): tags, a tags-only line, non-target speaker lines, a line with quotes and commas.
  await put(
    root,
    "Session1/dialog/transcriptions/Ses01F_impro01.txt",
    [
      "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.",
      "M: [BREATHING]",
      "Ses01F_impro01_M000 [010.0100-011.3925]: Yeah (2) I do [LAUGHTER] <sil> okay.",
      "Ses01F_impro01_F001 [012.5000-013.0000]: <sil>",
      "F: Hmm.",
      "Ses01F_impro01_F002 [014.0000-015.2000]: [LAUGHTER]",
      "Ses01F_impro01_M002 [018.0000-019.0000]: Whatever.",
      "Ses01F_impro01_M003 [019.5000-019.9000]: Unlabelled line.",
      'Ses01F_impro01_F003 [020.0000-021.0000]: Señor, ¿qué "tal", amigo?',
      "Ses01F_impro01_F004 [022.0000-023.0000]: Not labelled properly.",
      "Ses01F_impro01_M004 [024.0000-025.0000]: No wav for this one.",
      "",
    ].join("\n"),
  );
  // Wavs: M003 has no label at all; M004 has no wav.
  for (const u of ["F000", "F001", "F002", "F003", "F004", "M000", "M001", "M002", "M003"]) await wav(1, "Ses01F_impro01", `Ses01F_impro01_${u}`);
  // Forced alignment: F001 (its transcript line is only <sil>), M001 (no transcript line), M004 (no wav).
  await put(root, "Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_F001.wdseg",
    wdseg([[0, 30, -12000, "<s>"], [31, 60, -81025, "EXCUSE"], [61, 64, -3000, "<sil>"], [65, 90, -40100, "ME(2)"], [91, 120, -22000, "++GARBAGE++"], [121, 130, -5000, "{BR}"], [131, 140, -1000, "</s>"]], -668603));
  await put(root, "Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_M001.wdseg",
    wdseg([[0, 20, -10000, "<s>"], [21, 50, -30000, "OKAY"], [51, 60, -2000, "<sil>"], [61, 80, -25000, "FINE"], [81, 90, -1000, "</s>"]], -68000));
  await put(root, "Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_M004.wdseg",
    wdseg([[0, 10, -5000, "<s>"], [11, 40, -20000, "NO"], [41, 60, -20000, "WAV"], [61, 70, -1000, "</s>"]], -46000));

  // Scripted dialog, evaluation file and transcript in Latin-1.
  await put(
    root,
    "Session1/dialog/EmoEvaluation/Ses01F_script01_1.txt",
    latin1(
      [
        COMMENT,
        "",
        head("3.0000", "5.5000", "Ses01F_script01_1_F000", "ang", "[1.5000, 4.0000, 4.0000]"),
        `C-E2:${T}Anger;${T}()`,
        `A-E3:${T}val 2; act 3; dom  3;${T}(fâché)`,
        "",
        head("6.0000", "8.0000", "Ses01F_script01_1_M000", "neu", "[3.0000, 2.0000, 2.5000]"),
        `C-E2:${T}Neutral;${T}()`,
        "",
      ].join("\n"),
    ),
  );
  await put(root, "Session1/dialog/transcriptions/Ses01F_script01_1.txt",
    latin1("Ses01F_script01_1_F000 [003.0000-005.5000]: Où est le café?\nSes01F_script01_1_M000 [006.0000-008.0000]: Just a minute.\n"));
  for (const u of ["F000", "M000"]) await wav(1, "Ses01F_script01_1", `Ses01F_script01_1_${u}`);

  // ---------------- Session2 (train) ----------------
  // CRLF evaluation file; Latin-1 transcript; a transcript line without its [start-end] (M001).
  await put(
    root,
    "Session2/dialog/EmoEvaluation/Ses02M_impro02.txt",
    crlf(
      [
        COMMENT,
        head("1.0000", "2.0000", "Ses02M_impro02_F000", "sad", "[2.0000, 2.0000, 2.0000]"),
        `C-E1:${T}Sadness;${T}()`,
        head("3.0000", "4.0000", "Ses02M_impro02_M000", "neu", "[3.0000, 2.0000, 2.0000]"),
        `C-E1:${T}Neutral;${T}()`,
        head("5.0000", "6.0000", "Ses02M_impro02_M001", "hap", "[4.0000, 3.0000, 3.0000]"),
        `C-E1:${T}Happiness;${T}()`,
        "",
      ].join("\n"),
    ),
  );
  await put(root, "Session2/dialog/transcriptions/Ses02M_impro02.txt",
    latin1(
      "Ses02M_impro02_F000 [001.0000-002.0000]: That café was naïve.\n" +
        "Ses02M_impro02_M000 [003.0000-004.0000]: Fine, fine.\n" +
        "Ses02M_impro02_M001: Missing timestamp here.\n",
    ));
  for (const u of ["F000", "M000", "M001"]) await wav(2, "Ses02M_impro02", `Ses02M_impro02_${u}`);
  await put(root, "Session2/sentences/ForcedAlignment/Ses02M_impro02/Ses02M_impro02_M001.wdseg",
    wdseg([[0, 10, -5000, "<s>"], [11, 40, -20000, "HELLO"], [41, 70, -21000, "THERE"], [71, 80, -1000, "</s>"]], -47000));

  // A dialog whose transcript cannot be read (the path is a folder): M000 falls back to its alignment,
  // F000 has none.
  await put(root, "Session2/dialog/EmoEvaluation/Ses02M_impro03.txt",
    `${head("1.0000", "2.0000", "Ses02M_impro03_M000", "ang", "[1.0000, 4.0000, 4.0000]")}\n${head("3.0000", "4.0000", "Ses02M_impro03_F000", "neu", "[3.0000, 2.0000, 2.0000]")}\n`);
  await mkdir(path.join(root, "Session2/dialog/transcriptions/Ses02M_impro03.txt"), { recursive: true });
  for (const u of ["M000", "F000"]) await wav(2, "Ses02M_impro03", `Ses02M_impro03_${u}`);
  await put(root, "Session2/sentences/ForcedAlignment/Ses02M_impro03/Ses02M_impro03_M000.wdseg",
    wdseg([[0, 15, -9000, "<s>"], [16, 40, -30000, "GO"], [41, 70, -28000, "AWAY"], [71, 80, -2000, "</s>"]], -69000));

  // ---------------- Session3 (train) ----------------
  // A lettered improvisation, and a hidden macOS "._" copy beside its wavs.
  await put(root, "Session3/dialog/EmoEvaluation/Ses03M_impro05a.txt",
    [COMMENT, head("2.0000", "3.5000", "Ses03M_impro05a_M001", "ang", "[1.5000, 4.5000, 4.0000]"), `C-E1:${T}Anger;${T}()`,
      head("4.0000", "5.0000", "Ses03M_impro05a_F000", "fru", "[2.0000, 3.5000, 3.0000]"), `C-E1:${T}Frustration;${T}()`, ""].join("\n"));
  await put(root, "Session3/dialog/transcriptions/Ses03M_impro05a.txt",
    "Ses03M_impro05a_M001 [002.0000-003.5000]: Stop it.\nSes03M_impro05a_F000 [004.0000-005.0000]: Not again.\n");
  for (const u of ["M001", "F000"]) await wav(3, "Ses03M_impro05a", `Ses03M_impro05a_${u}`);
  await put(root, "Session3/sentences/wav/Ses03M_impro05a/._Ses03M_impro05a_M001.wav", Buffer.from("Mac OS X resource fork"));

  // ---------------- Session4 (val) ----------------
  // An excluded code (sur), an utterance labelled twice, a transcript with two lines for one utterance,
  // and a wav whose header is not a WAV header.
  await put(root, "Session4/dialog/EmoEvaluation/Ses04F_impro02.txt",
    [head("1.0000", "2.5000", "Ses04F_impro02_F000", "hap", "[4.0000, 3.0000, 3.0000]"),
      head("3.0000", "4.0000", "Ses04F_impro02_M000", "sur", "[4.0000, 4.0000, 3.0000]"),
      head("4.5000", "5.0000", "Ses04F_impro02_F001", "neu"),
      head("5.5000", "6.0000", "Ses04F_impro02_F000", "ang", "[1.0000, 4.0000, 4.0000]"), ""].join("\n"));
  await put(root, "Session4/dialog/transcriptions/Ses04F_impro02.txt",
    "Ses04F_impro02_F000 [001.0000-002.5000]: I got the job!\nSes04F_impro02_M000 [003.0000-004.0000]: Really?\n" +
      "Ses04F_impro02_F001 [004.5000-005.0000]: Sure.\nSes04F_impro02_F000 [005.5000-006.0000]: Second line ignored.\n");
  for (const u of ["F000", "M000"]) await wav(4, "Ses04F_impro02", `Ses04F_impro02_${u}`);
  await put(root, "Session4/sentences/wav/Ses04F_impro02/Ses04F_impro02_F001.wav", Buffer.from("this is not a wav file at all"));

  // ---------------- Session5 (test) ----------------
  // CRLF transcript; M001 has no transcript line and a forced-alignment file that does not parse; an
  // EmoEvaluation "file" that is a folder.
  await put(root, "Session5/dialog/EmoEvaluation/Ses05M_impro03.txt",
    [head("1.0000", "2.0000", "Ses05M_impro03_M000", "exc", "[4.0000, 4.0000, 3.0000]"),
      head("2.5000", "3.5000", "Ses05M_impro03_F000", "sad", "[1.5000, 2.0000, 2.5000]"),
      head("4.0000", "5.0000", "Ses05M_impro03_F001", "ang", "[1.0000, 4.0000, 4.0000]"),
      head("5.5000", "6.0000", "Ses05M_impro03_M001", "neu"), ""].join("\n"));
  await mkdir(path.join(root, "Session5/dialog/EmoEvaluation/Ses05M_impro09.txt"), { recursive: true });
  await put(root, "Session5/dialog/transcriptions/Ses05M_impro03.txt",
    crlf("Ses05M_impro03_M000 [001.0000-002.0000]: We won, we actually won!\nSes05M_impro03_F000 [002.5000-003.5000]: I miss her.\n" +
      'Ses05M_impro03_F001 [004.0000-005.0000]: Get out, "now".\n'));
  for (const u of ["M000", "F000", "F001", "M001"]) await wav(5, "Ses05M_impro03", `Ses05M_impro03_${u}`);
  await put(root, "Session5/sentences/ForcedAlignment/Ses05M_impro03/Ses05M_impro03_M001.wdseg",
    [WDSEG_HEADER, "     0    10     -5000 <s>", "    11    xx HELLO", " Total Score:   -47000", ""].join("\n"));

  return realpath(root);
}
