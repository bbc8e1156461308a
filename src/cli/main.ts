#!/usr/bin/env node
/**
 * The `emofeat` command line: a thin layer over the library API. Each command lives in its own module
 * under cli/commands and registers itself in cli/program.ts.
 */
import { EXIT } from "../errors.js";
import { buildProgram } from "./program.js";
import { runCli } from "./run.js";

// `emofeat ... | head`: the reader went away, so the output is not wanted any more. Node would throw EPIPE with
// a stack trace from the next write; end quietly instead, as Unix tools do.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });

// Commands that do not stop gracefully on a signal (extract and train do, after the current batch or epoch;
// serve drains its requests) end at once with the documented code 130. process.exit runs the exit hooks: the
// output folder's lock is released and unfinished temp files are removed, which a plain kill would leave.
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    if (process.listenerCount(sig) > 1) return; // the command's own handler decides
    process.stderr.write(`\nemofeat: ${sig}: stopped\n`);
    process.exit(EXIT.interrupted);
  });

process.exitCode = await runCli(buildProgram(), process.argv);
