/**
 * `validate`: checks every row of one or more feature stores against the index — nothing is sampled.
 * Embeddings are streamed, so memory stays bounded whatever the store size.
 */
import { createHash } from "node:crypto";
import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { loadIndex, type IndexManifest } from "../manifest/index-csv.js";
import { exists, sha256File } from "../util/fs.js";
import { isSequenceStore, rowShape, STORE_FILES, type StoreMeta } from "./meta.js";
import { NPY_ITEM_SIZE, parseNpyHeader, readNpyInt64, STORE_DTYPES, type NpyDescr, type NpyHeader, type StoreDtype } from "./npy.js";
import { readFailures, readIds, readStoreMeta } from "./read.js";

export interface Check {
  name: string;
  ok: boolean;
  message: string;
}

export interface StoreReport {
  dir: string;
  modality?: string;
  n?: number;
  d?: number;
  ok: boolean;
  checks: Check[];
}

export interface ValidationReport {
  ok: boolean;
  index: { path: string; rows: number; sha256: string };
  stores: StoreReport[];
  /** Checks across stores (same ids). */
  cross: Check[];
}

const EXAMPLES = 5;

function examples(items: string[]): string {
  return items.slice(0, EXAMPLES).join(", ") + (items.length > EXAMPLES ? `, ... (${items.length} in all)` : "");
}

export async function validateStores(dirs: string[], csv: string): Promise<ValidationReport> {
  const index = await loadIndex(csv);
  const stores: StoreReport[] = [];
  const idLists: { dir: string; ids: string[] }[] = [];
  for (const dir of dirs) {
    const { report, ids } = await validateOne(dir, index);
    stores.push(report);
    if (ids) idLists.push({ dir, ids });
  }
  const cross: Check[] = [];
  for (let i = 1; i < idLists.length; i++) {
    const a = idLists[0];
    const b = idLists[i];
    const setA = new Set(a.ids);
    const setB = new Set(b.ids);
    const onlyA = a.ids.filter((x) => !setB.has(x));
    const onlyB = b.ids.filter((x) => !setA.has(x));
    const ok = onlyA.length === 0 && onlyB.length === 0;
    cross.push({
      name: `same ids: ${a.dir} vs ${b.dir}`,
      ok,
      message: ok
        ? `both cover the same ${a.ids.length} ids`
        : [
            onlyA.length ? `${onlyA.length} only in ${a.dir} (${examples(onlyA)})` : "",
            onlyB.length ? `${onlyB.length} only in ${b.dir} (${examples(onlyB)})` : "",
          ]
            .filter(Boolean)
            .join("; "),
    });
  }
  return {
    ok: stores.every((s) => s.ok) && cross.every((c) => c.ok),
    index: { path: index.path, rows: index.utterances.length, sha256: index.sha256 },
    stores,
    cross,
  };
}

async function validateOne(dir: string, index: IndexManifest): Promise<{ report: StoreReport; ids?: string[] }> {
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, message: string) => checks.push({ name, ok, message });
  const done = (meta?: StoreMeta, ids?: string[]) => ({
    report: { dir, modality: meta?.modality, n: meta?.n, d: meta?.d, ok: checks.every((c) => c.ok), checks },
    ids,
  });

  let meta: StoreMeta;
  try {
    meta = await readStoreMeta(dir);
    add("meta.json", true, `${meta.modality} store, model ${meta.model.id}, n=${meta.n}, d=${meta.d}`);
  } catch (err) {
    add("meta.json", false, (err as Error).message);
    return done();
  }

  add(
    "index hash",
    meta.index.sha256 === index.sha256,
    meta.index.sha256 === index.sha256
      ? "the store was made from this index"
      : `the store was made from another version of the index (sha256 ${meta.index.sha256.slice(0, 12)}…, this one ${index.sha256.slice(0, 12)}…)`,
  );

  // ids.txt
  let ids: string[] | undefined;
  try {
    ids = await readIds(dir);
    const seen = new Set<string>();
    const dups = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    add("ids.txt", ids.length === meta.n && dups.length === 0,
      ids.length !== meta.n ? `${ids.length} ids, meta.json says n=${meta.n}` : dups.length ? `duplicate ids: ${examples(dups)}` : `${ids.length} ids`);
  } catch (err) {
    add("ids.txt", false, `unreadable: ${(err as Error).message}`);
  }

  // failures.csv
  let failures: { utterId: string; row: number; reason: string }[] = [];
  try {
    failures = await readFailures(dir);
    add("failures.csv", failures.length === meta.failures,
      failures.length === meta.failures ? `${failures.length} recorded failure(s)` : `${failures.length} rows, meta.json says ${meta.failures}`);
  } catch (err) {
    add("failures.csv", false, `unreadable: ${(err as Error).message}`);
  }

  // Alignment with the index: ids == index ids in order, minus the failed ones.
  if (ids) {
    const failed = new Set(failures.map((f) => f.utterId));
    const indexIds = new Set(index.utterances.map((u) => u.utterId));
    const unknownFailures = failures.filter((f) => !indexIds.has(f.utterId)).map((f) => f.utterId);
    const expected = index.utterances.map((u) => u.utterId).filter((id) => !failed.has(id));
    add("row count", ids.length === expected.length,
      `${ids.length} rows; the index has ${index.utterances.length} rows minus ${failed.size} recorded failure(s) = ${expected.length}`);
    let firstMismatch = -1;
    for (let i = 0; i < Math.max(ids.length, expected.length); i++)
      if (ids[i] !== expected[i]) {
        firstMismatch = i;
        break;
      }
    const idSet = new Set(ids);
    const missing = expected.filter((id) => !idSet.has(id));
    const expectedSet = new Set(expected);
    const extra = ids.filter((id) => !expectedSet.has(id));
    add("aligned with index", firstMismatch === -1 && unknownFailures.length === 0,
      firstMismatch === -1
        ? unknownFailures.length ? `failures.csv names ids not in the index: ${examples(unknownFailures)}` : "row i is the i-th extracted index row, for every row"
        : `first difference at row ${firstMismatch + 1} of the store: "${ids[firstMismatch] ?? "<end>"}" where the index order expects "${expected[firstMismatch] ?? "<end>"}"` +
            (missing.length ? `; missing from the store: ${examples(missing)}` : "") +
            (extra.length ? `; not expected: ${examples(extra)}` : ""));
  }

  const check = async () => (isSequenceStore(meta) ? checkSequences(dir, meta, ids, add) : checkPooled(dir, meta, ids, add));
  await check();
  return done(meta, ids);
}

type Add = (name: string, ok: boolean, message: string) => void;

const BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

const rowName = (r: number, ids?: string[]) => `row ${r + 1}${ids?.[r] ? ` (${ids[r]})` : ""}`;

/**
 * Header, dtype, shape and size of a store array; returns the header, or null after recording what is wrong.
 * Checks are named "shape and dtype" / "file size", prefixed with the file name for arrays other than embeddings.npy.
 */
async function checkHeader(file: string, want: number[], descr: string, add: Add): Promise<NpyHeader | null> {
  const base = path.basename(file);
  if (!(await exists(file))) {
    add(base, false, "missing");
    return null;
  }
  const label = base === STORE_FILES.embeddings ? "" : `${base} `;
  const head = Buffer.alloc(4096);
  const fh = await open(file, "r");
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  await fh.close();
  try {
    const h = parseNpyHeader(head.subarray(0, bytesRead), file);
    const shapeOk = h.shape.length === want.length && h.shape.every((v, i) => v === want[i]);
    const dtypeOk = h.descr === descr && !h.fortranOrder;
    add(`${label}shape and dtype`, shapeOk && dtypeOk,
      `${h.descr}${h.fortranOrder ? " Fortran-order" : ""} (${h.shape.join(", ")}); expected ${descr} (${want.join(", ")})`);
    if (!shapeOk || !dtypeOk) return null;
    const size = (await stat(file)).size;
    const itemSize = NPY_ITEM_SIZE[descr as NpyDescr];
    const expectBytes = h.dataOffset + want.reduce((a, b) => a * b, 1) * itemSize;
    if (size !== expectBytes) {
      add(`${label}file size`, false, `${size} bytes, expected ${expectBytes}`);
      return null;
    }
    return h;
  } catch (err) {
    add(`${label}shape and dtype`, false, (err as Error).message);
    return null;
  }
}

/**
 * One pass over a float array: hashes every byte and tests every value, a block at a time. `rowsPer[i]` is how
 * many array rows utterance i owns (1 in a pooled store); returns the utterances with a NaN/Inf and the digest.
 */
async function scanFloats(file: string, h: NpyHeader, rowValues: number, rowsPer: (i: number) => number, n: number): Promise<{ bad: number[]; digest: string }> {
  const itemSize = h.descr === "<f2" ? 2 : 4;
  const rowBytes = rowValues * itemSize;
  const hash = createHash("sha256");
  const bad: number[] = [];
  const fh = await open(file, "r");
  try {
    const head = Buffer.alloc(h.dataOffset);
    await fh.read(head, 0, h.dataOffset, 0);
    hash.update(head);
    const blockRows = Math.max(1, Math.floor((8 << 20) / Math.max(rowBytes, 1)));
    const block = Buffer.alloc(blockRows * rowBytes);
    let utt = 0;
    let left = n > 0 ? rowsPer(0) : 0;
    let pos = h.dataOffset;
    const total = (h.shape[0] ?? 0);
    for (let r0 = 0; r0 < total; r0 += blockRows) {
      const rows = Math.min(blockRows, total - r0);
      const { bytesRead } = await fh.read(block, 0, rows * rowBytes, pos);
      pos += bytesRead;
      const bytes = block.subarray(0, bytesRead);
      hash.update(bytes);
      // Typed views over the block (allocated aligned; rows are whole items); big-endian hosts swap a copy.
      const le = BIG_ENDIAN ? Buffer.from(bytes) : bytes;
      if (BIG_ENDIAN && itemSize === 2) le.swap16();
      else if (BIG_ENDIAN) le.swap32();
      const halves = itemSize === 2 ? new Uint16Array(le.buffer, le.byteOffset, le.length / 2) : null;
      const floats = itemSize === 4 ? new Float32Array(le.buffer, le.byteOffset, le.length / 4) : null;
      for (let r = 0; r < rows; r++) {
        while (left === 0 && utt < n - 1) left = rowsPer(++utt);
        let finite = true;
        const base = r * rowValues;
        if (halves) {
          for (let k = base; k < base + rowValues && finite; k++) finite = (halves[k] & 0x7c00) !== 0x7c00;
        } else {
          for (let k = base; k < base + rowValues && finite; k++) finite = Number.isFinite(floats![k]);
        }
        if (!finite && bad[bad.length - 1] !== utt) bad.push(utt);
        left--;
      }
    }
  } finally {
    await fh.close();
  }
  return { bad, digest: hash.digest("hex") };
}

async function checkPooled(dir: string, meta: StoreMeta, ids: string[] | undefined, add: Add): Promise<void> {
  const embPath = path.join(dir, STORE_FILES.embeddings);
  const shape = [meta.n, ...rowShape(meta)];
  const descr = STORE_DTYPES[meta.dtype as StoreDtype] ?? `unknown dtype ${meta.dtype}`;
  const h = await checkHeader(embPath, shape, descr, add);
  if (!h) return;
  const rowValues = shape.slice(1).reduce((a, b) => a * b, 1);
  const { bad, digest } = await scanFloats(embPath, h, rowValues, () => 1, meta.n);
  add("sha256", digest === meta.embeddings_sha256,
    digest === meta.embeddings_sha256 ? "embeddings.npy matches meta.json" : `embeddings.npy hashes to ${digest.slice(0, 12)}…, meta.json says ${meta.embeddings_sha256.slice(0, 12)}…`);
  add("finite values", bad.length === 0,
    bad.length === 0 ? `all ${meta.n * rowValues} values finite` : `${bad.length} row(s) with NaN/Inf: ${examples(bad.map((r) => rowName(r, ids)))}`);
  if (meta.layout === "per-utterance" && ids) await checkPerUtterance(dir, ids, embPath, h.dataOffset, rowValues * NPY_ITEM_SIZE[descr as NpyDescr], descr, shape.slice(1), null, add);
}

async function checkSequences(dir: string, meta: StoreMeta, ids: string[] | undefined, add: Add): Promise<void> {
  // lengths.npy: one int64 per utterance, each at least one frame, hashed.
  const lengthsPath = path.join(dir, STORE_FILES.lengths);
  let lengths: number[];
  try {
    const { data, shape } = await readNpyInt64(lengthsPath);
    lengths = data;
    const zero = data.map((t, i) => (t < 1 ? i : -1)).filter((i) => i >= 0);
    const okShape = shape.length === 1 && shape[0] === meta.n;
    add("lengths.npy", okShape && zero.length === 0,
      !okShape ? `shape (${shape.join(", ")}), expected (${meta.n},)` : zero.length ? `${zero.length} row(s) without frames: ${examples(zero.map((r) => rowName(r, ids)))}` : `${data.length} lengths, ${Math.min(...data)}..${Math.max(...data)} frames per row`);
    const digest = await sha256File(lengthsPath);
    add("lengths sha256", digest === meta.lengths_sha256, digest === meta.lengths_sha256 ? "lengths.npy matches meta.json" : `lengths.npy hashes to ${digest.slice(0, 12)}…, meta.json says ${String(meta.lengths_sha256).slice(0, 12)}…`);
    if (!okShape) return;
  } catch (err) {
    add("lengths.npy", false, (err as Error).message);
    return;
  }
  const total = lengths.reduce((a, b) => a + b, 0);
  add("offsets", total === meta.total_frames,
    total === meta.total_frames ? `rows start at the cumulative sums of lengths.npy; ${total} frames in all` : `lengths.npy sums to ${total} frames, meta.json says ${meta.total_frames}`);

  const framesPath = path.join(dir, STORE_FILES.frames);
  const shape = [total, ...rowShape(meta)];
  const descr = STORE_DTYPES[meta.dtype as StoreDtype] ?? `unknown dtype ${meta.dtype}`;
  const h = await checkHeader(framesPath, shape, descr, add);
  if (!h) return;
  const rowValues = shape.slice(1).reduce((a, b) => a * b, 1);
  const { bad, digest } = await scanFloats(framesPath, h, rowValues, (i) => lengths[i], meta.n);
  add("sha256", digest === meta.embeddings_sha256,
    digest === meta.embeddings_sha256 ? "frames.npy matches meta.json" : `frames.npy hashes to ${digest.slice(0, 12)}…, meta.json says ${meta.embeddings_sha256.slice(0, 12)}…`);
  add("finite values", bad.length === 0,
    bad.length === 0 ? `all ${total * rowValues} values finite` : `${bad.length} row(s) with NaN/Inf: ${examples(bad.map((r) => rowName(r, ids)))}`);

  // Text: special.npy marks the template's special tokens, so every row must start and end with them; a wrong
  // length or offset anywhere shifts the pattern.
  if (meta.special_tokens) {
    const specialPath = path.join(dir, STORE_FILES.special);
    try {
      const bytes = await readFile(specialPath);
      const sh = parseNpyHeader(bytes, specialPath);
      if (sh.descr !== "|u1" || sh.shape.length !== 1 || sh.shape[0] !== total) {
        add("special tokens", false, `special.npy is ${sh.descr} (${sh.shape.join(", ")}), expected |u1 (${total},)`);
      } else {
        const flags = bytes.subarray(sh.dataOffset);
        const { prefix, suffix } = meta.special_tokens;
        const wrong: number[] = [];
        let off = 0;
        lengths.forEach((t, i) => {
          for (let k = 0; k < t; k++) {
            const want = k < prefix.length || k >= t - suffix.length ? 1 : 0;
            if (flags[off + k] !== want) {
              wrong.push(i);
              break;
            }
          }
          off += t;
        });
        const digest = createHash("sha256").update(bytes).digest("hex");
        add("special tokens", wrong.length === 0 && digest === meta.special_tokens.special_sha256,
          wrong.length ? `${wrong.length} row(s) whose first ${prefix.length} / last ${suffix.length} positions are not the special tokens: ${examples(wrong.map((r) => rowName(r, ids)))}`
            : digest !== meta.special_tokens.special_sha256 ? "special.npy does not match meta.json's hash"
              : `every row starts with ${prefix.length} and ends with ${suffix.length} special token(s)`);
      }
    } catch (err) {
      add("special tokens", false, (err as Error).message);
    }
  }
  if (meta.layout === "per-utterance" && ids) await checkPerUtterance(dir, ids, framesPath, h.dataOffset, rowValues * NPY_ITEM_SIZE[descr as NpyDescr], descr, shape.slice(1), lengths, add);
}

/** per_utterance/<id>.npy must hold exactly the utterance's bytes of the main array, with its shape and dtype. */
async function checkPerUtterance(
  dir: string,
  ids: string[],
  mainPath: string,
  dataOffset: number,
  rowBytes: number,
  descr: string,
  rowShapeOf: number[],
  lengths: number[] | null,
  add: Add,
): Promise<void> {
  const fh = await open(mainPath, "r");
  const problems: string[] = [];
  let off = 0;
  try {
    for (let i = 0; i < ids.length; i++) {
      const rows = lengths ? lengths[i] : 1;
      const want = lengths ? [rows, ...rowShapeOf] : rowShapeOf;
      const file = path.join(dir, STORE_FILES.perUtterance, ids[i] + ".npy");
      const start = off;
      off += rows;
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch {
        problems.push(`${ids[i]}.npy missing`);
        continue;
      }
      try {
        const h = parseNpyHeader(bytes, file);
        const body = Buffer.alloc(rows * rowBytes);
        await fh.read(body, 0, body.length, dataOffset + start * rowBytes);
        if (h.descr !== descr || h.shape.length !== want.length || h.shape.some((v, k) => v !== want[k]))
          problems.push(`${ids[i]}.npy has shape (${h.shape.join(", ")}) ${h.descr}, expected (${want.join(", ")}) ${descr}`);
        else if (!bytes.subarray(h.dataOffset).equals(body)) problems.push(`${ids[i]}.npy differs from row ${i + 1} of ${path.basename(mainPath)}`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  } finally {
    await fh.close();
  }
  add("per-utterance files", problems.length === 0,
    problems.length === 0 ? `${ids.length} files match ${path.basename(mainPath)}` : `${problems.length} problem(s): ${examples(problems)}`);
}
