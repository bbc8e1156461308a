/** For resume tests: kill an extraction child process with SIGKILL half-way, once it has finished some parts. */
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

/** Resolves with the child's exit code (null when a signal ended it). */
export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((res) => child.on("exit", (code) => res(code)));
}

/** Kills `child` with SIGKILL once `partialDir` holds `parts` finished parts (part-*.json); rejects after 60 s. */
export function killAfterParts(child: ChildProcess, partialDir: string, parts = 3): Promise<void> {
  return new Promise<void>((res, rej) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      const done = existsSync(partialDir) ? readdirSync(partialDir).filter((n) => n.startsWith("part-") && n.endsWith(".json")) : [];
      if (done.length >= parts) {
        clearInterval(poll);
        child.kill("SIGKILL");
        res();
      } else if (Date.now() - t0 > 60_000) {
        clearInterval(poll);
        rej(new Error(`the child never wrote ${parts} parts in ${partialDir}`));
      }
    }, 5);
  });
}
