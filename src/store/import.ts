/**
 * `emofeat store import`: features made by other tools (openSMILE, a Python script, another toolkit) become a
 * feature store that validate, train and report use like an extracted one.
 *
 * Input: an .npy matrix [N, D] with ids.txt (N ids, one a line), or a folder of <utter_id>.npy vectors ((D,) or
 * (1, D)); float32 or float64, either byte order, C or Fortran order (float64 is stored as float32). Rows are
 * put in index order; index rows the import lacks are recorded in failures.csv ("not in the imported
 * features"), so `validate` holds the store to the index; imported ids the index lacks are left out and counted.
 * meta.json says where the features came from (model.source "imported", the source's sha256); `predict` cannot
 * recompute them for new utterances and says so.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { capText, EmofeatError, InputFileError, UsageError, type InputProblem } from "../errors.js";
import { loadIndex } from "../manifest/index-csv.js";
import { writeFileAtomic } from "../util/fs.js";
import { acquireLock } from "../util/lock.js";
import { makeDir } from "../util/out.js";
import { VERSION } from "../version.js";
import { STORE_FILES, STORE_FORMAT, STORE_FORMAT_VERSION, type Failure, type Modality, type StoreMeta } from "./meta.js";
import { encodeNpy, parseNpyHeader } from "./npy.js";
import { checkStoreOut } from "./write.js";
import { readStoreMeta } from "./read.js";

export interface ImportStoreOptions {
  /** The index the features belong to. */
  csv: string;
  out: string;
  modality: Modality;
  /** A matrix [N, D] and its ids (one a line). */
  npy?: string;
  ids?: string;
  /** Or a folder of <utter_id>.npy vectors. */
  perUtterance?: string;
  /** What made the features, recorded as the store's model id (default: the source's file or folder name). */
  name?: string;
  overwrite?: boolean;
  forceUnlock?: boolean;
  log?: (line: string) => void;
}

export interface ImportSummary {
  outDir: string;
  meta: StoreMeta;
  /** Imported ids that are not in the index (left out). */
  ignored: string[];
}

interface Matrix {
  data: Float32Array;
  rows: number;
  d: number;
  /** The source's dtype as numpy writes it, e.g. "<f8". */
  descr: string;
  sha256: string;
}

const DTYPES: Record<string, { bytes: number; read: (b: Buffer, off: number) => number }> = {
  "<f4": { bytes: 4, read: (b, o) => b.readFloatLE(o) },
  ">f4": { bytes: 4, read: (b, o) => b.readFloatBE(o) },
  "<f8": { bytes: 8, read: (b, o) => b.readDoubleLE(o) },
  ">f8": { bytes: 8, read: (b, o) => b.readDoubleBE(o) },
};

/** Any float32/float64 .npy of 1 or 2 dimensions as a row-major float32 [rows, d]. */
export async function readNpyMatrix(file: string): Promise<Matrix> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EmofeatError(`${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder, not an .npy file" : (err as Error).message}`);
  }
  const h = parseNpyHeader(bytes.subarray(0, Math.min(bytes.length, 65536 + 12)), file);
  const dt = DTYPES[h.descr];
  if (!dt) throw new EmofeatError(`${file}: dtype ${h.descr}; import takes float32 or float64 (np.save(..., a.astype(np.float32)))`);
  if (h.shape.length < 1 || h.shape.length > 2 || (h.shape.length === 2 && h.shape[0] === 0))
    throw new EmofeatError(`${file}: shape (${h.shape.join(", ")}); import takes pooled features, [N, D] (or (D,) per utterance)`);
  const [rows, d] = h.shape.length === 1 ? [1, h.shape[0]] : [h.shape[0], h.shape[1]];
  const need = h.dataOffset + rows * d * dt.bytes;
  if (bytes.length !== need) throw new EmofeatError(`${file}: ${bytes.length} bytes, the header's shape (${h.shape.join(", ")}) needs ${need}`);
  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < d; c++) {
      const k = h.fortranOrder ? c * rows + r : r * d + c;
      data[r * d + c] = dt.read(bytes, h.dataOffset + k * dt.bytes);
    }
  return { data, rows, d, descr: h.descr, sha256: createHash("sha256").update(bytes).digest("hex") };
}

function nonFiniteRows(data: Float32Array, d: number): number[] {
  const bad: number[] = [];
  for (let r = 0; r * d < data.length; r++)
    for (let c = 0; c < d; c++)
      if (!Number.isFinite(data[r * d + c])) {
        bad.push(r);
        break;
      }
  return bad;
}

async function readIdsFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new EmofeatError(`--ids ${file}: no such file`);
  }
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.trim());
}

/** Vectors by id from `--npy` + `--ids`, checked: as many ids as rows, no duplicates, finite values. */
async function fromMatrix(npy: string, idsFile: string): Promise<{ byId: Map<string, Float32Array>; d: number; descr: string; sha256: string }> {
  const [m, ids] = await Promise.all([readNpyMatrix(npy), readIdsFile(idsFile)]);
  if (ids.length !== m.rows) throw new EmofeatError(`--ids ${idsFile} has ${ids.length} ids, --npy ${npy} has ${m.rows} rows; they must match line for row`);
  const problems: InputProblem[] = [];
  const first = new Map<string, number>();
  ids.forEach((id, i) => {
    if (id === "") problems.push({ row: i + 1, line: i + 1, message: "empty id" });
    else if (first.has(id)) problems.push({ row: i + 1, line: i + 1, message: `duplicate id "${capText(id, 80)}" (first at line ${first.get(id)! + 1})` });
    else first.set(id, i);
  });
  for (const r of nonFiniteRows(m.data, m.d).slice(0, 20)) problems.push({ row: r + 1, line: r + 1, message: `"${capText(ids[r], 80)}": NaN or infinite value in row ${r} of ${npy}` });
  if (problems.length > 0) throw new InputFileError(idsFile, problems, "cannot import");
  const byId = new Map(ids.map((id, i) => [id, m.data.subarray(i * m.d, (i + 1) * m.d)] as [string, Float32Array]));
  return { byId, d: m.d, descr: m.descr, sha256: createHash("sha256").update(m.sha256).update(await readFile(idsFile)).digest("hex") };
}

/** Vectors by id from a folder of <utter_id>.npy, each (D,) or (1, D), all the same D. */
async function fromFolder(dir: string): Promise<{ byId: Map<string, Float32Array>; d: number; descr: string; sha256: string }> {
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new EmofeatError(`--per-utterance ${dir}: ${st ? "is a file, not a folder" : "no such folder"}`);
  const names = (await readdir(dir)).filter((n) => n.endsWith(".npy")).sort();
  if (names.length === 0) throw new EmofeatError(`--per-utterance ${dir}: no .npy files`);
  const byId = new Map<string, Float32Array>();
  const hash = createHash("sha256");
  const descrs = new Set<string>();
  const problems: InputProblem[] = [];
  let d = -1;
  for (const name of names) {
    const file = path.join(dir, name);
    const m = await readNpyMatrix(file);
    const id = name.slice(0, -".npy".length);
    hash.update(name).update(m.sha256);
    descrs.add(m.descr);
    if (m.rows !== 1) problems.push({ row: null, message: `${name}: ${m.rows} rows; one vector per file, (D,) or (1, D)` });
    else if (d !== -1 && m.d !== d) problems.push({ row: null, message: `${name}: ${m.d} values, the other files have ${d}` });
    else if (nonFiniteRows(m.data, m.d).length > 0) problems.push({ row: null, message: `${name}: NaN or infinite value` });
    else {
      d = m.d;
      byId.set(id, m.data);
    }
  }
  if (problems.length > 0) throw new InputFileError(dir, problems, "cannot import");
  return { byId, d, descr: [...descrs].join(","), sha256: hash.digest("hex") };
}

/** Imports pooled features into a feature store (see the module note). */
export async function importStore(o: ImportStoreOptions): Promise<ImportSummary> {
  if ((o.npy !== undefined) === (o.perUtterance !== undefined)) throw new UsageError("give either --npy FILE with --ids FILE, or --per-utterance DIR");
  if (o.npy !== undefined && o.ids === undefined) throw new UsageError("--npy needs --ids (the utter_id of each row, one a line)");
  if (o.modality !== "text" && o.modality !== "audio") throw new UsageError(`--modality must be text or audio (got ${String(o.modality)})`);
  const index = await loadIndex(o.csv);
  await checkStoreOut(o.out, o.overwrite);
  const src = o.npy !== undefined ? await fromMatrix(o.npy, o.ids!) : await fromFolder(o.perUtterance!);

  const indexIds = new Set(index.utterances.map((u) => u.utterId));
  const ignored = [...src.byId.keys()].filter((id) => !indexIds.has(id));
  const kept = index.utterances.filter((u) => src.byId.has(u.utterId));
  if (kept.length === 0)
    throw new EmofeatError(
      `none of the ${src.byId.size} imported ids is in ${index.path} (e.g. imported "${capText([...src.byId.keys()][0], 60)}", index "${capText(index.utterances[0].utterId, 60)}")`,
    );
  const failures: Failure[] = index.utterances.filter((u) => !src.byId.has(u.utterId)).map((u) => ({ utterId: u.utterId, row: u.row, reason: "not in the imported features" }));
  const d = src.d;
  const data = new Float32Array(kept.length * d);
  kept.forEach((u, i) => data.set(src.byId.get(u.utterId)!, i * d));
  const npyBytes = encodeNpy(data, [kept.length, d]);
  const sourcePath = path.resolve(o.npy ?? o.perUtterance!);
  const name = o.name ?? path.basename(sourcePath.replace(/\.npy$/, ""));
  const settings = {
    imported_from: sourcePath,
    ...(o.ids ? { ids_from: path.resolve(o.ids) } : {}),
    source_dtype: src.descr,
    ...(src.descr.includes("f8") ? { converted: "float64 -> float32" } : {}),
    source_sha256: src.sha256,
  };
  const fingerprint = createHash("sha256").update(JSON.stringify({ format: STORE_FORMAT, import: src.sha256, index: index.sha256, modality: o.modality, name })).digest("hex");
  const meta: StoreMeta = {
    format: STORE_FORMAT,
    format_version: STORE_FORMAT_VERSION,
    modality: o.modality,
    model: { id: name, source: "imported", file: path.basename(sourcePath), sha256: src.sha256, dtype: src.descr },
    device: "n/a (imported)",
    pooling: "n/a (imported)",
    settings,
    dtype: "float32",
    n: kept.length,
    d,
    embeddings_sha256: createHash("sha256").update(npyBytes).digest("hex"),
    index: { path: index.path, sha256: index.sha256, rows: index.utterances.length },
    failures: failures.length,
    layout: "matrix",
    fingerprint,
    tool: { name: "emofeat", version: VERSION },
    created: new Date().toISOString(),
  };

  await makeDir(o.out);
  const lock = await acquireLock(o.out, { forceUnlock: o.forceUnlock, log: o.log });
  try {
    await checkStoreOut(o.out, o.overwrite);
    const existing = await readStoreMeta(o.out).catch(() => null);
    if (existing && !o.overwrite)
      throw new EmofeatError(`${o.out} already holds a feature store (${existing.modality}, model ${existing.model.id}); pass --overwrite to replace it, or choose another --out`);
    // meta.json goes first out and last in, as in an extraction: a folder with meta.json is always whole.
    await rm(path.join(o.out, STORE_FILES.meta), { force: true });
    await writeFileAtomic(path.join(o.out, STORE_FILES.embeddings), npyBytes);
    await writeFileAtomic(path.join(o.out, STORE_FILES.ids), kept.map((u) => u.utterId + "\n").join(""));
    const failPath = path.join(o.out, STORE_FILES.failures);
    if (failures.length > 0)
      await writeFileAtomic(failPath, stringify(failures.map((f) => [f.utterId, f.row, f.reason]), { header: true, columns: ["utter_id", "row", "reason"] }));
    else await rm(failPath, { force: true });
    for (const f of [STORE_FILES.clips, STORE_FILES.texts, STORE_FILES.perUtterance]) await rm(path.join(o.out, f), { recursive: true, force: true });
    await writeFileAtomic(path.join(o.out, STORE_FILES.meta), JSON.stringify(meta, null, 2) + "\n");
  } finally {
    await lock.release();
  }
  return { outDir: o.out, meta, ignored };
}
