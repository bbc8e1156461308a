/** Deterministic synthetic transcripts for extraction tests. */
const WORDS = "i you we they really never always why what no yes please stop wait love hate this that right now here there so very sorry happy sad angry okay well maybe tomorrow today house car work".split(" ");

/** `n` texts of 1 to `maxWords` words, the same for the same seed. */
export function texts(n: number, o: { seed?: number; maxWords?: number } = {}): string[] {
  let s = o.seed ?? 12345;
  const max = o.maxWords ?? 60;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(rnd() * max) }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(" ") + ".");
}
