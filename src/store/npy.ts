/**
 * NumPy .npy (format 1.0/2.0/3.0) for 1-D and 2-D little-endian float32 arrays.
 * Hand-written because the format is a 10-byte preamble plus a Python-dict header, and the store needs to
 * write a header first and then stream rows to known offsets (no npm package does positional writes).
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { EmofeatError } from "../errors.js";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first data element. */
  dataOffset: number;
}

/** Header bytes for a C-order little-endian float32 array; total header length is a multiple of 64 as numpy writes it. */
export function npyHeader(shape: readonly number[]): Buffer {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
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

export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npy: shape ${shape} holds ${count} values, got ${data.length}`);
  const header = npyHeader(shape);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([header, littleEndian(body)]);
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

/**
 * Reads a whole float32 .npy file. With `hash`, also the sha256 of the file's bytes, computed from what was
 * read (no second pass over the disk).
 */
export async function readNpy(file: string, o: { hash?: boolean } = {}): Promise<{ data: Float32Array; shape: number[]; sha256?: string }> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 65536 + 12));
    await fh.read(head, 0, head.length, 0);
    const h = parseNpyHeader(head, file);
    if (h.descr !== "<f4") throw new EmofeatError(`${file}: dtype ${h.descr}, expected float32 ('<f4')`);
    if (h.fortranOrder) throw new EmofeatError(`${file}: Fortran-order arrays are not supported`);
    const count = h.shape.reduce((a, b) => a * b, 1);
    const expected = h.dataOffset + count * 4;
    if (size !== expected)
      throw new EmofeatError(`${file}: size ${size} bytes, the header's shape (${h.shape.join(", ")}) needs ${expected}`);
    const data = new Float32Array(count);
    await fh.read(Buffer.from(data.buffer), 0, count * 4, h.dataOffset);
    const sha256 = o.hash ? createHash("sha256").update(head.subarray(0, h.dataOffset)).update(Buffer.from(data.buffer)).digest("hex") : undefined;
    if (BIG_ENDIAN) byteSwap32(Buffer.from(data.buffer));
    return { data, shape: h.shape, ...(sha256 ? { sha256 } : {}) };
  } finally {
    await fh.close();
  }
}

const BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

function byteSwap32(b: Buffer): void {
  b.swap32();
}

/** Float32 bytes in little-endian order (a copy on big-endian hosts, the same memory otherwise). */
export function littleEndian(body: Buffer): Buffer {
  if (!BIG_ENDIAN) return body;
  const copy = Buffer.from(body);
  byteSwap32(copy);
  return copy;
}
