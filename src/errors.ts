/**
 * The exit codes of every command (documented in README): 0 success, 1 usage error (bad options), 2 bad input or
 * data, 3 finished but too many rows failed (--max-failures), 130 interrupted (Ctrl-C / SIGTERM).
 */
export const EXIT = { ok: 0, usage: 1, input: 2, failures: 3, interrupted: 130 } as const;

/**
 * Errors a user can act on. The CLI prints their message (no stack trace) and exits with `exitCode`;
 * anything else is a bug and is printed with its stack.
 */
export class EmofeatError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "EmofeatError";
    this.exitCode = options.exitCode ?? 2;
  }
}

/**
 * User text quoted in a message, at most `max` characters, control characters escaped: a binary file given as
 * a CSV must not echo kilobytes of bytes as its "header".
 */
export function capText(text: string, max = 120): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  const shown = cut.replace(/[\u0000-\u001f\u007f]/g, (c) => named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return text.length > max ? `${shown}... (${text.length - max} more characters)` : shown;
}

/** The user stopped the work (Ctrl-C, SIGTERM); what was finished is kept. Exit 130. */
export class InterruptedError extends EmofeatError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.interrupted });
    this.name = "InterruptedError";
  }
}

/** A bad option value or combination: exit 1 (usage), like the option errors commander reports itself. */
export class UsageError extends EmofeatError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.usage });
    this.name = "UsageError";
  }
}

/** One problem found in an input file, located by data row (1-based, header excluded) and source line. */
export interface InputProblem {
  row: number | null;
  line?: number;
  column?: string;
  message: string;
}

export function formatProblem(file: string, p: InputProblem): string {
  const where = [
    p.row !== null ? `row ${p.row}` : null,
    p.line !== undefined ? `line ${p.line}` : null,
    p.column ? `column "${capText(p.column, 60)}"` : null,
  ]
    .filter(Boolean)
    .join(", ");
  return where ? `${file}: ${where}: ${p.message}` : `${file}: ${p.message}`;
}

/** An input file with one or more problems; the message lists every one of them. */
export class InputFileError extends EmofeatError {
  readonly file: string;
  readonly problems: InputProblem[];
  constructor(file: string, problems: InputProblem[], what = "invalid input") {
    const shown = problems.slice(0, 50).map((p) => "  - " + formatProblem(file, p));
    const more = problems.length > 50 ? [`  ... and ${problems.length - 50} more`] : [];
    super(`${file}: ${what}: ${problems.length} problem(s)\n${[...shown, ...more].join("\n")}`);
    this.name = "InputFileError";
    this.file = file;
    this.problems = problems;
  }
}
