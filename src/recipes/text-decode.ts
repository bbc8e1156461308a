/**
 * Decoding corpus text files that are UTF-8 in some places and Latin-1 / Windows-1252 in others
 * (IEMOCAP transcripts and evaluation files, MELD's CSVs).
 *
 * The Windows-1252 table is written out here because Node 20's TextDecoder("windows-1252") decodes
 * 0x80-0x9F as C1 control characters (observed on v20.20: 0x92 gives U+0092 instead of U+2019), and because
 * the reference builder's fallback chain (Python: strict cp1252, then latin-1) needs to know which bytes
 * cp1252 leaves undefined.
 */

/** Windows-1252 code points for bytes 0x80..0x9F; `null` where cp1252 defines no character. */
const CP1252_HIGH: (number | null)[] = [
  0x20ac, null, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, null, 0x017d, null,
  null, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, null, 0x017e, 0x0178,
];

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8StrictKeepBom = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8LenientKeepBom = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export type TextEncodingName = "utf-8" | "windows-1252" | "latin-1";

/** Bytes as ISO-8859-1 (each byte is the code point of the same value). */
export function decodeLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Bytes as Windows-1252; with `strict`, returns null if a byte cp1252 leaves undefined occurs. */
export function decodeCp1252(bytes: Uint8Array, strict = false): string | null {
  const latin1 = decodeLatin1(bytes);
  let out = "";
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x80 || b > 0x9f) continue;
    const cp = CP1252_HIGH[b - 0x80];
    if (cp === null) {
      if (strict) return null;
      continue; // undefined bytes keep their Latin-1 (C1) code point, as the WHATWG decoder does
    }
    out += latin1.slice(from, i) + String.fromCharCode(cp);
    from = i + 1;
  }
  return out + latin1.slice(from);
}

/**
 * UTF-8 when the bytes are valid UTF-8 (a BOM is dropped), otherwise Windows-1252 (a superset of the
 * printable Latin-1 range). The encoding used is returned so callers can report it.
 */
export function decodeText(bytes: Uint8Array): { text: string; encoding: TextEncodingName } {
  try {
    return { text: utf8Strict.decode(bytes), encoding: "utf-8" };
  } catch {
    return { text: decodeCp1252(bytes) as string, encoding: "windows-1252" };
  }
}

/**
 * Python's `open(p, encoding="utf-8", errors="ignore").read()`: invalid byte sequences vanish and a BOM
 * stays as U+FEFF. Both Python and the WHATWG decoder treat each maximal invalid subpart as one error, so
 * dropping the decoder's U+FFFD replacements gives the same text (except for a genuine U+FFFD in the
 * file, which would vanish here too; corpus text files do not carry one).
 */
export function decodeUtf8IgnoreErrors(bytes: Uint8Array): string {
  try {
    return utf8StrictKeepBom.decode(bytes);
  } catch {
    return utf8LenientKeepBom.decode(bytes).replace(/\uFFFD/g, "");
  }
}

/**
 * The reference builder's `read_text_robust`: UTF-8 (BOM kept, as Python's "utf-8" codec does), else strict
 * cp1252, else Latin-1. ("utf-8-sig" comes second in its list but can never succeed where "utf-8" failed.)
 */
export function decodeLikeReadTextRobust(bytes: Uint8Array): { text: string; encoding: TextEncodingName } {
  try {
    return { text: utf8StrictKeepBom.decode(bytes), encoding: "utf-8" };
  } catch {
    const cp = decodeCp1252(bytes, true);
    return cp !== null ? { text: cp, encoding: "windows-1252" } : { text: decodeLatin1(bytes), encoding: "latin-1" };
  }
}

/**
 * Replaces C1 control characters (U+0080-U+009F) by the Windows-1252 characters of the same byte value:
 * text that went through a cp1252 -> Latin-1 -> UTF-8 conversion carries U+0092 where "’" was meant (MELD's
 * original CSVs do; upstream fixed them in declare-lab/MELD PR #28). Returns the text and how many were fixed.
 */
export function fixCp1252Controls(text: string): { text: string; fixed: number } {
  let fixed = 0;
  const out = text.replace(/[\u0080-\u009F]/g, (c) => {
    const cp = CP1252_HIGH[c.charCodeAt(0) - 0x80];
    if (cp === null) return c;
    fixed++;
    return String.fromCharCode(cp);
  });
  return { text: out, fixed };
}
