/**
 * PostgreSQL: every database with `pg_dump -Fc`, the roles with `pg_dumpall
 * --globals-only`, and per table its row count, size and newest row, all read
 * in the one snapshot pg_dump dumps (`--snapshot`), so the drill can hold the
 * restored data to exact numbers even while the services keep writing.
 */
import { join } from "node:path";
import { Client, type ClientConfig } from "pg";
import { run } from "./exec";

export interface PostgresConnection {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface TableManifest {
  schema: string;
  table: string;
  rows: number;
  bytes: number;
  /** The column the newest-row time is read from, if the table has one. */
  newestColumn?: string;
  /** ISO time of the newest row: how much data a restore of this backup would lose (RPO). */
  newestRow?: string;
}

export interface DatabaseManifest {
  database: string;
  file: string;
  tables: TableManifest[];
}

/** Timestamp columns that say when a row was written, most telling first (Strapi, Keycloak and the services' ORMs). */
const NEWEST_ROW_COLUMNS = ["updated_at", "updatedAt", "created_at", "createdAt", "created_timestamp", "published_at"];

const clientConfig = (c: PostgresConnection, database: string): ClientConfig => ({ ...c, database });

/** libpq's environment: the password never goes on a command line. */
export const libpqEnv = (c: PostgresConnection): NodeJS.ProcessEnv => ({
  ...process.env,
  PGHOST: c.host,
  PGPORT: String(c.port),
  PGUSER: c.user,
  PGPASSWORD: c.password,
});

/** Every database a service could own: not the templates, not the maintenance database. */
export async function listDatabases(c: PostgresConnection): Promise<string[]> {
  const client = new Client(clientConfig(c, "postgres"));
  await client.connect();
  try {
    const res = await client.query<{ datname: string }>(
      "select datname from pg_database where not datistemplate and datallowconn and datname <> 'postgres' order by datname",
    );
    return res.rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

export async function serverVersion(c: PostgresConnection): Promise<string> {
  const client = new Client(clientConfig(c, "postgres"));
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>("show server_version")).rows[0].server_version;
  } finally {
    await client.end();
  }
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Row counts, sizes and newest rows of every user table, read in `client`'s current transaction. */
export async function tableStats(client: Client): Promise<TableManifest[]> {
  const tables = await client.query<{ schema: string; table: string; bytes: string; newest: string | null }>(
    `select n.nspname as schema, c.relname as table, pg_total_relation_size(c.oid)::text as bytes,
            (select a.attname from pg_attribute a
               where a.attrelid = c.oid and not a.attisdropped and a.attnum > 0
                 and a.atttypid in ('timestamp'::regtype, 'timestamptz'::regtype, 'date'::regtype)
                 and a.attname = any($1)
               order by array_position($1, a.attname::text) limit 1) as newest
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      order by 1, 2`,
    [NEWEST_ROW_COLUMNS],
  );
  const stats: TableManifest[] = [];
  for (const t of tables.rows) {
    const name = `${ident(t.schema)}.${ident(t.table)}`;
    const newest = t.newest ? `, max(${ident(t.newest)})::timestamptz as newest` : "";
    const row = (await client.query<{ rows: string; newest?: Date | null }>(`select count(*)::text as rows${newest} from ${name}`)).rows[0];
    stats.push({
      schema: t.schema,
      table: t.table,
      rows: Number(row.rows),
      bytes: Number(t.bytes),
      ...(t.newest ? { newestColumn: t.newest, ...(row.newest ? { newestRow: row.newest.toISOString() } : {}) } : {}),
    });
  }
  return stats;
}

/**
 * Dumps one database to `<dir>/<database>.dump` and describes it, both from
 * one exported snapshot: the counts are exactly what the dump holds.
 */
export async function dumpDatabase(c: PostgresConnection, database: string, dir: string): Promise<DatabaseManifest> {
  const client = new Client(clientConfig(c, database));
  await client.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const snapshot = (await client.query<{ id: string }>("select pg_export_snapshot() as id")).rows[0].id;
    const tables = await tableStats(client);
    const file = `postgres/${database}.dump`;
    await run(["pg_dump", "--format=custom", `--snapshot=${snapshot}`, "--file", join(dir, file), "--dbname", database], { env: libpqEnv(c) });
    await client.query("commit");
    return { database, file, tables };
  } finally {
    await client.end();
  }
}

/** Roles (with their password hashes) and tablespaces: what a fresh server needs before the databases. */
export async function dumpGlobals(c: PostgresConnection, dir: string): Promise<string> {
  const file = "postgres/globals.sql";
  await run(["pg_dumpall", "--globals-only", "--file", join(dir, file)], { env: libpqEnv(c) });
  return file;
}

export async function toolVersion(tool: string): Promise<string> {
  return (await run([tool, "--version"])).trim();
}

/** A role name as pg_dumpall writes it: bare, or double-quoted with "" inside. */
const ROLE_NAME = String.raw`("(?:[^"]|"")+"|[^\s;]+)`;
const unquote = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);

/**
 * The roles file of a backup as it may be applied to a RUNNING server, whose roles exist already:
 * a role that exists keeps the password it has now. pg_dumpall writes every role's password hash
 * into its `ALTER ROLE ... PASSWORD '...'` line (https://www.postgresql.org/docs/16/app-pg-dumpall.html,
 * --no-role-passwords leaves them out), so applying it as it is sets every password, the superuser's
 * included, back to its value at backup time, while the services and their config hold the current
 * ones, and provisioning runs again only when its own inputs change. Existing roles' `CREATE ROLE`
 * lines are left out too (they would only fail); roles the server lacks are created as backed up.
 */
export function globalsForRunningServer(sql: string, existingRoles: string[]): string {
  const existing = new Set(existingRoles);
  const create = new RegExp(`^CREATE ROLE ${ROLE_NAME};$`);
  const alter = new RegExp(`^(ALTER ROLE ${ROLE_NAME} WITH .*?) PASSWORD '(?:[^']|'')*'(.*)$`);
  return sql
    .split("\n")
    .flatMap((line) => {
      const created = create.exec(line);
      if (created && existing.has(unquote(created[1]))) return [];
      const altered = alter.exec(line);
      if (altered && existing.has(unquote(altered[2]))) return [`${altered[1]}${altered[3]}`];
      return [line];
    })
    .join("\n");
}

/** The roles a server has: what globalsForRunningServer keeps the passwords of. */
export const LIST_ROLES_SQL = "select rolname from pg_roles";
