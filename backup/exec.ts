/**
 * Runs the backup tools (pg_dump, restic, ...) as child processes. Credentials
 * reach them through the environment (PGPASSWORD, RESTIC_PASSWORD), never the
 * command line, which `ps` and `docker top` show to anyone on the host.
 */
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Write stdout to this file instead of returning it. */
  stdoutFile?: string;
  cwd?: string;
  /** A file streamed to stdin. */
  stdinFile?: string;
}

export class ToolError extends Error {}

/** Runs `argv` and resolves with its stdout; rejects, naming the tool and its stderr, on a non-zero exit or a signal. */
export function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [opts.stdinFile ? "pipe" : "ignore", "pipe", "pipe"] });
    if (opts.stdinFile) createReadStream(opts.stdinFile).on("error", (e) => child.stdin!.destroy(e)).pipe(child.stdin!).on("error", () => undefined);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let fileDone: Promise<void> = Promise.resolve();
    if (opts.stdoutFile) {
      const file = createWriteStream(opts.stdoutFile);
      child.stdout!.pipe(file);
      fileDone = new Promise((ok, fail) => {
        file.on("finish", ok);
        file.on("error", fail);
      });
    } else {
      child.stdout!.on("data", (c: Buffer) => out.push(c));
    }
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new ToolError(`cannot run ${argv[0]}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-5).join("\n");
      if (code !== 0) {
        const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
        reject(new ToolError(`${argv[0]} ${how}${stderr ? `: ${stderr}` : ""}`));
        return;
      }
      fileDone.then(() => resolve(Buffer.concat(out).toString("utf8")), (e: Error) => reject(new ToolError(`writing ${opts.stdoutFile}: ${e.message}`)));
    });
  });
}
