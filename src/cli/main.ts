#!/usr/bin/env node
/**
 * The `emofeat` command line: a thin layer over the library API. Each command lives in its own module
 * under cli/commands and registers itself in cli/program.ts.
 */
import { buildProgram } from "./program.js";
import { runCli } from "./run.js";

// A reader that stops early (`emofeat status out | head`, `... | true`) closes the pipe: end quietly, as Unix
// tools do, instead of with Node's unhandled-EPIPE stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await runCli(buildProgram(), process.argv);
