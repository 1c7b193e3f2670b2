/**
 * The RabbitMQ part of a backup against a real rabbitmq-server (Debian's
 * package) with the management plugin, as the catalog's `-management` image
 * runs it: its definitions file, and the drill's check of that file.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STORES } from "../../catalog/stores";
import { names } from "../../model/naming";
import { checkRabbitmq } from "../../backup/drill";
import { backupRabbitmq, type RabbitmqConnection, type RabbitmqManifest } from "../../backup/rabbitmq";
import { startRabbitmq, type RunningRabbitmq } from "../../testing/servers/rabbitmq";

const env = "qual";
const user = String(STORES.rabbitmq.env.RABBITMQ_DEFAULT_USER);
const vhost = names.rabbitmqVhost(env);
const queue = "booking-events";
let server: RunningRabbitmq;
let conn: RabbitmqConnection;
let dir: string;
let manifest: RabbitmqManifest;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${conn.api}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`${conn.user}:${conn.password}`).toString("base64")}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text ? (JSON.parse(text) as unknown) : undefined;
};

beforeAll(async () => {
  const password = randomBytes(12).toString("hex");
  // The catalog's user and vhost, declared by the server on first boot from the same env the container gets.
  server = await startRabbitmq({ management: true, env: { RABBITMQ_DEFAULT_USER: user, RABBITMQ_DEFAULT_PASS: password, RABBITMQ_DEFAULT_VHOST: vhost } });
  conn = { api: server.managementUrl!, user, password };
  await api("PUT", `/api/queues/${encodeURIComponent(vhost)}/${queue}`, { durable: true });
  dir = mkdtempSync(join(tmpdir(), "po-backup-rabbitmq-"));
  manifest = await backupRabbitmq(conn, dir);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const definitions = () => JSON.parse(readFileSync(join(dir, manifest.file), "utf8")) as Record<string, Array<Record<string, string>>>;

describe("RabbitMQ definitions through the management API", () => {
  it("the definitions file lists the catalog's user, the environment's vhost and a declared queue", () => {
    const defs = definitions();
    expect(defs.users.map((u) => u.name)).toContain(user);
    expect(defs.vhosts.map((v) => v.name)).toContain(vhost);
    expect(defs.queues.map((q) => [q.vhost, q.name])).toContainEqual([vhost, queue]);
    expect(manifest.names).toEqual({ users: expect.arrayContaining([user]), vhosts: expect.arrayContaining([vhost]), queues: [`${vhost}/${queue}`] });
    expect(manifest.counts.queues).toBe(defs.queues.length);
    expect(manifest.serverVersion).toMatch(/^\d+\.\d+/);
  });

  it("the drill's check passes the file as it was backed up", async () => {
    expect(await checkRabbitmq(manifest, dir, env)).toEqual([]);
  });

  it.each([
    ["queue", (d: Record<string, Array<Record<string, string>>>) => (d.queues = d.queues.filter((q) => q.name !== queue)), `rabbitmq queue ${vhost}/${queue}: missing from the definitions`],
    ["vhost", (d: Record<string, Array<Record<string, string>>>) => (d.vhosts = d.vhosts.filter((v) => v.name !== vhost)), `rabbitmq vhost ${vhost}: missing from the definitions`],
    ["user", (d: Record<string, Array<Record<string, string>>>) => (d.users = d.users.filter((u) => u.name !== user)), `rabbitmq user ${user}: missing from the definitions`],
  ])("the drill's check fails, naming it, when the %s is missing from the file", async (_kind, drop, message) => {
    const copy = mkdtempSync(join(tmpdir(), "po-drill-rabbitmq-"));
    try {
      const defs = definitions();
      drop(defs);
      writeFileSync(join(copy, "definitions.json"), JSON.stringify(defs));
      expect(await checkRabbitmq({ ...manifest, file: "definitions.json" }, copy, env)).toContain(message);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it("the drill's check fails when the environment's vhost is missing, even from a manifest that recorded no names", async () => {
    const copy = mkdtempSync(join(tmpdir(), "po-drill-rabbitmq-"));
    try {
      const defs = definitions();
      defs.vhosts = defs.vhosts.filter((v) => v.name !== vhost);
      writeFileSync(join(copy, "definitions.json"), JSON.stringify(defs));
      const { names: _recorded, ...older } = manifest;
      expect(await checkRabbitmq({ ...older, counts: { ...older.counts, vhosts: defs.vhosts.length }, file: "definitions.json" }, copy, env)).toEqual([
        `rabbitmq vhost ${vhost}: missing from the definitions`,
      ]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
