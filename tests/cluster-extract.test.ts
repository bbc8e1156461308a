/**
 * Sharded extraction as a cluster runs it: the generated sbatch script executed as Slurm would (four concurrent
 * array tasks, then the merge job the first task submitted), audio with failed rows in four concurrent Slurm
 * tasks, a shard killed with SIGKILL and rerun, every merge error, and the Kubernetes Indexed Job. Each merged
 * store is compared byte for byte with a single-process run of the same command.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, cp, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { mergeShards, waitForShards } from "../src/shards/merge.js";
import { cliCommand, runEmofeat } from "./helpers/cli.js";
import { exitOf, killAfterParts } from "./helpers/kill-child.js";
import { texts } from "./helpers/texts.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT, removeDir, tempDir, tinyBert30522 } from "./helpers/paths.js";

const WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
const STORE_OUTPUTS = ["embeddings.npy", "frames.npy", "lengths.npy", "special.npy", "ids.txt", "meta.json", "failures.csv", "clips.csv", "texts.csv"];

let dir: string;
beforeAll(async () => {
  dir = await tempDir("emofeat-cluster-");
});
afterAll(() => removeDir(dir));

/** Every store file of `single` is byte-identical in `merged`; meta.json differs only in created and shards. */
async function expectSameStore(merged: string, single: string, shards: number): Promise<void> {
  const perUtterance = existsSync(path.join(single, "per_utterance")) ? readdirSync(path.join(single, "per_utterance")).map((f) => `per_utterance/${f}`) : [];
  const files = [...readdirSync(single).filter((f) => STORE_OUTPUTS.includes(f)), ...perUtterance];
  expect(files.some((f) => f === "embeddings.npy" || f === "frames.npy")).toBe(true);
  for (const f of files.filter((f) => f !== "meta.json"))
    expect((await readFile(path.join(merged, f))).equals(await readFile(path.join(single, f))), `${f} differs`).toBe(true);
  for (const f of STORE_OUTPUTS) expect(existsSync(path.join(merged, f)), f).toBe(existsSync(path.join(single, f)));
  if (perUtterance.length > 0) expect(readdirSync(path.join(merged, "per_utterance")).length).toBe(perUtterance.length);
  const a = JSON.parse(await readFile(path.join(merged, "meta.json"), "utf8"));
  const b = JSON.parse(await readFile(path.join(single, "meta.json"), "utf8"));
  expect(a.shards.n).toBe(shards);
  expect(a.shards.shards).toHaveLength(shards);
  for (const m of [a, b]) {
    delete m.created;
    delete m.shards;
  }
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
}

const nothingWritten = (out: string) => expect(["meta.json", "embeddings.npy", "ids.txt"].filter((f) => existsSync(path.join(out, f)))).toEqual([]);

function run(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => resolve({ code, stderr }));
  });
}

const slurmEnv = (k: number, n: number) => ({
  SLURM_ARRAY_JOB_ID: "4242",
  SLURM_ARRAY_TASK_ID: String(k),
  SLURM_ARRAY_TASK_MIN: "0",
  SLURM_ARRAY_TASK_MAX: String(n - 1),
  SLURM_ARRAY_TASK_COUNT: String(n),
  SLURM_CPUS_PER_TASK: "1",
});

describe("Slurm", () => {
  it("the sbatch script, run as four concurrent array tasks and then its merge job, gives the single run's store", async () => {
    const out = path.join(dir, "text-slurm");
    const gen = await runEmofeat([
      "cluster", "slurm", "--csv", DEMO_INDEX, "--shards", "4", "--cpus-per-task", "1", "--sample-batches", "2", "-q",
      "--", "extract", "text", "--model", DEMO_MODEL, "--out", out, "--batch-size", "4", "--offline",
    ]);
    expect(gen.stderr).toBe("");
    expect(gen.code).toBe(0);
    const script = path.join(dir, "extract.sbatch");
    await writeFile(script, gen.stdout);
    execFileSync("bash", ["-n", script]); // parses
    expect(gen.stdout).toMatch(/^#SBATCH --array=0-3$/m);
    expect(gen.stdout).toMatch(/^#SBATCH --cpus-per-task=1$/m);
    expect(gen.stdout).toMatch(/^#SBATCH --mem=\d+G$/m);
    expect(gen.stdout).toMatch(/^#SBATCH --time=\d\d:\d\d:\d\d$/m);
    expect(gen.stdout).toMatch(/--dependency=afterok:"\$\{SLURM_ARRAY_JOB_ID\}"/);
    expect(gen.stdout).toMatch(/# text extraction of 24 rows \(6 batches\) in 4 shards; \d+ padded tokens in all/);
    const line = gen.stdout.split("\n").find((l) => l.startsWith("${EMOFEAT} extract text"))!;
    expect(line).toContain(`--out ${out} --batch-size 4 --offline --csv ${DEMO_INDEX} --device cpu --shard auto --shards 4 --threads "\${SLURM_CPUS_PER_TASK}"`);

    // Slurm's side, played by bash: a fake sbatch records the merge submission.
    const bin = path.join(dir, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, "sbatch"), '#!/bin/sh\nprintf "%s\\n" "$@" >> "$SBATCH_LOG"\n');
    await chmod(path.join(bin, "sbatch"), 0o755);
    const { file, args } = cliCommand();
    const env = { EMOFEAT: [file, ...args].join(" "), PATH: `${bin}:${process.env.PATH}`, SBATCH_LOG: path.join(dir, "sbatch.log") };
    // The array submitted 1-based (--array=1-4: shard = id - SLURM_ARRAY_TASK_MIN); ids 1, 2 and 4 run, id 3
    // fails and shard 2 is resubmitted alone (`sbatch --array=2`): Slurm then describes a one-task array
    // (MIN = MAX = 2, COUNT = 1), and the script must still extract shard 2.
    const oneBased = (id: number) => ({ ...slurmEnv(id, 4), SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_MAX: "4" });
    const tasks = await Promise.all([1, 2, 4].map((id) => run("bash", [script], { ...env, ...oneBased(id) })));
    tasks.forEach((t, k) => expect(t.code, `task ${k}: ${t.stderr}`).toBe(0));
    expect(readdirSync(path.join(out, "shards")).sort()).toEqual([".merge-submitted", "0-of-4", "1-of-4", "3-of-4"]);
    const rerun = { ...slurmEnv(2, 4), SLURM_ARRAY_TASK_MIN: "2", SLURM_ARRAY_TASK_MAX: "2", SLURM_ARRAY_TASK_COUNT: "1" };
    const again = await run("bash", [script], { ...env, ...rerun });
    expect(again.code, again.stderr).toBe(0);
    expect(existsSync(path.join(out, "shards", "2-of-4", "shard.json"))).toBe(true);
    const submitted = (await readFile(env.SBATCH_LOG, "utf8")).trim().split("\n");
    expect(submitted).toContain("--dependency=afterok:4242");
    const wrap = submitted.find((a) => a.startsWith("--wrap="))!.slice("--wrap=".length);
    expect(wrap).toBe(`${env.EMOFEAT} merge ${out}`);
    expect(submitted.filter((a) => a.startsWith("--wrap="))).toHaveLength(1); // only the first task submits it

    const merge = await run("bash", ["-c", wrap], {});
    expect(merge.code, merge.stderr).toBe(0);
    expect(merge.stderr).toContain(`${out}: merged from 4 shard(s) and validated: 24 x 32 float32`);
    const single = path.join(dir, "text-single");
    await extractText({ csv: DEMO_INDEX, out: single, model: DEMO_MODEL, offline: true, batchSize: 4 });
    await expectSameStore(out, single, 4);
  });

  it("audio with failed rows: four concurrent tasks with SLURM_ARRAY_TASK_ID 0-3, merged, equal a single run", async () => {
    const demo = (await readFile(DEMO_INDEX, "utf8")).trim().split("\n").slice(1, 13);
    const rows = demo.map((l) => {
      const [utter_id, , wav] = l.split(",");
      return { utter_id, audio_path: path.join(path.dirname(DEMO_INDEX), wav), text: "x" };
    });
    await writeFile(path.join(dir, "empty.wav"), Buffer.alloc(0));
    rows.splice(2, 0, { utter_id: "gone", audio_path: path.join(dir, "missing.wav"), text: "x" });
    rows.splice(9, 0, { utter_id: "empty", audio_path: path.join(dir, "empty.wav"), text: "x" });
    const csv = await writeIndex(dir, rows, "audio.csv");
    const out = path.join(dir, "audio-sharded");
    const args = ["extract", "audio", "--csv", csv, "--model", WAVLM, "--out", out, "--batch-size", "3", "--offline", "--threads", "1", "--shard", "auto", "-q"];
    const tasks = await Promise.all([0, 1, 2, 3].map((k) => runEmofeat(args, { env: slurmEnv(k, 4) })));
    tasks.forEach((t, k) => expect(t.code, `task ${k}: ${t.stderr}`).toBe(0));
    expect(tasks.map((t) => t.stderr).join("")).toMatch(/row 3 \(gone\): .*missing\.wav: audio: file not found/);
    expect(readdirSync(path.join(out, "shards")).sort()).toEqual(["0-of-4", "1-of-4", "2-of-4", "3-of-4"]);

    const merged = await mergeShards({ out });
    expect(merged.meta).toMatchObject({ n: 12, failures: 2 });
    expect(merged.validation?.ok).toBe(true);
    const single = path.join(dir, "audio-single");
    await extractAudio({ csv, out: single, model: WAVLM, offline: true, batchSize: 3, threads: 1 });
    await expectSameStore(out, single, 4);
    // A task rerun after the merge has nothing to do.
    const again = await extractAudio({ csv, out, model: WAVLM, offline: true, batchSize: 3, threads: 1, shard: { k: 1, n: 4 } });
    expect(again.status).toBe("up-to-date");
  });
});

describe("sequence stores", () => {
  it("a text sequence store of every layer in float16, per utterance too: four concurrent Slurm tasks, merged, equal a single run", async () => {
    const out = path.join(dir, "seq-sharded");
    const opts = ["--csv", DEMO_INDEX, "--model", DEMO_MODEL, "--batch-size", "4", "--offline", "--threads", "1", "--pooling", "none", "--layers", "all", "--store-dtype", "float16", "--layout", "per-utterance"];
    const tasks = await Promise.all([0, 1, 2, 3].map((k) => runEmofeat(["extract", "text", ...opts, "--out", out, "--shard", "auto", "-q"], { env: slurmEnv(k, 4) })));
    tasks.forEach((t, k) => expect(t.code, `task ${k}: ${t.stderr}`).toBe(0));
    const merged = await mergeShards({ out });
    expect(merged.meta).toMatchObject({ pooling: "none", dtype: "float16", n: 24 });
    expect(merged.meta.layers!.length).toBeGreaterThan(1);
    const single = path.join(dir, "seq-single");
    await extractText({ csv: DEMO_INDEX, out: single, model: DEMO_MODEL, offline: true, batchSize: 4, threads: 1, pooling: "none", layers: "all", storeDtype: "float16", layout: "per-utterance" });
    await expectSameStore(out, single, 4);
  });
});

describe("a shard killed and rerun", () => {
  it("an unfinished shard stops the merge (naming its rows); rerun, it resumes and the merge equals a single run", async () => {
    const csv = await writeIndex(dir, texts(600, { seed: 777, maxWords: 40 }).map((text, i) => ({ utter_id: `t${i}`, text })), "kill.csv");
    const out = path.join(dir, "kill-sharded");
    const child = () =>
      spawn(process.execPath, [path.join(ROOT, "tests/helpers/extract-child.mjs"), csv, out, DEMO_MODEL, "2", "2", "0/2"], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      });
    const p = child();
    p.stdout!.resume();
    await killAfterParts(p, path.join(out, "shards", "0-of-2", ".partial"));
    await exitOf(p);
    await extractText({ csv, out, model: DEMO_MODEL, offline: true, batchSize: 2, threads: 1, shard: { k: 1, n: 2 } });
    const err = await mergeShards({ out }).catch((e: Error) => e);
    expect(String(err)).toMatch(/cannot merge .*: 1 problem\(s\); nothing was written\n {2}- shards\/0-of-2: unfinished: \d+ of \d+ rows done \(rows? [\d, -]+.* not yet\); last started .* by pid \d+/);
    nothingWritten(out);

    const q = child();
    let log = "";
    q.stdout!.on("data", (d) => (log += d));
    expect(await exitOf(q)).toBe(0);
    expect(Number(/progress extract (\d+)\//.exec(log)![1])).toBeGreaterThan(0); // resumed, not restarted
    await mergeShards({ out });
    const single = path.join(dir, "kill-single");
    await extractText({ csv, out: single, model: DEMO_MODEL, offline: true, batchSize: 2, threads: 1 });
    await expectSameStore(out, single, 2);
  });
});

describe("merge of a folder without shards", () => {
  it("a store merged with --remove-shards (or made by one process) is up to date, also for --wait; an empty folder is an error", async () => {
    const out = path.join(dir, "removed-shards");
    for (let k = 0; k < 2; k++) await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 8, shard: { k, n: 2 } });
    expect((await mergeShards({ out, removeShards: true })).status).toBe("created");
    expect(existsSync(path.join(out, "shards"))).toBe(false);
    // A task rerun after that says up to date; the merge job it may submit must not fail.
    expect((await extractText({ csv: DEMO_INDEX, out, model: DEMO_MODEL, offline: true, batchSize: 8, shard: { k: 1, n: 2 } })).status).toBe("up-to-date");
    const again = await mergeShards({ out });
    expect(again).toMatchObject({ status: "up-to-date", n: 2 });
    await waitForShards(out, { timeoutS: 0, pollS: 1 });
    const empty = path.join(dir, "no-shards");
    await mkdir(empty);
    await expect(mergeShards({ out: empty })).rejects.toThrow(/no shards to merge/);
    await expect(waitForShards(empty, { timeoutS: 0, pollS: 1 })).rejects.toThrow(/no shards to merge/);
  });
});

describe("merge refuses, naming the shard and its rows, and writes nothing", () => {
  let shards: string;
  beforeAll(async () => {
    shards = path.join(dir, "err-src");
    for (let k = 0; k < 4; k++) await extractText({ csv: DEMO_INDEX, out: shards, model: DEMO_MODEL, offline: true, batchSize: 4, shard: { k, n: 4 } });
  });
  /** A fresh copy of the four good shards, with `mutate` applied to its shards/ folder. */
  async function broken(name: string, mutate: (root: string) => Promise<void>): Promise<string> {
    const out = path.join(dir, name);
    await cp(path.join(shards, "shards"), path.join(out, "shards"), { recursive: true });
    await mutate(path.join(out, "shards"));
    return out;
  }

  it("a missing shard", async () => {
    const out = await broken("err-missing", (root) => rm(path.join(root, "2-of-4"), { recursive: true }));
    await expect(mergeShards({ out })).rejects.toThrow(/missing: shards\/2-of-4 \(not started, or without shard\.json\): rows [\d, -]+ are in no usable shard/);
    nothingWritten(out);
  });

  it("a duplicated shard (one shard's folder copied over another's)", async () => {
    const out = await broken("err-dup", async (root) => {
      await rm(path.join(root, "2-of-4"), { recursive: true });
      await cp(path.join(root, "1-of-4"), path.join(root, "2-of-4"), { recursive: true });
    });
    const err = String(await mergeShards({ out }).catch((e) => e));
    expect(err).toMatch(/shards\/2-of-4: duplicated: it holds shard 1-of-4 \(copied or renamed\?\): rows [\d, -]+, also in shards\/1-of-4/);
    expect(err).toMatch(/missing \(in place of shards\/2-of-4\): rows [\d, -]+ are in no usable shard/);
    nothingWritten(out);
  });

  it("a shard from another index, and one from another model", async () => {
    const otherCsv = path.join(dir, "other-index.csv");
    await writeFile(otherCsv, (await readFile(DEMO_INDEX, "utf8")).replace("Get out of here", "Get out of there"));
    const other = path.join(dir, "err-other-index-src");
    await extractText({ csv: otherCsv, out: other, model: DEMO_MODEL, offline: true, batchSize: 4, shard: { k: 3, n: 4 } });
    const bert = await tinyBert30522();
    const otherModel = path.join(dir, "err-other-model-src");
    try {
      await extractText({ csv: DEMO_INDEX, out: otherModel, model: bert, offline: true, batchSize: 4, shard: { k: 0, n: 4 } });
    } finally {
      await removeDir(bert);
    }
    const out = await broken("err-foreign", async (root) => {
      for (const [k, src] of [[3, other], [0, otherModel]] as const) {
        await rename(path.join(root, `${k}-of-4`), path.join(root, `${k}-of-4.old`)).then(() => rm(path.join(root, `${k}-of-4.old`), { recursive: true }));
        await cp(path.join(src, "shards", `${k}-of-4`), path.join(root, `${k}-of-4`), { recursive: true });
      }
    });
    const err = String(await mergeShards({ out }).catch((e) => e));
    expect(err).toMatch(/shards\/3-of-4: foreign: made from another index \(sha256 [0-9a-f]{12}\.\.\., the others [0-9a-f]{12}\.\.\.\); rows? [\d, -]+/);
    expect(err).toMatch(/shards\/0-of-4: foreign: made with another model \(.*tiny-bert-30522.*; the others .*tiny-bert-demo/);
    nothingWritten(out);
  });

  it("a shard made with other settings names the settings that differ", async () => {
    const src = path.join(dir, "err-settings-src");
    await extractText({ csv: DEMO_INDEX, out: src, model: DEMO_MODEL, offline: true, batchSize: 4, maxLen: 16, shard: { k: 2, n: 4 } });
    const out = await broken("err-settings", async (root) => {
      await rm(path.join(root, "2-of-4"), { recursive: true });
      await cp(path.join(src, "shards", "2-of-4"), path.join(root, "2-of-4"), { recursive: true });
    });
    const err = String(await mergeShards({ out }).catch((e) => e));
    expect(err).toMatch(/shards\/2-of-4: foreign: made with other settings \(the others' -> this one's: max_len 128 -> 16; fingerprint [0-9a-f]{12}\.\.\./);
    nothingWritten(out);
  });

  it("shards of two different shard counts", async () => {
    const out = await broken("err-mixed", async (root) => {
      await cp(path.join(root, "1-of-4"), path.join(root, "1-of-2"), { recursive: true });
    });
    await expect(mergeShards({ out })).rejects.toThrow(/different shard counts \(2: 1-of-2; 4: 0-of-4, 1-of-4, 2-of-4, 3-of-4\)/);
    nothingWritten(out);
  });
});

describe("Kubernetes", () => {
  it("prints an Indexed Job (completions = parallelism = shards) and a merge Job; a pod's command extracts its shard", async () => {
    const out = path.join(dir, "k8s-store");
    const gen = await runEmofeat([
      "cluster", "k8s", "--pvc", "corpora", "--csv", DEMO_INDEX, "--shards", "4", "--cpus-per-task", "2", "--sample-batches", "1", "-q",
      "--", "extract", "text", "--model", DEMO_MODEL, "--out", out, "--batch-size", "4", "--offline",
    ]);
    expect(gen.code, gen.stderr).toBe(0);
    const docs = YAML.parseAllDocuments(gen.stdout);
    expect(docs.map((d) => d.errors)).toEqual([[], []]);
    const [job, merge] = docs.map((d) => d.toJS());
    expect(job).toMatchObject({ apiVersion: "batch/v1", kind: "Job", spec: { completionMode: "Indexed", completions: 4, parallelism: 4 } });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.volumes).toEqual([{ name: "data", persistentVolumeClaim: { claimName: "corpora" } }]);
    const c = pod.containers[0];
    expect(c.volumeMounts).toEqual([{ name: "data", mountPath: "/data" }]);
    expect(c.resources.requests.cpu).toBe("2");
    expect(c.resources.limits.memory).toMatch(/^\d+Gi$/);
    expect(c.env).toContainEqual({ name: "EMOFEAT_OFFLINE", value: "1" });
    expect(c.env.find((e: { name: string }) => e.name === "EMOFEAT_JOB_UID").valueFrom.fieldRef.fieldPath).toBe("metadata.labels['batch.kubernetes.io/controller-uid']");
    expect(job.spec.podReplacementPolicy).toBe("Failed");
    expect(c.command.slice(0, 3)).toEqual(["emofeat", "extract", "text"]);
    expect(c.command.join(" ")).toContain("--device cpu --shard auto --shards 4 --threads 2"); // not auto: every pod on one device
    expect(merge.spec.template.spec.containers[0].command.slice(0, 4)).toEqual(["emofeat", "merge", out, "--wait"]);

    // Pod 3 as Kubernetes starts it: JOB_COMPLETION_INDEX=3, the Job's command.
    const podRun = await runEmofeat([...c.command.slice(1), "-q"], { env: { JOB_COMPLETION_INDEX: "3" } });
    expect(podRun.code, podRun.stderr).toBe(0);
    expect(existsSync(path.join(out, "shards", "3-of-4", "shard.json"))).toBe(true);
  });
});
