/**
 * sha256 of large files (model weights: hundreds of MB) without paying for it on every run.
 *
 *  - A cache keyed by the file's identity: real path, device, inode, size, and modification and change
 *    times in nanoseconds (what git's index trusts). Any write, replace or touch changes one of them, so a
 *    stale hash is never returned. The cache is one small JSON file; losing it only costs a re-hash.
 *  - On a miss the hash is computed in a worker thread, so it runs while the main thread is busy (onnxruntime
 *    creates sessions synchronously on the main thread): `startHash` early, await `sha256Cached` later.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { writeFileAtomic } from "./fs.js";

interface CacheEntry {
  id: string;
  sha256: string;
  used: number;
}

/** Entries kept; the least recently hashed go first. */
const MAX_ENTRIES = 256;

async function identity(file: string): Promise<{ real: string; id: string }> {
  const real = await realpath(file);
  const s = await stat(real, { bigint: true });
  return { real, id: [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":") };
}

// ES module source for the worker, given as a data: URL: no file to resolve, so it works the same from src/
// (tsx, vitest) and dist/, and, unlike an eval'd string, it does not depend on how the parent was started
// (eval'd workers follow the parent's --input-type, so CommonJS source broke under --input-type=module).
const WORKER_URL = new URL(
  "data:text/javascript," +
    encodeURIComponent(`
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
const hash = createHash("sha256");
createReadStream(workerData, { highWaterMark: 1 << 20 })
  .on("data", (c) => hash.update(c))
  .on("error", (e) => parentPort.postMessage({ error: String((e && e.message) || e) }))
  .on("end", () => parentPort.postMessage({ sha256: hash.digest("hex") }));
`),
);

function hashInWorker(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_URL, { workerData: file });
    } catch {
      resolve(hashHere(file));
      return;
    }
    worker.unref(); // an abandoned hash must not keep the process alive
    worker.once("message", (m: { sha256?: string; error?: string }) => {
      void worker.terminate();
      if (m.sha256) resolve(m.sha256);
      else reject(new Error(`could not hash ${file}: ${m.error}`));
    });
    // A worker that cannot run (its error is not the file's: those come as messages): hash here instead.
    worker.once("error", () => resolve(hashHere(file)));
  });
}

async function hashHere(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function readCache(cacheFile: string): Promise<Record<string, CacheEntry>> {
  try {
    const data = JSON.parse(await readFile(cacheFile, "utf8")) as { entries?: Record<string, CacheEntry> };
    return data.entries && typeof data.entries === "object" ? data.entries : {};
  } catch {
    return {};
  }
}

async function writeCache(cacheFile: string, real: string, entry: CacheEntry): Promise<void> {
  try {
    const entries = await readCache(cacheFile); // re-read: another process may have added entries meanwhile
    entries[real] = entry;
    const kept = Object.entries(entries)
      .sort((a, b) => b[1].used - a[1].used)
      .slice(0, MAX_ENTRIES);
    await mkdir(path.dirname(cacheFile), { recursive: true });
    await writeFileAtomic(cacheFile, JSON.stringify({ format: "emofeat.sha256-cache", version: 1, entries: Object.fromEntries(kept) }) + "\n");
  } catch {
    // A read-only or full cache folder only means the next run hashes again.
  }
}

const inFlight = new Map<string, Promise<string>>();

/**
 * The file's sha256: from `cacheFile` when the file is unchanged since it was hashed, else computed (in a
 * worker thread) and recorded. Concurrent calls for the same unchanged file share one computation.
 */
export async function sha256Cached(file: string, cacheFile: string): Promise<string> {
  const { real, id } = await identity(file);
  const key = `${real}\0${id}`;
  let p = inFlight.get(key);
  if (!p) {
    p = (async () => {
      const hit = (await readCache(cacheFile))[real];
      if (hit && hit.id === id && /^[0-9a-f]{64}$/.test(hit.sha256)) return hit.sha256;
      const sha256 = await hashInWorker(real);
      // Only record the hash if the file did not change while it was read.
      if ((await identity(real)).id === id) await writeCache(cacheFile, real, { id, sha256, used: Date.now() });
      return sha256;
    })();
    inFlight.set(key, p);
    p.catch(() => inFlight.delete(key));
  }
  return p;
}

/** Starts sha256Cached now (errors surface when the result is awaited later). */
export function startHash(file: string, cacheFile: string): void {
  sha256Cached(file, cacheFile).catch(() => {});
}
