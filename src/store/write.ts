/**
 * Resumable, atomic writing of a feature store.
 *
 * Work is planned as a fixed list of batches (each a list of index positions). Finished batches are
 * flushed to `.partial/part-NNNNNN.{npy,json}` (the .json, written last, marks a part as done). A run that
 * is interrupted (Ctrl-C, kill -9) resumes by skipping every batch recorded in a part; because the plan is
 * a pure function of the inputs and settings, the recomputed batches are the same as in an uninterrupted
 * run and so is every byte of embeddings.npy. `finalize` assembles the parts in index order into temp files,
 * renames them into place with meta.json last, then removes `.partial/`.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { capText, EmofeatError, InputFileError, type InputProblem } from "../errors.js";
import { exists, sha256File, tmpNameFor, writeFileAtomic } from "../util/fs.js";
import { LOCK_FILE } from "../util/lock.js";
import { inspectOutDir, makeDir } from "../util/out.js";
import { modelDataSha256, STORE_FILES, type Failure, type StoreLayout, type StoreMeta } from "./meta.js";
import { float32ToFloat16 } from "../util/float16.js";
import { encodeNpy, littleEndian, npyHeader, NPY_ITEM_SIZE, readNpy, STORE_DTYPES, type NpyDescr, type StoreDtype } from "./npy.js";
import { readIds, readStoreMeta } from "./read.js";

export interface BatchResult {
  /** Index positions (0-based into the utterance list) that produced a vector, in `vectors` order. */
  positions: number[];
  /**
   * For each position, its rows concatenated: one row (a pooled vector) per position, or `lengths[k]` rows (the
   * utterance's frames) in a sequence store. A row holds rowSize values ([layers,] d).
   */
  vectors: Float32Array;
  /** Sequence stores: rows per position (frames / tokens of each utterance). Absent: one row each. */
  lengths?: number[];
  /** Text sequence stores: per row, 1 where the row is a special token. */
  special?: Uint8Array;
  failures: Failure[];
  /** Optional per-position extra record (for example audio durations), kept for finalize. */
  records?: Record<number, Record<string, string | number | boolean>>;
}

/** One finished part: `.partial/part-NNNNNN.json` (its vectors are in the `.npy` of the same name). */
export interface PartFile {
  batches: number[];
  positions: number[];
  /** Values per row. */
  d: number;
  /** Rows per position (sequence stores); absent in pooled parts and in parts written by older versions. */
  lengths?: number[];
  /** Row offsets (within the part) of special-token rows. */
  special?: number[];
  failures: Failure[];
  records: Record<number, Record<string, string | number | boolean>>;
}

interface PartialState {
  fingerprint: string;
  batches: number;
  started: string;
  /** The settings behind the fingerprint (absent in parts written by older versions). */
  settings?: Record<string, unknown>;
}

/** The fingerprint settings a finished store (or a shard's store spec) recorded, under the names extract uses for them. */
export function recordedSettings(meta: FinalizeOptions["meta"]): Record<string, unknown> {
  // Not the fingerprint itself (or the hashes and times of the output): messages name the settings behind it.
  const outputs = new Set(["fingerprint", "embeddings_sha256", "lengths_sha256", "created"]);
  const scalars = Object.entries(meta).filter(([k, v]) => !outputs.has(k) && (v === null || typeof v !== "object" || Array.isArray(v)));
  return {
    ...Object.fromEntries(scalars),
    ...meta.settings,
    modality: meta.modality,
    model_sha256: meta.model?.sha256,
    model_data_sha256: modelDataSha256(meta.model),
    dtype: meta.model?.dtype,
    device: meta.device,
    pooling: meta.pooling,
    max_len: meta.max_len,
    sr: meta.sr,
    max_seconds: meta.max_seconds,
    batching: meta.batching,
    index_sha256: meta.index?.sha256,
  };
}

const SETTING_NAMES: Record<string, string> = {
  model_sha256: "model file",
  model_data_sha256: "model external data file",
  tokenizer_sha256: "tokenizer.json",
  preprocessor_sha256: "preprocessor_config.json",
  index_sha256: "index CSV",
};

/** "pooling mean -> cls, index CSV sha256 0a1b2c3d4e5f... -> ..." for the settings that differ. */
export function describeDifferences(before: Record<string, unknown>, now: Record<string, unknown>): string {
  const show = (k: string, v: unknown) =>
    k.endsWith("sha256") && typeof v === "string" ? `sha256 ${v.slice(0, 12)}...` : v === undefined ? "(not set)" : JSON.stringify(v).replace(/^"|"$/g, "");
  const diffs = Object.keys(now)
    .filter((k) => before[k] !== undefined && JSON.stringify(before[k]) !== JSON.stringify(now[k]))
    .map((k) => `${SETTING_NAMES[k] ?? k} ${show(k, before[k])} -> ${show(k, now[k])}`);
  return diffs.length > 0 ? diffs.join(", ") : "settings that meta.json does not record differ (another emofeat version?)";
}

export type OpenResult =
  | { status: "complete"; meta: StoreMeta; note?: string }
  | { status: "ready"; writer: StoreWriter; doneBatches: Set<number>; resumed: boolean };

export interface OpenOptions {
  outDir: string;
  fingerprint: string;
  /** Human-readable settings behind the fingerprint, for the mismatch message. */
  settings: Record<string, unknown>;
  totalBatches: number;
  overwrite?: boolean;
  /**
   * Settings that change how the work is run but not a finished store's numbers (the text batch size: each
   * text's embedding does not depend on its batch). `finished` says whether a finished store of another
   * fingerprint differs from this command in these alone (then it is up to date); an unfinished one cannot
   * be resumed with other values (its parts are the plan's batches), and the message says which to pass.
   */
  sameNumbers?: { keys: readonly string[]; finished: (meta: StoreMeta) => boolean };
}

/** `--batch-size` for `batch_size`. */
const flagOf = (key: string) => `--${key.replace(/_/g, "-")}`;

/** Files (and folders) a finalized store writes; an existing one without meta.json is not emofeat's. */
const STORE_OUTPUTS = [
  STORE_FILES.embeddings,
  STORE_FILES.frames,
  STORE_FILES.lengths,
  STORE_FILES.special,
  STORE_FILES.ids,
  STORE_FILES.failures,
  STORE_FILES.clips,
  STORE_FILES.texts,
  STORE_FILES.perUtterance,
];

/**
 * per_utterance/ is replaced as a whole when a store is written again: with the store's ids.txt at hand, a file
 * there that is not one of its `<utter_id>.npy` was put there by someone else and is named, --overwrite or not.
 */
async function checkPerUtteranceFolder(outDir: string): Promise<void> {
  const dir = path.join(outDir, STORE_FILES.perUtterance);
  let ids: string[];
  let entries: string[];
  try {
    [ids, entries] = await Promise.all([readIds(outDir), readdir(dir)]);
  } catch {
    return; // no ids.txt (the store-files check names the folder) or not a folder
  }
  const ours = new Set(ids.map((id) => `${id}.npy`));
  const foreign = entries.filter((e) => !ours.has(e)).sort();
  if (foreign.length > 0)
    throw new EmofeatError(
      `--out ${outDir}: ${dir} also holds ${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? `, ... (${foreign.length} files)` : ""}, ` +
        `which are not this store's per-utterance files; writing the store replaces that folder, so emofeat refuses: move them out, or choose another --out`,
    );
}

/**
 * Checks `outDir` before any work: it must be a folder or creatable, and the files a store writes may be
 * replaced only when emofeat wrote them (a meta.json of a feature store, or an unfinished extraction), or
 * with `overwrite`. Files of other names are never touched.
 */
export async function checkStoreOut(outDir: string, overwrite = false): Promise<void> {
  const st = await inspectOutDir(outDir);
  // Without --overwrite a finished store is either up to date (nothing written) or refused below.
  if (st.exists && overwrite && st.entries.includes(STORE_FILES.perUtterance)) await checkPerUtteranceFolder(outDir);
  if (!st.exists || overwrite) return;
  const entries = new Set(st.entries.filter((e) => e !== LOCK_FILE));
  if (entries.has(STORE_FILES.meta)) {
    try {
      await readStoreMeta(outDir);
      return;
    } catch (err) {
      throw new EmofeatError(
        `--out ${outDir}: its meta.json is not an emofeat feature store's (${(err as Error).message}); emofeat does not replace files it did not write: ` +
          `choose another --out, or pass --overwrite to replace the store files (${[STORE_FILES.meta, ...STORE_OUTPUTS.filter((f) => entries.has(f))].join(", ")})`,
      );
    }
  }
  if (await exists(path.join(outDir, STORE_FILES.partial, "state.json"))) return;
  const foreign = STORE_OUTPUTS.filter((f) => entries.has(f));
  if (foreign.length > 0)
    throw new EmofeatError(
      `--out ${outDir} holds ${foreign.join(", ")} without a meta.json: files emofeat did not write (or a store whose meta.json was removed). ` +
        `emofeat does not replace them: choose another --out, or pass --overwrite to replace exactly these files (nothing else in the folder is touched).`,
    );
}

/**
 * Opens `outDir` for an extraction with the given fingerprint: reports a complete store made with the same
 * settings, resumes an unfinished one, and refuses to mix results from different settings.
 */
export async function openStoreForWriting(o: OpenOptions): Promise<OpenResult> {
  const partialDir = path.join(o.outDir, STORE_FILES.partial);
  const statePath = path.join(partialDir, "state.json");
  await checkStoreOut(o.outDir, o.overwrite);
  await makeDir(o.outDir);

  if (!o.overwrite && (await exists(path.join(o.outDir, STORE_FILES.meta))) && !(await exists(statePath))) {
    const meta = await readStoreMeta(o.outDir);
    if (meta.fingerprint === o.fingerprint) return { status: "complete", meta };
    if (o.sameNumbers?.finished(meta)) {
      const recorded = (meta.settings ?? {}) as Record<string, unknown>;
      const differ = o.sameNumbers.keys.filter((k) => JSON.stringify(recorded[k]) !== JSON.stringify(o.settings[k]));
      return {
        status: "complete",
        meta,
        note:
          `${o.outDir} was made with ${differ.map((k) => `${flagOf(k)} ${JSON.stringify(recorded[k])}`).join(", ")} ` +
          `(this command: ${differ.map((k) => JSON.stringify(o.settings[k])).join(", ")}), which does not change its numbers: kept as it is (--overwrite recomputes it)`,
      };
    }
    throw new EmofeatError(
      `${o.outDir} already holds a feature store made with other settings: ${describeDifferences(recordedSettings(meta), o.settings)} ` +
        `(model ${meta.model.id}, ${meta.modality}). Pass --overwrite to replace it, or choose another --out.`,
    );
  }

  let resumed = false;
  if (await exists(statePath)) {
    const state = JSON.parse(await readFile(statePath, "utf8")) as PartialState;
    if (state.fingerprint === o.fingerprint && state.batches === o.totalBatches && !o.overwrite) resumed = true;
    else if (!o.overwrite) {
      const keys = o.sameNumbers?.keys ?? [];
      const differ = state.settings ? [...new Set([...Object.keys(state.settings), ...Object.keys(o.settings)])].filter((k) => JSON.stringify(state.settings![k]) !== JSON.stringify(o.settings[k])) : [];
      if (state.fingerprint !== o.fingerprint && differ.length > 0 && differ.every((k) => keys.includes(k)))
        throw new EmofeatError(
          `${o.outDir} holds an unfinished extraction started ${state.started} with ${differ.map((k) => `${flagOf(k)} ${JSON.stringify(state.settings![k])}`).join(", ")} ` +
            `(this command: ${differ.map((k) => JSON.stringify(o.settings[k])).join(", ")}); its finished batches resume only with the same batches: ` +
            `rerun with ${differ.map((k) => `${flagOf(k)} ${JSON.stringify(state.settings![k])}`).join(" ")}, or pass --overwrite to start again.`,
        );
      throw new EmofeatError(
        `${o.outDir} holds an unfinished extraction started ${state.started} with other settings` +
          (state.settings ? `: ${describeDifferences(state.settings, o.settings)}` : " or another index") +
          `. Run that command again to finish it, or pass --overwrite to discard it.`,
      );
    } else await rm(partialDir, { recursive: true, force: true });
  } else if (await exists(partialDir)) {
    await rm(partialDir, { recursive: true, force: true });
  }

  await mkdir(partialDir, { recursive: true });
  if (!resumed) {
    const state: PartialState = { fingerprint: o.fingerprint, batches: o.totalBatches, started: new Date().toISOString(), settings: o.settings };
    await writeFileAtomic(statePath, JSON.stringify(state, null, 2) + "\n");
  }
  const writer = new StoreWriter(o.outDir);
  const doneBatches = await writer.loadParts();
  return { status: "ready", writer, doneBatches, resumed: resumed && doneBatches.size > 0 };
}

export interface FinalizeOptions {
  /** Shape of one row: [d] (default [dim]) or [layers, d]. */
  rowShape?: number[];
  /** Sequence store (frames.npy + lengths.npy) instead of embeddings.npy. */
  sequence?: boolean;
  /** Text sequence stores: the template's special tokens; special.npy is written from the batches' flags. */
  special?: { prefix: number[]; suffix: number[] };
  /** Array dtype on disk (default float32). */
  dtype?: StoreDtype;
  /** utter_id and 1-based row for every index position. */
  utterances: readonly { utterId: string; row: number }[];
  /** Positions that were planned (everything else in `utterances` is not part of this store). */
  planned: readonly number[];
  /** Embedding size, used when every row failed. */
  dim: number;
  layout: StoreLayout;
  /** Meta fields the modality fills in; n, d, hashes, failures and created are set here. */
  meta: Omit<StoreMeta, "n" | "d" | "embeddings_sha256" | "failures" | "created" | "layout" | "dtype" | "lengths_sha256" | "total_frames" | "special_tokens">;
  /** Extra per-row CSV written beside the store (e.g. clips.csv), built from the batch records. */
  recordsCsv?: { file: string; columns: string[] };
  /** Totals for meta.json computed from the per-row records (in index order). */
  totals?: (records: Record<string, string | number | boolean>[]) => Record<string, number>;
}

export class StoreWriter {
  readonly outDir: string;
  private readonly partialDir: string;
  private nextPart = 0;
  private pending: { batch: number; result: BatchResult }[] = [];
  private pendingRows = 0;
  private pendingValues = 0;
  private parts: PartFile[] = [];
  /** Path of each part without its extension (parts of several folders when shards are merged). */
  private partPaths: string[] = [];

  constructor(outDir: string) {
    this.outDir = outDir;
    this.partialDir = path.join(outDir, STORE_FILES.partial);
  }

  /**
   * Reads the finished parts of `partialDir` (default: this store's `.partial/`; merging shards loads the parts
   * of every shard's folder into one writer); returns the batches they cover. Parts without their .json are ignored.
   */
  async loadParts(partialDir = this.partialDir): Promise<Set<number>> {
    const done = new Set<number>();
    const names = (await readdir(partialDir)).filter((n) => /^part-\d{6}\.json$/.test(n)).sort();
    for (const name of names) {
      const part = JSON.parse(await readFile(path.join(partialDir, name), "utf8")) as PartFile;
      this.parts.push(part);
      this.partPaths.push(path.join(partialDir, name.replace(/\.json$/, "")));
      for (const b of part.batches) done.add(b);
      if (partialDir === this.partialDir) this.nextPart = Math.max(this.nextPart, Number(name.slice(5, 11)) + 1);
    }
    return done;
  }

  /** The parts loaded or written so far, in load order. */
  get loadedParts(): readonly PartFile[] {
    return this.parts;
  }

  get bufferedRows(): number {
    return this.pendingRows;
  }

  /** Values held in memory until the next flush (sequence stores can hold many per utterance). */
  get bufferedValues(): number {
    return this.pendingValues;
  }

  add(batch: number, result: BatchResult): void {
    this.pending.push({ batch, result });
    this.pendingRows += result.positions.length + result.failures.length;
    this.pendingValues += result.vectors.length;
  }

  /** Writes buffered batches as one part (vectors first, then the .json that marks the part done). */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const rowsOf = (r: BatchResult) => (r.lengths ? r.lengths.reduce((a, b) => a + b, 0) : r.positions.length);
    const first = this.pending.find((p) => rowsOf(p.result) > 0)?.result;
    const d = first ? first.vectors.length / rowsOf(first) : 0;
    const sequence = this.pending.some((p) => p.result.lengths !== undefined);
    const positions: number[] = [];
    const lengths: number[] = [];
    const special: number[] = [];
    const failures: Failure[] = [];
    const records: PartFile["records"] = {};
    // The part's .npy is written from the batches' own arrays (header + one chunk each), without first
    // gathering them into one array and then copying that again behind the header.
    const chunks: Uint8Array[] = [];
    let off = 0;
    for (const { result } of this.pending) {
      const rows = rowsOf(result);
      if (result.vectors.length !== rows * d)
        throw new Error(`batch produced ${result.vectors.length} values for ${rows} rows of size ${d}`);
      if (result.special && result.special.length !== rows) throw new Error(`batch has ${result.special.length} special flags for ${rows} rows`);
      result.special?.forEach((f, r) => f && special.push(off / Math.max(d, 1) + r));
      positions.push(...result.positions);
      lengths.push(...(result.lengths ?? result.positions.map(() => 1)));
      const v = result.vectors;
      chunks.push(littleEndian(Buffer.from(v.buffer, v.byteOffset, v.byteLength), 4));
      off += v.length;
      failures.push(...result.failures);
      Object.assign(records, result.records ?? {});
    }
    const name = `part-${String(this.nextPart++).padStart(6, "0")}`;
    const part: PartFile = {
      batches: this.pending.map((p) => p.batch),
      positions,
      d,
      ...(sequence ? { lengths, special } : {}),
      failures,
      records,
    };
    await writeFileAtomic(path.join(this.partialDir, name + ".npy"), [npyHeader([off / Math.max(d, 1), d]), ...chunks]);
    await writeFileAtomic(path.join(this.partialDir, name + ".json"), JSON.stringify(part));
    this.parts.push(part);
    this.partPaths.push(path.join(this.partialDir, name));
    this.pending = [];
    this.pendingRows = 0;
    this.pendingValues = 0;
  }

  /** Assembles the store (see the module note). On any error, no temporary file is left in the folder. */
  async finalize(o: FinalizeOptions): Promise<StoreMeta> {
    const temps: string[] = [];
    try {
      return await this.assemble(o, temps);
    } catch (err) {
      await Promise.all(temps.map((t) => rm(t, { force: true })));
      throw err;
    }
  }

  private async assemble(o: FinalizeOptions, temps: string[]): Promise<StoreMeta> {
    await this.flush();
    const shape = o.rowShape ?? [o.dim];
    const rowSize = shape.reduce((a, b) => a * b, 1);
    const dtype: StoreDtype = o.dtype ?? "float32";
    const descr = STORE_DTYPES[dtype];
    const itemSize = NPY_ITEM_SIZE[descr];
    // Per index position, in typed arrays (a few bytes per row, where Maps of objects took hundreds: the
    // difference between ~2 and ~80 MB at finalize for 100,000 rows): the part holding its vector, its first
    // row there and its row count; later parts win (a batch recomputed after a crash).
    const U = o.utterances.length;
    const where = { part: new Int32Array(U).fill(-1), row: new Float64Array(U), length: new Float64Array(U) };
    const failures = new Map<number, Failure>();
    const records: (Record<string, string | number | boolean> | undefined)[] = new Array(U);
    let rowToPos: Map<number, number> | undefined; // only needed when some row failed
    this.parts.forEach((part, pi) => {
      if (part.positions.length > 0 && part.d !== rowSize)
        throw new Error(`internal: a finished part has rows of ${part.d} values, this store's rows have ${rowSize}`);
      let row = 0;
      part.positions.forEach((pos, k) => {
        const length = part.lengths?.[k] ?? 1;
        where.part[pos] = pi;
        where.row[pos] = row;
        where.length[pos] = length;
        row += length;
      });
      if (part.failures.length > 0) rowToPos ??= new Map(o.utterances.map((u, i) => [u.row, i]));
      for (const f of part.failures) failures.set(rowToPos!.get(f.row)!, f);
      for (const k in part.records) records[Number(k)] = part.records[k];
    });
    const missing = o.planned.filter((p) => where.part[p] < 0 && !failures.has(p));
    if (missing.length > 0)
      throw new Error(`internal: ${missing.length} planned rows have neither a vector nor a failure (first: row ${o.utterances[missing[0]].row})`);

    const ok: number[] = [];
    for (let p = 0; p < U; p++) if (where.part[p] >= 0) ok.push(p);
    const n = ok.length;
    // Row offset of every stored utterance in the main array (index order).
    const offset = new Float64Array(U);
    let totalRows = 0;
    for (const p of ok) {
      offset[p] = totalRows;
      totalRows += o.sequence ? where.length[p] : 1;
    }
    const ids = ok.map((p) => o.utterances[p].utterId);

    // meta.json goes first out and last in: a store with meta.json is always complete. Files of another kind
    // of store (an --overwrite that changed pooling or layout) go too.
    await rm(path.join(this.outDir, STORE_FILES.meta), { force: true });
    for (const stale of o.sequence ? [STORE_FILES.embeddings] : [STORE_FILES.frames, STORE_FILES.lengths, STORE_FILES.special])
      await rm(path.join(this.outDir, stale), { force: true });
    if (!o.special) await rm(path.join(this.outDir, STORE_FILES.special), { force: true });
    await rm(path.join(this.outDir, STORE_FILES.perUtterance), { recursive: true, force: true });

    // The main array, assembled with positional writes, one part in memory at a time.
    const mainPath = path.join(this.outDir, o.sequence ? STORE_FILES.frames : STORE_FILES.embeddings);
    const mainTmp = tmpNameFor(mainPath);
    temps.push(mainTmp);
    const header = npyHeader([o.sequence ? totalRows : n, ...shape], descr);
    const rowBytes = rowSize * itemSize;
    const special = o.special ? new Uint8Array(totalRows) : null;
    const fh = await open(mainTmp, "w");
    try {
      await fh.write(header, 0, header.length, 0);
      await fh.truncate(header.length + totalRows * rowBytes);
      for (let pi = 0; pi < this.parts.length; pi++) {
        const part = this.parts[pi];
        if (part.positions.length === 0) continue;
        const { data } = await readNpy(this.partPaths[pi] + ".npy");
        const bytes = storeBytes(data, dtype);
        const specialRows = new Set(part.special ?? []);
        // Rows that follow each other both in the part and in the store (index-order plans, as audio's) go out
        // in one write; the writes of a part are issued together (distinct ranges), not one round trip each.
        const runs: { from: number; to: number; rows: number }[] = [];
        for (const pos of part.positions) {
          if (where.part[pos] !== pi) continue; // a batch recomputed after a crash: the later part holds it
          const from = where.row[pos];
          const length = where.length[pos];
          const to = offset[pos];
          const last = runs[runs.length - 1];
          if (last && last.from + last.rows === from && last.to + last.rows === to) last.rows += length;
          else runs.push({ from, to, rows: length });
          if (special) for (let r = 0; r < length; r++) if (specialRows.has(from + r)) special[to + r] = 1;
        }
        for (let k = 0; k < runs.length; k += 64)
          await Promise.all(
            runs.slice(k, k + 64).map((r) => writeFully(fh, bytes, r.from * rowBytes, r.rows * rowBytes, header.length + r.to * rowBytes)),
          );
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const mainSha = await sha256File(mainTmp);

    const failureList = [...failures.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
    const idsTmp = tmpNameFor(path.join(this.outDir, STORE_FILES.ids));
    temps.push(idsTmp);
    await writeFileAtomic(idsTmp, ids.map((id) => id + "\n").join(""));
    const extra: Partial<StoreMeta> = {};
    if (o.sequence) {
      const lengthsBytes = encodeNpy(BigInt64Array.from(ok, (p) => BigInt(where.length[p])), [n]);
      await writeFileAtomic(path.join(this.outDir, STORE_FILES.lengths), lengthsBytes);
      extra.lengths_sha256 = createHash("sha256").update(lengthsBytes).digest("hex");
      extra.total_frames = totalRows;
      if (special && o.special) {
        const specialBytes = encodeNpy(special, [totalRows]);
        await writeFileAtomic(path.join(this.outDir, STORE_FILES.special), specialBytes);
        extra.special_tokens = { ...o.special, special_sha256: createHash("sha256").update(specialBytes).digest("hex") };
      }
    }
    if (o.layout === "per-utterance") await this.writePerUtterance(mainTmp, header.length, ok, ids, shape, rowBytes, descr, o.sequence ? (p) => where.length[p] : null, offset);

    const orderedRecords = records.filter((r): r is Record<string, string | number | boolean> => r !== undefined);
    const meta: StoreMeta = {
      ...o.meta,
      ...(o.totals ? { totals: o.totals(orderedRecords) } : {}),
      dtype,
      n,
      d: shape[shape.length - 1],
      embeddings_sha256: mainSha,
      ...extra,
      failures: failureList.length,
      layout: o.layout,
      created: new Date().toISOString(),
    };

    await rename(mainTmp, mainPath);
    await rename(idsTmp, path.join(this.outDir, STORE_FILES.ids));
    const failPath = path.join(this.outDir, STORE_FILES.failures);
    if (failureList.length > 0)
      await writeFileAtomic(
        failPath,
        stringify(failureList.map((f) => [f.utterId, f.row, f.reason]), { header: true, columns: ["utter_id", "row", "reason"] }),
      );
    else await rm(failPath, { force: true });
    if (o.recordsCsv) {
      const cols = o.recordsCsv.columns;
      // In slices, so only one slice of row arrays exists at a time (the same bytes as one call).
      const chunks: Buffer[] = [];
      for (let i = 0; i === 0 || i < orderedRecords.length; i += 8192) {
        const rows = orderedRecords.slice(i, i + 8192).map((r) => cols.map((c) => r[c] ?? ""));
        chunks.push(Buffer.from(stringify(rows, { header: i === 0, columns: cols })));
      }
      await writeFileAtomic(path.join(this.outDir, o.recordsCsv.file), chunks);
    }
    await writeFileAtomic(path.join(this.outDir, STORE_FILES.meta), JSON.stringify(meta, null, 2) + "\n");
    await rm(this.partialDir, { recursive: true, force: true });
    return meta;
  }

  /** per_utterance/<id>.npy: each utterance's slice of the main array, same dtype ((...row) or (T_i, ...row)). */
  private async writePerUtterance(
    mainFile: string,
    dataOffset: number,
    positions: number[],
    ids: string[],
    shape: number[],
    rowBytes: number,
    descr: NpyDescr,
    lengthOf: ((pos: number) => number) | null,
    offset: Float64Array,
  ): Promise<void> {
    const dir = path.join(this.outDir, STORE_FILES.perUtterance);
    await mkdir(dir, { recursive: true });
    const fh = await open(mainFile, "r");
    try {
      for (let i = 0; i < ids.length; i++) {
        if (fileNameProblem(ids[i]) !== null)
          throw new EmofeatError(`--layout per-utterance: utter_id "${capText(ids[i], 80)}" cannot be used as a file name: ${fileNameProblem(ids[i])}`);
        const rows = lengthOf ? lengthOf(positions[i]) : 1;
        const body = Buffer.alloc(rows * rowBytes);
        await fh.read(body, 0, body.length, dataOffset + offset[positions[i]] * rowBytes);
        const head = npyHeader(lengthOf ? [rows, ...shape] : shape, descr);
        await writeFileAtomic(path.join(dir, ids[i] + ".npy"), [head, body]);
      }
    } finally {
      await fh.close();
    }
  }
}

/** A positional write of `length` bytes, continued until all are written. */
async function writeFully(fh: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  while (length > 0) {
    const { bytesWritten } = await fh.write(buf, offset, length, position);
    offset += bytesWritten;
    position += bytesWritten;
    length -= bytesWritten;
  }
}

/** Little-endian bytes of float32 values in the store's dtype. */
function storeBytes(data: Float32Array, dtype: StoreDtype): Buffer {
  if (dtype === "float16") {
    const half = float32ToFloat16(data);
    return littleEndian(Buffer.from(half.buffer, half.byteOffset, half.byteLength), 2);
  }
  return littleEndian(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 4);
}

const WINDOWS_RESERVED = new Set(["CON", "PRN", "AUX", "NUL", ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((i) => [`COM${i}`, `LPT${i}`])]);

/**
 * Why `<id>.npy` cannot be a file name on every common file system (so per-utterance stores copy between
 * Linux, macOS and Windows), or null.
 */
export function fileNameProblem(id: string): string | null {
  if (id === "." || id === "..") return "a relative folder name";
  if (/[/\\]/.test(id)) return "contains / or \\ (a path, not a name)";
  if (/[<>:"|?*\u0000-\u001f]/.test(id)) return 'contains a character Windows forbids in file names (< > : " | ? * or a control character)';
  if (/[. ]$/.test(id)) return "ends in a dot or space (Windows drops them)";
  if (WINDOWS_RESERVED.has(id.split(".")[0].trimEnd().toUpperCase())) return "a reserved device name on Windows";
  if (Buffer.byteLength(id + ".npy", "utf8") > 255) return "longer than 255 bytes as a file name";
  return null;
}

/**
 * `--layout per-utterance` writes per_utterance/<utter_id>.npy: checks every id when the index is loaded, before
 * any work, and lists every offender (ids that differ only in case or Unicode normalisation collide on macOS
 * and Windows).
 */
export function checkPerUtteranceIds(file: string, utterances: readonly { utterId: string; row: number }[]): void {
  const problems: InputProblem[] = [];
  const seen = new Map<string, { utterId: string; row: number }>();
  for (const u of utterances) {
    const why = fileNameProblem(u.utterId);
    if (why) problems.push({ row: u.row, column: "utter_id", message: `"${capText(u.utterId, 80)}": ${why}` });
    const key = u.utterId.normalize("NFC").toLowerCase();
    const first = seen.get(key);
    if (first)
      problems.push({
        row: u.row,
        column: "utter_id",
        message: `"${capText(u.utterId, 80)}" and "${capText(first.utterId, 80)}" (row ${first.row}) differ only in case or accents: the same file on case-insensitive file systems (macOS, Windows)`,
      });
    else seen.set(key, u);
  }
  if (problems.length > 0) throw new InputFileError(file, problems, "--layout per-utterance: utter_ids that cannot be file names");
}
