// Runs a text extraction in its own process so a test can kill it (-9) half-way. It runs the build of src/ in
// dist-test/ (made by the vitest globalSetup), so it starts without compiling TypeScript.
// Args: csv out model flushRows batchSize
import { extractText } from "../../dist-test/extract/text.js";

const [csv, out, model, flushRows, batchSize] = process.argv.slice(2);
await extractText({ csv, out, model, offline: true, threads: 1, batchSize: Number(batchSize), flushRows: Number(flushRows) });
