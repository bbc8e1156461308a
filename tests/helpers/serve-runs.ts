/**
 * Small trained runs for the serve tests: the demo corpus through the bundled tiny models, trained for a few
 * epochs (the numbers mean nothing; the pipeline is the real one).
 */
import path from "node:path";
import { extractAudio } from "../../src/extract/audio.js";
import { extractText } from "../../src/extract/text.js";
import { trainProbe } from "../../src/train/probe.js";
import { DEMO_INDEX, DEMO_MODEL, ROOT } from "./paths.js";

export const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
export const DEMO_WAV_DIR = path.join(ROOT, "samples", "demo", "wav");

export type DemoRunKind = "text" | "audio" | "concat";

export interface DemoRuns {
  runs: Partial<Record<DemoRunKind, string>>;
  stores: { text?: string; audio?: string };
}

/** Extracts the stores the runs need and trains them under `dir`: text (mlp), audio (linear), concat (concat-linear). */
export async function trainDemoRuns(dir: string, kinds: DemoRunKind[]): Promise<DemoRuns> {
  const needText = kinds.some((k) => k !== "audio");
  const needAudio = kinds.some((k) => k !== "text");
  const stores = { text: path.join(dir, "features", "text"), audio: path.join(dir, "features", "audio") };
  if (needText) await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: stores.text });
  if (needAudio) await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: stores.audio });
  const runs: DemoRuns["runs"] = {};
  const plan: Record<DemoRunKind, { features: string; head: "mlp" | "linear" | "concat-linear" }> = {
    text: { features: `text=${stores.text}`, head: "mlp" },
    audio: { features: `audio=${stores.audio}`, head: "linear" },
    concat: { features: `audio=${stores.audio},text=${stores.text}`, head: "concat-linear" },
  };
  for (const k of kinds) {
    runs[k] = path.join(dir, "runs", k);
    await trainProbe({ csv: DEMO_INDEX, features: plan[k].features, head: plan[k].head, out: runs[k]!, settings: { epochs: 3 } });
  }
  return { runs, stores: { ...(needText ? { text: stores.text } : {}), ...(needAudio ? { audio: stores.audio } : {}) } };
}
