import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerIndex } from "./commands/index.js";
import { registerSplit } from "./commands/split.js";
import { registerExtract } from "./commands/extract.js";
import { registerValidate } from "./commands/validate.js";
import { registerTrain } from "./commands/train.js";
import { registerRuns } from "./commands/runs.js";
import { registerPredict } from "./commands/predict.js";
import { registerStore } from "./commands/store.js";
import { registerServe } from "./commands/serve.js";
import { registerReport } from "./commands/report.js";
import { registerMerge } from "./commands/merge.js";
import { registerStatus } from "./commands/status.js";
import { registerCluster } from "./commands/cluster.js";

export function buildProgram(): Command {
  const program = new Command("emofeat")
    .description(
      "Speech-emotion features from frozen pretrained transformers: build an index, extract text/audio " +
        "embeddings into feature stores, validate them, train probes, predict, report and serve.",
    )
    .version(VERSION)
    // Commander's own errors (unknown option, bad value) as one line in emofeat's form, like every other error;
    // subcommands inherit this output configuration.
    .configureOutput({
      outputError: (str, write) => write(`emofeat: ${str.trim().replace(/^error: /, "").replace(/\s*\n\s*/g, " ")} (run with --help for usage)\n`),
    });
  registerIndex(program);
  registerSplit(program);
  registerExtract(program);
  registerValidate(program);
  registerTrain(program);
  registerRuns(program);
  registerPredict(program);
  registerStore(program);
  registerReport(program);
  registerServe(program);
  registerMerge(program);
  registerStatus(program);
  registerCluster(program, buildProgram);
  return program;
}
