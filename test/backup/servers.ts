/**
 * Real servers from Debian's packages for the backup tests, each on a free
 * loopback port in a temp dir, stopped afterwards. PostgreSQL refuses to run as
 * root, so it runs as the `postgres` user.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PostgresConnection } from "../../backup/postgres";

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

const pgBin = (tool: string) => {
  const version = readdirSync("/usr/lib/postgresql").sort().pop()!;
  return join("/usr/lib/postgresql", version, "bin", tool);
};

const asPostgres = (argv: string[]) => (process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv);

export interface LocalPostgres extends PostgresConnection {
  /** Its Unix socket's directory: connections there are trusted, as inside the official image's container. */
  dir: string;
  stop(): Promise<void>;
}

export async function startPostgres(password = "source-password-0000"): Promise<LocalPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "po-backup-pg-"));
  const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  chownSync(dir, pgUid, pgUid);
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, password);
  chownSync(pwfile, pgUid, pgUid);
  const data = join(dir, "data");
  const [cmd, ...args] = asPostgres([pgBin("initdb"), "-D", data, "-U", "portugal_odyssey", "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8"]);
  execFileSync(cmd, args, { stdio: "ignore" });
  const port = await freePort();
  const [pcmd, ...pargs] = asPostgres([pgBin("postgres"), "-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]);
  const child: ChildProcess = spawn(pcmd, pargs, { stdio: "ignore" });
  const conn = { host: "127.0.0.1", port, user: "portugal_odyssey", password };
  for (let i = 0; ; i++) {
    try {
      execFileSync("pg_isready", ["-h", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
      break;
    } catch {
      if (i > 100) throw new Error("postgres did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    ...conn,
    dir,
    stop: async () => {
      // runuser does not pass signals on: pg_ctl stops the server itself.
      const exited = new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
      const [scmd, ...sargs] = asPostgres([pgBin("pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]);
      execFileSync(scmd, sargs, { stdio: "ignore" });
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LocalRedis {
  host: string;
  port: number;
  password: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** A Redis with a password, saving its RDB in its own temp dir; `rdb` starts it on a restored file. */
export async function startRedis(password = "redis-password-0000", rdb?: string): Promise<LocalRedis> {
  const dataDir = mkdtempSync(join(tmpdir(), "po-backup-redis-"));
  if (rdb) execFileSync("cp", [rdb, join(dataDir, "dump.rdb")]);
  const port = await freePort();
  const conf = join(dataDir, "redis.conf");
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dataDir}\nrequirepass ${password}\nsave ""\nappendonly no\n`);
  const child = spawn("redis-server", [conf], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    try {
      execFileSync("redis-cli", ["-p", String(port), "--no-auth-warning", "ping"], { env: { ...process.env, REDISCLI_AUTH: password }, stdio: "pipe" });
      break;
    } catch {
      if (i > 100) throw new Error("redis did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    host: "127.0.0.1",
    port,
    password,
    dataDir,
    stop: async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
