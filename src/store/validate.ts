/**
 * `validate`: checks every row of one or more feature stores against the index — nothing is sampled.
 * Embeddings are streamed, so memory stays bounded whatever the store size.
 */
import { createHash } from "node:crypto";
import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { loadIndex, type IndexManifest } from "../manifest/index-csv.js";
import { exists } from "../util/fs.js";
import { STORE_FILES, type StoreMeta } from "./meta.js";
import { parseNpyHeader } from "./npy.js";
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

  // embeddings.npy: header, size, hash and every value.
  const embPath = path.join(dir, STORE_FILES.embeddings);
  if (!(await exists(embPath))) {
    add("embeddings.npy", false, "missing");
    return done(meta, ids);
  }
  const head = Buffer.alloc(4096);
  const fh = await open(embPath, "r");
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  await fh.close();
  let dataOffset = 0;
  try {
    const h = parseNpyHeader(head.subarray(0, bytesRead), embPath);
    dataOffset = h.dataOffset;
    const shapeOk = h.shape.length === 2 && h.shape[0] === meta.n && h.shape[1] === meta.d;
    const dtypeOk = h.descr === "<f4" && meta.dtype === "float32" && !h.fortranOrder;
    add("shape and dtype", shapeOk && dtypeOk,
      `${h.descr}${h.fortranOrder ? " Fortran-order" : ""} (${h.shape.join(", ")}); meta.json: ${meta.dtype} (${meta.n}, ${meta.d})`);
    const size = (await stat(embPath)).size;
    const expectBytes = dataOffset + meta.n * meta.d * 4;
    if (size !== expectBytes) {
      add("file size", false, `${size} bytes, expected ${expectBytes}`);
      return done(meta, ids);
    }
  } catch (err) {
    add("shape and dtype", false, (err as Error).message);
    return done(meta, ids);
  }

  // One pass over the file: hash every byte and test every value, a block of rows at a time.
  const hash = createHash("sha256");
  const badRows: number[] = [];
  const rowBytes = meta.d * 4;
  const rowsPerBlock = Math.max(1, Math.floor((8 << 20) / Math.max(rowBytes, 1)));
  const block = Buffer.alloc(rowsPerBlock * rowBytes);
  const fh2 = await open(embPath, "r");
  try {
    const head = Buffer.alloc(dataOffset);
    await fh2.read(head, 0, dataOffset, 0);
    hash.update(head);
    for (let r0 = 0; r0 < meta.n; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, meta.n - r0);
      const { bytesRead: got } = await fh2.read(block, 0, rows * rowBytes, dataOffset + r0 * rowBytes);
      const bytes = block.subarray(0, got);
      hash.update(bytes);
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, got / 4);
      for (let k = 0; k < values.length; k++)
        if (!Number.isFinite(values[k])) {
          const row = r0 + Math.floor(k / meta.d);
          if (badRows[badRows.length - 1] !== row) badRows.push(row);
        }
    }
  } finally {
    await fh2.close();
  }
  const digest = hash.digest("hex");
  add("sha256", digest === meta.embeddings_sha256,
    digest === meta.embeddings_sha256 ? "embeddings.npy matches meta.json" : `embeddings.npy hashes to ${digest.slice(0, 12)}…, meta.json says ${meta.embeddings_sha256.slice(0, 12)}…`);
  const bad = badRows;
  add("finite values", bad.length === 0,
    bad.length === 0
      ? `all ${meta.n * meta.d} values finite`
      : `${bad.length} row(s) with NaN/Inf: ${examples(bad.map((r) => `row ${r + 1}${ids?.[r] ? ` (${ids[r]})` : ""}`))}`);

  if (meta.layout === "per-utterance" && ids) await checkPerUtterance(dir, ids, meta, embPath, dataOffset, add);
  return done(meta, ids);
}

async function checkPerUtterance(
  dir: string,
  ids: string[],
  meta: StoreMeta,
  embPath: string,
  dataOffset: number,
  add: (name: string, ok: boolean, message: string) => void,
): Promise<void> {
  const fh = await open(embPath, "r");
  const row = Buffer.alloc(meta.d * 4);
  const problems: string[] = [];
  try {
    for (let i = 0; i < ids.length; i++) {
      const file = path.join(dir, STORE_FILES.perUtterance, ids[i] + ".npy");
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch {
        problems.push(`${ids[i]}.npy missing`);
        continue;
      }
      try {
        const h = parseNpyHeader(bytes, file);
        await fh.read(row, 0, row.length, dataOffset + i * row.length);
        if (h.descr !== "<f4" || h.shape.length !== 1 || h.shape[0] !== meta.d) problems.push(`${ids[i]}.npy has shape (${h.shape.join(", ")}) ${h.descr}`);
        else if (!bytes.subarray(h.dataOffset).equals(row)) problems.push(`${ids[i]}.npy differs from row ${i + 1} of embeddings.npy`);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  } finally {
    await fh.close();
  }
  add("per-utterance files", problems.length === 0,
    problems.length === 0 ? `${ids.length} files match embeddings.npy` : `${problems.length} problem(s): ${examples(problems)}`);
}
