#!/usr/bin/env node
/**
 * The `emofeat` command line: a thin layer over the library API. Each command lives in its own module
 * under cli/commands and registers itself in cli/program.ts.
 */
import { buildProgram } from "./program.js";
import { runCli } from "./run.js";

process.exitCode = await runCli(buildProgram(), process.argv);
