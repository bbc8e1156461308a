#!/usr/bin/env node
/**
 * The `emofeat` command line: a thin layer over the library API. Each command lives in its own module
 * under cli/commands and registers itself on the program.
 */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { runCli } from "./run.js";
import { registerExtract } from "./commands/extract.js";
import { registerValidate } from "./commands/validate.js";
import { registerIndex } from "./commands/index.js";

export function buildProgram(): Command {
  const program = new Command("emofeat")
    .description(
      "Speech-emotion features from frozen pretrained transformers: build an index, extract text/audio\n" +
        "embeddings into feature stores, validate them, train probes and predict.",
    )
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: false });
  registerIndex(program);
  registerExtract(program);
  registerValidate(program);
  return program;
}

await runCli(buildProgram(), process.argv);
