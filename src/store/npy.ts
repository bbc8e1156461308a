/**
 * NumPy .npy (format 1.0/2.0/3.0) for the little-endian arrays of the feature store: float32 ('<f4'),
 * float16 ('<f2', widened to float32 when read), int64 ('<i8', lengths) and uint8 ('|u1', flags).
 * Hand-written because the format is a 10-byte preamble plus a Python-dict header, and the store needs to
 * write a header first and then stream rows to known offsets (no npm package does positional writes).
 */
import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { EmofeatError } from "../errors.js";
import { float16ToFloat32 } from "../util/float16.js";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** The dtypes the store reads and writes, by numpy descr, with their item size in bytes. */
export const NPY_ITEM_SIZE = { "<f4": 4, "<f2": 2, "<i8": 8, "|u1": 1 } as const;
export type NpyDescr = keyof typeof NPY_ITEM_SIZE;
const DESCR_NAMES: Record<NpyDescr, string> = { "<f4": "float32", "<f2": "float16", "<i8": "int64", "|u1": "uint8" };

/** Store dtype names (meta.json `dtype`) and their .npy descr. */
export const STORE_DTYPES = { float32: "<f4", float16: "<f2" } as const;
export type StoreDtype = keyof typeof STORE_DTYPES;

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first data element. */
  dataOffset: number;
}

/** Header bytes for a C-order array; total header length is a multiple of 64 as numpy writes it. */
export function npyHeader(shape: readonly number[], descr: NpyDescr = "<f4"): Buffer {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const pre = 10;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, " ") + "\n";
  if (dict.length > 0xffff) throw new Error("npy header too long");
  const buf = Buffer.alloc(pre + dict.length);
  MAGIC.copy(buf, 0);
  buf[6] = 1;
  buf[7] = 0;
  buf.writeUInt16LE(dict.length, 8);
  buf.write(dict, pre, "latin1");
  return buf;
}

type NpyData = Float32Array | Uint16Array | BigInt64Array | Uint8Array;

function descrOf(data: NpyData, half: boolean): NpyDescr {
  if (data instanceof Float32Array) return "<f4";
  if (data instanceof Uint16Array) {
    if (!half) throw new Error("npy: Uint16Array data are float16 bits; pass descr '<f2'");
    return "<f2";
  }
  if (data instanceof BigInt64Array) return "<i8";
  return "|u1";
}

/** A whole .npy file: float32 data by default; Uint16Array as float16 bits with descr '<f2'; BigInt64Array; Uint8Array. */
export function encodeNpy(data: NpyData, shape: readonly number[], descr?: NpyDescr): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: shape ${shape} holds ${count} values, got ${data.length}`);
  const d = descr ?? descrOf(data, false);
  const header = npyHeader(shape, d);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([header, littleEndian(body, NPY_ITEM_SIZE[d])]);
}

export function parseNpyHeader(buf: Buffer, file = "<npy>"): NpyHeader {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new EmofeatError(`${file}: not a .npy file (bad magic)`);
  const major = buf[6];
  let len: number;
  let start: number;
  if (major === 1) {
    len = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new EmofeatError(`${file}: truncated .npy header`);
    len = buf.readUInt32LE(8);
    start = 12;
  } else throw new EmofeatError(`${file}: unsupported .npy version ${major}`);
  if (buf.length < start + len) throw new EmofeatError(`${file}: truncated .npy header`);
  const dict = buf.toString(major === 3 ? "utf8" : "latin1", start, start + len);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new EmofeatError(`${file}: unreadable .npy header: ${dict.trim()}`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  return { descr, fortranOrder: fortran === "True", shape, dataOffset: start + len };
}

/** An open .npy file whose header was checked against the size on disk; reads ranges of items. */
export interface NpyFile {
  file: string;
  header: NpyHeader;
  descr: NpyDescr;
  itemSize: number;
  /** Items in the array (product of the shape). */
  count: number;
  fh: FileHandle;
}

/** Opens a .npy file, checks dtype (one of `accept`), C order and size; the caller closes `fh`. */
export async function openNpy(file: string, accept: readonly NpyDescr[]): Promise<NpyFile> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 65536 + 12));
    await fh.read(head, 0, head.length, 0);
    const header = parseNpyHeader(head, file);
    if (!(accept as readonly string[]).includes(header.descr))
      throw new EmofeatError(`${file}: dtype ${header.descr}, expected ${accept.map((d) => `${DESCR_NAMES[d]} ('${d}')`).join(" or ")}`);
    if (header.fortranOrder) throw new EmofeatError(`${file}: Fortran-order arrays are not supported`);
    const descr = header.descr as NpyDescr;
    const itemSize = NPY_ITEM_SIZE[descr];
    const count = header.shape.reduce((a, b) => a * b, 1);
    const expected = header.dataOffset + count * itemSize;
    if (size !== expected)
      throw new EmofeatError(`${file}: size ${size} bytes, the header's shape (${header.shape.join(", ")}) needs ${expected}`);
    return { file, header, descr, itemSize, count, fh };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reads `n` float items from `start` (in items) as float32 (float16 widened). */
export async function readFloatRange(f: NpyFile, start: number, n: number): Promise<Float32Array> {
  const bytes = Buffer.alloc(n * f.itemSize);
  if (n > 0) await f.fh.read(bytes, 0, bytes.length, f.header.dataOffset + start * f.itemSize);
  return decodeFloats(f, bytes, n);
}

/** `n` items of `f`'s dtype in file byte order as float32 (float16 widened); `bytes` may be swapped in place. */
function decodeFloats(f: NpyFile, bytes: Buffer, n: number): Float32Array {
  if (BIG_ENDIAN) {
    if (f.itemSize === 2) bytes.swap16();
    else bytes.swap32();
  }
  if (f.descr === "<f2") return float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
  if (f.descr === "<f4") return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  throw new Error(`readFloatRange: ${f.file} is ${f.descr}`);
}

/**
 * Reads a whole float .npy file ('<f4', or '<f2' widened to float32). With `hash`, also the sha256 of the file's
 * bytes, computed from what was read (no second pass over the disk).
 */
export async function readNpy(file: string, o: { hash?: boolean } = {}): Promise<{ data: Float32Array; shape: number[]; descr: NpyDescr; sha256?: string }> {
  const f = await openNpy(file, ["<f4", "<f2"]);
  try {
    if (!o.hash) return { data: await readFloatRange(f, 0, f.count), shape: f.header.shape, descr: f.descr };
    const head = Buffer.alloc(f.header.dataOffset);
    await f.fh.read(head, 0, head.length, 0);
    const raw = Buffer.alloc(f.count * f.itemSize);
    if (raw.length > 0) await f.fh.read(raw, 0, raw.length, f.header.dataOffset);
    const sha256 = createHash("sha256").update(head).update(raw).digest("hex");
    return { data: decodeFloats(f, raw, f.count), shape: f.header.shape, descr: f.descr, sha256 };
  } finally {
    await f.fh.close();
  }
}

/** Reads a whole int64 .npy file as numbers (every value must be a safe integer). */
export async function readNpyInt64(file: string): Promise<{ data: number[]; shape: number[] }> {
  const f = await openNpy(file, ["<i8"]);
  try {
    const bytes = Buffer.alloc(f.count * 8);
    if (f.count > 0) await f.fh.read(bytes, 0, bytes.length, f.header.dataOffset);
    const data: number[] = new Array(f.count);
    for (let i = 0; i < f.count; i++) {
      const v = bytes.readBigInt64LE(i * 8);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new EmofeatError(`${file}: value ${v} at ${i} out of range`);
      data[i] = Number(v);
    }
    return { data, shape: f.header.shape };
  } finally {
    await f.fh.close();
  }
}

const BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** Bytes of `itemSize`-byte numbers in little-endian order (a swapped copy on big-endian hosts, the same memory otherwise). */
export function littleEndian(body: Buffer, itemSize = 4): Buffer {
  if (!BIG_ENDIAN || itemSize === 1) return body;
  const copy = Buffer.from(body);
  if (itemSize === 2) copy.swap16();
  else if (itemSize === 4) copy.swap32();
  else copy.swap64();
  return copy;
}
