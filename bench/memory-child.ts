/**
 * Runs one extraction through the library, as the CLI does, and reports the process's peak RSS (the kernel's
 * high-water mark, process.resourceUsage().maxRSS) when 10 % of the rows are done and at the end, as one
 * JSON line (MemoryReport). Args: text|audio CSV MODEL OUT
 */
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import type { ProgressEvent } from "../src/extract/progress.js";

const [modality, csv, model, out] = process.argv.slice(2);
const peakMB = () => process.resourceUsage().maxRSS / 1024;
let at10MB = Number.NaN;
let rows = 0;
const onProgress = (e: ProgressEvent) => {
  rows = e.total;
  if (Number.isNaN(at10MB) && e.phase === "extract" && e.done >= 0.1 * e.total) at10MB = peakMB();
};
const common = { csv, model, out, offline: true, overwrite: true, onProgress };
if (modality === "text") await extractText(common);
else await extractAudio(common);
console.log(JSON.stringify({ at10MB, peakMB: peakMB(), rows }));
