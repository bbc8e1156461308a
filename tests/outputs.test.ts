/**
 * Output paths: nothing emofeat did not create is ever deleted or replaced, bad --out values fail in one line
 * before any work, and concurrent writers of one folder are refused by its lock.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { interruptSignal } from "../src/cli/options.js";
import { extractText } from "../src/extract/text.js";
import { trainProbe } from "../src/train/probe.js";
import { acquireLock, LOCK_FILE, LockedError } from "../src/util/lock.js";
import { BUILD_DIR } from "./helpers/build-cli.js";
import { cliCommand, runEmofeat, runEmofeatInProcess } from "./helpers/cli.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";
import { writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { loadSynth } from "./helpers/synth.js";

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .*:\d+:\d+/);

describe("train --out never replaces what emofeat did not create", () => {
  let dir: string;
  let fx: ProbeFixture;
  const train = (out: string, overwrite = false) =>
    trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out, overwrite, settings: { epochs: 1 } });
  beforeAll(async () => {
    dir = await tempDir("emofeat-out-");
    fx = await writeProbeFixture(path.join(dir, "fx"), await loadSynth());
  });
  afterAll(() => removeDir(dir));

  it("refuses a file as --out and keeps it (it used to be replaced by the run, exit 0)", async () => {
    const victim = path.join(dir, "victim.txt");
    await writeFile(victim, "hello\n");
    for (const overwrite of [false, true]) await expect(train(victim, overwrite)).rejects.toThrow(/victim\.txt: is a file, not a folder/);
    expect(await readFile(victim, "utf8")).toBe("hello\n");
    const r = await runEmofeatInProcess(["train", "--csv", fx.csv, "--features", fx.text, "--out", victim, "--overwrite", "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(await readFile(victim, "utf8")).toBe("hello\n");
  });

  it("refuses a folder that is neither empty nor a run, --overwrite or not; replaces a run only with --overwrite", async () => {
    const mine = path.join(dir, "my-notes");
    await mkdir(mine);
    await writeFile(path.join(mine, "notes.md"), "keep me");
    await expect(train(mine, true)).rejects.toThrow(/is not empty and is not an emofeat run \(.*notes\.md\).*--overwrite included/);
    expect(readdirSync(mine)).toEqual(["notes.md"]);

    const empty = path.join(dir, "empty");
    await mkdir(empty);
    await train(empty);
    expect(existsSync(path.join(empty, "metrics.json"))).toBe(true);
    await expect(train(empty)).rejects.toThrow(/already holds a run; pass --overwrite/);
    const before = await readFile(path.join(empty, "config.json"), "utf8");
    await train(empty, true);
    expect(await readFile(path.join(empty, "config.json"), "utf8")).not.toBe(before);
    // No lock, temp or old folders are left anywhere.
    expect(readdirSync(empty)).not.toContain(LOCK_FILE);
    expect(readdirSync(dir).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("--overwrite refuses a run that also holds files emofeat did not write (they would go with the old run)", async () => {
    const run = path.join(dir, "annotated");
    await train(run);
    await writeFile(path.join(run, "notes.md"), "keep me");
    await mkdir(path.join(run, "my-figures"));
    const before = await readFile(path.join(run, "config.json"), "utf8");
    await expect(train(run, true)).rejects.toThrow(/holds a run and also my-figures, notes\.md, which emofeat did not write; --overwrite replaces the whole folder, so it refuses/);
    expect(await readFile(path.join(run, "notes.md"), "utf8")).toBe("keep me");
    expect(await readFile(path.join(run, "config.json"), "utf8")).toBe(before);
  });

  it("a second train into a folder being written is refused naming the writer; an interrupted train writes nothing", async () => {
    const busy = path.join(dir, "busy");
    await mkdir(busy);
    // Another live process (this test's parent) holds the folder.
    await writeFile(path.join(busy, LOCK_FILE), JSON.stringify({ host: os.hostname(), pid: process.ppid, started: "2026-01-01T00:00:00Z", command: "emofeat train ...", token: "x" }));
    await expect(train(busy)).rejects.toThrow(new RegExp(`busy is being written by another emofeat process \\(pid ${process.ppid} on `));
    expect(readdirSync(busy)).toEqual([LOCK_FILE]);

    const ctrl = new AbortController();
    const stopped = path.join(dir, "stopped");
    const run = trainProbe({
      csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: stopped, settings: { epochs: 50 }, signal: ctrl.signal,
      verbose: true, log: (l) => l.includes("epoch 2/") && ctrl.abort(),
    });
    await expect(run).rejects.toThrow(/interrupted at seed 0, epoch 2; nothing was written/);
    expect(existsSync(stopped)).toBe(false);
  });

  it("report --out under /proc or under a file fails at once, before the report is built", async () => {
    const run = path.join(dir, "for-report");
    await train(run);
    if (existsSync("/proc/self")) {
      const r = await runEmofeatInProcess(["report", run, "--out", "/proc/emofeat-xx/r.html", "-q"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^emofeat: --out \/proc\/emofeat-xx: cannot create the folder|\/proc\/emofeat-xx/);
      // An existing folder whose permission bits allow writing, on a file system that refuses new files anyway:
      // refused before the work (report, index, split, predict) by creating a probe file, not after it.
      const csv = path.join(dir, "for-split.csv");
      await writeFile(csv, "utter_id,session,label\na,s1,x\nb,s2,y\n");
      for (const args of [
        ["report", run, "--out", "/proc/emofeat-r.html", "-q"],
        ["split", csv, "--ratios", "100/0/0", "--out", "/proc/emofeat-s.csv", "-q"],
        ["predict", "--run", run, "--csv", fx.csv, "--out", "/proc/emofeat-p.csv", "-q"],
      ]) {
        const p = await runEmofeatInProcess(args);
        expect(p.code, args[0]).toBe(2);
        expect(p.stderr, args[0]).toMatch(/^emofeat: --out \/proc\/emofeat-.\.(html|csv): cannot create \/proc\/\.emofeat-.\.(html|csv)\.probe-\d+: the file system does not allow creating files there \(ENOENT\)\n$/);
      }
    }
    await writeFile(path.join(dir, "a-file"), "x");
    const r2 = await runEmofeatInProcess(["report", run, "--out", path.join(dir, "a-file", "r.html"), "-q"]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/a-file: is a file, not a folder/);
  });

  it("a file in the way of the parent folders is one clear error, and a failed run leaves no folder behind", async () => {
    await expect(train(path.join(dir, "victim.txt", "sub"))).rejects.toThrow(/victim\.txt is a file, so no folder can be created inside it/);
    const fresh = path.join(dir, "new", "deeper", "run");
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out: fresh, classes: "nope,angry" })).rejects.toThrow(/"nope" do not occur/);
    expect(existsSync(path.join(dir, "new"))).toBe(false);
  });
});

describe("extract --out", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-out-");
  });
  afterAll(() => removeDir(dir));

  it("refuses someone's own embeddings.npy and ids.txt (no meta.json), naming them; --overwrite replaces only those", async () => {
    const out = path.join(dir, "theirs");
    await mkdir(out);
    await writeFile(path.join(out, "embeddings.npy"), "their bytes");
    await writeFile(path.join(out, "ids.txt"), "their ids\n");
    await writeFile(path.join(out, "README"), "theirs too");
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true })).rejects.toThrow(
      /holds embeddings\.npy, ids\.txt without a meta\.json.*--overwrite/,
    );
    expect(await readFile(path.join(out, "embeddings.npy"), "utf8")).toBe("their bytes");
    const s = await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, overwrite: true });
    expect(s.meta.n).toBe(24);
    expect(await readFile(path.join(out, "README"), "utf8")).toBe("theirs too");
    expect(readdirSync(out).sort()).toEqual(["README", "embeddings.npy", "ids.txt", "meta.json", "texts.csv"]);
  });

  it("--overwrite of a per-utterance store refuses a file someone put into per_utterance/ (the folder is replaced)", async () => {
    const out = path.join(dir, "pu");
    await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, layout: "per-utterance" });
    await writeFile(path.join(out, "per_utterance", "my-extra.npy"), "mine");
    await expect(extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, layout: "per-utterance", maxLen: 64, overwrite: true })).rejects.toThrow(
      /per_utterance also holds my-extra\.npy, which are not this store's per-utterance files/,
    );
    expect(await readFile(path.join(out, "per_utterance", "my-extra.npy"), "utf8")).toBe("mine");
    expect(readdirSync(path.join(out, "per_utterance"))).toHaveLength(25);
  });

  it("an existing file, a file in the path, an unwritable place and /proc: one line each, before any work", async () => {
    const file = path.join(dir, "a-file");
    await writeFile(file, "x");
    const cases: [string, RegExp][] = [
      [file, /a-file: is a file, not a folder/],
      [path.join(file, "sub"), /a-file is a file, so no folder can be created inside it/],
    ];
    if (existsSync("/sys/kernel")) cases.push(["/sys/emofeat-test-store", /cannot create the folder \/sys\/emofeat-test-store: permission denied \(EPERM\)/]);
    if (existsSync("/proc/self")) cases.push(["/proc/emofeat-xx", /cannot create the folder \/proc\/emofeat-xx: the file system does not allow creating a folder there/]);
    if (process.getuid?.() !== 0) {
      const ro = path.join(dir, "read-only");
      await mkdir(ro, { mode: 0o555 });
      cases.push([path.join(ro, "store"), /permission denied \(EACCES\)/]);
    }
    for (const [out, msg] of cases) {
      const r = await runEmofeatInProcess(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", out, "-q"]);
      expect(r.code, out).toBe(2);
      expect(r.stderr, out).toMatch(msg);
      expect(r.stderr.trim().split("\n"), out).toHaveLength(1);
      noStack(r.stderr);
    }
  });

  it("two concurrent extractions into one folder: the second is refused naming the first; the store is whole", async () => {
    const out = path.join(dir, "shared-out");
    const texts = Array.from({ length: 200 }, (_, i) => ({ utter_id: `c${i}`, text: `sentence number ${i} is here` }));
    const csv = await writeIndex(dir, texts, "concurrent.csv");
    let second: Promise<unknown> | undefined;
    const first = extractText({
      csv, out, model: DEMO_MODEL, offline: true, batchSize: 4, flushRows: 4,
      onProgress: (e) => {
        if (e.phase === "extract" && !second) second = extractText({ csv, out, model: DEMO_MODEL, offline: true, batchSize: 4 }).catch((err) => err);
      },
    });
    const s = await first;
    const err = await second;
    expect(err).toBeInstanceOf(LockedError);
    expect((err as Error).message).toMatch(new RegExp(`being written by another emofeat process \\(pid ${process.pid} on ${os.hostname()}, started .*--force-unlock`));
    expect(s.meta.n).toBe(200);
    expect(readdirSync(out).sort()).toEqual(["embeddings.npy", "ids.txt", "meta.json", "texts.csv"]);
  });
});

describe("the folder lock", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-lock-");
  });
  afterAll(() => removeDir(dir));

  it("takes over a lock whose process is gone, refuses a live or foreign one, and --force-unlock removes it", async () => {
    const file = path.join(dir, LOCK_FILE);
    const write = (holder: object) => writeFile(file, JSON.stringify({ started: "2026-01-01T00:00:00.000Z", command: "emofeat extract text", token: "t", ...holder }));
    // A pid that is surely not running: a finished child's.
    const dead = await new Promise<number>((res) => {
      const p = spawn(process.execPath, ["-e", ""]);
      p.on("exit", () => res(p.pid!));
    });
    await write({ host: os.hostname(), pid: dead });
    const notes: string[] = [];
    const lock = await acquireLock(dir, { log: (l) => notes.push(l) });
    expect(notes[0]).toMatch(new RegExp(`taking over the lock of .* left by pid ${dead} on .*no longer running`));
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({ pid: process.pid, host: os.hostname() });
    await lock.release();
    expect(existsSync(file)).toBe(false);

    await write({ host: "another-machine", pid: dead });
    await expect(acquireLock(dir)).rejects.toThrow(/pid \d+ on another-machine, started 2026-01-01T00:00:00\.000Z, command "emofeat extract text".*--force-unlock/);
    await write({ host: os.hostname(), pid: process.ppid });
    await expect(acquireLock(dir)).rejects.toBeInstanceOf(LockedError);
    const forced = await acquireLock(dir, { forceUnlock: true, log: (l) => notes.push(l) });
    expect(notes[1]).toMatch(/--force-unlock: removing the lock of pid/);
    await forced.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("signals and unusual targets, as a real process", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-sig-");
  });
  afterAll(() => removeDir(dir));

  it("SIGTERM stops an extraction like Ctrl-C: exit 130, finished parts kept, lock released", async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ utter_id: `s${i}`, text: `words ${i} and more words ${i % 7}` }));
    const csv = await writeIndex(dir, rows, "term.csv");
    const out = path.join(dir, "term");
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "extract", "text", "--csv", csv, "--model", DEMO_MODEL, "--out", out, "--batch-size", "2", "--threads", "1"], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    let sent = false;
    child.stderr!.on("data", (d) => {
      err += d;
      if (!sent && /extract text: 3000 rows/.test(err)) {
        sent = true;
        child.kill("SIGTERM");
      }
    });
    const code = await new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(err).toMatch(/SIGTERM: stopping after the current batch/);
    expect(err).toMatch(/interrupted after \d+ of 3000 rows; finished work is kept/);
    expect(existsSync(path.join(out, ".partial", "state.json"))).toBe(true);
    expect(existsSync(path.join(out, LOCK_FILE))).toBe(false);
  }, 60_000);

  it("SIGTERM to a command without a graceful stop (index reading its CSV): exit 130, its lock released", async () => {
    const out = path.join(dir, "sig-index", "index.csv");
    const { file, args } = cliCommand();
    // The CSV is stdin, a pipe that stays open and empty: the command waits on it holding the index file's lock.
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const cmd = [file, ...args, "index", "generic", "--csv", "/dev/stdin", "--out", out, "-q"].map(quote).join(" ");
    const child = spawn("bash", ["-c", `exec ${cmd} < <(sleep 20)`], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    const lock = path.join(path.dirname(out), ".index.csv.emofeat.lock");
    for (let i = 0; i < 200 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(lock), err).toBe(true);
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    expect(code).toBe(130);
    expect(err).toBe("\nemofeat: SIGTERM: stopped\n");
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it("a second Ctrl-C or SIGTERM ends the process at once (exit 130); the first only asks the work to stop", () => {
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const i = interruptSignal();
    try {
      process.emit("SIGTERM", "SIGTERM");
      expect(i.signal.aborted).toBe(true);
      expect(exit).not.toHaveBeenCalled();
      expect(String(write.mock.calls[0]?.[0])).toMatch(/SIGTERM: stopping after the current batch \(a second Ctrl-C or SIGTERM quits at once\)/);
      process.emit("SIGINT", "SIGINT");
      expect(exit).toHaveBeenCalledWith(130);
    } finally {
      i.dispose();
      exit.mockRestore();
      write.mockRestore();
    }
  });

  it("an atomic write cut short by process.exit (the second signal) leaves no temp file behind", async () => {
    const target = path.join(dir, "atomic", "big.bin");
    await mkdir(path.dirname(target), { recursive: true });
    // Writes 256 MiB in 1 MiB chunks and exits as soon as the temp file is there, mid-write.
    const script = `
      import { readdirSync } from "node:fs";
      import { writeFileAtomic } from ${JSON.stringify(pathToFileURL(path.join(BUILD_DIR, "util", "fs.js")).href)};
      const chunk = new Uint8Array(1 << 20);
      writeFileAtomic(${JSON.stringify(target)}, Array.from({ length: 256 }, () => chunk)).then(() => process.exit(99));
      const poll = setInterval(() => {
        if (readdirSync(${JSON.stringify(path.dirname(target))}).some((n) => n.includes(".tmp-"))) process.exit(130);
      }, 1);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
    const code = await new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    expect(code).toBe(130); // 99: the write finished first, so the test proved nothing
    expect(readdirSync(path.dirname(target))).toEqual([]);

    // The same for a temp folder (a run or a report's figures being assembled) left by an exit at once.
    const folderScript = `
      import { mkdirSync, writeFileSync } from "node:fs";
      import { tmpNameFor } from ${JSON.stringify(pathToFileURL(path.join(BUILD_DIR, "util", "fs.js")).href)};
      const tmp = tmpNameFor(${JSON.stringify(path.join(path.dirname(target), "run"))});
      mkdirSync(tmp);
      writeFileSync(tmp + "/metrics.json", "{}");
      process.exit(130);`;
    const folderChild = spawn(process.execPath, ["--input-type=module", "-e", folderScript], { stdio: "ignore" });
    expect(await new Promise<number | null>((res) => folderChild.on("exit", (c) => res(c)))).toBe(130);
    expect(readdirSync(path.dirname(target))).toEqual([]);
  });

  it("--out /proc/xx ends at once with one line (Node's recursive mkdir used to spin there forever)", async () => {
    if (!existsSync("/proc/self")) return;
    const t0 = Date.now();
    const r = await runEmofeat(["extract", "text", "--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--out", "/proc/emofeat-xx", "-q"], { timeoutMs: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^emofeat: --out \/proc\/emofeat-xx: cannot create the folder/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe("index --out", () => {
  let dir: string;
  let src: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-out-");
    src = path.join(dir, "meta.csv");
    await writeFile(src, "utter_id,label,text\na,happy,hi\nb,sad,oh\n");
  });
  afterAll(() => removeDir(dir));
  const index = (out: string) => runEmofeatInProcess(["index", "generic", "--csv", src, "--out", out, "--quiet"]);

  it("refuses an existing file that is not an index CSV (it used to crash), replaces an index CSV", async () => {
    const notes = path.join(dir, "notes.txt");
    await writeFile(notes, "mine");
    let r = await index(notes);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^emofeat: --out .*notes\.txt: is a file, not a folder; --out takes a folder \(which receives index\.csv\) or a path ending in \.csv\n$/);
    const other = path.join(dir, "table.csv");
    await writeFile(other, "name,score\nx,1\n");
    r = await index(other);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/table\.csv: the file exists and is not an index CSV written by emofeat/);
    expect(await readFile(notes, "utf8")).toBe("mine");
    expect(await readFile(other, "utf8")).toBe("name,score\nx,1\n");
    const ok = path.join(dir, "new", "index.csv");
    expect((await index(ok)).code).toBe(0);
    expect((await index(ok)).code).toBe(0);
    expect((await readFile(ok, "utf8")).split("\n")[0]).toMatch(/^utter_id,session,audio_path,text,label,split/);
  });
});

describe("--layout per-utterance ids", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-ids-");
  });
  afterAll(() => removeDir(dir));

  it("are all checked when the index loads, every offender listed, before any work", async () => {
    const ids = ["fine", "../../x", "a/b", "CON", "Ab", "ab", "nul.txt", "trailing."];
    const csv = await writeIndex(dir, ids.map((utter_id) => ({ utter_id, text: "some words" })));
    const out = path.join(dir, "store");
    const err = await extractText({ csv, out, model: path.join(dir, "no-model-needed"), layout: "per-utterance" }).catch((e) => e as Error);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(/--layout per-utterance: utter_ids that cannot be file names: 6 problem\(s\)/);
    expect(msg).toMatch(/row 2, column "utter_id": "\.\.\/\.\.\/x": contains \/ or \\/);
    expect(msg).toMatch(/row 3, column "utter_id": "a\/b": contains \//);
    expect(msg).toMatch(/row 4, column "utter_id": "CON": a reserved device name on Windows/);
    expect(msg).toMatch(/row 6, column "utter_id": "ab" and "Ab" \(row 5\) differ only in case/);
    expect(msg).toMatch(/row 7, column "utter_id": "nul\.txt": a reserved device name/);
    expect(msg).toMatch(/row 8, column "utter_id": "trailing\.": ends in a dot/);
    expect(existsSync(out)).toBe(false);
  });

  it("a failure while assembling the store leaves no temporary file behind", async () => {
    const { openStoreForWriting } = await import("../src/store/write.js");
    const out = path.join(dir, "assemble");
    const opened = await openStoreForWriting({ outDir: out, fingerprint: "f", settings: {}, totalBatches: 1 });
    if (opened.status !== "ready") throw new Error("expected a fresh store");
    opened.writer.add(0, { positions: [0, 1], vectors: new Float32Array(8), failures: [] });
    const utterances = [{ utterId: "ok", row: 1 }, { utterId: "a/b", row: 2 }]; // as if the up-front check were skipped
    const meta = { format: "emofeat.feature-store", format_version: 1, modality: "text" } as never;
    await expect(opened.writer.finalize({ utterances, planned: [0, 1], dim: 4, layout: "per-utterance", meta })).rejects.toThrow(/"a\/b" cannot be used as a file name/);
    const left = readdirSync(out).filter((n) => n.includes(".tmp-"));
    expect(left).toEqual([]);
    expect(existsSync(path.join(out, "meta.json"))).toBe(false);
  });
});
