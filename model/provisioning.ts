/**
 * The SQL that gives each service its own database and login role, as psql
 * runs it, and the SCRAM-SHA-256 verifiers that stand in for the passwords.
 *
 * The SQL is a function of its inputs only: the same databases, roles,
 * passwords and salts render the same text, and running it against a cluster
 * that already matches changes nothing (every statement is guarded by a check
 * of the catalog), so it is safe on every `up` and on an adopted volume.
 */
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import type { DatabasePlan } from "./databases";

/** Postgres's own default scram_iterations (postgresql.org/docs/16/runtime-config-connection.html). */
export const SCRAM_ITERATIONS = 4096;

/**
 * RFC 5802 section 3 with SHA-256 (RFC 7677), in the form Postgres stores in pg_authid and
 * accepts in `PASSWORD '...'` instead of a plain password (postgresql.org/docs/16/sql-createrole.html):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, each part base64.
 * The password is used as its UTF-8 bytes: Postgres applies SASLprep first, which leaves
 * printable ASCII unchanged, and the generated passwords are alphanumeric.
 */
export function scramSha256Verifier(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): string {
  if (salt.length < 8) throw new Error("a SCRAM salt needs at least 8 bytes");
  const salted = pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

export interface ProvisionedLogin extends Pick<DatabasePlan, "database" | "role" | "connectionLimit"> {
  /** scramSha256Verifier of the role's password; never the password itself. */
  verifier: string;
}

/**
 * psql's flags for the script: stop at the first error (exit 3), no ~/.psqlrc, no command tags,
 * and terse errors: a failing statement is then reported without the `LINE 1: ...` echo of its
 * text, which could carry a verifier into a log.
 */
export const PSQL_FLAGS = ["--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--set=VERBOSITY=terse"] as const;

/** The database psql connects to: it exists in every cluster, and no service uses it. */
export const MAINTENANCE_DATABASE = "postgres";

const PLAIN_IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const VERIFIER = /^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;

/** A literal we can inline: the identifiers and verifiers above never hold a quote. */
const literal = (value: string) => `'${value}'`;

function checked(login: ProvisionedLogin): ProvisionedLogin {
  for (const name of [login.database, login.role]) {
    if (!PLAIN_IDENTIFIER.test(name)) throw new Error(`"${name}" is not a plain Postgres identifier`);
  }
  if (!VERIFIER.test(login.verifier)) throw new Error(`the verifier for ${login.role} is not a SCRAM-SHA-256 verifier`);
  if (!Number.isInteger(login.connectionLimit) || login.connectionLimit < 1) throw new Error(`connection limit of ${login.role} must be a positive whole number`);
  return login;
}

/** The attributes every service role has: it can log in, and nothing more. */
const ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT";

function loginSql({ database, role, connectionLimit, verifier }: ProvisionedLogin): string[] {
  const r = literal(role);
  const d = literal(database);
  return [
    `-- ${role}: owns ${database}, and nothing else.`,
    `SELECT 'CREATE ROLE ${role} ${ROLE_ATTRIBUTES} CONNECTION LIMIT ${connectionLimit}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${r})\\gexec`,
    `SELECT 'ALTER ROLE ${role} ${ROLE_ATTRIBUTES} CONNECTION LIMIT ${connectionLimit}' FROM pg_roles WHERE rolname = ${r}` +
      ` AND NOT (rolcanlogin AND NOT rolsuper AND NOT rolcreatedb AND NOT rolcreaterole AND NOT rolreplication AND NOT rolbypassrls AND rolinherit AND rolconnlimit = ${connectionLimit})\\gexec`,
    // pg_authid is readable by superusers only, which is what runs this.
    `SELECT 'ALTER ROLE ${role} PASSWORD ' || quote_literal(${literal(verifier)}) FROM pg_authid WHERE rolname = ${r} AND rolpassword IS DISTINCT FROM ${literal(verifier)}\\gexec`,
    // CREATE DATABASE cannot run inside a function or transaction, hence psql's \gexec for the guard.
    `SELECT 'CREATE DATABASE ${database} OWNER ${role}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${d})\\gexec`,
    `SELECT 'ALTER DATABASE ${database} OWNER TO ${role}' FROM pg_database WHERE datname = ${d} AND datdba <> (SELECT oid FROM pg_roles WHERE rolname = ${r})\\gexec`,
  ];
}

/**
 * The whole script, for psql with PSQL_FLAGS, connected as the superuser to MAINTENANCE_DATABASE.
 * Roles and databases it no longer lists are left alone: dropping one would drop a service's data.
 */
export function provisioningSql(logins: ProvisionedLogin[]): string {
  const sorted = logins.map(checked).sort((a, b) => a.role.localeCompare(b.role));
  return [
    "-- One database and one login role per service. Every statement is guarded: a second run changes nothing.",
    // A failed statement must not land in the server log with its text (log_min_error_statement
    // logs it at ERROR by default), nor any statement if an operator turned log_statement on.
    "SET log_statement = 'none';",
    "SET log_min_error_statement = 'panic';",
    ...sorted.flatMap(loginSql),
    "-- No database admits PUBLIC: a role connects only where it is owner (or superuser). template0 admits no one anyway.",
    "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', datname) FROM pg_database" +
      " WHERE datallowconn AND EXISTS (SELECT FROM aclexplode(coalesce(datacl, acldefault('d', datdba))) WHERE grantee = 0) ORDER BY datname\\gexec",
    "",
  ].join("\n");
}
