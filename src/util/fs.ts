import { createHash, randomBytes } from "node:crypto";
import { createReadStream, rmSync } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";

// Temp files and folders made under names from tmpNameFor, removed if the process exits before they are
// renamed into place or removed (a second Ctrl-C or SIGTERM ends the process at once, in the middle of a write).
// Once renamed, the name no longer exists and removing it is a no-op.
const pendingTemp = new Set<string>();
let exitHookInstalled = false;

/** Removes what is left under the temp names of this process (the exit hook; synchronous). */
export function removePendingTempFiles(): void {
  for (const tmp of pendingTemp) {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // exiting anyway: what cannot be removed stays
    }
  }
  pendingTemp.clear();
}

/**
 * A temporary name beside `file`, so the final rename stays on one file system and is atomic. Whatever is
 * still there under this name when the process exits is removed.
 */
export function tmpNameFor(file: string): string {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", removePendingTempFiles);
  }
  pendingTemp.add(tmp);
  return tmp;
}

/**
 * Writes `data` (or the concatenation of several chunks) to `file` so that readers see either the old file or
 * the whole new one, never a part.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = tmpNameFor(file);
  try {
    await writeTmpThenRename(tmp, file, data);
  } finally {
    pendingTemp.delete(tmp); // renamed or removed: nothing left under this name
  }
}

async function writeTmpThenRename(tmp: string, file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
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
