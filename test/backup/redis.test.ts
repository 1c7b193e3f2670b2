/**
 * The Redis part of a backup against a real redis-server run as the catalog
 * runs it (append-only on, a password): the RDB is taken over the network, also
 * while an AOF rewrite runs, when BGSAVE would be refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupRedis, keyCounts, type RedisConnection } from "../../backup/redis";
import { run } from "../../backup/exec";
import { startRedis as startRedisServer, type RunningRedis } from "../../testing/servers/redis";
import { startRedis } from "./servers";

jest.setTimeout(120_000);

const PASSWORD = "redis-password-0000";
const KEYS = 60;
let server: RunningRedis;
let conn: RedisConnection;
let dir: string;

const cli = (...args: string[]) => run(["redis-cli", "-p", String(conn.port), "--no-auth-warning", ...args], { env: { ...process.env, REDISCLI_AUTH: PASSWORD } });
const persistence = async () => Object.fromEntries((await cli("info", "persistence")).split(/\r?\n/).filter((l) => l.includes(":")).map((l) => l.split(":")));

beforeAll(async () => {
  // Each key takes 20 ms to save, so an AOF rewrite of them runs for over a second.
  server = await startRedisServer({ command: ["redis-server", "--appendonly", "yes", "--requirepass", PASSWORD, "--rdb-key-save-delay", "20000"] });
  conn = { host: server.host, port: server.port, password: PASSWORD };
  for (let i = 0; i < KEYS; i++) await cli("set", `k${i}`, "v");
  dir = mkdtempSync(join(tmpdir(), "po-backup-redis-test-"));
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a backup taken while an AOF rewrite runs succeeds, and its RDB holds every key", async () => {
  await cli("bgrewriteaof");
  expect((await persistence()).aof_rewrite_in_progress).toBe("1");
  // BGSAVE, as it was, is refused now (https://redis.io/docs/latest/commands/bgsave/): what the backup no longer sends.
  expect(await cli("bgsave")).toMatch(/rewriting in progress|ERR/i);
  const m = await backupRedis(conn, dir);
  expect(m.keys).toBe(KEYS);
  const loaded = await startRedis("drill-password", join(dir, m.file));
  try {
    expect((await keyCounts(loaded)).keys).toBe(KEYS);
  } finally {
    await loaded.stop();
  }
});
