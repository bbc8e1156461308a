import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sha256Cached } from "../src/util/file-hash.js";
import { BUILD_DIR } from "./helpers/build-cli.js";
import { removeDir, tempDir } from "./helpers/paths.js";

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describe("sha256Cached (model file hashes remembered by path, size and times)", () => {
  let dir: string;
  let cache: string;
  beforeAll(async () => {
    dir = await tempDir();
    cache = path.join(dir, "cache", ".sha256-cache.json");
  });
  afterAll(() => removeDir(dir));

  /** Replaces the recorded hash of `file` with `fake`, keeping the identity, so a cache hit is visible. */
  async function forge(file: string, fake: string): Promise<void> {
    const data = JSON.parse(await readFile(cache, "utf8"));
    const key = Object.keys(data.entries).find((k) => k.endsWith(path.basename(file)))!;
    data.entries[key].sha256 = fake;
    await writeFile(cache, JSON.stringify(data));
  }

  it("computes the real sha256 (in a worker), records it, and answers later calls from the record", async () => {
    const file = path.join(dir, "model.onnx");
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    bytes.write("weights", 1000);
    await writeFile(file, bytes);
    expect(await sha256Cached(file, cache)).toBe(sha(bytes));
    const rec = JSON.parse(readFileSync(cache, "utf8"));
    expect(rec.format).toBe("emofeat.sha256-cache");
    expect(Object.values(rec.entries).map((e) => (e as { sha256: string }).sha256)).toEqual([sha(bytes)]);
    // A fresh module (as in a new process) must answer from the record, not by hashing.
    const fake = "f".repeat(64);
    await forge(file, fake);
    vi.resetModules();
    const fresh = (await import("../src/util/file-hash.js")).sha256Cached;
    expect(fresh).not.toBe(sha256Cached);
    expect(await fresh(file, cache)).toBe(fake);
  });

  it("hashes again when the file changes, even to the same size with its old modification time", async () => {
    const file = path.join(dir, "same-size.onnx");
    await writeFile(file, "aaaa");
    expect(await sha256Cached(file, cache)).toBe(sha("aaaa"));
    const before = await stat(file);
    await writeFile(file, "bbbb");
    await utimes(file, before.atime, before.mtime); // same size, same mtime: the inode's change time still moves
    expect(await sha256Cached(file, cache)).toBe(sha("bbbb"));
  });

  it("hashes in a process started with --input-type=module (a worker from eval'd CommonJS source crashed there)", async () => {
    const file = path.join(dir, "esm-parent.onnx");
    await writeFile(file, "weights of an ES-module parent");
    const mod = pathToFileURL(path.join(BUILD_DIR, "util", "file-hash.js")).href;
    const code = `const { sha256Cached } = await import(${JSON.stringify(mod)}); process.stdout.write(await sha256Cached(${JSON.stringify(file)}, ${JSON.stringify(path.join(dir, "esm-cache.json"))}));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    expect(out).toBe(sha("weights of an ES-module parent"));
  });

  it("follows symlinks to the real file and survives a corrupt or unwritable cache", async () => {
    const file = path.join(dir, "x.bin");
    await writeFile(file, "x");
    await writeFile(cache, "{ not json");
    expect(await sha256Cached(file, cache)).toBe(sha("x"));
    expect(await sha256Cached(file, path.join("/proc", "no", "cache.json"))).toBe(sha("x"));
    await expect(sha256Cached(path.join(dir, "missing.onnx"), cache)).rejects.toThrow(/ENOENT/);
  });
});
