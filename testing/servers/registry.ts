/**
 * A real registry for the release tests: Debian's docker-registry (the
 * Distribution project's registry server) on a free 127.0.0.1 port, with
 * htpasswd basic auth, storing into a temp dir. The Docker daemon may push to
 * it over plain HTTP: 127.0.0.0/8 registries are insecure-allowed by default
 * (https://docs.docker.com/reference/cli/dockerd/#insecure-registries).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunningRegistry {
  /** `127.0.0.1:<port>`: the host part of every repository in it. */
  host: string;
  username: string;
  password: string;
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    // /v2/ answers 401 when auth is on: it is serving.
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status === 401 || status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not serve ${url} within 20 s: ${log()}`);
}

export async function startRegistry(username = "po-deploy-token", password = `pw-${process.pid}-${Date.now().toString(36)}`): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "po-registry-"));
  const port = await freePort();
  // bcrypt (-B), as the registry's htpasswd backend requires; the password goes in on stdin.
  const htpasswd = execFileSync("htpasswd", ["-iBn", username], { input: password, encoding: "utf8" });
  writeFileSync(join(dir, "htpasswd"), htpasswd);
  // The registry's configuration reference: https://distribution.github.io/distribution/about/configuration/
  writeFileSync(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: { level: warn }",
      `storage: { filesystem: { rootdirectory: ${join(dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      `auth: { htpasswd: { realm: po-test-registry, path: ${join(dir, "htpasswd")} } }`,
      "",
    ].join("\n"),
  );
  let output = "";
  const child = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (output += d));
  child.stderr!.on("data", (d: Buffer) => (output += d));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(`http://127.0.0.1:${port}/v2/`, child, () => output.slice(-2000));
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: `127.0.0.1:${port}`, username, password, stop };
}
