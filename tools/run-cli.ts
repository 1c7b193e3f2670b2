/** What the CLIs under tools/ share: the project folder, and how a CLI's main becomes its exit code. */
import { join } from "node:path";

/** The project folder: tools/ sits in it. */
export const PROJECT_DIR = join(__dirname, "..");

/**
 * Runs a CLI's main when its file is the entry point: what main returns is the
 * exit code; what it throws is one line, `name: message`, never a stack trace.
 */
export function runCli(name: string, main: () => number | Promise<number>, failCode = 2): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => (process.exitCode = code),
      (error) => {
        console.error(`${name}: ${(error as Error).message}`);
        process.exitCode = failCode;
      },
    );
}
