#!/usr/bin/env node
/**
 * The `emofeat` command line: a thin layer over the library API. Each command lives in its own module
 * under cli/commands and registers itself in cli/program.ts.
 */
import { buildProgram } from "./program.js";
import { runCli } from "./run.js";

// `emofeat ... | head`: the reader went away, so the output is not wanted any more. Node would throw EPIPE with
// a stack trace from the next write; end quietly instead, as Unix tools do.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });

process.exitCode = await runCli(buildProgram(), process.argv);
