/**
 * Probe data: the index's labelled rows joined with one or more feature stores by utter_id.
 *
 * Rows are kept in index order. A row that a store lacks (failed extraction, a store made from another
 * index) is left out of every split and reported with a count and examples; rows whose label is not in
 * --classes are left out and counted per label. Nothing is dropped silently: the report goes to the run's
 * config.json and to stderr.
 */
import path from "node:path";
import { EmofeatError, UsageError } from "../errors.js";
import { loadIndex, type IndexManifest, type Split, type Utterance } from "../manifest/index-csv.js";
import { hashCacheFile } from "../env.js";
import { STORE_FILES, type StoreMeta } from "../store/meta.js";
import { sha256Cached } from "../util/file-hash.js";
import { readFailures, readStore, readStoreMeta } from "../store/read.js";
import type { SequenceInput } from "./batches.js";
import { identityClasses, parseClasses, type ClassPlan } from "./classes.js";
import type { HeadInput } from "./heads.js";
import { openSequenceStore, sequenceInput, type SequenceStoreOpener, type SequenceStoreReader } from "./sequence-stores.js";
import { formatLayers, gatherRows, parseLayerChoice, chooseLayers, type LayerChoice } from "./layer-select.js";

export interface FeatureSpec {
  /** Input name (e.g. "text"). */
  name: string;
  /** Store folder as given. */
  dir: string;
}

/** `audio=features/audio,text=features/text`; a bare folder is named after its store's modality. */
export function parseFeatureSpecs(spec: string): { name: string | null; dir: string }[] {
  const parts = spec
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  if (parts.length === 0) throw new UsageError(`--features "${spec}": no feature store given`);
  return parts.map((p) => {
    const eq = p.indexOf("=");
    if (eq < 0) return { name: null, dir: p };
    const name = p.slice(0, eq).trim();
    const dir = p.slice(eq + 1).trim();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name))
      throw new UsageError(`--features "${p}": the name "${name}" must be a letter followed by letters, digits or _`);
    if (dir === "") throw new UsageError(`--features "${p}": no folder after "="`);
    return { name, dir };
  });
}

export interface LoadedStore {
  name: string;
  dir: string;
  meta: StoreMeta;
  d: number;
  /** sha256 of embeddings.npy as read (verified against meta.json). */
  sha256: string;
  /** Layer stores: the hidden-state indices used (a selection of meta.layers, in this order). */
  layers?: number[];
}

export interface JoinReport {
  indexRows: number;
  usedRows: number;
  /** Rows left out because their label is not in --classes, per label. */
  excludedLabels: Record<string, number>;
  /** Per store: index rows (with a kept label) that the store lacks. */
  missing: { store: string; count: number; examples: string[] }[];
  /** Per store: stored rows whose utter_id is not in the index (ignored). */
  notInIndex: { store: string; count: number; examples: string[] }[];
  /** Stores built from another version of the index (sha256 differs). */
  otherIndex: { store: string; storeIndexSha256: string; indexSha256: string }[];
}

export interface ProbeRow {
  utterId: string;
  /** 1-based data row of the index. */
  row: number;
  session: string;
  split: Split;
  label: string;
  cls: number;
}

export interface ProbeData {
  index: IndexManifest;
  classes: ClassPlan;
  stores: LoadedStore[];
  inputs: HeadInput[];
  rows: ProbeRow[];
  /**
   * One row-major matrix per store, rows aligned with `rows`: [rows.length, d], or for layer stores
   * [rows.length, layers.length, d] (the head input's `dim` is then layers.length * d); empty for sequence stores.
   */
  x: Float32Array[];
  /** Per store: its sequences (pooling none), read batch by batch; undefined for pooled stores. */
  sequences: (SequenceInput | undefined)[];
  report: JoinReport;
  /** Releases the sequence stores' readers. */
  close(): Promise<void>;
}

const EXAMPLES = 5;

interface Loaded {
  dir: string;
  meta: StoreMeta;
  /** sha256 of embeddings.npy as read; sequence stores (streamed, not hashed here): frames.npy's as meta.json records it. */
  sha256: string;
  ids: string[];
  d: number;
  layers?: number[];
  failures: { utterId: string; reason: string }[];
  embeddings?: Float32Array;
  reader?: SequenceStoreReader;
}

/**
 * A sequence store is read batch by batch, in shuffled order, so it cannot be hashed as it is read like a
 * pooled store: frames.npy and lengths.npy are hashed up front (in a worker thread, remembered by file identity
 * so an unchanged store of many GB is hashed once) and must match meta.json, or training stops naming the store.
 */
async function checkSequenceHashes(dir: string, meta: StoreMeta): Promise<void> {
  const checks: [string, string | undefined][] = [
    [STORE_FILES.frames, meta.embeddings_sha256],
    [STORE_FILES.lengths, meta.lengths_sha256],
  ];
  await Promise.all(
    checks.map(async ([file, want]) => {
      if (!want) return; // lengths_sha256 is absent from stores made before it was recorded
      let got: string;
      try {
        got = await sha256Cached(path.join(dir, file), hashCacheFile());
      } catch (err) {
        throw new EmofeatError(`${dir}/${file}: cannot be read: ${(err as Error).message}`);
      }
      if (got !== want)
        throw new EmofeatError(
          `${dir}: ${file} is not the file its meta.json describes (sha256 ${got.slice(0, 12)}..., meta.json records ` +
            `${want.slice(0, 12)}...): it was changed after extraction. Re-extract the store (emofeat validate shows what differs).`,
        );
    }),
  );
}

/**
 * Rows are joined by utter_id, and ids.txt carries no hash of its own: an edited ids.txt (two lines swapped)
 * would pair vectors with the wrong labels, silently. A store made from this very index (same sha256) lists
 * its rows in index order (what validate checks); ids out of that order were changed after extraction. Rows
 * a store lacks are the join's to report; stores from another version of the index are joined by id.
 */
function checkIdOrder(s: Loaded, index: IndexManifest): void {
  if (s.meta.index?.sha256 !== index.sha256) return;
  const pos = new Map(index.utterances.map((u, i) => [u.utterId, i]));
  let last = -1;
  s.ids.forEach((id, line) => {
    const p = pos.get(id);
    if (p === undefined) return;
    if (p <= last)
      throw new EmofeatError(
        `${s.dir}: ids.txt is not in index order (line ${line + 1}: ${JSON.stringify(id)} is index row ${p + 1}, after row ${last + 1}), ` +
          `though the store was made from this index: it was changed after extraction and its vectors would get other rows' labels. ` +
          `Re-extract the store (emofeat validate shows what differs).`,
      );
    last = p;
  });
}

/** A pooled store in memory, or a sequence store (pooling none) opened for reading batch by batch. */
async function loadStore(dir: string, open: SequenceStoreOpener): Promise<Loaded> {
  const meta = await readStoreMeta(dir);
  if (meta.pooling !== "none") return readStore(dir);
  // An injected opener (tests serve sequences from memory) has no files to hash.
  const check = open === openSequenceStore ? checkSequenceHashes(dir, meta) : Promise.resolve();
  const [reader, failures] = await Promise.all([open(dir), readFailures(dir), check]);
  return { dir, meta, sha256: meta.embeddings_sha256, ids: reader.ids, d: reader.d, ...(reader.layers ? { layers: reader.layers } : {}), failures, reader };
}

export interface ProbeDataOptions {
  csv: string;
  features: string | { name: string | null; dir: string }[];
  classes?: string;
  /** Layers to use from layer stores (`--layers`; default all); [N, D] stores are not affected. */
  layers?: string | LayerChoice;
  /** Opens sequence stores (pooling none); the store's streaming reader by default. */
  openSequenceStore?: SequenceStoreOpener;
}

export async function loadProbeData(o: ProbeDataOptions): Promise<ProbeData> {
  const index = await loadIndex(o.csv, { require: ["label"] });
  const specs = typeof o.features === "string" ? parseFeatureSpecs(o.features) : o.features;
  const loaded = await Promise.all(specs.map((s) => loadStore(s.dir, o.openSequenceStore ?? openSequenceStore)));
  const close = () => Promise.all(loaded.map((s) => s.reader?.close())).then(() => undefined);
  try {
    return await join(o, index, specs, loaded, close);
  } catch (err) {
    await close();
    throw err;
  }
}

async function join(
  o: ProbeDataOptions,
  index: IndexManifest,
  specs: { name: string | null; dir: string }[],
  loaded: Loaded[],
  close: () => Promise<void>,
): Promise<ProbeData> {
  const names = specs.map((s, i) => s.name ?? loaded[i].meta.modality);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup)
    throw new UsageError(`--features: two stores are named "${dup}"; name them explicitly, e.g. --features audio=DIR1,text=DIR2`);
  const picks = pickLayers(loaded, names, o.layers);
  for (const s of loaded) checkIdOrder(s, index);

  const classes = o.classes ? parseClasses(o.classes) : identityClasses(index.utterances.map((u) => u.label));
  if (o.classes) {
    const present = new Set(index.utterances.map((u) => u.label));
    const absent = [...classes.map.keys()].filter((l) => !present.has(l));
    if (absent.length > 0)
      throw new EmofeatError(
        `--classes: label(s) ${absent.map((a) => `"${a}"`).join(", ")} do not occur in ${index.path} (its labels: ${[...present].sort().join(", ")})`,
      );
  }
  const clsId = new Map(classes.labels.map((l, i) => [l, i]));

  const excludedLabels: Record<string, number> = {};
  const kept: Utterance[] = [];
  for (const u of index.utterances) {
    if (classes.map.has(u.label)) kept.push(u);
    else excludedLabels[u.label] = (excludedLabels[u.label] ?? 0) + 1;
  }

  const positions = loaded.map((s) => new Map(s.ids.map((id, i) => [id, i])));
  // Rows a store lacks because their extraction failed carry the recorded reason into the report.
  const failed = loaded.map((s) => new Map(s.failures.map((f) => [f.utterId, f.reason])));
  const missing = loaded.map((_, k) => ({ store: names[k], count: 0, examples: [] as string[] }));
  const rows: ProbeRow[] = [];
  const srcRows: number[][] = loaded.map(() => []);
  for (const u of kept) {
    let ok = true;
    const at = positions.map((p, k) => {
      const i = p.get(u.utterId);
      if (i === undefined) {
        ok = false;
        missing[k].count++;
        if (missing[k].examples.length < EXAMPLES) {
          const why = failed[k].get(u.utterId);
          missing[k].examples.push(`${u.utterId} (row ${u.row}${why ? `; extraction failed: ${why}` : ""})`);
        }
      }
      return i;
    });
    if (!ok) continue;
    at.forEach((i, k) => srcRows[k].push(i!));
    rows.push({ utterId: u.utterId, row: u.row, session: u.session, split: u.split, label: u.label, cls: clsId.get(classes.map.get(u.label)!)! });
  }

  const indexIds = new Set(index.utterances.map((u) => u.utterId));
  const notInIndex = loaded.map((s, k) => {
    const extra = s.ids.filter((id) => !indexIds.has(id));
    return { store: names[k], count: extra.length, examples: extra.slice(0, EXAMPLES) };
  });

  const x = loaded.map((s, k) => (s.embeddings ? gatherRows(s.embeddings, srcRows[k], s.d, s.layers?.length ?? 1, picks[k]?.positions ?? [0]) : new Float32Array(0)));
  // Sequence stores are read, and checked, batch by batch (they are never in memory at once); one layer each.
  const sequences = loaded.map((s, k) => (s.reader ? sequenceInput(s.reader, specs[k].dir, srcRows[k], picks[k]?.positions) : undefined));
  const widths = loaded.map((s, k) => (s.reader ? s.d : s.d * (picks[k]?.layers.length ?? 1)));

  for (let k = 0; k < loaded.length; k++) {
    if (loaded[k].reader) continue;
    const bad = firstNonFinite(x[k]);
    if (bad >= 0) {
      const r = Math.floor(bad / widths[k]);
      throw new EmofeatError(`${loaded[k].dir}: embedding of "${rows[r].utterId}" (index row ${rows[r].row}) holds a non-finite value; re-extract it or run emofeat validate`);
    }
  }

  const report: JoinReport = {
    indexRows: index.utterances.length,
    usedRows: rows.length,
    excludedLabels,
    missing: missing.filter((m) => m.count > 0),
    notInIndex: notInIndex.filter((m) => m.count > 0),
    otherIndex: loaded
      .map((s, k) => ({ store: names[k], storeIndexSha256: s.meta.index?.sha256 ?? "", indexSha256: index.sha256 }))
      .filter((m) => m.storeIndexSha256 !== m.indexSha256),
  };
  if (rows.length === 0) throw new EmofeatError(`no rows left to train on: ${describeJoin(report).join("; ")}`);

  return {
    index,
    classes,
    stores: loaded.map((s, k) => ({ name: names[k], dir: path.resolve(specs[k].dir), meta: s.meta, d: s.d, sha256: s.sha256, ...(picks[k] ? { layers: picks[k].layers } : {}) })),
    inputs: loaded.map((s, k) => ({ name: names[k], dim: widths[k], ...(picks[k] && !s.reader ? { layers: picks[k].layers } : {}), ...(s.reader ? { sequence: true } : {}) })),
    rows,
    x,
    sequences,
    report,
    close,
  };
}

/** Per store: the layers used and their positions along the store's layer axis (undefined for [N, D] stores). */
function pickLayers(
  stores: { layers?: number[] }[],
  names: string[],
  spec: string | LayerChoice | undefined,
): ({ layers: number[]; positions: number[] } | undefined)[] {
  const sel = typeof spec === "string" ? parseLayerChoice(spec) : spec;
  if (sel && !stores.some((s) => s.layers))
    throw new EmofeatError(
      `--layers: no feature store given has a layer axis (${names.join(", ")} hold one vector per utterance); ` +
        `extract with --layers all to keep every encoder layer`,
    );
  const layered = stores.map((s, k) => ({ name: names[k], layers: s.layers })).filter((s) => s.layers);
  if (layered.length > 1 && !sel) {
    const first = layered[0];
    const other = layered.find((s) => formatLayers(s.layers!) !== formatLayers(first.layers!));
    if (other)
      throw new EmofeatError(
        `feature stores "${first.name}" and "${other.name}" hold different layers (${formatLayers(first.layers!)} vs ${formatLayers(other.layers!)}); ` +
          `choose layers both hold with --layers`,
      );
  }
  return stores.map((s, k) => (s.layers ? chooseLayers(sel ?? { kind: "all" }, s.layers, names[k]) : undefined));
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Human-readable lines about everything the join left out or noticed. */
export function describeJoin(r: JoinReport): string[] {
  const lines: string[] = [];
  const excluded = Object.entries(r.excludedLabels);
  if (excluded.length > 0)
    lines.push(`left out ${excluded.reduce((a, [, n]) => a + n, 0)} row(s) whose label is not in --classes (${excluded.map(([l, n]) => `${l}: ${n}`).join(", ")})`);
  for (const m of r.missing)
    lines.push(`left out ${m.count} row(s) missing from feature store "${m.store}" (e.g. ${m.examples.join(", ")})`);
  for (const m of r.notInIndex)
    lines.push(`feature store "${m.store}" has ${m.count} row(s) not in the index, ignored (e.g. ${m.examples.join(", ")})`);
  for (const m of r.otherIndex)
    lines.push(`feature store "${m.store}" was extracted from another version of the index (sha256 ${m.storeIndexSha256.slice(0, 12)} vs ${m.indexSha256.slice(0, 12)}); rows are matched by utter_id`);
  return lines;
}
