// Runs a text extraction in its own process so a test can kill it (-9) half-way. It runs the build of src/ in
// dist-test/ (made by the vitest globalSetup), so it starts without compiling TypeScript.
// Args: csv out model flushRows batchSize [shard K/N]; prints "progress <phase> <done>/<total>" lines.
import { extractText } from "../../dist-test/extract/text.js";
import { parseShard } from "../../dist-test/shards/array-task.js";

const [csv, out, model, flushRows, batchSize, shard] = process.argv.slice(2);
await extractText({
  csv,
  out,
  model,
  offline: true,
  threads: 1,
  batchSize: Number(batchSize),
  flushRows: Number(flushRows),
  ...(shard ? { shard: parseShard(shard) } : {}),
  onProgress: (e) => process.stdout.write(`progress ${e.phase} ${e.done}/${e.total}\n`),
});
