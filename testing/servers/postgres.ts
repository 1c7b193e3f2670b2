/**
 * A throwaway PostgreSQL server from Debian's `postgresql` package, for contract
 * tests: its own cluster in a temp dir, listening on a free loopback port, every
 * connection (TCP and socket) authenticated with SCRAM-SHA-256 as the official
 * image's `host all all all scram-sha-256` rule does for remote clients.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root the cluster
 * is created and run as the `postgres` system user the Debian package creates.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./free-port";

const run = promisify(execFile);

export interface PostgresServer {
  host: string;
  port: number;
  superuser: string;
  password: string;
  /** Directory holding the server's Unix socket (for `psql -h <socketDir>`). */
  socketDir: string;
  /** Directory holding the server's binaries (psql, pg_isready, ...). */
  binDir: string;
  /** The server's log (stderr of postgres), gone after stop(). */
  logFile: string;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Name of the bootstrap superuser; `postgres` as in the official image's default. */
  superuser?: string;
}

const DEBIAN_POSTGRES_ROOT = "/usr/lib/postgresql";

/** The newest installed major version's bin directory. */
export function postgresBinDir(): string {
  if (!existsSync(DEBIAN_POSTGRES_ROOT)) {
    throw new Error(`${DEBIAN_POSTGRES_ROOT} not found: install Debian's postgresql package (make packages)`);
  }
  const majors = readdirSync(DEBIAN_POSTGRES_ROOT)
    .filter((entry) => /^\d+$/.test(entry) && existsSync(join(DEBIAN_POSTGRES_ROOT, entry, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  if (majors.length === 0) throw new Error(`no PostgreSQL server binaries under ${DEBIAN_POSTGRES_ROOT}`);
  return join(DEBIAN_POSTGRES_ROOT, majors[0], "bin");
}

const runningAsRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** Runs a server binary as a user PostgreSQL accepts (the `postgres` system user when we are root). */
function asServerUser(binary: string, args: string[]) {
  return runningAsRoot() ? run("runuser", ["-u", "postgres", "--", binary, ...args]) : run(binary, args);
}

function handToServerUser(path: string) {
  if (!runningAsRoot()) return;
  const { uid, gid } = postgresSystemUser();
  chownSync(path, uid, gid);
}

let systemUser: { uid: number; gid: number } | undefined;
function postgresSystemUser() {
  if (!systemUser) {
    const passwd = readFileSync("/etc/passwd", "utf8");
    const entry = passwd.split("\n").find((line) => line.startsWith("postgres:"));
    if (!entry) throw new Error("no `postgres` system user: install Debian's postgresql package (make packages)");
    const [, , uid, gid] = entry.split(":");
    systemUser = { uid: Number(uid), gid: Number(gid) };
  }
  return systemUser;
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  const superuser = options.superuser ?? "postgres";
  const password = randomBytes(18).toString("base64url");
  const root = mkdtempSync(join(tmpdir(), "po-postgres-"));
  const dataDir = join(root, "data");
  const socketDir = join(root, "socket");
  const passwordFile = join(root, "superuser-password");
  const logFile = join(root, "server.log");
  const port = await freePort();

  chmodSync(root, 0o700);
  handToServerUser(root);
  writeFileSync(passwordFile, password, { mode: 0o600 });
  handToServerUser(passwordFile);
  mkdirSync(socketDir, { mode: 0o700 });
  handToServerUser(socketDir);

  const stop = async () => {
    if (existsSync(join(dataDir, "postmaster.pid"))) {
      await asServerUser(join(binDir, "pg_ctl"), ["stop", "-D", dataDir, "-m", "immediate", "-w"]).catch(() => undefined);
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    await asServerUser(join(binDir, "initdb"), [
      "-D", dataDir,
      "-U", superuser,
      `--pwfile=${passwordFile}`,
      "--auth-host=scram-sha-256",
      "--auth-local=scram-sha-256",
      "--encoding=UTF8",
      "--no-instructions",
    ]);
    rmSync(passwordFile);
    const serverOptions = ["-p", String(port), "-k", socketDir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"].join(" ");
    await asServerUser(join(binDir, "pg_ctl"), ["start", "-D", dataDir, "-l", logFile, "-w", "-t", "60", "-o", serverOptions]);
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    await stop();
    throw new Error(`could not start PostgreSQL from ${binDir}: ${(error as Error).message}\n${log}`, { cause: error });
  }

  return { host: "127.0.0.1", port, superuser, password, socketDir, binDir, logFile, stop };
}
