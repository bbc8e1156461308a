/** Runs a text extraction in its own process so a test can kill it (-9) half-way. Args: csv out model flushRows batchSize */
import { extractText } from "../../src/extract/text.js";

const [csv, out, model, flushRows, batchSize] = process.argv.slice(2);
await extractText({
  csv,
  out,
  model,
  offline: true,
  threads: 1,
  batchSize: Number(batchSize),
  flushRows: Number(flushRows),
  onProgress: (e) => process.stdout.write(`progress ${e.phase} ${e.done}/${e.total}\n`),
});
