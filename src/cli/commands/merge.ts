import { Command } from "commander";
import { mergeShards, waitForShards } from "../../shards/merge.js";
import { intArg } from "../options.js";

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .summary("assemble a feature store from the shards of a cluster extraction")
    .description(
      "Assemble the feature store in OUT from OUT/shards/K-of-N/, written by `emofeat extract ... --shard K/N` (or --shard auto in " +
        "a Slurm job array / Kubernetes Indexed Job). Every shard must be there and finished, made from the same index, settings, " +
        "model and plan, and together they must hold every row exactly once; otherwise each missing, unfinished, duplicated or " +
        "foreign shard is named with its rows and nothing is written. The store is byte-identical to a single-process run " +
        "(meta.json adds a `shards` record), then validated. Memory stays that of one shard part, whatever the number of shards.",
    )
    .argument("<out>", "the --out of the shard tasks")
    .option("--csv <index.csv>", "the index CSV (default: the path the shards recorded)")
    .option("--overwrite", "replace a store in OUT made with other settings, or an unfinished single-process extraction there", false)
    .option("--remove-shards", "delete OUT/shards/ once the merged store is written and valid", false)
    .option("--force-unlock", "remove the lock of another merge or extraction into OUT that is known to be gone (e.g. it ran on another machine)", false)
    .option("--wait [seconds]", "wait until every shard is finished, checking every 30 s, for at most this long (default 86400); for a merge job that starts with the shards")
    .option("--poll <seconds>", "with --wait: seconds between checks", intArg("--poll"), 30)
    .option("-q, --quiet", "no progress output", false)
    .addHelpText("after", "\nExamples:\n  emofeat merge features/audio\n  emofeat status features/audio    # what is done, running, missing")
    .action(async (out: string, o: { csv?: string; overwrite: boolean; removeShards: boolean; forceUnlock: boolean; wait?: string | boolean; poll: number; quiet: boolean }) => {
      const log = (line: string) => {
        if (!o.quiet) process.stderr.write(`emofeat merge: ${line}\n`);
      };
      if (o.wait !== undefined) {
        const limit = o.wait === true ? 86_400 : Number(o.wait);
        await waitForShards(out, { timeoutS: limit, pollS: o.poll, log });
      }
      const s = await mergeShards({ out, csv: o.csv, overwrite: o.overwrite, removeShards: o.removeShards, forceUnlock: o.forceUnlock, log });
      const m = s.meta;
      if (!o.quiet)
        process.stderr.write(
          `${out}: ${s.status === "up-to-date" ? (m.shards ? "already merged" : "already a complete store (no shards to merge)") : `merged from ${s.n} shard(s) and validated`}: ${m.n} x ${m.d} ${m.dtype} ` +
            `(${m.modality}, ${m.model.id}, pooling ${m.pooling})${m.failures > 0 ? `; ${m.failures} row(s) failed, see ${out}/failures.csv` : ""}\n`,
        );
    });
}
