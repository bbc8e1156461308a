/**
 * Output paths, checked before any work. The rule every command follows: never delete or replace anything
 * emofeat did not create. An existing file where a folder is expected (or a folder where a file is expected)
 * is an error; a folder is replaced only when it is one emofeat made (recognised by its meta) or is empty; a
 * file only when it is one emofeat wrote (recognised by its first bytes).
 *
 * Folders are created one level at a time instead of with `mkdir -p` semantics: Node's recursive mkdir loops
 * forever (100 % CPU, deaf to signals) on file systems such as procfs that answer ENOENT for a parent that
 * exists.
 */
import { constants } from "node:fs";
import { access, mkdir, open, readdir, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";

/** A short reason for a file-system error code, for one-line messages. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `permission denied (${code})`;
    case "EROFS":
      return "read-only file system (EROFS)";
    case "ENOSPC":
      return "no space left on the device (ENOSPC)";
    case "EDQUOT":
      return "disk quota exceeded (EDQUOT)";
    case "ENOTDIR":
      return "a part of the path is a file, not a folder (ENOTDIR)";
    case "EISDIR":
      return "is a folder, not a file (EISDIR)";
    case "ENOENT":
      return "no such file or folder (ENOENT)";
    case "EEXIST":
      return "already exists (EEXIST)";
    case "ENAMETOOLONG":
      return "name too long (ENAMETOOLONG)";
    case "EMFILE":
    case "ENFILE":
      return `too many open files (${code})`;
    default:
      return code ? `${(err as Error).message.split(",")[0]} (${code})` : String((err as Error)?.message ?? err);
  }
}

/** True for errors that come from the file system (an errno code and a path), not from a bug. */
export function isFsError(err: unknown): err is NodeJS.ErrnoException & { path: string } {
  const e = err as NodeJS.ErrnoException;
  return e instanceof Error && typeof e.code === "string" && /^E[A-Z]+$/.test(e.code) && typeof e.path === "string";
}

async function statOrNull(p: string): Promise<import("node:fs").Stats | null> {
  try {
    return await stat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new EmofeatError(`${p}: cannot be inspected: ${fsReason(err)}`);
  }
}

/** The closest existing ancestor of `p` (which does not exist), and the missing folders below it, top first. */
async function missingChain(p: string): Promise<{ ancestor: string; isDir: boolean; missing: string[] }> {
  const missing: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    const st = await statOrNull(cur);
    if (st) return { ancestor: cur, isDir: st.isDirectory(), missing };
    missing.unshift(cur);
    const up = path.dirname(cur);
    if (up === cur) return { ancestor: cur, isDir: false, missing };
    cur = up;
  }
}

export type OutDirState = { exists: false } | { exists: true; entries: string[] };

/**
 * What is at `dir`, which is to be a folder: nothing (then every missing parent must be creatable: no file
 * in the way) or a folder with these entries. A file there is an error.
 */
export async function inspectOutDir(dir: string, flag = "--out"): Promise<OutDirState> {
  const st = await statOrNull(dir);
  if (st && !st.isDirectory()) throw new EmofeatError(`${flag} ${dir}: is a file, not a folder; choose another ${flag}`);
  if (!st) {
    const chain = await missingChain(dir);
    if (!chain.isDir)
      throw new EmofeatError(`${flag} ${dir}: ${chain.ancestor} is a file, so no folder can be created inside it; choose another ${flag}`);
    return { exists: false };
  }
  try {
    return { exists: true, entries: await readdir(dir) };
  } catch (err) {
    throw new EmofeatError(`${flag} ${dir}: cannot read the folder: ${fsReason(err)}`);
  }
}

/**
 * Creates `dir` and its missing parents one level at a time (see the module note), and checks that it can be
 * written. Returns the folders it created, top first, so a failed run can remove exactly those.
 */
export async function makeDir(dir: string, flag = "--out"): Promise<string[]> {
  const chain = await missingChain(dir);
  if (!chain.isDir && chain.missing.length > 0)
    throw new EmofeatError(`${flag} ${dir}: ${chain.ancestor} is a file, so no folder can be created inside it; choose another ${flag}`);
  if (chain.missing.length === 0 && !chain.isDir) throw new EmofeatError(`${flag} ${dir}: is a file, not a folder; choose another ${flag}`);
  for (const d of chain.missing) {
    try {
      await mkdir(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST" && (await statOrNull(d))?.isDirectory()) continue; // made by someone else meanwhile
      const why = code === "ENOENT" ? "the file system does not allow creating a folder there (ENOENT)" : fsReason(err);
      throw new EmofeatError(`${flag} ${dir}: cannot create the folder ${d}: ${why}`);
    }
  }
  await checkWritable(dir, flag);
  return chain.missing;
}

/** Fails with one clear line when `dir` (an existing folder) cannot be written. */
export async function checkWritable(dir: string, flag = "--out"): Promise<void> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new EmofeatError(`${flag} ${dir}: cannot write into this folder: ${fsReason(err)}`);
  }
}

/**
 * Creates and removes the first missing folder (or a probe file in the existing one): permission bits say yes on
 * file systems that refuse anyway (procfs, sysfs, a read-only bind mount as root), and this is the only way to
 * know before the work rather than after it.
 */
export async function probeCreate(target: string, isFolder: boolean, flag: string, file: string): Promise<void> {
  try {
    if (isFolder) await mkdir(target);
    else await (await open(target, "wx")).close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return; // made by someone else meanwhile: creatable
    const why = code === "ENOENT" ? "the file system does not allow creating files there (ENOENT)" : fsReason(err);
    throw new EmofeatError(`${flag} ${file}: cannot create ${target}: ${why}`);
  }
  await (isFolder ? rmdir(target) : unlink(target)).catch(() => {});
}

/** The first `bytes` bytes of a file (for recognising what wrote it). */
export async function fileHead(file: string, bytes = 4096): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export interface OutFileOptions {
  flag?: string;
  /** What the file is, for messages ("an index CSV", "a predictions file"). */
  what: string;
  /** True when an existing file's first bytes show emofeat wrote it (then it may be replaced). */
  recognise: (head: Buffer) => boolean;
}

/**
 * Checks, before the work starts, that `file` can be written later: it is not a folder, an existing file there
 * is one emofeat wrote, and its folder exists and is writable or can be created (nothing is created here;
 * the writer calls makeDir). Returns whether a file would be replaced.
 */
export async function prepareOutFile(file: string, o: OutFileOptions): Promise<{ replaces: boolean }> {
  const flag = o.flag ?? "--out";
  const st = await statOrNull(file);
  if (st?.isDirectory()) throw new EmofeatError(`${flag} ${file}: is a folder; give a file path (e.g. ${path.join(file, "out.csv")})`);
  if (st) {
    let head: Buffer;
    try {
      head = await fileHead(file);
    } catch (err) {
      throw new EmofeatError(`${flag} ${file}: cannot read the existing file: ${fsReason(err)}`);
    }
    if (!o.recognise(head))
      throw new EmofeatError(
        `${flag} ${file}: the file exists and is not ${o.what} written by emofeat; emofeat does not replace files it did not create: ` +
          `choose another ${flag} (or remove the file yourself)`,
      );
  }
  const parent = path.dirname(path.resolve(file));
  const chain = await missingChain(parent);
  if (!chain.isDir) throw new EmofeatError(`${flag} ${file}: ${chain.ancestor} is a file, so no folder can be created inside it; choose another ${flag}`);
  await checkWritable(chain.ancestor, flag);
  await probeCreate(chain.missing[0] ?? path.join(parent, `.${path.basename(file)}.probe-${process.pid}`), chain.missing.length > 0, flag, file);
  return { replaces: st !== null };
}
