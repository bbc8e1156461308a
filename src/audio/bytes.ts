/**
 * What the decoders need from their input: positional reads and a close. A `FileHandle` from node:fs/promises is
 * one; `BufferReader` serves bytes already in memory (an HTTP upload), so uploads go through the very same
 * decoders as files, without a temporary file.
 */
export interface ByteReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

export class BufferReader implements ByteReader {
  constructor(private readonly bytes: Uint8Array) {}

  get size(): number {
    return this.bytes.length;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const n = Math.max(0, Math.min(length, this.bytes.length - position));
    if (n > 0) buffer.set(this.bytes.subarray(position, position + n), offset);
    return { bytesRead: n };
  }

  async close(): Promise<void> {}
}
