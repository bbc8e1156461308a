import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

/** A temporary name beside `file`, so the final rename stays on one file system and is atomic. */
export function tmpNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Writes `data` (or the concatenation of several chunks) to `file` so that readers see either the old file or
 * the whole new one, never a part.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = tmpNameFor(file);
  const fh = await open(tmp, "w");
  try {
    try {
      if (Array.isArray(data)) for (const chunk of data as readonly Uint8Array[]) await fh.write(chunk);
      else await fh.writeFile(data as string | Uint8Array);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }); // a full disk or a failed rename leaves no temp file behind
    throw err;
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}
