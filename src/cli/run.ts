import type { Command } from "commander";
import { CommanderError } from "commander";
import { EmofeatError } from "../errors.js";

/** Runs the program, turning user-facing errors into a message and an exit code instead of a stack trace. */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof EmofeatError) {
      process.stderr.write(`emofeat: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`emofeat: unexpected error (a bug; please report it):\n${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
