/**
 * Every error the service answers with: an HTTP status, a stable machine-readable `code` and a message that says
 * what was wrong and what to do. The JSON shape is Fastify's own (`statusCode`, `code`, `error`, `message`),
 * so framework errors (body too large, bad JSON, schema violations) and ours look the same to a client.
 */
import { STATUS_CODES } from "node:http";
import { AudioInputError } from "../audio/errors.js";

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message };
}

/** Reasons from the decoder that mean "a format or codec we do not read" (415) rather than "a broken file" (400). */
const UNSUPPORTED = /^(unrecognised file format|unsupported codec|unsupported WAV)/;

/** An audio input the decoder refused: 415 for a format it does not read, 400 for a broken or unusable file. */
export function audioHttpError(err: AudioInputError, what = "audio"): HttpError {
  if (UNSUPPORTED.test(err.reason)) return new HttpError(415, "unsupported_audio", `${what}: ${err.reason}`);
  if (err.reason.startsWith("too short for")) return new HttpError(400, "audio_too_short", `${what}: ${err.reason}`);
  return new HttpError(400, "bad_audio", `${what}: ${err.reason}`);
}

/** Maps Fastify's and its plugins' error codes to ours (the status code is theirs). */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "body_too_large",
  FST_REQ_FILE_TOO_LARGE: "body_too_large",
  FST_FILES_LIMIT: "too_many_parts",
  FST_FIELDS_LIMIT: "too_many_parts",
  FST_PARTS_LIMIT: "too_many_parts",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_EMPTY_JSON_BODY: "bad_request",
  FST_ERR_CTP_INVALID_JSON_BODY: "bad_json",
  FST_ERR_VALIDATION: "invalid_request",
  FST_INVALID_MULTIPART_CONTENT_TYPE: "bad_request",
};

/** Any error thrown while handling a request -> status, code, message, extra headers. */
export function describeError(err: unknown): { status: number; code: string; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.statusCode, code: err.code, message: err.message, headers: err.headers };
  if (err instanceof AudioInputError) {
    const h = audioHttpError(err);
    return { status: h.statusCode, code: h.code, message: h.message, headers: {} };
  }
  const e = err as { statusCode?: number; code?: string; message?: string; validation?: unknown };
  const status = typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status === 500) return { status, code: "internal", message: "internal error (a bug; the server log has the details)", headers: {} };
  const code = (e.code && FRAMEWORK_CODES[e.code]) ?? (status === 413 ? "body_too_large" : status === 415 ? "unsupported_media_type" : "bad_request");
  let message = e.message ?? "bad request";
  if (code === "body_too_large") message = `request too large: ${message}`;
  return { status, code, message, headers: {} };
}
