/**
 * `emofeat train --per-layer`: the same probe trained on each encoder layer of a layer store alone, to show
 * where emotion lives in the encoder.
 *
 *   RUN/layers/layer-NN/   a complete run for hidden state NN (metrics, plots, head.onnx for the split protocol)
 *   RUN/metrics.json       per_layer (test accuracy / UA / macro-F1, mean and std over seeds; validation
 *                          scores), best_layer, and the best layer's own metrics as the run's headline
 *   RUN/config.json        the best layer's config plus per_layer {layers, runs}; no head at the top level
 *   RUN/per_layer.svg/png  the scores by layer
 *
 * The best layer is chosen by validation macro-F1 (mean over seeds, first maximum), never by test scores.
 * Each layer is trained by trainProbe() with --layers set to that layer, so every head, --seeds, --folds and
 * --classes behave exactly as in a single run.
 *
 * Layers are trained into `.NAME.per-layer-partial/` beside the run and kept there when the command stops
 * (Ctrl-C, an error): the same command again reuses every finished layer (a layer's run folder is complete
 * once it exists; trainProbe writes it atomically) if the inputs and settings are the same, else starts over.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { readStoreMeta } from "../store/read.js";
import { exists, sha256File } from "../util/fs.js";
import { parseFeatureSpecs } from "./data.js";
import { headSettings } from "./heads.js";
import { perLayerSvg, type LayerScores } from "./layer-plots.js";
import { formatLayers, layerList, parseLayerChoice, chooseLayers } from "./layer-select.js";
import { renderPng } from "./plots.js";
import { swapRunInto, trainProbe, withRunOut, type TrainProbeOptions, type TrainProbeResult } from "./probe.js";
import { readRunConfig, readRunMetrics, RUN_FILES, type PerLayerEntry, type RunConfig, type RunMetrics } from "./run-dir.js";

export const PER_LAYER_FILES = { dir: "layers", plot: "per_layer", state: "per-layer-state.json" } as const;

function partialDirFor(runDir: string): string {
  return path.join(path.dirname(runDir), `.${path.basename(runDir)}.per-layer-partial`);
}

/** Everything that decides a layer's results: a finished layer is reused only under the same key. */
async function resumeKey(o: TrainProbeOptions, layers: number[]): Promise<string> {
  const specs = typeof o.features === "string" ? parseFeatureSpecs(o.features) : o.features;
  const metas = await Promise.all(specs.map((s) => readStoreMeta(s.dir)));
  return JSON.stringify({
    index: await sha256File(o.csv),
    features: specs.map((s, k) => ({ name: s.name, dir: path.resolve(s.dir), fingerprint: metas[k].fingerprint, embeddings: metas[k].embeddings_sha256 })),
    head: o.head,
    settings: headSettings(o.head, o.settings),
    classes: o.classes ?? null,
    protocol: o.protocol ?? { kind: "split" },
    seeds: o.seeds ?? 1,
    seed: o.seed ?? 0,
    layers,
  });
}

/** The partial folder to train into: reused when its key matches, otherwise made afresh. */
async function openPartial(partial: string, key: string): Promise<boolean> {
  const stateFile = path.join(partial, PER_LAYER_FILES.state);
  const old = (await exists(stateFile)) ? await readFile(stateFile, "utf8").catch(() => "") : "";
  const resume = old !== "" && (JSON.parse(old) as { key?: string }).key === key;
  if (!resume) await rm(partial, { recursive: true, force: true });
  await mkdir(path.join(partial, PER_LAYER_FILES.dir), { recursive: true });
  // Temporary folders of a layer run that was cut short.
  for (const e of await readdir(path.join(partial, PER_LAYER_FILES.dir)))
    if (e.startsWith(".")) await rm(path.join(partial, PER_LAYER_FILES.dir, e), { recursive: true, force: true });
  if (!resume) await writeFile(stateFile, JSON.stringify({ key }) + "\n");
  return resume;
}

/** `layers/layer-04`: hidden-state indices padded to two digits, so folders sort by layer. */
export function layerRunName(layer: number): string {
  return `${PER_LAYER_FILES.dir}/layer-${String(layer).padStart(2, "0")}`;
}

/** The layers a per-layer run iterates over: those of its layer store(s), narrowed by --layers. */
async function layersToProbe(o: TrainProbeOptions): Promise<number[]> {
  const specs = typeof o.features === "string" ? parseFeatureSpecs(o.features) : o.features;
  const metas = await Promise.all(specs.map((s) => readStoreMeta(s.dir)));
  const layered = metas.map((m, k) => ({ name: specs[k].name ?? m.modality, layers: m.layers })).filter((s) => s.layers);
  if (layered.length === 0)
    throw new EmofeatError(
      `--per-layer needs a layer store, and ${specs.map((s) => s.dir).join(", ")} hold${specs.length === 1 ? "s" : ""} one vector per utterance: ` +
        `extract one with --layers all (e.g. emofeat extract audio ... --layers all --out features/audio-layers)`,
    );
  const sel = typeof o.layers === "string" ? parseLayerChoice(o.layers) : (o.layers ?? { kind: "all" as const });
  const lists = layered.map((s) => chooseLayers(sel, s.layers!, s.name).layers);
  const other = lists.findIndex((l) => formatLayers(l) !== formatLayers(lists[0]));
  if (other > 0)
    throw new EmofeatError(
      `--per-layer: feature stores "${layered[0].name}" and "${layered[other].name}" hold different layers ` +
        `(${formatLayers(lists[0])} vs ${formatLayers(lists[other])}); choose layers both hold with --layers`,
    );
  return lists[0];
}

const scores = (m: { accuracy: number; unweighted_accuracy: number; macro_f1: number }) => ({
  accuracy: m.accuracy,
  unweighted_accuracy: m.unweighted_accuracy,
  macro_f1: m.macro_f1,
});

const pct = (x: number) => (100 * x).toFixed(2);

export async function trainPerLayer(o: TrainProbeOptions): Promise<TrainProbeResult & { perLayer: Required<PerLayerEntry>[]; bestLayer: number }> {
  if (o.fold !== undefined || o.fromFolds)
    throw new EmofeatError("--per-layer runs every layer's cross-validation in one process: it cannot be combined with --fold (train each layer with --layers N --fold K instead)");
  const layers = await layersToProbe(o);
  // --out is checked and locked as for a single run (never replaces what emofeat did not make; one writer).
  return withRunOut(o, () => perLayerLocked(o, layers));
}

async function perLayerLocked(o: TrainProbeOptions, layers: number[]): Promise<TrainProbeResult & { perLayer: Required<PerLayerEntry>[]; bestLayer: number }> {
  const log = o.log ?? (() => {});
  const runDir = path.resolve(o.out);
  const tmp = partialDirFor(runDir);
  const resumed = await openPartial(tmp, await resumeKey(o, layers));
  let finished = 0;
  try {
    const results: { layer: number; res: TrainProbeResult }[] = [];
    for (const [i, layer] of layers.entries()) {
      const out = path.join(tmp, layerRunName(layer));
      if (resumed && (await exists(path.join(out, RUN_FILES.metrics)))) {
        log(`layer ${layer} (${i + 1}/${layers.length}): trained by an earlier, interrupted run of this command; reused`);
        const [config, metrics] = await Promise.all([readRunConfig(out), readRunMetrics(out)]);
        results.push({ layer, res: { runDir: out, config, metrics, summary: "" } });
        finished++;
        continue;
      }
      log(`layer ${layer} (${i + 1}/${layers.length}):`);
      const res = await trainProbe({
        ...o,
        layers: layerList([layer]),
        out,
        overwrite: false,
        // The join's warnings are the same for every layer: say them once.
        log: (line) => (i === 0 || !line.startsWith("warning") ? log(`  ${line}`) : undefined),
      });
      results.push({ layer, res });
      finished++;
    }

    const perLayer: Required<PerLayerEntry>[] = results.map(({ layer, res }) => ({
      layer,
      test: scores(res.metrics.test),
      test_std: scores(res.metrics.test_std),
      val: scores(res.metrics.val),
      run: layerRunName(layer),
    }));
    let best = 0;
    perLayer.forEach((e, i) => {
      if (e.val.macro_f1 > perLayer[best].val.macro_f1) best = i;
    });
    const bestRes = results[best].res;
    const bestLayer = perLayer[best].layer;
    const by = "validation macro-F1 (mean over seeds; first maximum)";
    const metrics: RunMetrics = { ...bestRes.metrics, per_layer: perLayer, best_layer: { layer: bestLayer, by, run: perLayer[best].run } };
    const config: RunConfig = {
      ...bestRes.config,
      command: o.command ?? null,
      features: bestRes.config.features.map((f) => (f.layers ? { ...f, layers } : f)),
      per_layer: { layers, runs: perLayer.map((e) => e.run) },
      export: {
        file: null,
        reason:
          `a per-layer run holds one probe per layer; predict with one of them, e.g. --run ${path.join(o.out, perLayer[best].run)} ` +
          `(layer ${bestLayer}, the best ${by})`,
      },
    };

    const input = config.features.map((f) => f.name).join("+");
    const nSeeds = metrics.seeds.length;
    const protocol = config.protocol.kind === "split" ? "split" : `${config.protocol.folds.length}-fold session CV`;
    // weighted-layers on one layer is its base classifier (no weights to learn).
    const probe = config.head === "weighted-layers" ? `${config.settings.base === "mlp" ? "mlp" : "s3prl linear"} probe` : `${config.head} probe`;
    const svg = perLayerSvg(perLayer, `${probe} per layer on ${input}`, {
      seeds: nSeeds,
      best: bestLayer,
      chance: 1 / metrics.labels.length,
      subtitle: `test scores of one probe per layer (${protocol}, ${metrics.labels.length} classes), ${nSeeds > 1 ? `mean ± std over ${nSeeds} seeds` : "one seed"}`,
    });
    await writeFile(path.join(tmp, `${PER_LAYER_FILES.plot}.svg`), svg);
    const png = await renderPng(svg);
    if (png) await writeFile(path.join(tmp, `${PER_LAYER_FILES.plot}.png`), png);
    const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
    await writeFile(path.join(tmp, RUN_FILES.config), json(config));
    await rm(path.join(tmp, PER_LAYER_FILES.state));
    // metrics.json marks a finished run; written last.
    await writeFile(path.join(tmp, RUN_FILES.metrics), json(metrics));
    await swapRunInto(tmp, runDir, o.overwrite ?? false);

    const range = (k: keyof LayerScores["test"]) => {
      const v = perLayer.map((e) => e.test[k]);
      return `${pct(Math.min(...v))}-${pct(Math.max(...v))}`;
    };
    const summary =
      `${path.basename(runDir)}: ${config.head} per layer on ${input} (layers ${formatLayers(layers)}), ${metrics.labels.length} classes, ${protocol}: ` +
      `test macro-F1 ${range("macro_f1")} across layers; best validation layer ${bestLayer}: test acc ${pct(metrics.test.accuracy)} ` +
      `UA ${pct(metrics.test.unweighted_accuracy)} macro-F1 ${pct(metrics.test.macro_f1)} -> ${o.out}`;
    return { runDir, config, metrics, summary, perLayer, bestLayer };
  } catch (err) {
    if (finished === 0) await rm(tmp, { recursive: true, force: true });
    else log(`warning: ${finished} of ${layers.length} layers are trained and kept in ${tmp}; the same command resumes from them`);
    throw err;
  }
}
