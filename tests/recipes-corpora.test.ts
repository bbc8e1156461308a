/**
 * RAVDESS/EmoDB/URDU malformed inputs, CREMA-D, MELD and the generic recipe on small generated trees,
 * WAV header edge cases, and writing the index file. Expected rows are written out by hand.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputFileError } from "../src/errors.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { CREMAD_PROBLEMS } from "../src/recipes/cremad.js";
import { EMODB_PROBLEMS } from "../src/recipes/emodb.js";
import { GENERIC_PROBLEMS } from "../src/recipes/generic.js";
import { buildIndex, countByReason, readWavHeader, writeIndexCsv } from "../src/recipes/index.js";
import { MELD_PROBLEMS } from "../src/recipes/meld.js";
import { RAVDESS_PROBLEMS } from "../src/recipes/ravdess.js";
import { URDU_PROBLEMS } from "../src/recipes/urdu.js";
import { put, tinyWav } from "./helpers/wav.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "emofeat-corpora-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const WAV = tinyWav(0.25);
const cp1252 = (s: string) => Buffer.from(s.replace(/’/g, "\x92"), "latin1");

describe("readWavHeader edge cases", () => {
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, "latin1");
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };

  it("skips odd-sized chunks before data and reads stereo 8 kHz", async () => {
    const f = await put(dir, "hdr/odd.wav", tinyWav(0.5, { sampleRate: 8000, channels: 2, extraChunks: [["LIST", Buffer.from("abc")]] }));
    expect(await readWavHeader(f)).toMatchObject({ sampleRate: 8000, channels: 2, bitsPerSample: 16, blockAlign: 4, frames: 4000, duration: 0.5 });
  });

  it("uses what the file holds when the data size is a placeholder or too large", async () => {
    const ok = tinyWav(0.25);
    const streamed = Buffer.from(ok);
    streamed.writeUInt32LE(0xffffffff, 40);
    expect((await readWavHeader(await put(dir, "hdr/streamed.wav", streamed))).frames).toBe(4000);
    const truncated = ok.subarray(0, 44 + 2000);
    expect((await readWavHeader(await put(dir, "hdr/truncated.wav", truncated))).frames).toBe(1000);
  });

  it("says why a header is unusable", async () => {
    await expect(readWavHeader(await put(dir, "hdr/empty.wav", Buffer.alloc(0)))).rejects.toThrow(/file of 0 bytes is shorter than a RIFF header/);
    await expect(readWavHeader(await put(dir, "hdr/text.wav", "hello world, not audio"))).rejects.toThrow(/truncated or garbage WAV header \(no RIFF signature\)/);
    const rf64 = Buffer.from(WAV);
    rf64.write("RF64", 0, "latin1");
    rf64.writeUInt32LE(0xffffffff, 40); // an RF64 data size lives in a ds64 chunk, which this file lacks
    await expect(readWavHeader(await put(dir, "hdr/rf64.wav", rf64))).rejects.toThrow(/RF64 file without a ds64 chunk/);
    const noFmt = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVE", "latin1"), chunk("data", Buffer.alloc(10))]);
    await expect(readWavHeader(await put(dir, "hdr/nofmt.wav", noFmt))).rejects.toThrow(/no fmt chunk/);
    const lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:c6f94b2592487c7556bd86df7df6e8f4420d1b9c11414aeec9d8e5e640b51495\nsize 72862\n";
    await expect(readWavHeader(await put(dir, "hdr/lfs.wav", lfs))).rejects.toThrow(/a Git LFS pointer file, not audio/);
    const noData = WAV.subarray(0, 36);
    await expect(readWavHeader(await put(dir, "hdr/nodata.wav", noData))).rejects.toThrow(/no data chunk/);
  });
});

describe("RAVDESS, EmoDB and URDU malformed inputs", () => {
  it("RAVDESS: splits by actor, reports bad names and codes, skips song unless asked", async () => {
    const root = path.join(dir, "ravdess");
    for (const rel of [
      "Actor_16/03-01-05-01-01-01-16.wav",
      "Actor_17/03-01-03-02-02-01-17.wav",
      "Actor_20/03-01-04-01-01-02-20.wav",
      "Actor_21/03-01-06-01-02-01-21.wav",
      "Actor_24/03-01-07-02-01-01-24.wav",
      "Actor_24/03-02-03-01-01-01-24.wav", // song
      "Actor_05/03-01-01-01-01-01-06.wav", // actor 6 in an Actor_05 folder
      "Actor_01/03-01-09-01-01-01-01.wav", // emotion 09 does not exist
      "Actor_01/readme.wav",
    ])
      await put(root, rel, WAV);
    const b = await buildIndex("ravdess", { root, durations: false });
    expect(b.rows.map((r) => [r.utter_id, r.label, r.split, r.session])).toEqual([
      ["03-01-01-01-01-01-06", "neutral", "train", "Actor_06"],
      ["03-01-05-01-01-01-16", "angry", "train", "Actor_16"],
      ["03-01-03-02-02-01-17", "happy", "val", "Actor_17"],
      ["03-01-04-01-01-02-20", "sad", "val", "Actor_20"],
      ["03-01-06-01-02-01-21", "fear", "test", "Actor_21"],
      ["03-01-07-02-01-01-24", "disgust", "test", "Actor_24"],
    ]);
    expect(countByReason(b.problems)).toEqual({ [RAVDESS_PROBLEMS.badCode]: 1, [RAVDESS_PROBLEMS.badName]: 1, [RAVDESS_PROBLEMS.actorFolder]: 1 });
    expect(b.problems.find((p) => p.reason === RAVDESS_PROBLEMS.badCode)?.detail).toBe("emotion 09");
    expect(b.notes).toContain("sung clips (vocal channel 02) skipped: 1 (--include-song indexes them)");
    const withSong = await buildIndex("ravdess", { root, durations: false, includeSong: true });
    expect(withSong.rows.find((r) => r.utter_id === "03-02-03-01-01-01-24")).toMatchObject({ channel: "song", label: "happy", split: "test" });
  });

  it("EmoDB: unknown speaker, sentence or letter, and CSV entries without a wav", async () => {
    const root = path.join(dir, "emodb");
    for (const n of ["03a01Wa", "15b09Lb", "04a01Wa", "03c01Wa", "03a03Wa", "03a01Xa"]) await put(root, `wav/${n}.wav`, WAV);
    await put(root, "audio_labels.csv", 'Filename,Speaker Info,Emotion\n03a01Wa.wav,"male, 31 years old",anger\n15b09Lb.wav,"male, 25",boredom\n99a01Wa.wav,x,anger\n');
    const b = await buildIndex("emodb", { root, durations: false });
    expect(b.rows.map((r) => [r.utter_id, r.label, r.split, r.text])).toEqual([
      ["03a01Wa", "angry", "train", "Der Lappen liegt auf dem Eisschrank."],
      ["15b09Lb", "boredom", "test", "Ich will das eben wegbringen und dann mit Karl was trinken gehen."],
    ]);
    expect(countByReason(b.problems)).toEqual({
      [EMODB_PROBLEMS.unknownSpeaker]: 1, // 04
      [EMODB_PROBLEMS.badName]: 1, // 03c01Wa: sentence codes start with a or b
      [EMODB_PROBLEMS.unknownSentence]: 1, // a03
      [EMODB_PROBLEMS.unknownEmotion]: 1, // X
      [EMODB_PROBLEMS.csvMissingWav]: 1, // 99a01Wa.wav
    });
  });

  it("URDU: loose files, bad names, and a letter that contradicts the folder", async () => {
    const root = path.join(dir, "urdu");
    for (const rel of ["Angry/SM1_F1_A01.wav", "Sad/SF4_F2_H05.wav", "Sad/noname.wav", "Other/SM2_F1_A02.wav", "SM3_F1_A03.wav"]) await put(root, rel, WAV);
    const b = await buildIndex("urdu", { root, durations: false });
    expect(b.rows.map((r) => [r.utter_id, r.label, r.session, r.split, r.text])).toEqual([
      ["SM1_F1_A01", "angry", "SM1", "train", ""],
      ["SF4_F2_H05", "sad", "SF4", "val", ""],
    ]);
    expect(countByReason(b.problems)).toEqual({ [URDU_PROBLEMS.letterDisagrees]: 1, [URDU_PROBLEMS.badName]: 1, [URDU_PROBLEMS.notInEmotionFolder]: 2 });
  });

  it("a corpus with no usable file is an error, not an empty index", async () => {
    const root = path.join(dir, "ravdess-empty");
    await put(root, "Actor_01/nothing.wav", WAV);
    await expect(buildIndex("ravdess", { root })).rejects.toThrow(/no utterances found under .*1 problem\(s\), first: file name does not follow/);
  });
});

describe("CREMA-D", () => {
  it("maps codes to labels, texts and actor splits; reports bad names and unreadable wavs", async () => {
    const root = path.join(dir, "cremad");
    for (const n of ["1001_DFA_ANG_XX", "1040_ITH_SAD_X", "1074_IEO_HAP_HI", "1091_TSI_SAD_LO", "1050_XYZ_NEU_XX", "1001_DFA_ANG"]) await put(root, `AudioWAV/${n}.wav`, WAV);
    await put(root, "AudioWAV/1076_MTI_SAD_XX.wav", Buffer.alloc(0)); // an empty file
    const b = await buildIndex("cremad", { root });
    const wav = (n: string) => path.join(root, "AudioWAV", `${n}.wav`);
    expect(b.rows).toEqual([
      { utter_id: "1001_DFA_ANG_XX", session: "Actor_1001", audio_path: wav("1001_DFA_ANG_XX"), text: "Don't forget a jacket", label: "angry", split: "train", speaker: "1001", sentence: "DFA", level: "unspecified", duration: "0.250" },
      { utter_id: "1040_ITH_SAD_X", session: "Actor_1040", audio_path: wav("1040_ITH_SAD_X"), text: "I think I have a doctor's appointment", label: "sad", split: "train", speaker: "1040", sentence: "ITH", level: "unspecified", duration: "0.250" },
      { utter_id: "1074_IEO_HAP_HI", session: "Actor_1074", audio_path: wav("1074_IEO_HAP_HI"), text: "It's eleven o'clock", label: "happy", split: "val", speaker: "1074", sentence: "IEO", level: "high", duration: "0.250" },
      { utter_id: "1076_MTI_SAD_XX", session: "Actor_1076", audio_path: wav("1076_MTI_SAD_XX"), text: "Maybe tomorrow it will be cold", label: "sad", split: "val", speaker: "1076", sentence: "MTI", level: "unspecified", duration: "" },
      { utter_id: "1091_TSI_SAD_LO", session: "Actor_1091", audio_path: wav("1091_TSI_SAD_LO"), text: "The surface is slick", label: "sad", split: "test", speaker: "1091", sentence: "TSI", level: "low", duration: "0.250" },
    ]);
    expect(countByReason(b.problems)).toEqual({
      [CREMAD_PROBLEMS.badName]: 1,
      [CREMAD_PROBLEMS.badCode]: 1,
      "unreadable WAV header (row kept, duration unknown)": 1,
    });
  });
});

describe("MELD", () => {
  const HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n";
  let root: string;
  beforeAll(async () => {
    root = path.join(dir, "meld");
    await put(
      root,
      "MELD.Raw/train_sent_emo.csv",
      cp1252(
        HEADER +
          '1,"Oh my God, he’s lost it.",Phoebe,sadness,negative,0,0,4,7,"00:20:57,256","00:21:00,049"\n' +
          '2,What?,Monica,surprise,negative,0,1,4,7,"00:21:00,049","00:21:01,600"\n' +
          '3,"Line one\nline two, ""quoted""",Ross,joy,positive,1,0,2,3,"00:01:00,000","00:01:02,000"\n' +
          '4,Hmm.,Joey,confused,neutral,1,1,2,3,"00:01:02,000","00:01:03,000"\n' +
          '5,Again.,Joey,neutral,neutral,1,0,2,3,"00:01:03,000","00:01:04,000"\n',
      ),
    );
    // UTF-8 with a C1 control where cp1252's ’ was meant, as in MELD's original CSVs
    await put(root, "MELD.Raw/dev_sent_emo.csv", HEADER + '1,I\u0092m fine.,Rachel,anger,negative,0,0,1,1,"00:00:01,000","00:00:02,000"\n');
    await put(root, "MELD.Raw/test_sent_emo.csv", HEADER + '1,See you.,Chandler,fear,negative,3,2,9,9,"00:00:05,000","00:00:06,000"\n');
  });

  const EXPECTED = [
    ["train_dia0_utt0", "train_dia0", "Oh my God, he’s lost it.", "sad", "train", "Phoebe", "sadness", "negative", "4", "7", "00:20:57,256", "00:21:00,049"],
    ["train_dia0_utt1", "train_dia0", "What?", "surprise", "train", "Monica", "surprise", "negative", "4", "7", "00:21:00,049", "00:21:01,600"],
    ["train_dia1_utt0", "train_dia1", 'Line one\nline two, "quoted"', "happy", "train", "Ross", "joy", "positive", "2", "3", "00:01:00,000", "00:01:02,000"],
    ["dev_dia0_utt0", "dev_dia0", "I’m fine.", "angry", "val", "Rachel", "anger", "negative", "1", "1", "00:00:01,000", "00:00:02,000"],
    ["test_dia3_utt2", "test_dia3", "See you.", "fear", "test", "Chandler", "fear", "negative", "9", "9", "00:00:05,000", "00:00:06,000"],
  ];
  const record = (e: string[], audio: string) => ({
    utter_id: e[0], session: e[1], audio_path: audio, text: e[2], label: e[3], split: e[4],
    speaker: e[5], emotion: e[6], sentiment: e[7], season: e[8], episode: e[9], start: e[10], end: e[11],
  });

  it("builds a text-only index when no clips were extracted", async () => {
    const b = await buildIndex("meld", { root });
    expect(b.rows).toEqual(EXPECTED.map((e) => record(e, "")));
    expect(countByReason(b.problems)).toEqual({ [MELD_PROBLEMS.badRow]: 1, [MELD_PROBLEMS.duplicate]: 1 });
    expect(b.problems.map((p) => [p.line, p.utterance ?? p.detail])).toEqual([[6, 'Emotion "confused"'], [7, "train_dia1_utt0"]]);
    expect(b.notes.some((n) => n.includes("train_sent_emo.csv read as Windows-1252"))).toBe(true);
    expect(b.notes).toContain("utterances with Windows-1252 control codes (U+0092 for ’, ...) turned into their characters: 1");
    expect(b.notes.some((n) => n.includes("text-only index"))).toBe(true);
    const { file } = await writeIndexCsv(b, path.join(dir, "meld-out"));
    const m = await loadIndex(file, { require: ["text", "label"] });
    expect(m.utterances.map((u) => u.text)).toEqual(EXPECTED.map((e) => e[2]));
    await expect(loadIndex(file, { require: ["audio"] })).rejects.toThrow(/empty audio_path/);
  });

  it("points rows to extracted clips and reports the missing ones", async () => {
    const clips = path.join(dir, "meld-clips");
    await put(clips, "train/dia0_utt0.wav", WAV);
    await put(clips, "test/dia3_utt2.wav", WAV);
    const b = await buildIndex("meld", { root, audioDir: clips, durations: false });
    expect(b.rows.map((r) => r.audio_path)).toEqual([path.join(clips, "train/dia0_utt0.wav"), "", "", "", path.join(clips, "test/dia3_utt2.wav")]);
    expect(countByReason(b.problems)[MELD_PROBLEMS.noClip]).toBe(3);
    await expect(buildIndex("meld", { root, audioDir: path.join(dir, "nowhere") })).rejects.toThrow(/--audio-dir .*no such folder/);
  });
});

describe("generic recipe", () => {
  it("folder of <label>/*.wav", async () => {
    const root = path.join(dir, "generic");
    for (const rel of ["angry/a1.wav", "angry/a2.wav", "happy/h1.wav", "loose.wav", "sad/a1.wav"]) await put(root, rel, WAV);
    const b = await buildIndex("generic", { root, durations: false, split: "test" });
    expect(b.rows).toEqual([
      { utter_id: "a1", session: "", audio_path: path.join(root, "angry/a1.wav"), text: "", label: "angry", split: "test" },
      { utter_id: "a2", session: "", audio_path: path.join(root, "angry/a2.wav"), text: "", label: "angry", split: "test" },
      { utter_id: "h1", session: "", audio_path: path.join(root, "happy/h1.wav"), text: "", label: "happy", split: "test" },
    ]);
    expect(countByReason(b.problems)).toEqual({ [GENERIC_PROBLEMS.looseFile]: 1, [GENERIC_PROBLEMS.duplicate]: 1 });
    expect(b.problems.find((p) => p.reason === GENERIC_PROBLEMS.duplicate)?.file).toBe(path.join(root, "sad/a1.wav"));
  });

  it("folder of <split>/<label>/*.wav", async () => {
    const root = path.join(dir, "generic-splits");
    for (const rel of ["train/angry/x.wav", "dev/happy/y.wav", "test/sad/z.wav"]) await put(root, rel, WAV);
    const b = await buildIndex("generic", { root, durations: false });
    expect(b.rows.map((r) => [r.utter_id, r.label, r.split])).toEqual([["y", "happy", "val"], ["z", "sad", "test"], ["x", "angry", "train"]]);
  });

  it("CSV with its own column names", async () => {
    const root = path.join(dir, "generic-csv");
    await put(root, "clips/u1.wav", WAV);
    await put(root, "clips/u2.wav", WAV);
    const csv = await put(
      root,
      "meta.csv",
      "file,emotion,path,transcript,fold,speaker,notes\n" +
        'u1,ang,clips/u1.wav,"Hello, ""world""",training,spk1,n1\n' +
        'u2,hap,clips/u2.wav,"multi\nline",dev,spk2,n2\n' +
        "u3,sad,clips/u3.wav,Bye,holdout,spk3,n3\n" +
        "u4,,clips/u4.wav,No label,test,spk4,n4\n" +
        "u1,neu,clips/u1.wav,dup,test,spk1,n5\n" +
        "u5,neu,,,test,spk5,n6\n" +
        "u6,neu,clips/u6.wav,Text,test,spk6,n7\n",
    );
    const opts = { csv, idCol: "file", labelCol: "emotion", audioCol: "path", textCol: "transcript", splitCol: "fold", sessionCol: "speaker" };
    const b = await buildIndex("generic", { ...opts, durations: false });
    expect(b.columns).toEqual(["utter_id", "session", "audio_path", "text", "label", "split", "notes"]);
    expect(b.rows).toEqual([
      { utter_id: "u1", session: "spk1", audio_path: path.join(root, "clips/u1.wav"), text: 'Hello, "world"', label: "ang", split: "train", notes: "n1" },
      { utter_id: "u2", session: "spk2", audio_path: path.join(root, "clips/u2.wav"), text: "multi\nline", label: "hap", split: "val", notes: "n2" },
      { utter_id: "u6", session: "spk6", audio_path: path.join(root, "clips/u6.wav"), text: "Text", label: "neu", split: "test", notes: "n7" },
    ]);
    expect(countByReason(b.problems)).toEqual({
      [GENERIC_PROBLEMS.badSplit]: 1,
      [GENERIC_PROBLEMS.emptyLabel]: 1,
      [GENERIC_PROBLEMS.duplicate]: 1,
      [GENERIC_PROBLEMS.noAudioOrText]: 1,
      [GENERIC_PROBLEMS.missingAudio]: 1,
    });
    const { file } = await writeIndexCsv(b, path.join(dir, "generic-out", "my-index.csv"));
    expect(file).toBe(path.join(dir, "generic-out", "my-index.csv"));
    expect((await loadIndex(file)).utterances.map((u) => u.text)).toEqual(['Hello, "world"', "multi\nline", "Text"]);
    const err = await buildIndex("generic", { ...opts, labelCol: "nope" }).catch((e) => e);
    expect(err).toBeInstanceOf(InputFileError);
    expect((err as Error).message).toMatch(/missing column\(s\): --label-col nope \(header has: file, emotion, path, transcript, fold, speaker, notes\)/);
  });
});

describe("writeIndexCsv", () => {
  it("writes index.csv inside a folder, replaces it atomically and leaves no temporary file", async () => {
    const root = path.join(dir, "write-generic");
    await put(root, "calm/c1.wav", WAV);
    const b = await buildIndex("generic", { root });
    const out = path.join(dir, "write-out");
    const first = await writeIndexCsv(b, out);
    expect(first).toEqual({ file: path.join(out, "index.csv"), replaced: false });
    await writeFile(first.file, "utter_id,session,audio_path,text,label,split\nold,,,,x,train\n"); // an older index: replaceable
    const second = await writeIndexCsv(b, out + path.sep);
    expect(second).toEqual({ file: path.join(out, "index.csv"), replaced: true });
    expect(await readdir(out)).toEqual(["index.csv"]);
    const text = await readFile(second.file, "utf8");
    expect(text).toBe(`utter_id,session,audio_path,text,label,split,duration\nc1,,${path.join(root, "calm/c1.wav")},,calm,train,0.250\n`);
  });

  it("refuses to write rows the index loader would reject", async () => {
    const out = path.join(dir, "bad-out");
    await mkdir(out);
    const rows = [{ utter_id: "a", session: "", audio_path: "", text: "x", label: "l", split: "train" as const }];
    await expect(writeIndexCsv({ columns: ["utter_id", "session", "audio_path", "text", "label", "split"], rows: [...rows, ...rows] }, out)).rejects.toThrow(/duplicate utter_id "a"/);
    expect(await readdir(out)).toEqual([]);
  });
});
