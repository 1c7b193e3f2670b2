/**
 * RabbitMQ: the definitions (users, vhosts, permissions, queues, exchanges,
 * bindings, policies) from the management API's GET /api/definitions
 * (https://www.rabbitmq.com/docs/definitions#export). Messages are not backed
 * up: queues hold work in flight, which the services re-drive.
 */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

export interface RabbitmqConnection {
  /** e.g. http://rabbitmq-qual:15672 */
  api: string;
  user: string;
  password: string;
}

export const DEFINITION_KINDS = ["users", "vhosts", "permissions", "queues", "exchanges", "bindings", "policies"] as const;

/** What the drill looks for by name: users, vhosts, and queues as `<vhost>/<queue>`. */
export interface DefinitionNames {
  users: string[];
  vhosts: string[];
  queues: string[];
}

export interface RabbitmqManifest {
  file: string;
  counts: Record<(typeof DEFINITION_KINDS)[number], number>;
  /** Absent in manifests written before names were recorded. */
  names?: DefinitionNames;
  serverVersion: string;
}

const named = (defs: Record<string, unknown>, kind: string, name: (item: Record<string, string>) => string) =>
  Array.isArray(defs[kind]) ? (defs[kind] as Record<string, string>[]).map(name).sort() : [];

export function definitionNames(defs: Record<string, unknown>): DefinitionNames {
  return {
    users: named(defs, "users", (u) => u.name),
    vhosts: named(defs, "vhosts", (v) => v.name),
    queues: named(defs, "queues", (q) => `${q.vhost}/${q.name}`),
  };
}

/** One problem per user, vhost or queue that `expected` names and the definitions lack. */
export function missingDefinitions(defs: Record<string, unknown>, expected: Partial<DefinitionNames>): string[] {
  const found = definitionNames(defs);
  const singular = { users: "user", vhosts: "vhost", queues: "queue" } as const;
  return (Object.keys(singular) as (keyof DefinitionNames)[]).flatMap((kind) =>
    (expected[kind] ?? []).filter((n) => !found[kind].includes(n)).map((n) => `rabbitmq ${singular[kind]} ${n}: missing from the definitions`),
  );
}

export function countDefinitions(defs: Record<string, unknown>): RabbitmqManifest["counts"] {
  return Object.fromEntries(DEFINITION_KINDS.map((k) => [k, Array.isArray(defs[k]) ? (defs[k] as unknown[]).length : 0])) as RabbitmqManifest["counts"];
}

/**
 * The definitions without the users the server has already. An imported user is created or
 * overwritten with the file's `password_hash` and tags (https://www.rabbitmq.com/docs/definitions#import),
 * so importing a backup taken before a password rotation would set the services' user back to the old
 * password, which no service holds any more. Their permissions are still imported.
 */
export function withoutExistingUsers(defs: Record<string, unknown>, existing: string[]): Record<string, unknown> {
  if (!Array.isArray(defs.users)) return defs;
  return { ...defs, users: (defs.users as { name: string }[]).filter((u) => !existing.includes(u.name)) };
}

/**
 * Imports a definitions file through the management API's POST /api/definitions
 * (https://www.rabbitmq.com/docs/definitions#import): users, vhosts, permissions,
 * queues, exchanges, bindings and policies are created or updated; nothing is deleted. Users the
 * server has keep their current password (withoutExistingUsers).
 */
export async function importRabbitmqDefinitions(c: RabbitmqConnection, file: string): Promise<void> {
  const auth = `Basic ${Buffer.from(`${c.user}:${c.password}`).toString("base64")}`;
  const listed = await fetch(`${c.api}/api/users`, { headers: { authorization: auth } });
  if (!listed.ok) throw new Error(`RabbitMQ GET /api/users answered ${listed.status}`);
  const existing = ((await listed.json()) as { name: string }[]).map((u) => u.name);
  const defs = withoutExistingUsers(JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>, existing);
  const res = await fetch(`${c.api}/api/definitions`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify(defs) });
  if (!res.ok) throw new Error(`RabbitMQ POST /api/definitions answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

export async function backupRabbitmq(c: RabbitmqConnection, dir: string): Promise<RabbitmqManifest> {
  const auth = `Basic ${Buffer.from(`${c.user}:${c.password}`).toString("base64")}`;
  const res = await fetch(`${c.api}/api/definitions`, { headers: { authorization: auth } });
  if (!res.ok) throw new Error(`RabbitMQ GET /api/definitions answered ${res.status}`);
  const defs = (await res.json()) as Record<string, unknown>;
  const file = "rabbitmq/definitions.json";
  await mkdir(join(dir, "rabbitmq"), { recursive: true });
  await writeFile(join(dir, file), JSON.stringify(defs, null, 2));
  return { file, counts: countDefinitions(defs), names: definitionNames(defs), serverVersion: String(defs.rabbitmq_version ?? defs.rabbit_version ?? "unknown") };
}
