/**
 * A Docker daemon of the test's own, configured by the daemon.json it is
 * given: Debian's dockerd with its own data root, exec root, pidfile and
 * socket, inside a network namespace of its own, so its bridge and any
 * iptables rules never meet the machine's daemon. Needs root (ip netns, nsenter).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";

/**
 * The default log options of the daemon the log-defaults e2e runs against: started through daemon.json, or
 * given (PO_LOG_DEFAULTS_DOCKER_HOST) where no daemon can be started, with these as its `--log-opt` arguments.
 */
export const LOG_DEFAULTS_DAEMON_OPTS: Readonly<Record<string, string>> = { "max-size": "5m", "max-file": "7", compress: "true" };

/**
 * A daemon whose default log driver is not json-file, with Docker's dual-logging cache options
 * (docs.docker.com/config/containers/logging/dual-logging/): the daemon still merges those into a
 * json-file container. Started through daemon.json, or given (PO_LOG_CACHE_DOCKER_HOST) where no daemon can
 * be started, with these as its `--log-driver` and `--log-opt` arguments.
 */
export const LOG_CACHE_DAEMON: Readonly<{ driver: string; opts: Readonly<Record<string, string>> }> = {
  driver: "local",
  opts: { "cache-max-size": "7m", "cache-disabled": "false" },
};

export interface RunningDockerd {
  docker: Docker;
  /** `unix://…`, for DOCKER_HOST. */
  host: string;
  stop: () => Promise<void>;
}

export async function startDockerd(daemonJson: Record<string, unknown>): Promise<RunningDockerd> {
  const dir = mkdtempSync(join(tmpdir(), "po-dockerd-"));
  const netns = `po-dockerd-${randomBytes(4).toString("hex")}`;
  const socket = join(dir, "docker.sock");
  const pidfile = join(dir, "dockerd.pid");
  writeFileSync(join(dir, "daemon.json"), JSON.stringify(daemonJson));
  execFileSync("ip", ["netns", "add", netns]);
  execFileSync("ip", ["netns", "exec", netns, "ip", "link", "set", "lo", "up"]);
  // nsenter --net, not `ip netns exec`: that also remounts /sys, hiding the cgroup mounts dockerd needs.
  const child = spawn(
    "nsenter",
    // prettier-ignore
    [`--net=/run/netns/${netns}`, "dockerd",
      "--config-file", join(dir, "daemon.json"), "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"),
      "--pidfile", pidfile, "--host", `unix://${socket}`, "--iptables=false", "--ip-masq=false"],
    { stdio: ["ignore", "ignore", "pipe"], detached: false },
  );
  const log: string[] = [];
  child.stderr.on("data", (d: Buffer) => log.push(d.toString()));
  const docker = new Docker({ socketPath: socket });
  const stop = async () => {
    const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
    execFileSync("ip", ["netns", "delete", netns]);
    // The data root holds overlay mounts only while the daemon runs; it is gone now.
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const text = log.join("");
      await stop().catch(() => undefined);
      throw new Error(`dockerd exited with ${child.exitCode}: ${text.slice(-2000)}`);
    }
    if (await docker.ping().then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await stop().catch(() => undefined);
      throw new Error(`dockerd did not answer on ${socket} within 60 s: ${log.join("").slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { docker, host: `unix://${socket}`, stop };
}

/** An image with no files, imported into `host`'s daemon: enough to create (never start) containers. */
export function importEmptyImage(host: string, reference: string): string {
  const emptyTar = Buffer.alloc(1024);
  execFileSync("docker", ["import", "-", reference], { input: emptyTar, env: { ...process.env, DOCKER_HOST: host } });
  return reference;
}

/** A daemon someone else started (DOCKER_HOST syntax, unix:// or tcp://); `stop` leaves it running. */
export function connectDockerd(host: string): RunningDockerd {
  const url = new URL(host);
  const docker = url.protocol === "unix:" ? new Docker({ socketPath: url.pathname }) : new Docker({ host: url.hostname, port: Number(url.port || 2375) });
  return { docker, host, stop: async () => undefined };
}
