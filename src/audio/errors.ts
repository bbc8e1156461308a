import { EmofeatError } from "../errors.js";

/**
 * A file that cannot be turned into audio samples. `reason` is short and stable ("file not found",
 * "unsupported codec (...)") so the extraction driver can write it into failures.csv as `audio: <reason>`
 * and go on with the next row; the message also names the file.
 */
export class AudioInputError extends EmofeatError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, options: { cause?: unknown } = {}) {
    super(`${file}: audio: ${reason}`, options);
    this.name = "AudioInputError";
    this.file = file;
    this.reason = reason;
  }

  /** The failures.csv text for this problem. */
  get failureReason(): string {
    return `audio: ${this.reason}`;
  }
}
