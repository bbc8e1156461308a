/**
 * Token ids with the reference's truncation. transformers.js truncates the already-wrapped sequence, which
 * drops the closing [SEP]/</s> of long texts; Hugging Face's Python tokenizers (the reference) truncate the
 * content and keep the special tokens. So we encode without special tokens, truncate, and wrap with the
 * tokenizer's own single-sequence template (learned from the tokenizer, so RoBERTa's <s> ... </s> works too).
 */
import { EmofeatError, UsageError } from "../errors.js";

export interface TokenizerLike {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  pad_token_id?: number | null;
  /** token -> id (transformers.js tokenizers); used to name token positions (predict --explain). */
  get_vocab?(): Map<string, number>;
}

export interface SpecialTemplate {
  prefix: number[];
  suffix: number[];
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Finds the ids the tokenizer puts around a single sequence, and checks the template is prefix + content + suffix. */
export function learnTemplate(tok: TokenizerLike): SpecialTemplate {
  const probe = "hello world";
  const bare = tok.encode(probe, { add_special_tokens: false });
  const wrapped = tok.encode(probe, { add_special_tokens: true });
  for (let start = 0; start + bare.length <= wrapped.length; start++) {
    if (sameIds(wrapped.slice(start, start + bare.length), bare)) {
      const t = { prefix: wrapped.slice(0, start), suffix: wrapped.slice(start + bare.length) };
      const check = "The 2nd check, with punctuation!";
      const expect = tok.encode(check, { add_special_tokens: true });
      if (sameIds([...t.prefix, ...tok.encode(check, { add_special_tokens: false }), ...t.suffix], expect)) return t;
      break;
    }
  }
  throw new EmofeatError("the tokenizer's special-token template is not <prefix> text <suffix>; this tokenizer is not supported");
}

export type TruncationSide = "right" | "left";

export function encodeTruncated(
  tok: TokenizerLike,
  template: SpecialTemplate,
  text: string,
  maxLen: number,
  side: TruncationSide = "right",
): number[] {
  return encodeCounted(tok, template, text, maxLen, side).ids;
}

/** encodeTruncated, plus the length of the whole text in tokens (special tokens included) before the cut. */
export function encodeCounted(
  tok: TokenizerLike,
  template: SpecialTemplate,
  text: string,
  maxLen: number,
  side: TruncationSide = "right",
): { ids: number[]; tokens: number } {
  const room = maxLen - template.prefix.length - template.suffix.length;
  if (room < 1) throw new UsageError(`--max-len ${maxLen} leaves no room for text between the special tokens`);
  let ids = tok.encode(text, { add_special_tokens: false });
  const tokens = ids.length + template.prefix.length + template.suffix.length;
  if (ids.length > room) ids = side === "right" ? ids.slice(0, room) : ids.slice(ids.length - room);
  return { ids: [...template.prefix, ...ids, ...template.suffix], tokens };
}
