import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputFileError } from "../src/errors.js";
import { loadIndex, parseIndex } from "../src/manifest/index-csv.js";
import { removeDir, tempDir } from "./helpers/paths.js";

const HEADER = "utter_id,session,audio_path,text,label,split";

function problemsOf(fn: () => unknown): InputFileError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputFileError);
    return err as InputFileError;
  }
  throw new Error("expected an InputFileError");
}

describe("index CSV parsing", () => {
  it("reads quotes, embedded commas and newlines, a BOM, CRLF and extra columns", () => {
    const csv =
      "\uFEFFutter_id,session,audio_path,text,label,split,speaker\r\n" +
      'a1,Session1,wav/a1.wav,"Hello, world",neutral,train,F\r\n' +
      'a2,Session1,/abs/a2.wav,"line one\r\nline ""two""",angry,val,M\r\n' +
      "a3,Session2,,plain,sad,test,F\r\n";
    const idx = parseIndex(csv, { path: "/data/corpus/index.csv" });
    expect(idx.columns).toEqual(["utter_id", "session", "audio_path", "text", "label", "split", "speaker"]);
    expect(idx.utterances.map((u) => u.utterId)).toEqual(["a1", "a2", "a3"]);
    expect(idx.utterances[0].text).toBe("Hello, world");
    expect(idx.utterances[1].text).toBe('line one\r\nline "two"');
    expect(idx.utterances[0].audioFile).toBe(path.resolve("/data/corpus/wav/a1.wav"));
    expect(idx.utterances[1].audioFile).toBe("/abs/a2.wav");
    expect(idx.utterances[2].audioFile).toBe("");
    expect(idx.utterances[2].extra).toEqual({ speaker: "F" });
    expect(idx.utterances.map((u) => u.row)).toEqual([1, 2, 3]);
    expect(idx.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reports a missing required column by name", () => {
    const e = problemsOf(() => parseIndex("utter_id,session,text,label,split\na,S,hi,x,train\n", { path: "idx.csv" }));
    expect(e.message).toMatch(/missing required column\(s\): audio_path/);
    expect(e.message).toContain("idx.csv");
  });

  it("reports every row problem with its row number, not just the first", () => {
    const csv = [
      HEADER,
      "a,S1,a.wav,hello,neutral,train",
      ",S1,b.wav,hello,neutral,train", // row 2: empty id
      "a,S1,c.wav,hello,neutral,train", // row 3: duplicate of row 1
      "d,S1,d.wav,hello,neutral,dev", // row 4: unknown split
      "e,S1,e.wav,   ,neutral,test", // row 5: empty text (only when text is required)
      "f,S1,f.wav,hello,neutral", // row 6: too few fields
    ].join("\n");
    const e = problemsOf(() => parseIndex(csv, { path: "idx.csv", require: ["text"] }));
    const byRow = Object.fromEntries(e.problems.map((p) => [p.row, p.message]));
    expect(Object.keys(byRow).map(Number).sort()).toEqual([2, 3, 4, 5, 6]);
    expect(byRow[2]).toMatch(/empty utter_id/);
    expect(byRow[3]).toMatch(/duplicate utter_id "a" \(first seen at row 1\)/);
    expect(byRow[4]).toMatch(/unknown split "dev" \(expected one of: train, val, test\)/);
    expect(byRow[5]).toMatch(/empty text for "e"/);
    expect(byRow[6]).toMatch(/has 5 field\(s\), the header has 6/);
    expect(e.message).toMatch(/5 problem\(s\)/);
    expect(e.message).toMatch(/row 4, line 5, column "split"/);
  });

  it("gives source lines that account for quoted newlines", () => {
    const csv = [HEADER, 'a,S,a.wav,"two\nlines",x,train', "b,S,b.wav,ok,x,nope"].join("\n");
    const e = problemsOf(() => parseIndex(csv));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatchObject({ row: 2, line: 4, column: "split" });
  });

  it("accepts empty text unless text is required, and checks audio/label when asked", () => {
    const csv = [HEADER, "a,S,,,,train"].join("\n");
    expect(parseIndex(csv).utterances[0].text).toBe("");
    const e = problemsOf(() => parseIndex(csv, { require: ["audio", "label"] }));
    expect(e.problems.map((p) => p.column).sort()).toEqual(["audio_path", "label"]);
  });

  it("says once that an index has no transcripts at all, keeping other problems", () => {
    const csv = [HEADER, "a,S,a.wav,,x,train", "b,S,b.wav,,x,dev", "c,S,c.wav, ,x,test"].join("\n");
    const e = problemsOf(() => parseIndex(csv, { require: ["text"] }));
    expect(e.problems).toHaveLength(2);
    expect(e.problems[0].message).toMatch(/no row has text \(the text column is empty on all 3 rows\)/);
    expect(e.problems[1]).toMatchObject({ row: 2, column: "split" });
  });

  it("refuses text that is not UTF-8 instead of replacing it, and ids with line breaks", () => {
    const latin1 = Buffer.concat([Buffer.from(HEADER + "\na,S,a.wav,ok \uFFFD fine,x,train\nb,S,b.wav,caf"), Buffer.from([0xe9]), Buffer.from(",x,train\n")]);
    const e = problemsOf(() => parseIndex(latin1, { path: "l1.csv" }));
    expect(e.problems[0]).toMatchObject({ row: null, line: 3 });
    expect(e.message).toMatch(/not valid UTF-8 \(byte \d+: 0xe9\); save the index as UTF-8/);
    expect(parseIndex(HEADER + "\na,S,a.wav,ok \uFFFD fine,x,train\n").utterances[0].text).toBe("ok \uFFFD fine");
    const ids = problemsOf(() => parseIndex(HEADER + '\n"a\nb",S,a.wav,t,x,train\n'));
    expect(ids.problems[0].message).toMatch(/utter_id "a\\nb" contains a line break/);
  });

  it("quotes at most a short, escaped piece of a binary file given as the index (it used to echo 10 KB)", () => {
    let x = 7;
    const junk = Buffer.from(Array.from({ length: 10_000 }, () => ((x = (x * 75 + 74) % 65537) % 95) + 32).map((b) => (b === 44 || b === 34 ? 65 : b)));
    junk[50] = 0x01; // a control character, shown escaped
    const e = problemsOf(() => parseIndex(junk, { path: "binary.csv" }));
    expect(e.message).toMatch(/header has: .{120,130}\.\.\. \(9880 more characters\)/s);
    expect(e.message).toContain("\\x01");
    expect(e.message.length).toBeLessThan(500);
    const dupId = "z".repeat(5000);
    const d = problemsOf(() => parseIndex(`${HEADER}\n${dupId},s,,t,l,train\n${dupId},s,,t,l,train\n`));
    expect(d.message.length).toBeLessThan(400);
  });

  it("can require only some columns (predict --csv needs utter_id and what its stores use)", () => {
    const m = parseIndex("utter_id,text\na,hello\n", { columns: ["utter_id", "text"], require: ["text"] });
    expect(m.utterances[0]).toMatchObject({ utterId: "a", text: "hello", label: "", audioPath: "" });
    expect(problemsOf(() => parseIndex("utter_id,label\na,x\n", { columns: ["utter_id", "text"] })).message).toMatch(/missing required column\(s\): text/);
  });

  it("rejects empty files, header-only files and broken quoting", () => {
    expect(problemsOf(() => parseIndex("")).message).toMatch(/empty/);
    expect(problemsOf(() => parseIndex(HEADER + "\n")).message).toMatch(/no rows/);
    expect(problemsOf(() => parseIndex(HEADER + '\na,S,x,"unclosed,x,train\n')).message).toMatch(/not a readable CSV/);
    expect(problemsOf(() => parseIndex("utter_id,utter_id,session,audio_path,text,label,split\n")).message).toMatch(/duplicate column/);
  });
});

describe("loadIndex", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(() => removeDir(dir));

  it("resolves relative audio paths against the CSV's folder", async () => {
    await mkdir(path.join(dir, "corpus"));
    const file = path.join(dir, "corpus", "index.csv");
    await writeFile(file, `${HEADER}\nx,S,clips/x.wav,hi,neutral,train\n`);
    const idx = await loadIndex(file);
    expect(idx.utterances[0].audioFile).toBe(path.join(dir, "corpus", "clips", "x.wav"));
    expect(idx.path).toBe(file);
  });

  it("says clearly when the file is missing or a directory", async () => {
    await expect(loadIndex(path.join(dir, "nope.csv"))).rejects.toThrow(/nope\.csv: no such file/);
    await expect(loadIndex(dir)).rejects.toThrow(/is a directory/);
  });
});
