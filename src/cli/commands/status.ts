import { Command } from "commander";
import { formatStatus, shardStatus } from "../../shards/status.js";
import { intArg } from "../options.js";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .summary("where a sharded extraction stands: shards done / running / not started / failed, rows, ETA")
    .description(
      "Show the state of OUT, read from the folder alone: for each shard of OUT/shards/ done, running (with the host and pid of " +
        "its lock), not started or failed (with why), its rows and failed rows so far, and an ETA from the finished shards' rates. " +
        "A running shard on another machine cannot be checked from here; one on this machine whose process is gone shows as failed.",
    )
    .argument("<out>", "the --out of the shard tasks")
    .option("--shards <n>", "the number of shards (default: the count of most shard folders)", intArg("--shards"))
    .option("--json", "print the report as JSON on stdout", false)
    .option("-q, --quiet", "print only the summary line", false)
    .addHelpText("after", "\nExample:\n  emofeat status features/audio")
    .action(async (out: string, o: { shards?: number; json: boolean; quiet: boolean }) => {
      const report = await shardStatus(out, { shards: o.shards });
      const text = o.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report);
      process.stdout.write(o.quiet && !o.json ? text.split("\n")[0] + "\n" : text);
    });
}
