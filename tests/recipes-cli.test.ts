/** `emofeat index ...` end to end: what it prints, what it writes, how it fails. */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadIndex } from "../src/manifest/index-csv.js";
import { makeMiniIemocap } from "./helpers/mini-iemocap.js";
import { REPO, sharedData } from "./helpers/shared.js";
import { runEmofeat } from "./helpers/cli.js";


const cli = (args: string[]) => runEmofeat(args, { cwd: REPO });

let dir: string;
let root: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "emofeat-index-cli-"));
  root = await makeMiniIemocap(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("emofeat index", () => {
  it("iemocap: prints the table, notes and problems, writes <out>/index.csv", async () => {
    const out = path.join(dir, "data");
    const r = await cli(["index", "iemocap", "--root", root, "--out", out + "/"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^iemocap index from .*IEMOCAP_full_release \(classes 6, compat none, durations true\)$/m);
    expect(r.stdout).toMatch(/^label\s+train\s+val\s+test\s+total$/m);
    expect(r.stdout).toMatch(/^total\s+13\s+2\s+3\s+18$/m);
    expect(r.stdout).toContain("note: labels outside the 6-class set, not indexed: sur 1, xxx 1");
    expect(r.stdout).toContain(`wrote 18 rows to ${path.join(out, "index.csv")}`);
    expect(r.stderr).toContain("problems: 14");
    expect(r.stderr).toContain("  header line does not parse (that utterance has no label): 1");
    expect(r.stderr).toContain('    - Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:28: "[22.0000 - 23.0000]\\tSes01F_impro01_F004\\tneu"');
    expect((await loadIndex(path.join(out, "index.csv"))).utterances).toHaveLength(18);
  });

  it("iemocap --compat reference writes the reference's columns to a named .csv", async () => {
    const out = path.join(dir, "ref", "iemocap_index_splits.csv");
    const r = await cli(["index", "iemocap", "--root", root, "--out", out, "--compat", "reference", "--no-durations", "--quiet"]);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const m = await loadIndex(out);
    expect(m.columns).toEqual(["session", "utter_id", "audio_path", "wdseg_path", "transcript_path", "label", "text", "split"]);
    expect(m.utterances).toHaveLength(16);
  });

  it("--strict writes nothing when the corpus has problems; bad options fail with a message", async () => {
    const out = path.join(dir, "strict");
    const [strict, compat4, noRoot, bad] = await Promise.all([
      cli(["index", "iemocap", "--root", root, "--out", out, "--strict", "--no-durations"]),
      // Each its own --out: one index file has one writer at a time (a lock), and these run concurrently.
      cli(["index", "iemocap", "--root", root, "--out", `${out}-compat4`, "--compat", "reference", "--classes", "4"]),
      cli(["index", "urdu", "--root", path.join(dir, "missing"), "--out", `${out}-noroot`]),
      cli(["index", "iemocap", "--root", root, "--out", `${out}-bad`, "--classes", "5"]),
    ]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain("emofeat: --strict: 13 problem(s) found (listed above); nothing written");
    expect(existsSync(out)).toBe(false);
    expect(compat4.code).toBe(1); // a bad option combination is a usage error
    expect(compat4.stderr).toContain("only has the 6-class set");
    expect(noRoot.code).toBe(2);
    expect(noRoot.stderr).toMatch(/emofeat: URDU root .*missing: no such folder/);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--classes.*Allowed choices are 4, 6/);
  });

  it("urdu on the real sample: says there is no text", async () => {
    const out = path.join(dir, "urdu.csv");
    const r = await cli(["index", "urdu", "--root", sharedData("urdu"), "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("note: URDU has no transcripts");
    expect(r.stdout).toMatch(/^total\s+17\s+10\s+13\s+40$/m);
    expect(r.stdout).toContain("problems: none");
  });

  it("--help explains each recipe", async () => {
    const [r, g] = await Promise.all([cli(["index", "--help"]), cli(["index", "generic", "--help"])]);
    for (const c of ["iemocap", "ravdess", "emodb", "urdu", "cremad", "meld", "generic"]) expect(r.stdout).toContain(`  ${c} [options]`);
    expect(g.stdout).toContain("--id-col <name>");
    expect(g.stdout).toContain("CSV mode (--csv FILE)");
  });

  it("generic --csv: never writes over its input CSV; an input that is an index with durations is indexed again", async () => {
    // The emodb sample indexed once (with its duration column), then used as the generic recipe's CSV.
    const first = path.join(dir, "gen", "emodb.csv");
    expect((await cli(["index", "emodb", "--root", sharedData("emodb"), "--out", first, "-q"])).code).toBe(0);
    const before = await readFile(first);
    const [same, again, binary] = await Promise.all([
      cli(["index", "generic", "--csv", first, "--out", path.dirname(first) + "/emodb.csv", "-q"]),
      cli(["index", "generic", "--csv", first, "--out", path.join(dir, "gen", "again.csv"), "-q"]),
      // A WAV file given as the CSV: the parser's message quotes its bytes, capped and escaped.
      cli(["index", "generic", "--csv", path.join(REPO, "samples", "demo", "wav", "demo_s1_001.wav"), "--out", path.join(dir, "gen", "bin.csv")]),
    ]);
    expect(binary.code).toBe(2);
    expect(binary.stderr).toMatch(/^emofeat: .*demo_s1_001\.wav: not a readable CSV: .*\(\d+ more characters\)\n$/);
    expect(binary.stderr.length).toBeLessThan(400);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/^emofeat: --out .*emodb\.csv is the input --csv .*; write the index to another file \(the input stays as it is\)\n$/);
    expect((await readFile(first)).equals(before)).toBe(true);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    const m = await loadIndex(path.join(dir, "gen", "again.csv"));
    expect(m.columns.filter((c) => c === "duration")).toHaveLength(1);
    expect(m.utterances).toHaveLength(55);
  });
});
