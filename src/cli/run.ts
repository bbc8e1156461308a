import type { Command } from "commander";
import { CommanderError } from "commander";
import { EmofeatError, EXIT } from "../errors.js";
import { fsReason, isFsError } from "../util/out.js";

/**
 * Runs the program, turning user-facing errors into a message and an exit code instead of a stack trace.
 * Returns the exit code (EXIT in errors.ts); main.ts sets it as the process's. Commands end with a non-zero
 * code by throwing an EmofeatError (an empty message prints nothing: the command already said why).
 */
export async function runCli(program: Command, argv: string[]): Promise<number> {
  // Every (sub)command throws instead of exiting, so its code goes through the one scheme below.
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  let code: number = EXIT.ok;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is a usage error.
      code = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    } else if (err instanceof EmofeatError) {
      if (err.message !== "") process.stderr.write(`emofeat: ${err.message}\n`);
      code = err.exitCode;
    } else if (isFsError(err)) {
      // The file system refused (permissions, a full disk, a file where a folder belongs): the user's to fix.
      process.stderr.write(`emofeat: ${err.path}: ${fsReason(err)}\n`);
      code = EXIT.input;
    } else {
      process.stderr.write(`emofeat: unexpected error (a bug; please report it):\n${(err as Error)?.stack ?? String(err)}\n`);
      code = EXIT.usage;
    }
  }
  return code;
}
