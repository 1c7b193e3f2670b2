/**
 * Running a command inside a container through the Engine's exec API, the one
 * way every tool here does it. The attach stream of a container without a TTY
 * is multiplexed (8-byte frame headers, https://docs.docker.com/reference/api/engine/version/v1.45/#tag/Container/operation/ContainerAttach);
 * `demux` reads it back as text.
 */
import { createReadStream } from "node:fs";
import type Docker from "dockerode";

/** Joins the payloads of Docker's multiplexed stdout/stderr frames. */
export function demux(buf: Buffer): string {
  let out = "";
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
    i += 8 + size;
  }
  return out;
}

export interface ExecOptions {
  /** Extra `NAME=value` entries for the command's environment. */
  env?: string[];
  /** A file streamed to the command's stdin. */
  stdinFile?: string;
  /** Whether a non-zero exit is an error (the default) or returned. */
  allowFailure?: boolean;
  /** Whom the command runs as (`uid:gid` or a name); the container's user when left out. */
  user?: string;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** Runs `argv` in `container`; stdout and stderr come back interleaved, as one text. */
export async function execIn(docker: Docker, container: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const withStdin = opts.stdinFile !== undefined;
  const e = await docker.getContainer(container).exec({ Cmd: argv, Env: opts.env, User: opts.user, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: withStdin });
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve());
    stream.on("error", reject);
  });
  if (withStdin) createReadStream(opts.stdinFile!).pipe(stream as unknown as NodeJS.WritableStream);
  await ended;
  const output = demux(Buffer.concat(chunks));
  const { ExitCode } = await e.inspect();
  const exitCode = ExitCode ?? -1;
  if (exitCode !== 0 && !opts.allowFailure) {
    throw new Error(`${argv.join(" ")} in ${container} exited with ${exitCode}: ${output.trim().split("\n").slice(-3).join(" ")}`);
  }
  return { exitCode, output };
}
