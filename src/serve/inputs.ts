/**
 * What a client may send for one utterance, in each of the forms the API takes (JSON fields, multipart parts,
 * raw bodies, CSV rows), reduced to one shape: an optional id, an optional text and optional audio as the
 * Predictor takes it (encoded bytes or decoded PCM). Shape errors (unknown fields, bad base64, PCM without a
 * rate) are HttpErrors with status 400 and a message naming the field.
 */
import { Ajv, type ErrorObject } from "ajv";
import type { AudioInput } from "../predict/predict.js";
import { HttpError } from "./errors.js";

export const PCM_ENCODINGS = ["pcm16", "float32"] as const;
export type PcmEncoding = (typeof PCM_ENCODINGS)[number];

/** One utterance as a request describes it. */
export interface ItemInput {
  id?: string;
  text?: string;
  audio?: AudioInput;
}

/** JSON fields of one item (POST /v1/predict, and each element of /v1/predict/batch). */
export const itemSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    id: { type: "string", maxLength: 256 },
    text: { type: "string" },
    audio_base64: { type: "string", description: "an encoded audio file (WAV, FLAC, MP3, Ogg), base64" },
    pcm_base64: { type: "string", description: "raw PCM, little-endian, interleaved channels, base64" },
    samples: { type: "array", items: { type: "number" }, description: "raw mono samples as numbers in [-1, 1]" },
    sample_rate: { type: "integer", minimum: 1000, maximum: 384000 },
    encoding: { enum: [...PCM_ENCODINGS], description: "of pcm_base64 (default pcm16)" },
    channels: { type: "integer", minimum: 1, maximum: 32, description: "of pcm_base64 (default 1)" },
  },
} as const;

/** Fastify's validation errors and ours read the same: `body.text: must be string`, `item 3: unknown field "x"`. */
export function validationMessage(errors: readonly Pick<ErrorObject, "instancePath" | "keyword" | "params" | "message">[], where: string): string {
  return errors
    .map((v) => {
      const at = `${where}${v.instancePath.replace(/\//g, ".").replace(/\.(\d+)/g, "[$1]")}`;
      if (v.keyword === "additionalProperties") return `${at}: unknown field "${(v.params as { additionalProperty: string }).additionalProperty}"`;
      return `${at}: ${v.message}`;
    })
    .filter((m, i, all) => all.indexOf(m) === i)
    .join("; ");
}

const checkItem = new Ajv({ removeAdditional: false, coerceTypes: false, allErrors: false }).compile(itemSchema);

/**
 * One element of a JSON batch checked against the item schema on its own, so a wrong element is that item's
 * error (400 unknown_field / invalid_request) and not the whole batch's.
 */
export function checkBatchItem(j: unknown, name: string): JsonItem {
  if (checkItem(j)) return j as JsonItem;
  const errors = checkItem.errors ?? [];
  const code = errors.some((e) => e.keyword === "additionalProperties") ? "unknown_field" : "invalid_request";
  throw new HttpError(400, code, validationMessage(errors, name));
}

export interface JsonItem {
  id?: string;
  text?: string;
  audio_base64?: string;
  pcm_base64?: string;
  samples?: number[];
  sample_rate?: number;
  encoding?: PcmEncoding;
  channels?: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (Buffer.from silently skips bad characters); a data: URL prefix and whitespace are allowed. */
export function decodeBase64(s: string, field: string): Buffer {
  const body = s.replace(/^data:[^,]*;base64,/, "").replace(/\s+/g, "");
  if (body.length % 4 !== 0 || !BASE64.test(body)) throw new HttpError(400, "bad_base64", `${field} is not valid base64`);
  return Buffer.from(body, "base64");
}

/** Little-endian interleaved PCM bytes -> one Float32Array per channel (int16 / 32768, as WAV files are read). */
export function pcmToChannels(bytes: Uint8Array, encoding: PcmEncoding, channels: number, what: string): Float32Array[] {
  const width = encoding === "pcm16" ? 2 : 4;
  const frame = width * channels;
  if (bytes.length % frame !== 0)
    throw new HttpError(400, "bad_pcm", `${what}: ${bytes.length} bytes is not a whole number of ${encoding} frames of ${channels} channel(s) (${frame} bytes each)`);
  const n = bytes.length / frame;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = Array.from({ length: channels }, () => new Float32Array(n));
  for (let i = 0, off = 0; i < n; i++)
    for (let c = 0; c < channels; c++, off += width) out[c][i] = encoding === "pcm16" ? view.getInt16(off, true) / 32768 : view.getFloat32(off, true);
  return out;
}

/** A JSON item -> ItemInput (cross-field rules the schema cannot say). */
export function itemFromJson(j: JsonItem, name = "audio"): ItemInput {
  const sources = (["audio_base64", "pcm_base64", "samples"] as const).filter((f) => j[f] !== undefined);
  if (sources.length > 1) throw new HttpError(400, "bad_request", `give one of audio_base64, pcm_base64, samples (got ${sources.join(" and ")})`);
  const pcmOnly = (["sample_rate", "encoding", "channels"] as const).filter((f) => j[f] !== undefined);
  const item: ItemInput = {};
  if (j.id !== undefined) item.id = j.id;
  if (j.text !== undefined) item.text = j.text;
  if (j.audio_base64 !== undefined) {
    if (pcmOnly.length > 0) throw new HttpError(400, "bad_request", `${pcmOnly.join(", ")} go(es) with pcm_base64 or samples; audio_base64 is a whole file whose header says its format`);
    item.audio = { bytes: decodeBase64(j.audio_base64, "audio_base64"), name };
  } else if (j.pcm_base64 !== undefined || j.samples !== undefined) {
    if (j.sample_rate === undefined) throw new HttpError(400, "bad_request", `${sources[0]} needs sample_rate (Hz)`);
    let channels: Float32Array[];
    if (j.samples !== undefined) {
      if (j.encoding !== undefined || j.channels !== undefined)
        throw new HttpError(400, "bad_request", "encoding and channels go with pcm_base64; samples is one channel of numbers");
      channels = [Float32Array.from(j.samples)];
    } else channels = pcmToChannels(decodeBase64(j.pcm_base64!, "pcm_base64"), j.encoding ?? "pcm16", j.channels ?? 1, "pcm_base64");
    item.audio = { channels, sampleRate: j.sample_rate, name };
  } else if (pcmOnly.length > 0) throw new HttpError(400, "bad_request", `${pcmOnly.join(", ")} given without pcm_base64 or samples`);
  return item;
}
