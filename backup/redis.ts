/**
 * Redis: a fresh RDB taken over the network with `redis-cli --rdb`, the way a
 * replica gets its first copy (https://redis.io/docs/latest/develop/tools/cli/#remote-backups-of-rdb-files).
 * Not a copy of `dump.rdb` from the data volume: the official image's entrypoint
 * sets `umask 0077` (docker-library/redis docker-entrypoint.sh, #305), so that file
 * is 0600 to the redis user (999) and the backup's user cannot read it. Nor BGSAVE:
 * without SCHEDULE it is refused while an AOF rewrite runs
 * (https://redis.io/docs/latest/commands/bgsave/), and the catalog's Redis runs with
 * appendonly; the sync's own save waits for the rewrite to end instead (redis
 * replication.c: replicationCron starts it only when no child process is active).
 * redis-cli reads the password from REDISCLI_AUTH, never its arguments.
 */
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./exec";

export interface RedisConnection {
  host: string;
  port: number;
  password: string;
}

export interface RedisManifest {
  file: string;
  /** Keys just before the RDB was taken, and how many of those had an expiry (those may be gone after a restore). */
  keys: number;
  expiring: number;
  /** Keys just after, where that differs: writes landed while it was taken, so either count may be in the RDB. */
  keysAfter?: number;
  serverVersion: string;
}

const cli = (c: RedisConnection, ...args: string[]) =>
  run(["redis-cli", "-h", c.host, "-p", String(c.port), "--no-auth-warning", ...args], { env: { ...process.env, REDISCLI_AUTH: c.password } });

const info = async (c: RedisConnection, section: string) =>
  Object.fromEntries(
    (await cli(c, "info", section))
      .split(/\r?\n/)
      .filter((l) => l.includes(":"))
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]),
  ) as Record<string, string>;

/** Sums `keys=` and `expires=` over every db line of INFO keyspace. */
export async function keyCounts(c: RedisConnection): Promise<{ keys: number; expiring: number }> {
  const space = await info(c, "keyspace");
  let keys = 0;
  let expiring = 0;
  for (const value of Object.values(space)) {
    keys += Number(/keys=(\d+)/.exec(value)?.[1] ?? 0);
    expiring += Number(/expires=(\d+)/.exec(value)?.[1] ?? 0);
  }
  return { keys, expiring };
}

/** The keys a restored RDB may hold: between the counts before and after it was taken, less those that may have expired. */
export function expectedKeys(m: RedisManifest): { min: number; max: number } {
  const after = m.keysAfter ?? m.keys;
  return { min: Math.min(m.keys, after) - m.expiring, max: Math.max(m.keys, after) };
}

export async function backupRedis(c: RedisConnection, dir: string): Promise<RedisManifest> {
  const before = await keyCounts(c);
  const file = "redis/dump.rdb";
  await mkdir(join(dir, "redis"), { recursive: true });
  // redis-cli exits non-zero when the transfer fails or is cut short.
  await cli(c, "--rdb", join(dir, file));
  const after = await keyCounts(c);
  return {
    file,
    ...before,
    ...(after.keys !== before.keys ? { keysAfter: after.keys } : {}),
    serverVersion: (await info(c, "server")).redis_version,
  };
}

/**
 * Run with `sh -c` and the data directory as $1, on a stopped Redis's data,
 * with the backed-up RDB beside it as `dump.rdb.restoring`: makes it what
 * Redis loads at its next start. With `appendonly yes` Redis loads only the AOF
 * and ignores an RDB, and starts empty when there is no AOF; so, as Redis's
 * docs say for switching to AOF, a temporary server (no TCP port: a Unix socket
 * in the directory) loads the RDB with AOF off, `CONFIG SET appendonly yes`
 * rewrites the AOF from that data, and it shuts down once the rewrite is done
 * (https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/#how-i-can-switch-to-aof-if-im-currently-using-dumprdb-snapshots).
 * POSIX sh and redis-cli only, so it runs in the catalog's Redis image as it does here.
 */
export const INSTALL_RDB_SCRIPT = [
  "set -e",
  'd="$1"; s="$d/restore.sock"',
  'rm -rf "$d/appendonlydir"',
  'mv "$d/dump.rdb.restoring" "$d/dump.rdb"',
  'redis-server --dir "$d" --dbfilename dump.rdb --appendonly no --save "" --port 0 --unixsocket "$s" --daemonize yes --pidfile "$d/restore.pid" --logfile "$d/restore.log"',
  'i=0; until redis-cli -s "$s" ping 2>/dev/null | grep -q PONG; do i=$((i+1)); [ "$i" -lt 600 ] || { cat "$d/restore.log" >&2; exit 1; }; sleep 1; done',
  'redis-cli -s "$s" config set appendonly yes >/dev/null',
  'i=0; until redis-cli -s "$s" info persistence | tr -d "\\r" | grep -q "^aof_rewrite_in_progress:0$" && redis-cli -s "$s" info persistence | tr -d "\\r" | grep -q "^aof_rewrite_scheduled:0$"; do i=$((i+1)); [ "$i" -lt 3600 ] || exit 1; sleep 1; done',
  'redis-cli -s "$s" info persistence | tr -d "\\r" | grep -q "^aof_last_bgrewrite_status:ok$" || { echo "the AOF rewrite failed" >&2; exit 1; }',
  'redis-cli -s "$s" shutdown >/dev/null 2>&1 || true',
  'i=0; while [ -e "$d/restore.pid" ]; do i=$((i+1)); [ "$i" -lt 120 ] || exit 1; sleep 1; done',
  'rm -f "$d/restore.log"',
].join("\n");

/** INSTALL_RDB_SCRIPT on a local data directory (the tests' servers; the Docker restore runs the script in a helper container). */
export async function installRdb(dataDir: string, rdb: string): Promise<void> {
  await copyFile(rdb, join(dataDir, "dump.rdb.restoring"));
  await run(["sh", "-c", INSTALL_RDB_SCRIPT, "sh", dataDir]);
}
