import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 nothing listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it resolves true, or fails after `timeoutMs` with `what` and the last error. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, exited?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const gone = exited?.();
    if (gone) throw new Error(`${what}: the server exited: ${gone}`);
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${last ? ` (${(last as Error).message})` : ""}`);
}

/** A server process's combined output so far, and why it exited once it has. */
export interface Supervised {
  output: () => string;
  /** `undefined` while it runs; then its exit code or signal, with its output. */
  exit: () => string | undefined;
  /** Settles when the process has exited. */
  exited: Promise<void>;
}

/** Collects a spawned server's stdout and stderr and records how it exits, for readiness checks and error messages. */
export function supervise(child: ChildProcess): Supervised {
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (code, signal) => {
      exit = `code ${code ?? signal}; output:\n${output}`;
      resolve();
    }),
  );
  return { output: () => output, exit: () => exit, exited };
}
