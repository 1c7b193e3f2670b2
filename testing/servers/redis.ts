/**
 * Starts a real redis-server (Debian's package) on a free loopback port in a
 * temp dir, for contract tests. The caller chooses the command line, so a test
 * can run exactly what a container would (e.g. a catalog store's `sh -c`
 * script); port, dir and bind address are appended as command-line options,
 * which Redis applies after its config, so they win over anything before them.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, supervise, waitFor } from "./free-port";

export interface RedisOptions {
  /**
   * The command to run; the server options above are appended to it. Defaults
   * to plain `redis-server`. For a `sh -c <script>` command, end it with the
   * word the script sees as `$0` (e.g. "sh"), so the appended options are `$@`.
   */
  command?: string[];
  /** Extra environment (e.g. the password a script reads). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface RunningRedis {
  host: string;
  port: number;
  /** The server's working directory (its `dir`): removed by stop(). */
  dir: string;
  /** Everything the server wrote to stdout and stderr so far. */
  output: () => string;
  stop: () => Promise<void>;
}

/** True once the server answers RESP at all (`-NOAUTH` counts: it is up, and wants a password). */
function answersResp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => {
      socket.destroy();
      resolve(/^[+-]/.test(data.toString()) && !/LOADING/.test(data.toString()));
    });
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function startRedis(opts: RedisOptions = {}): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "po-redis-"));
  const [program, ...args] = opts.command ?? ["redis-server"];
  const child = spawn(program, [...args, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { output, exit, exited } = supervise(child);
  const stop = async () => {
    if (exit() === undefined) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`redis-server on port ${port}`, () => answersResp(port), opts.timeoutMs ?? 15_000, exit);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: "127.0.0.1", port, dir, output, stop };
}
