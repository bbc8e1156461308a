/**
 * `emofeat runs merge OUT`: the run of a cross-validation whose folds were trained as separate processes
 * (`train --fold K`), assembled by trainProbe from the fold records with the code a single process runs.
 */
import type { HeadName, TrainSettings } from "./heads.js";
import { FoldUnits, readFoldRecords } from "./folds.js";
import { trainProbe, type ExportHead, type TrainProbeResult } from "./probe.js";
import type { Protocol } from "./splits.js";

export interface MergeFoldsOptions {
  out: string;
  /** Replace a run merged before. */
  overwrite?: boolean;
  /** Remove the lock of another writer of OUT that is known to be gone. */
  forceUnlock?: boolean;
  log?: (line: string) => void;
}

export async function mergeFolds(o: MergeFoldsOptions): Promise<TrainProbeResult> {
  const { records, options, command } = await readFoldRecords(o.out);
  // The fold's command without its --fold, as a single process would have been started.
  const single = command?.filter((a, i, all) => a !== "--fold" && all[i - 1] !== "--fold" && !a.startsWith("--fold="));
  return trainProbe({
    csv: options.csv,
    features: options.features,
    head: options.head as HeadName,
    out: o.out,
    classes: options.classes ?? undefined,
    layers: (options.layers as string | undefined) ?? undefined,
    protocol: options.protocol as Protocol,
    seeds: options.seeds.length,
    seed: options.seeds[0],
    settings: options.settings as Partial<TrainSettings>,
    threads: options.threads ?? undefined,
    exportHead: options.export_head as ExportHead,
    overwrite: o.overwrite,
    forceUnlock: o.forceUnlock,
    log: o.log,
    command: single ?? undefined,
    fromFolds: new FoldUnits(records),
  });
}
