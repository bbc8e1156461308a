/**
 * A streaming WAV (RIFF/RF64 WAVE) reader.
 *
 * Why hand-written: the maintained WAV libraries on npm (wavefile, node-wav, wav-decoder, audio-decode's
 * @audio/decode-wav) parse a whole in-memory file and return every sample at once (wavefile as Float64Array),
 * so a two-hour stereo recording would need gigabytes. Extraction must keep memory bounded, so this module
 * reads the header chunk by chunk and then the samples in fixed-size blocks straight from the file handle.
 * RIFF parsing and PCM conversion are small and fully specified; they are tested against hand-built files of
 * every encoding (tests/audio-decode.test.ts). Compressed codecs (FLAC/MP3/Vorbis) use maintained decoders.
 *
 * Sample scaling follows the reference loader (torchaudio/libsndfile): signed PCM is divided by 2^(bits-1) of
 * its container, 8-bit PCM is unsigned and centred ((u - 128) / 128), A-law and mu-law expand to 16-bit PCM
 * first, float data is taken as is (float64 rounded to float32).
 */
import type { ByteReader } from "./bytes.js";
import { AudioInputError } from "./errors.js";

export type WavEncoding = "pcm" | "float" | "alaw" | "mulaw";

export interface WavFormat {
  container: "RIFF" | "RF64";
  /** The format tag that decides the encoding (the sub-format for WAVE_FORMAT_EXTENSIBLE). */
  formatTag: number;
  extensible: boolean;
  encoding: WavEncoding;
  channels: number;
  sampleRate: number;
  /** Bytes per sample of one channel (blockAlign / channels). */
  bytesPerSample: number;
  /** Bits the header declares (validBitsPerSample for EXTENSIBLE); informational. */
  bitsPerSample: number;
  blockAlign: number;
  dataOffset: number;
  dataBytes: number;
  /** Whole sample frames in the data chunk (a trailing partial frame is ignored, as libsndfile does). */
  frames: number;
}

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** The 14 bytes after the format tag in every standard KSDATAFORMAT_SUBTYPE GUID. */
const SUBTYPE_GUID_TAIL = Buffer.from("000000001000800000aa00389b71", "hex");

const KNOWN_CODECS: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0011: "IMA ADPCM",
  0x0016: "ITU G.723 ADPCM",
  0x0031: "GSM 6.10",
  0x0040: "G.721 ADPCM",
  0x0050: "MPEG-in-WAV",
  0x0055: "MP3-in-WAV",
  0x0092: "Dolby AC-3-in-WAV",
  0x00ff: "AAC-in-WAV",
  0x0161: "Windows Media Audio",
  0x1610: "AAC-in-WAV",
  0x2000: "AC-3-in-WAV",
  0xf1ac: "FLAC-in-WAV",
};

function hex4(tag: number): string {
  return "0x" + tag.toString(16).padStart(4, "0").toUpperCase();
}

function garbage(file: string, detail: string): AudioInputError {
  return new AudioInputError(file, `truncated or garbage WAV header (${detail})`);
}

async function readAt(fh: ByteReader, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** A chunk id is four printable ASCII characters (space included); anything else means we lost the chunk chain. */
function isChunkId(b: Buffer): boolean {
  if (b.length < 4) return false;
  for (let i = 0; i < 4; i++) if (b[i] < 0x20 || b[i] > 0x7e) return false;
  return true;
}

/** True when the first bytes look like a WAV file we should parse (RIFF/RF64/RIFX with WAVE). */
export function looksLikeWav(head: Buffer): boolean {
  if (head.length < 12) return false;
  const id = head.toString("latin1", 0, 4);
  return (id === "RIFF" || id === "RF64" || id === "RIFX" || id === "BW64") && head.toString("latin1", 8, 12) === "WAVE";
}

export interface FmtChunk {
  formatTag: number;
  extensible: boolean;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function parseFmt(body: Buffer, file: string): FmtChunk {
  if (body.length < 16) throw garbage(file, `fmt chunk of ${body.length} bytes, need at least 16`);
  let formatTag = body.readUInt16LE(0);
  const channels = body.readUInt16LE(2);
  const sampleRate = body.readUInt32LE(4);
  const blockAlign = body.readUInt16LE(12);
  let bitsPerSample = body.readUInt16LE(14);
  let extensible = false;
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (body.length < 40) throw garbage(file, `WAVE_FORMAT_EXTENSIBLE fmt chunk of ${body.length} bytes, need 40`);
    extensible = true;
    const validBits = body.readUInt16LE(18);
    const guid = body.subarray(24, 40);
    if (!guid.subarray(2).equals(SUBTYPE_GUID_TAIL)) {
      throw new AudioInputError(file, `unsupported codec (WAVE_FORMAT_EXTENSIBLE sub-format GUID ${guid.toString("hex")})`);
    }
    formatTag = guid.readUInt16LE(0);
    if (validBits > 0) bitsPerSample = validBits;
  }
  if (channels === 0) throw garbage(file, "0 channels");
  if (sampleRate === 0) throw garbage(file, "sample rate 0");
  if (blockAlign === 0 || blockAlign % channels !== 0) {
    throw garbage(file, `block align ${blockAlign} does not fit ${channels} channel(s)`);
  }
  return { formatTag, extensible, channels, sampleRate, blockAlign, bitsPerSample };
}

function encodingOf(fmt: FmtChunk, bytesPerSample: number, file: string): WavEncoding {
  const tag = fmt.formatTag;
  if (tag === WAVE_FORMAT_PCM) {
    if (bytesPerSample < 1 || bytesPerSample > 4) {
      throw new AudioInputError(file, `unsupported codec (PCM with ${bytesPerSample * 8}-bit samples)`);
    }
    return "pcm";
  }
  if (tag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bytesPerSample !== 4 && bytesPerSample !== 8) {
      throw new AudioInputError(file, `unsupported codec (IEEE float with ${bytesPerSample * 8}-bit samples)`);
    }
    return "float";
  }
  if (tag === WAVE_FORMAT_ALAW || tag === WAVE_FORMAT_MULAW) {
    if (bytesPerSample !== 1) throw garbage(file, `G.711 with ${bytesPerSample}-byte samples`);
    return tag === WAVE_FORMAT_ALAW ? "alaw" : "mulaw";
  }
  const name = KNOWN_CODECS[tag];
  throw new AudioInputError(file, `unsupported codec (WAVE format tag ${hex4(tag)}${name ? " " + name : ""})`);
}

export interface WavChunks {
  container: "RIFF" | "RF64";
  fmt: FmtChunk;
  /** Where the samples are; `bytes` is what the header declares, or what the file holds when `truncatedData` is "clip". */
  data: { offset: number; bytes: number };
}

/**
 * Walks the chunk list up to the data chunk and returns the format and where the samples are. Unknown chunks
 * (LIST, bext, fact, JUNK, cue ...) are skipped, including the pad byte after odd-sized ones. A data chunk
 * that claims more bytes than the file holds is an error for decoding; header-only readers (durations in
 * the corpus recipes) pass `truncatedData: "clip"` to count what is there.
 */
export async function walkWavChunks(
  fh: ByteReader,
  fileSize: number,
  file: string,
  options: { truncatedData?: "error" | "clip" } = {},
): Promise<WavChunks> {
  const head = await readAt(fh, 0, 12);
  if (head.length < 12) throw garbage(file, `file of ${fileSize} bytes is shorter than a RIFF header`);
  const riffId = head.toString("latin1", 0, 4);
  if (riffId === "RIFX") throw new AudioInputError(file, "unsupported codec (big-endian RIFX WAV)");
  if (riffId !== "RIFF" && riffId !== "RF64" && riffId !== "BW64") throw garbage(file, "no RIFF signature");
  if (head.toString("latin1", 8, 12) !== "WAVE") throw garbage(file, "RIFF file is not WAVE");
  const container = riffId === "RIFF" ? "RIFF" : "RF64";

  let fmt: FmtChunk | null = null;
  let data: { offset: number; bytes: number } | null = null;
  let ds64DataSize: number | null = null;
  let pos = 12;
  while (pos + 8 <= fileSize) {
    const ch = await readAt(fh, pos, 8);
    if (!isChunkId(ch)) {
      if (fmt && data) break; // trailing garbage after the chunks we need is harmless
      throw garbage(file, `invalid chunk id at byte ${pos}`);
    }
    const id = ch.toString("latin1", 0, 4);
    let size = ch.readUInt32LE(4);
    const bodyPos = pos + 8;
    if (id === "data") {
      let bytes = size;
      if (container === "RF64" && size === 0xffffffff) {
        if (ds64DataSize === null) throw garbage(file, "RF64 file without a ds64 chunk");
        bytes = ds64DataSize;
      } else if (size === 0xffffffff || (size === 0 && options.truncatedData === "clip")) {
        // Streaming writers that cannot seek back (e.g. ffmpeg to a pipe) leave the size unknown: data runs to EOF.
        bytes = fileSize - bodyPos;
      }
      if (bodyPos + bytes > fileSize) {
        if (options.truncatedData === "clip") bytes = fileSize - bodyPos;
        else
          throw new AudioInputError(
            file,
            `truncated WAV data chunk (header declares ${bytes} bytes of samples, the file has ${fileSize - bodyPos})`,
          );
      }
      data = { offset: bodyPos, bytes };
      if (fmt) break;
      size = bytes;
    } else if (id === "fmt ") {
      if (size > 1 << 16) throw garbage(file, `fmt chunk of ${size} bytes`);
      const body = await readAt(fh, bodyPos, size);
      if (body.length < size) throw garbage(file, "fmt chunk runs past the end of the file");
      fmt = parseFmt(body, file);
      if (data) break;
    } else if (id === "ds64") {
      const body = await readAt(fh, bodyPos, Math.min(size, 28));
      if (body.length < 16) throw garbage(file, "short ds64 chunk");
      ds64DataSize = Number(body.readBigUInt64LE(8));
    } else if (bodyPos + size > fileSize) {
      throw garbage(file, `chunk '${id.trim()}' of ${size} bytes runs past the end of the file`);
    }
    let next = bodyPos + size;
    if (size % 2 === 1) {
      // RIFF pads odd-sized chunks to an even length. Some writers forget the pad byte: accept whichever
      // position holds a valid next chunk id, preferring the spec's.
      const padded = await readAt(fh, next + 1, 4);
      const unpadded = await readAt(fh, next, 4);
      if (isChunkId(padded) || next + 1 >= fileSize || !isChunkId(unpadded)) next += 1;
    }
    pos = next;
  }
  if (!fmt) throw garbage(file, "no fmt chunk");
  if (!data) throw garbage(file, "no data chunk");
  return { container, fmt, data };
}

/** The format and sample location of a WAV file to decode (unsupported encodings are refused here). */
export async function readWavHeader(fh: ByteReader, fileSize: number, file: string): Promise<WavFormat> {
  const { container, fmt, data } = await walkWavChunks(fh, fileSize, file);
  const bytesPerSample = fmt.blockAlign / fmt.channels;
  const encoding = encodingOf(fmt, bytesPerSample, file);
  return {
    container,
    formatTag: fmt.formatTag,
    extensible: fmt.extensible,
    encoding,
    channels: fmt.channels,
    sampleRate: fmt.sampleRate,
    bytesPerSample,
    bitsPerSample: fmt.bitsPerSample,
    blockAlign: fmt.blockAlign,
    dataOffset: data.offset,
    dataBytes: data.bytes,
    frames: Math.floor(data.bytes / fmt.blockAlign),
  };
}

// ITU-T G.711 expansion to 16-bit linear PCM (the tables sox and libsndfile use).
function alawToLinear(a: number): number {
  a ^= 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

function mulawToLinear(u: number): number {
  u = ~u & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

const ALAW_TABLE = Float32Array.from({ length: 256 }, (_, i) => alawToLinear(i) / 32768);
const MULAW_TABLE = Float32Array.from({ length: 256 }, (_, i) => mulawToLinear(i) / 32768);

/**
 * Converts `frames` whole frames of interleaved sample bytes into one Float32Array per channel.
 * Returns the index of the first non-finite sample as `badSample` (float encodings only), or -1.
 */
export function convertWavSamples(bytes: Uint8Array, fmt: WavFormat, frames: number): { planes: Float32Array[]; badSample: number } {
  const C = fmt.channels;
  const bps = fmt.bytesPerSample;
  const planes = Array.from({ length: C }, () => new Float32Array(frames));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let badSample = -1;
  let off = 0;
  const skip = fmt.blockAlign - C * bps; // always 0 given blockAlign = C * bps, kept for clarity
  if (fmt.encoding === "pcm") {
    if (bps === 1) {
      for (let f = 0; f < frames; f++, off += skip) for (let c = 0; c < C; c++) planes[c][f] = (bytes[off++] - 128) / 128;
    } else if (bps === 2) {
      for (let f = 0; f < frames; f++, off += skip)
        for (let c = 0; c < C; c++, off += 2) planes[c][f] = dv.getInt16(off, true) / 32768;
    } else if (bps === 3) {
      for (let f = 0; f < frames; f++, off += skip)
        for (let c = 0; c < C; c++, off += 3) {
          const v = bytes[off] | (bytes[off + 1] << 8) | (bytes[off + 2] << 16);
          planes[c][f] = ((v << 8) >> 8) / 8388608;
        }
    } else {
      // int32 -> float32 rounds to 24 significant bits; dividing by 2^31 afterwards is exact, as in the reference.
      for (let f = 0; f < frames; f++, off += skip)
        for (let c = 0; c < C; c++, off += 4) planes[c][f] = dv.getInt32(off, true) / 2147483648;
    }
  } else if (fmt.encoding === "float") {
    for (let f = 0; f < frames; f++, off += skip)
      for (let c = 0; c < C; c++, off += bps) {
        const v = bps === 4 ? dv.getFloat32(off, true) : dv.getFloat64(off, true);
        if (!Number.isFinite(v) && badSample < 0) badSample = f * C + c;
        planes[c][f] = v;
      }
  } else {
    const table = fmt.encoding === "alaw" ? ALAW_TABLE : MULAW_TABLE;
    for (let f = 0; f < frames; f++, off += skip) for (let c = 0; c < C; c++) planes[c][f] = table[bytes[off++]];
  }
  return { planes, badSample };
}

/** Reads the data chunk in blocks of about `blockFrames` frames; yields one Float32Array per channel per block. */
export async function* readWavBlocks(
  fh: ByteReader,
  fmt: WavFormat,
  file: string,
  blockFrames = 1 << 16,
): AsyncGenerator<Float32Array[]> {
  const buf = Buffer.alloc(blockFrames * fmt.blockAlign);
  let done = 0;
  while (done < fmt.frames) {
    const frames = Math.min(blockFrames, fmt.frames - done);
    const want = frames * fmt.blockAlign;
    const pos = fmt.dataOffset + done * fmt.blockAlign;
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
      if (bytesRead === 0) throw new AudioInputError(file, "file shrank while it was being read");
      got += bytesRead;
    }
    const { planes, badSample } = convertWavSamples(buf.subarray(0, want), fmt, frames);
    if (badSample >= 0) {
      const frame = done + Math.floor(badSample / fmt.channels);
      throw new AudioInputError(file, `NaN/Inf samples (first at frame ${frame}, ${(frame / fmt.sampleRate).toFixed(3)} s)`);
    }
    done += frames;
    yield planes;
  }
}

export function describeWav(fmt: WavFormat): string {
  const enc =
    fmt.encoding === "pcm"
      ? `PCM ${fmt.bytesPerSample * 8}-bit${fmt.bytesPerSample === 1 ? " unsigned" : ""}`
      : fmt.encoding === "float"
        ? `float ${fmt.bytesPerSample * 8}-bit`
        : fmt.encoding === "alaw"
          ? "A-law"
          : "mu-law";
  return `WAV ${enc}${fmt.extensible ? " (extensible)" : ""}`;
}
