/**
 * The feature stores: what each holds (model, pooling, layers, shape), its validation status (every check of
 * `emofeat validate`), and 2-D projections of its embeddings coloured by label and by split, so a reader sees
 * whether the classes separate.
 */
import path from "node:path";
import { readStore } from "../../store/read.js";
import * as storeRead from "../../store/read.js";
import { slug, type Block, type Cell, type Section } from "../doc.js";
import { scatterSvg } from "../figures/scatter.js";
import type { ReportInputs, StoreInput } from "../inputs.js";
import { fitPca, pcaScores, subsampleRows, umap2d } from "../projection.js";

export type ProjectionKind = "pca" | "umap";

export interface StoreSectionOptions {
  projection: ProjectionKind[];
  /** Points drawn per projection (a seeded random subsample of the rows beyond it). */
  maxPoints: number;
  log?: (line: string) => void;
}

interface Matrix {
  x: Float32Array;
  n: number;
  d: number;
  ids: string[];
  /** How the rows were made from the store (last layer, mean over frames). */
  note: string;
}

/** Sequence-store reader of the contract (store/read.ts `openSequenceStore`), when this build has it. */
type SequenceOpener = (dir: string) => Promise<{
  ids: string[];
  lengths: Int32Array;
  n: number;
  d: number;
  layers?: number[];
  read(rows: number[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}>;

/** One vector per utterance: pooled stores as stored (the last of several layers), sequence stores averaged over frames. */
export async function utteranceMatrix(store: StoreInput, openSequence?: SequenceOpener): Promise<Matrix | string> {
  const meta = store.meta!;
  const layersNote = (layers?: number[]) => (layers && layers.length > 1 ? `layer ${layers[layers.length - 1]}, the last of the ${layers.length} stored` : "");
  if (meta.pooling === "none") {
    const open = openSequence ?? (storeRead as unknown as { openSequenceStore?: SequenceOpener }).openSequenceStore;
    if (!open) return "a sequence store (--pooling none), which this build cannot read";
    const s = await open(store.dir);
    try {
      const L = s.layers?.length ?? 1;
      const x = new Float32Array(s.n * s.d);
      const chunk = 256;
      for (let start = 0; start < s.n; start += chunk) {
        const rows = Array.from({ length: Math.min(chunk, s.n - start) }, (_, i) => start + i);
        const frames = await s.read(rows);
        rows.forEach((r, k) => {
          const t = s.lengths[r];
          const f = frames[k];
          for (let i = 0; i < t; i++) {
            const base = (i * L + (L - 1)) * s.d;
            for (let j = 0; j < s.d; j++) x[r * s.d + j] += f[base + j] / t;
          }
        });
      }
      return { x, n: s.n, d: s.d, ids: s.ids, note: ["mean over each utterance's frames", layersNote(s.layers)].filter(Boolean).join(", ") };
    } finally {
      await s.close();
    }
  }
  const s = await readStore(store.dir);
  const layers = (s as { layers?: number[] }).layers;
  if (layers && layers.length > 1) {
    const L = layers.length;
    const x = new Float32Array(s.n * s.d);
    for (let i = 0; i < s.n; i++) x.set(s.embeddings.subarray((i * L + L - 1) * s.d, (i * L + L) * s.d), i * s.d);
    return { x, n: s.n, d: s.d, ids: s.ids, note: layersNote(layers) };
  }
  return { x: s.embeddings, n: s.n, d: s.d, ids: s.ids, note: "" };
}

function storeTable(inputs: ReportInputs): Block {
  const rows: Cell[][] = inputs.stores.map((s) => {
    const m = s.meta;
    const v = s.validation;
    const status: Cell = s.error
      ? { text: "unreadable", cls: "fail" }
      : v
        ? { text: v.ok ? "valid" : `INVALID (${v.checks.filter((c) => !c.ok).length} check(s) failed)`, cls: v.ok ? "ok" : "fail" }
        : { text: "not checked (no index)" };
    const layers = (m as { layers?: number[] } | null)?.layers;
    return [
      s.dir,
      m?.modality ?? "?",
      m?.model?.id ?? "?",
      m ? `${m.pooling}${m.max_len ? `, max ${m.max_len} tokens` : ""}${m.max_seconds ? `, ${m.max_seconds} s at ${m.sr} Hz${m.batching ? `, ${m.batching}` : ""}` : ""}` : "?",
      layers && layers.length > 0 ? layers.join(", ") : "last",
      m ? { text: `${m.n} × ${m.d}`, sort: m.n } : "?",
      m?.dtype ?? "?",
      { text: String(s.failures.length), sort: s.failures.length },
      status,
    ];
  });
  return {
    kind: "table",
    id: "stores-table",
    sortable: true,
    caption: "Feature stores: encoder, pooling and cut, layers kept, rows × dimensions, array dtype, failed rows, and the result of validating every row against the index.",
    columns: [
      { label: "store" },
      { label: "modality" },
      { label: "model" },
      { label: "pooling / cut" },
      { label: "layers" },
      { label: "rows × dim", numeric: true },
      { label: "dtype" },
      { label: "failed", numeric: true },
      { label: "validation" },
    ],
    rows,
  };
}

async function projectionBlocks(store: StoreInput, inputs: ReportInputs, o: StoreSectionOptions, taken: Set<string>): Promise<Block[]> {
  if (o.projection.length === 0) return [];
  let mat: Matrix | string;
  try {
    mat = await utteranceMatrix(store);
  } catch (err) {
    return [{ kind: "para", cls: "warn", text: `No projection for ${store.dir}: ${(err as Error).message}` }];
  }
  if (typeof mat === "string") return [{ kind: "para", cls: "note", text: `No projection for ${store.dir}: ${mat}.` }];
  if (mat.n < 3) return [{ kind: "para", cls: "note", text: `No projection for ${store.dir}: only ${mat.n} row(s).` }];
  const byId = new Map(inputs.index?.utterances.map((u) => [u.utterId, u]) ?? []);
  const rows = subsampleRows(mat.n, o.maxPoints, 0);
  const labelOf = (id: string) => byId.get(id)?.label ?? "(not in index)";
  const splitOf = (id: string) => byId.get(id)?.split ?? "(not in index)";
  const labels = [...new Set(rows.map((r) => labelOf(mat.ids[r])))].sort();
  const splits = ["train", "val", "test", "(not in index)"].filter((s) => rows.some((r) => splitOf(mat.ids[r]) === s));
  const panels = [
    { title: "by label", categories: labels, group: rows.map((r) => labels.indexOf(labelOf(mat.ids[r]))) },
    { title: "by split", categories: splits, group: rows.map((r) => splits.indexOf(splitOf(mat.ids[r]))) },
  ];
  const shown = rows.length < mat.n ? `${rows.length} of the ${mat.n} rows are drawn (a seeded random subsample; --max-points)` : `all ${mat.n} rows are drawn`;
  const what = mat.note ? ` (${mat.note})` : "";
  const name = path.basename(store.dir);
  const figs: { id: string; svg: string; caption: string }[] = [];
  if (o.projection.includes("pca")) {
    o.log?.(`PCA of ${store.dir} (${mat.n} x ${mat.d})`);
    const pca = await fitPca(mat.x, mat.n, mat.d, 2);
    const xy = pcaScores(pca, mat.x, rows);
    const ev = pca.explainedVarianceRatio.map((r) => `${(100 * r).toFixed(1)}%`);
    figs.push({
      id: slug(`${name}-pca`, taken),
      svg: scatterSvg(`${store.dir}: PCA`, pca.components.length < 2 ? Float64Array.from(rows.flatMap((_, i) => [xy[i], 0])) : xy, panels, [`PC1 (${ev[0]})`, `PC2 (${ev[1] ?? "–"})`]),
      caption: `PCA of the ${store.meta?.modality} embeddings of ${store.dir}${what}, fit on all ${mat.n} rows (PC1 and PC2 explain ${ev.join(" and ")} of the variance); ${shown}. Left: coloured by label; right: by split.`,
    });
  }
  if (o.projection.includes("umap")) {
    o.log?.(`UMAP of ${store.dir} (${rows.length} points)`);
    const xy = umap2d(mat.x, mat.d, rows);
    if (xy)
      figs.push({
        id: slug(`${name}-umap`, taken),
        svg: scatterSvg(`${store.dir}: UMAP`, xy, panels, ["UMAP 1", "UMAP 2"]),
        caption: `UMAP (umap-js, 15 neighbours, min_dist 0.1, seed 0) of the ${store.meta?.modality} embeddings of ${store.dir}${what}, fit on the drawn rows: ${shown}. Distances between far-apart clusters are not meaningful in UMAP; nearby points are similar. Left: by label; right: by split.`,
      });
  }
  return figs.length > 0 ? [{ kind: "figures", items: figs }] : [];
}

export async function storesSection(inputs: ReportInputs, o: StoreSectionOptions, taken: Set<string>): Promise<Section> {
  const blocks: Block[] = [];
  if (inputs.stores.length === 0) return { id: "stores", title: "Feature stores", blocks: [{ kind: "para", cls: "note", text: "No feature stores given (--features)." }] };
  blocks.push(storeTable(inputs));
  for (const s of inputs.stores) {
    blocks.push({ kind: "heading", level: 3, text: s.dir, id: slug(`store-${s.dir}`, taken) });
    if (s.error) {
      blocks.push({ kind: "para", cls: "warn", text: `Could not read ${s.dir}: ${s.error}` });
      continue;
    }
    const v = s.validation;
    if (v) {
      const failed = v.checks.filter((c) => !c.ok);
      blocks.push({ kind: "para", cls: v.ok ? "ok" : "warn", text: v.ok ? `Valid: all ${v.checks.length} checks passed against the index.` : `INVALID: ${failed.map((c) => `${c.name}: ${c.message}`).join("; ")}` });
      blocks.push({
        kind: "details",
        summary: `Every validation check of ${s.dir}`,
        blocks: [{ kind: "table", id: slug(`${s.dir}-checks`, taken), caption: `The checks of emofeat validate for ${s.dir}.`, columns: [{ label: "check" }, { label: "result" }, { label: "detail" }], rows: v.checks.map((c) => [c.name, { text: c.ok ? "ok" : "FAIL", cls: c.ok ? "ok" : "fail" }, c.message]) }],
      });
    } else blocks.push({ kind: "para", cls: "note", text: "Not validated: no index (give --csv)." });
    if (s.meta?.model) blocks.push({ kind: "para", cls: "note", text: `Model ${s.meta.model.id}${s.meta.model.sha256 ? ` (${s.meta.model.file}, sha256 ${s.meta.model.sha256.slice(0, 12)}…)` : " (computed by emofeat, no weights)"}, made by emofeat ${s.meta.tool?.version ?? "?"} on ${s.meta.device}.` });
    blocks.push(...(await projectionBlocks(s, inputs, o, taken)));
  }
  for (const c of inputs.storeCross) blocks.push({ kind: "para", cls: c.ok ? "ok" : "warn", text: `${c.name}: ${c.message}` });
  return { id: "stores", title: "Feature stores", blocks };
}
