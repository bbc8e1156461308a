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
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { EmofeatError } from "../errors.js";
import { exists, sha256File, tmpNameFor, writeFileAtomic } from "../util/fs.js";
import { STORE_FILES, type Failure, type StoreLayout, type StoreMeta } from "./meta.js";
import { encodeNpy, littleEndian, npyHeader, readNpy } from "./npy.js";
import { readStoreMeta } from "./read.js";

export interface BatchResult {
  /** Index positions (0-based into the utterance list) that produced a vector, in `vectors` order. */
  positions: number[];
  /** positions.length x d, row-major. */
  vectors: Float32Array;
  failures: Failure[];
  /** Optional per-position extra record (for example audio durations), kept for finalize. */
  records?: Record<number, Record<string, string | number | boolean>>;
}

/** One finished part: `.partial/part-NNNNNN.json` (its vectors are in the `.npy` of the same name). */
export interface PartFile {
  batches: number[];
  positions: number[];
  d: number;
  failures: Failure[];
  records: Record<number, Record<string, string | number | boolean>>;
}

interface PartialState {
  fingerprint: string;
  batches: number;
  started: string;
}

export type OpenResult =
  | { status: "complete"; meta: StoreMeta }
  | { status: "ready"; writer: StoreWriter; doneBatches: Set<number>; resumed: boolean };

export interface OpenOptions {
  outDir: string;
  fingerprint: string;
  /** Human-readable settings behind the fingerprint, for the mismatch message. */
  settings: Record<string, unknown>;
  totalBatches: number;
  overwrite?: boolean;
}

/**
 * Opens `outDir` for an extraction with the given fingerprint: reports a complete store made with the same
 * settings, resumes an unfinished one, and refuses to mix results from different settings.
 */
export async function openStoreForWriting(o: OpenOptions): Promise<OpenResult> {
  const partialDir = path.join(o.outDir, STORE_FILES.partial);
  const statePath = path.join(partialDir, "state.json");
  await mkdir(o.outDir, { recursive: true });

  if (!o.overwrite && (await exists(path.join(o.outDir, STORE_FILES.meta))) && !(await exists(statePath))) {
    const meta = await readStoreMeta(o.outDir);
    if (meta.fingerprint === o.fingerprint) return { status: "complete", meta };
    throw new EmofeatError(
      `${o.outDir} already holds a feature store made with other settings (model ${meta.model.id}, ${meta.modality}). ` +
        `Pass --overwrite to replace it, or choose another --out.`,
    );
  }

  let resumed = false;
  if (await exists(statePath)) {
    const state = JSON.parse(await readFile(statePath, "utf8")) as PartialState;
    if (state.fingerprint === o.fingerprint && state.batches === o.totalBatches && !o.overwrite) resumed = true;
    else if (!o.overwrite)
      throw new EmofeatError(
        `${o.outDir} holds an unfinished extraction started ${state.started} with other settings or another index. ` +
          `Run that command again to finish it, or pass --overwrite to discard it.`,
      );
    else await rm(partialDir, { recursive: true, force: true });
  } else if (await exists(partialDir)) {
    await rm(partialDir, { recursive: true, force: true });
  }

  await mkdir(partialDir, { recursive: true });
  if (!resumed) {
    const state: PartialState = { fingerprint: o.fingerprint, batches: o.totalBatches, started: new Date().toISOString() };
    await writeFileAtomic(statePath, JSON.stringify(state, null, 2) + "\n");
  }
  const writer = new StoreWriter(o.outDir);
  const doneBatches = await writer.loadParts();
  return { status: "ready", writer, doneBatches, resumed: resumed && doneBatches.size > 0 };
}

export interface FinalizeOptions {
  /** utter_id and 1-based row for every index position. */
  utterances: readonly { utterId: string; row: number }[];
  /** Positions that were planned (everything else in `utterances` is not part of this store). */
  planned: readonly number[];
  /** Embedding size, used when every row failed. */
  dim: number;
  layout: StoreLayout;
  /** Meta fields the modality fills in; n, d, hashes, failures and created are set here. */
  meta: Omit<StoreMeta, "n" | "d" | "embeddings_sha256" | "failures" | "created" | "layout" | "dtype">;
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

  add(batch: number, result: BatchResult): void {
    this.pending.push({ batch, result });
    this.pendingRows += result.positions.length + result.failures.length;
  }

  /** Writes buffered batches as one part (vectors first, then the .json that marks the part done). */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const first = this.pending.find((p) => p.result.positions.length > 0)?.result;
    const d = first ? first.vectors.length / first.positions.length : 0;
    const positions: number[] = [];
    const failures: Failure[] = [];
    const records: PartFile["records"] = {};
    const vectors = new Float32Array(this.pending.reduce((a, p) => a + p.result.positions.length, 0) * d);
    let off = 0;
    for (const { result } of this.pending) {
      if (result.positions.length > 0 && result.vectors.length !== result.positions.length * d)
        throw new Error(`batch produced ${result.vectors.length} values for ${result.positions.length} rows of size ${d}`);
      positions.push(...result.positions);
      vectors.set(result.vectors, off);
      off += result.vectors.length;
      failures.push(...result.failures);
      Object.assign(records, result.records ?? {});
    }
    const name = `part-${String(this.nextPart++).padStart(6, "0")}`;
    const part: PartFile = { batches: this.pending.map((p) => p.batch), positions, d, failures, records };
    await writeFileAtomic(path.join(this.partialDir, name + ".npy"), encodeNpy(vectors, [positions.length, d]));
    await writeFileAtomic(path.join(this.partialDir, name + ".json"), JSON.stringify(part));
    this.parts.push(part);
    this.partPaths.push(path.join(this.partialDir, name));
    this.pending = [];
    this.pendingRows = 0;
  }

  async finalize(o: FinalizeOptions): Promise<StoreMeta> {
    await this.flush();
    const where = new Map<number, { part: number; offset: number }>();
    const failures = new Map<number, Failure>();
    const records = new Map<number, Record<string, string | number | boolean>>();
    const rowToPos = new Map(o.utterances.map((u, i) => [u.row, i]));
    let d = 0;
    this.parts.forEach((part, pi) => {
      if (part.positions.length > 0) {
        if (d !== 0 && part.d !== d) throw new Error(`parts disagree on the embedding size (${d} vs ${part.d})`);
        d = part.d;
      }
      part.positions.forEach((pos, k) => where.set(pos, { part: pi, offset: k }));
      for (const f of part.failures) failures.set(rowToPos.get(f.row)!, f);
      for (const [k, v] of Object.entries(part.records)) records.set(Number(k), v);
    });
    if (d === 0) d = o.dim;
    const missing = o.planned.filter((p) => !where.has(p) && !failures.has(p));
    if (missing.length > 0)
      throw new Error(`internal: ${missing.length} planned rows have neither a vector nor a failure (first: row ${o.utterances[missing[0]].row})`);

    const ok = [...where.keys()].sort((a, b) => a - b);
    const rank = new Map(ok.map((p, i) => [p, i]));
    const n = ok.length;

    // Assemble embeddings.npy with positional writes, one part in memory at a time.
    const embPath = path.join(this.outDir, STORE_FILES.embeddings);
    const embTmp = tmpNameFor(embPath);
    const header = npyHeader([n, d]);
    const fh = await open(embTmp, "w");
    try {
      await fh.write(header, 0, header.length, 0);
      await fh.truncate(header.length + n * d * 4);
      for (let pi = 0; pi < this.parts.length; pi++) {
        const part = this.parts[pi];
        if (part.positions.length === 0) continue;
        const { data } = await readNpy(this.partPaths[pi] + ".npy");
        const bytes = littleEndian(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        for (let k = 0; k < part.positions.length; k++) {
          const r = rank.get(part.positions[k])!;
          await fh.write(bytes, k * d * 4, d * 4, header.length + r * d * 4);
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const embeddingsSha = await sha256File(embTmp);

    const ids = ok.map((p) => o.utterances[p].utterId);
    const failureList = [...failures.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
    const idsTmp = tmpNameFor(path.join(this.outDir, STORE_FILES.ids));
    await writeFileAtomic(idsTmp, ids.map((id) => id + "\n").join(""));

    if (o.layout === "per-utterance") await this.writePerUtterance(embTmp, header.length, ids, d);

    const orderedRecords = [...records.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
    const meta: StoreMeta = {
      ...o.meta,
      ...(o.totals ? { totals: o.totals(orderedRecords) } : {}),
      dtype: "float32",
      n,
      d,
      embeddings_sha256: embeddingsSha,
      failures: failureList.length,
      layout: o.layout,
      created: new Date().toISOString(),
    };

    // meta.json goes first out and last in: a store with meta.json is always complete.
    await rm(path.join(this.outDir, STORE_FILES.meta), { force: true });
    await rename(embTmp, embPath);
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
      const rows = orderedRecords.map((r) => cols.map((c) => r[c] ?? ""));
      await writeFileAtomic(path.join(this.outDir, o.recordsCsv.file), stringify(rows, { header: true, columns: cols }));
    }
    await writeFileAtomic(path.join(this.outDir, STORE_FILES.meta), JSON.stringify(meta, null, 2) + "\n");
    await rm(this.partialDir, { recursive: true, force: true });
    return meta;
  }

  private async writePerUtterance(embFile: string, offset: number, ids: string[], d: number): Promise<void> {
    const dir = path.join(this.outDir, STORE_FILES.perUtterance);
    await mkdir(dir, { recursive: true });
    const fh = await open(embFile, "r");
    try {
      const buf = Buffer.alloc(d * 4);
      for (let i = 0; i < ids.length; i++) {
        if (!isSafeFileName(ids[i]))
          throw new EmofeatError(`--layout per-utterance: utter_id "${ids[i]}" cannot be used as a file name`);
        await fh.read(buf, 0, d * 4, offset + i * d * 4);
        const vec = new Float32Array(d);
        Buffer.from(vec.buffer).set(buf);
        await writeFileAtomic(path.join(dir, ids[i] + ".npy"), encodeNpy(vec, [d]));
      }
    } finally {
      await fh.close();
    }
  }
}

function isSafeFileName(id: string): boolean {
  return id !== "." && id !== ".." && !/[/\\\0]/.test(id) && id.length <= 200;
}
