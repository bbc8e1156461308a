import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { decodeAudioFile, mixToMono, openAudio } from "../src/audio/decode.js";
import { AudioInputError } from "../src/audio/errors.js";
import { floatBytes, intBytes, planesOf, synthInts, tempDir, wavBytes, writeTemp, type WavSpec } from "./helpers/audio-synth.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const FIX = path.join(ROOT, "fixtures");
const SHARED_DATA = path.resolve(ROOT, "..", "shared", "data");
const dir = tempDir();

function wavFile(name: string, spec: WavSpec, data: Buffer): string {
  return writeTemp(dir, name, wavBytes(spec, data));
}

function expectPlanes(got: Float32Array[], want: Float32Array[]): void {
  expect(got.length).toBe(want.length);
  for (let c = 0; c < want.length; c++) expect(Array.from(got[c])).toEqual(Array.from(want[c]));
}

async function reasonOf(file: string): Promise<string> {
  try {
    await decodeAudioFile(file);
  } catch (err) {
    expect(err).toBeInstanceOf(AudioInputError);
    const e = err as AudioInputError;
    expect(e.message).toContain(file);
    expect(e.message).toContain(`audio: ${e.reason}`);
    expect(e.failureReason).toBe(`audio: ${e.reason}`);
    return e.reason;
  }
  throw new Error(`decoding ${file} did not fail`);
}

describe("WAV encodings", () => {
  const f32 = Math.fround;

  it("8-bit PCM is unsigned and centred: (u - 128) / 128", async () => {
    const u = [0, 1, 64, 127, 128, 129, 200, 255];
    const f = wavFile("u8.wav", { sampleRate: 8000, channels: 1, formatTag: 1, bytesPerSample: 1 }, intBytes(u, 1));
    const a = await decodeAudioFile(f);
    expect(a.sampleRate).toBe(8000);
    expect(Array.from(a.channelData[0])).toEqual([-1, -127 / 128, -0.5, -1 / 128, 0, 1 / 128, 72 / 128, 127 / 128]);
  });

  it("16-bit PCM stereo: int / 32768 per channel, mono = channel mean", async () => {
    const ints = [-32768, 32767, 0, -1, 1, 16384, 12345, -23456];
    const f = wavFile("s16.wav", { sampleRate: 16000, channels: 2, formatTag: 1, bytesPerSample: 2 }, intBytes(ints, 2));
    const a = await decodeAudioFile(f);
    expect(a.channels).toBe(2);
    expect(a.length).toBe(4);
    expectPlanes(a.channelData, [
      Float32Array.from([-1, 0, 1 / 32768, 12345 / 32768]),
      Float32Array.from([32767 / 32768, -1 / 32768, 0.5, -23456 / 32768]),
    ]);
    expect(Array.from(mixToMono(a.channelData))).toEqual(
      [0, 1, 2, 3].map((i) => f32(f32(ints[2 * i] / 32768 + ints[2 * i + 1] / 32768) / 2)),
    );
  });

  it("24-bit PCM, 3 channels: int / 2^23", async () => {
    const ints = [-8388608, 8388607, 1, -1, 4194304, -123456, 7000000, 0, 42];
    const f = wavFile("s24.wav", { sampleRate: 44100, channels: 3, formatTag: 1, bytesPerSample: 3 }, intBytes(ints, 3));
    const a = await decodeAudioFile(f);
    expectPlanes(a.channelData, planesOf(ints, 3, (v) => v / 8388608));
  });

  it("32-bit PCM: float32(int) / 2^31", async () => {
    const ints = [-2147483648, 2147483647, 123456789, -1, 1, -987654321];
    const f = wavFile("s32.wav", { sampleRate: 48000, channels: 2, formatTag: 1, bytesPerSample: 4 }, intBytes(ints, 4));
    const a = await decodeAudioFile(f);
    expectPlanes(a.channelData, planesOf(ints, 2, (v) => f32(v) / 2 ** 31));
    expect(a.channelData[1][0]).toBe(1); // 2^31 - 1 rounds up to 2^31 in float32, as in torch
  });

  it("IEEE float 32 and 64 are taken as they are (float64 rounded to float32)", async () => {
    const vals = [0.5, -0.25, 1.5, -1.0000001, 1e-9, 0.1, -0.3333333333333333, 0.7];
    const a = await decodeAudioFile(wavFile("f32.wav", { sampleRate: 22050, channels: 1, formatTag: 3, bytesPerSample: 4 }, floatBytes(vals, 4)));
    expect(Array.from(a.channelData[0])).toEqual(vals.map(f32));
    const b = await decodeAudioFile(wavFile("f64.wav", { sampleRate: 22050, channels: 2, formatTag: 3, bytesPerSample: 8 }, floatBytes(vals, 8)));
    expectPlanes(b.channelData, planesOf(vals, 2, f32));
  });

  it("WAVE_FORMAT_EXTENSIBLE: PCM 24-bit stereo, float 32, and 6-channel 16-bit", async () => {
    const i24 = [8388607, -8388608, 1, -1, 100000, -100000];
    const a = await decodeAudioFile(
      wavFile("ext24.wav", { sampleRate: 48000, channels: 2, formatTag: 1, bytesPerSample: 3, extensible: true }, intBytes(i24, 3)),
    );
    expect(a.description).toBe("WAV PCM 24-bit (extensible)");
    expectPlanes(a.channelData, planesOf(i24, 2, (v) => v / 8388608));
    const fl = [0.25, -0.5, 0.125, 0.0625];
    const b = await decodeAudioFile(
      wavFile("extf.wav", { sampleRate: 16000, channels: 1, formatTag: 3, bytesPerSample: 4, extensible: true }, floatBytes(fl, 4)),
    );
    expect(Array.from(b.channelData[0])).toEqual(fl);
    const six = synthInts(50, 6, 3, "noise-saw");
    const c = await decodeAudioFile(
      wavFile("ext6.wav", { sampleRate: 16000, channels: 6, formatTag: 1, bytesPerSample: 2, extensible: true }, intBytes(six, 2)),
    );
    expectPlanes(c.channelData, planesOf(six, 6, (v) => v / 32768));
  });

  it("20-bit samples in 24-bit containers scale by the container", async () => {
    const ints = [0x7ffff0, -0x800000, 0x100, -0x100].map((v) => v); // left-justified 20-bit values
    const a = await decodeAudioFile(
      wavFile("s20.wav", { sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 3, extensible: true, bitsPerSampleField: 20 }, intBytes(ints, 3)),
    );
    expect(Array.from(a.channelData[0])).toEqual(ints.map((v) => v / 8388608));
  });

  it("skips LIST and other chunks before data, with and without the pad byte after odd sizes", async () => {
    const ints = [100, -200, 300, -400, 500];
    const list = Buffer.concat([Buffer.from("INFOISFT", "latin1"), Buffer.from([14, 0, 0, 0]), Buffer.from("Lavf56.40.101\0", "latin1")]);
    const spec: WavSpec = {
      sampleRate: 48000,
      channels: 1,
      formatTag: 1,
      bytesPerSample: 2,
      extraChunks: [["LIST", list], ["junk", Buffer.from("odd")], ["fact", Buffer.from([5, 0, 0, 0])]],
    };
    const want = ints.map((v) => v / 32768);
    expect(Array.from((await decodeAudioFile(wavFile("list.wav", spec, intBytes(ints, 2)))).channelData[0])).toEqual(want);
    expect(Array.from((await decodeAudioFile(wavFile("nopad.wav", { ...spec, omitPad: true }, intBytes(ints, 2)))).channelData[0])).toEqual(
      want,
    );
  });

  it("reads an odd-sized data chunk (8-bit, 3 samples) followed by its pad byte and a trailing chunk", async () => {
    const spec: WavSpec = { sampleRate: 8000, channels: 1, formatTag: 1, bytesPerSample: 1 };
    const bytes = Buffer.concat([wavBytes(spec, Buffer.from([0, 128, 255])), Buffer.from("LIST\x04\x00\x00\x00INFO", "latin1")]);
    const a = await decodeAudioFile(writeTemp(dir, "odd-data.wav", bytes));
    expect(Array.from(a.channelData[0])).toEqual([-1, 0, 127 / 128]);
  });

  it("A-law and mu-law expand like G.711 (Python audioop tables)", async () => {
    const g711 = JSON.parse(readFileSync(path.join(FIX, "reference/audio/g711.json"), "utf8")) as { alaw: number[]; mulaw: number[] };
    const codes = Array.from({ length: 256 }, (_, i) => i);
    for (const [tag, table] of [
      [6, g711.alaw],
      [7, g711.mulaw],
    ] as const) {
      const a = await decodeAudioFile(wavFile(`g711-${tag}.wav`, { sampleRate: 8000, channels: 1, formatTag: tag, bytesPerSample: 1 }, Buffer.from(codes)));
      expect(Array.from(a.channelData[0])).toEqual(table.map((v) => v / 32768));
    }
  });

  it("streams a file longer than one read block with the same samples", async () => {
    const frames = 150_001;
    const ints = synthInts(frames, 2, 9, "noise-saw");
    const f = wavFile("long.wav", { sampleRate: 16000, channels: 2, formatTag: 1, bytesPerSample: 2 }, intBytes(ints, 2));
    const s = await openAudio(f);
    expect(s.frames).toBe(frames);
    let blocks = 0;
    let n = 0;
    let mismatches = 0;
    for await (const planes of s.blocks()) {
      blocks++;
      for (let i = 0; i < planes[0].length; i++, n++) {
        if (planes[0][i] !== ints[2 * n] / 32768 || planes[1][i] !== ints[2 * n + 1] / 32768) mismatches++;
      }
    }
    expect(blocks).toBeGreaterThan(1);
    expect(n).toBe(frames);
    expect(mismatches).toBe(0);
  });
});

describe("compressed formats", () => {
  const spec = JSON.parse(readFileSync(path.join(FIX, "audio/codecs.json"), "utf8")) as {
    sampleRate: number;
    channels: number;
    frames: number;
    seed: number;
    kind: string;
  };
  const ints = synthInts(spec.frames, spec.channels, spec.seed, spec.kind);

  it("FLAC 16-bit and Ogg FLAC decode losslessly to int / 32768", async () => {
    for (const name of ["clip16.flac", "clip16.oga"]) {
      const a = await decodeAudioFile(path.join(FIX, "audio", name));
      expect(a.codec).toBe(name.endsWith(".oga") ? "ogg-flac" : "flac");
      expect(a.sampleRate).toBe(spec.sampleRate);
      expectPlanes(a.channelData, planesOf(ints, 2, (v) => v / 32768));
    }
  });

  it("FLAC 24-bit decodes losslessly to int / 2^23 (including the low byte)", async () => {
    const i24 = Array.from(ints, (v, i) => v * 256 + (i % 256));
    const a = await decodeAudioFile(path.join(FIX, "audio/clip24.flac"));
    expect(a.description).toBe("FLAC 24-bit");
    expectPlanes(a.channelData, planesOf(i24, 2, (v) => v / 8388608));
  });

  it("MP3 and Ogg Vorbis decode to the right rate, channels and a waveform close to the source", async () => {
    const src = mixToMono(planesOf(ints, 2, (v) => v / 32768));
    for (const [name, codec] of [
      ["clip16.mp3", "mp3"],
      ["clip16.ogg", "ogg-vorbis"],
    ] as const) {
      const a = await decodeAudioFile(path.join(FIX, "audio", name));
      expect(a.codec).toBe(codec);
      expect(a.sampleRate).toBe(spec.sampleRate);
      expect(a.channels).toBe(2);
      // MP3 adds encoder delay/padding; compare at the best lag within 3000 samples (correlation of a lossy copy).
      const mono = mixToMono(a.channelData);
      expect(mono.length).toBeGreaterThanOrEqual(spec.frames);
      expect(mono.length).toBeLessThan(spec.frames + 3000);
      let best = -1;
      for (let lag = 0; lag <= Math.min(3000, mono.length - spec.frames); lag++) {
        let sxy = 0, sxx = 0, syy = 0;
        for (let i = 0; i < spec.frames; i += 3) {
          const x = src[i], y = mono[i + lag];
          sxy += x * y; sxx += x * x; syy += y * y;
        }
        best = Math.max(best, sxy / Math.sqrt(sxx * syy));
      }
      expect(best).toBeGreaterThan(0.8);
    }
  });
});

describe("bad input gets a typed error with a clear reason", () => {
  const pcm16: WavSpec = { sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 };

  it("missing file, directory, empty file", async () => {
    expect(await reasonOf(path.join(dir, "nope.wav"))).toBe("file not found");
    const d = path.join(dir, "a-dir.wav");
    mkdirSync(d, { recursive: true });
    expect(await reasonOf(d)).toBe("is a directory");
    expect(await reasonOf(writeTemp(dir, "empty.wav", Buffer.alloc(0)))).toBe("empty file (0 bytes)");
  });

  it("garbage and truncated headers", async () => {
    expect(await reasonOf(writeTemp(dir, "garbage.wav", Buffer.from("this is not audio at all, just text\n".repeat(20))))).toBe(
      "unrecognised file format (not WAV, FLAC, MP3 or Ogg)",
    );
    const good = wavBytes(pcm16, intBytes([1, 2, 3, 4], 2));
    expect(await reasonOf(writeTemp(dir, "cut20.wav", good.subarray(0, 20)))).toMatch(/^truncated or garbage WAV header \(/);
    expect(await reasonOf(writeTemp(dir, "cut10.wav", good.subarray(0, 10)))).toMatch(/^truncated or garbage WAV header \(/);
    const noData = good.subarray(0, 12 + 8 + 16);
    expect(await reasonOf(writeTemp(dir, "nodata.wav", noData))).toBe("truncated or garbage WAV header (no data chunk)");
    const badChunk = Buffer.concat([good.subarray(0, 36), Buffer.from([0, 1, 2, 3, 9, 0, 0, 0]), good.subarray(36)]);
    expect(await reasonOf(writeTemp(dir, "badchunk.wav", badChunk))).toMatch(/^truncated or garbage WAV header \(invalid chunk id/);
    const zeroCh = Buffer.from(good);
    zeroCh.writeUInt16LE(0, 22);
    expect(await reasonOf(writeTemp(dir, "zeroch.wav", zeroCh))).toBe("truncated or garbage WAV header (0 channels)");
  });

  it("a data chunk cut short names what is missing", async () => {
    const good = wavBytes(pcm16, intBytes([1, 2, 3, 4, 5, 6], 2));
    expect(await reasonOf(writeTemp(dir, "cutdata.wav", good.subarray(0, good.length - 5)))).toBe(
      "truncated WAV data chunk (header declares 12 bytes of samples, the file has 7)",
    );
  });

  it("unsupported codecs", async () => {
    const mp3InWav = wavFile("mp3in.wav", { ...pcm16, formatTag: 0x55, bytesPerSample: 1 }, Buffer.alloc(64, 0xff));
    expect(await reasonOf(mp3InWav)).toBe("unsupported codec (WAVE format tag 0x0055 MP3-in-WAV)");
    const adpcm = wavFile("adpcm.wav", { ...pcm16, formatTag: 0x11, bytesPerSample: 1 }, Buffer.alloc(64));
    expect(await reasonOf(adpcm)).toBe("unsupported codec (WAVE format tag 0x0011 IMA ADPCM)");
    const f16 = wavFile("f16.wav", { ...pcm16, formatTag: 3, bytesPerSample: 2 }, Buffer.alloc(64));
    expect(await reasonOf(f16)).toBe("unsupported codec (IEEE float with 16-bit samples)");
    const rifx = Buffer.from(wavBytes(pcm16, intBytes([1, 2], 2)));
    rifx.write("RIFX", 0, "latin1");
    expect(await reasonOf(writeTemp(dir, "rifx.wav", rifx))).toBe("unsupported codec (big-endian RIFX WAV)");
    const opus = Buffer.alloc(64);
    opus.write("OggS", 0, "latin1");
    opus[26] = 1;
    opus[27] = 19;
    opus.write("OpusHead", 28, "latin1");
    expect(await reasonOf(writeTemp(dir, "x.opus", opus))).toBe("unsupported codec (Ogg opus)");
  });

  it("zero samples", async () => {
    expect(await reasonOf(wavFile("zero.wav", pcm16, Buffer.alloc(0)))).toBe("zero samples");
    // a data chunk smaller than one frame holds no whole sample
    expect(await reasonOf(wavFile("partial.wav", { ...pcm16, channels: 2 }, Buffer.alloc(3)))).toBe("zero samples");
  });

  it("NaN/Inf samples, with where they start", async () => {
    const vals = [0.1, 0.2, NaN, 0.4];
    expect(await reasonOf(wavFile("nan.wav", { ...pcm16, formatTag: 3, bytesPerSample: 4 }, floatBytes(vals, 4)))).toBe(
      "NaN/Inf samples (first at frame 2, 0.000 s)",
    );
    const inf = Array.from({ length: 32000 }, (_, i) => (i === 24000 ? -Infinity : 0));
    expect(await reasonOf(wavFile("inf.wav", { ...pcm16, formatTag: 3, bytesPerSample: 8 }, floatBytes(inf, 8)))).toBe(
      "NaN/Inf samples (first at frame 24000, 1.500 s)",
    );
  });

  it("corrupt and truncated FLAC", async () => {
    const flac = readFileSync(path.join(FIX, "audio/clip16.flac"));
    expect(await reasonOf(writeTemp(dir, "cut.flac", flac.subarray(0, Math.floor(flac.length / 2))))).toMatch(
      /^truncated FLAC data \(STREAMINFO declares 11025 samples, decoded \d+\)$/,
    );
    expect(await reasonOf(writeTemp(dir, "head.flac", flac.subarray(0, 20)))).toBe("truncated or garbage FLAC header (no STREAMINFO block)");
    const junk = Buffer.concat([flac.subarray(0, 42), Buffer.alloc(5000, 0x5a)]);
    expect(await reasonOf(writeTemp(dir, "junk.flac", junk))).toMatch(/^corrupt FLAC data \(no decodable frames/);
  });
});

describe.skipIf(!existsSync(SHARED_DATA))("real corpus files in ../shared/data", () => {
  const ref = JSON.parse(readFileSync(path.join(FIX, "reference/audio/shared-files.json"), "utf8")) as {
    files: {
      path: string;
      sampleRate: number;
      channels: number;
      frames: number;
      intSum: number;
      intSumSq: number;
      headInts: number[];
      midIndex: number;
      midInts: number[];
      tailInts: number[];
    }[];
  };

  it("covers RAVDESS (48 kHz, LIST chunk), EmoDB (22.05 kHz) and URDU (44.1 kHz)", () => {
    const rates = new Set(ref.files.map((f) => f.sampleRate));
    expect([...rates].sort()).toEqual([22050, 44100, 48000]);
    const ravdess = readFileSync(path.join(SHARED_DATA, ref.files[0].path));
    expect(ravdess.toString("latin1", 36, 40)).toBe("LIST");
  });

  for (const f of ref.files) {
    it(`decodes ${f.path} to the sample values Python's wave module reads`, async () => {
      const a = await decodeAudioFile(path.join(SHARED_DATA, f.path));
      expect([a.sampleRate, a.channels, a.length]).toEqual([f.sampleRate, f.channels, f.frames]);
      const x = a.channelData[0];
      const ints = Array.from(x, (v) => v * 32768);
      expect(ints.every(Number.isInteger)).toBe(true);
      expect(ints.reduce((s, v) => s + v, 0)).toBe(f.intSum);
      expect(ints.reduce((s, v) => s + v * v, 0)).toBe(f.intSumSq);
      expect(ints.slice(0, 16)).toEqual(f.headInts);
      expect(ints.slice(f.midIndex, f.midIndex + 8)).toEqual(f.midInts);
      expect(ints.slice(-4)).toEqual(f.tailInts);
    });
  }
});
