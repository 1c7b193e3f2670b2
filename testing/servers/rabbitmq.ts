/**
 * Starts a real RabbitMQ node (Debian's rabbitmq-server) on free loopback
 * ports, with its data, logs, config and Erlang cookie in a temp dir, for
 * contract tests. It runs the server's own start script with the RABBITMQ_*
 * env the caller passes, as the official image does (its entrypoint hands the
 * env through unchanged; the server itself declares RABBITMQ_DEFAULT_USER,
 * _PASS and _VHOST on first boot). Booting takes 10-20 s.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, supervise, waitFor } from "./free-port";

/** Debian puts the real scripts here; /usr/sbin/rabbitmq-server is a wrapper that switches to the rabbitmq user and /var/lib/rabbitmq. */
const RABBITMQ_BIN = "/usr/lib/rabbitmq/bin";

export interface RabbitmqOptions {
  /** RABBITMQ_* env for the server (e.g. RABBITMQ_DEFAULT_USER); the harness sets the paths, node name and ports. */
  env?: Record<string, string>;
  /** Extra files for the config directory (name → content in rabbitmq.conf format), as an image's conf.d would hold. */
  confD?: Record<string, string>;
  /**
   * Also run the management plugin (HTTP API, as in the catalog's `-management` image) on a free
   * loopback port: enabled with `rabbitmq-plugins --offline enable` into this node's own enabled_plugins file.
   */
  management?: boolean;
  timeoutMs?: number;
}

export interface RunningRabbitmq {
  host: string;
  /** The AMQP port. */
  port: number;
  /** The management API's base URL (http://127.0.0.1:<port>), with `management: true`. */
  managementUrl?: string;
  nodeName: string;
  /** Env that makes rabbitmqctl / rabbitmq-diagnostics talk to this node (HOME holds its cookie). */
  cliEnv: NodeJS.ProcessEnv;
  /** Runs rabbitmqctl against this node; resolves its stdout. */
  ctl: (...args: string[]) => Promise<string>;
  output: () => string;
  stop: () => Promise<void>;
}

/** True once the AMQP listener accepts connections: RabbitMQ opens it only after every boot step has run. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

export async function startRabbitmq(opts: RabbitmqOptions = {}): Promise<RunningRabbitmq> {
  const [port, distPort] = [await freePort(), await freePort()];
  const managementPort = opts.management ? await freePort() : undefined;
  const base = mkdtempSync(join(tmpdir(), "po-rabbitmq-"));
  const [home, confD] = [join(base, "home"), join(base, "conf.d")];
  mkdirSync(home);
  mkdirSync(confD);
  // conf.d files load in name order; ours goes last so the harness's ports win.
  for (const [name, text] of Object.entries(opts.confD ?? {})) writeFileSync(join(confD, name), text);
  // management.tcp.*: https://www.rabbitmq.com/docs/management#configuration
  const managementConf = managementPort ? `management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = ${managementPort}\n` : "";
  writeFileSync(join(confD, "zz-harness.conf"), `listeners.tcp.default = 127.0.0.1:${port}\n${managementConf}`);
  const enabledPlugins = join(base, "enabled_plugins");
  writeFileSync(enabledPlugins, "[].\n");
  const nodeName = `po-test-${port}@localhost`;
  const cliEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
  const run = promisify(execFile);
  if (opts.management) {
    // --offline writes the file without a running node (https://www.rabbitmq.com/docs/plugins#offline-mode).
    await run(join(RABBITMQ_BIN, "rabbitmq-plugins"), ["--offline", "enable", "rabbitmq_management"], { env: { ...cliEnv, RABBITMQ_ENABLED_PLUGINS_FILE: enabledPlugins, RABBITMQ_NODENAME: nodeName } });
  }
  const child = spawn(join(RABBITMQ_BIN, "rabbitmq-server"), [], {
    cwd: base,
    env: {
      ...cliEnv,
      ...opts.env,
      RABBITMQ_NODENAME: nodeName,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: join(base, "mnesia"),
      RABBITMQ_LOG_BASE: join(base, "log"),
      RABBITMQ_CONFIG_FILE: join(base, "rabbitmq"),
      RABBITMQ_CONFIG_FILES: confD,
      RABBITMQ_ENABLED_PLUGINS_FILE: enabledPlugins,
      RABBITMQ_PLUGINS_EXPAND_DIR: join(base, "plugins-expand"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { output, exit, exited } = supervise(child);
  const ctl = async (...args: string[]) => (await run(join(RABBITMQ_BIN, "rabbitmqctl"), ["-n", nodeName, ...args], { env: cliEnv })).stdout;
  const stop = async () => {
    if (exit() === undefined) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await waitFor(`rabbitmq-server ${nodeName}`, () => accepts(port), opts.timeoutMs ?? 60_000, exit);
    if (managementPort) await waitFor(`rabbitmq management on ${managementPort}`, () => accepts(managementPort), opts.timeoutMs ?? 60_000, exit);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: "127.0.0.1", port, ...(managementPort ? { managementUrl: `http://127.0.0.1:${managementPort}` } : {}), nodeName, cliEnv, ctl, output, stop };
}
