/**
 * The database provisioning against a real PostgreSQL (Debian's package): the
 * exact command and SQL the program registers, run the way the command
 * provider runs them, with `docker exec` standing in for a shim that runs the
 * same `sh -c` locally against the test server. Logins use the real `pg`
 * client with the credentials the program renders into each service's env.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { STORES } from "../../catalog/stores";
import { postgresServices } from "../../model/databases";
import { names } from "../../model/naming";
import { containerFor, envOf } from "../harness/inspect";
import { TYPES, ofType, runProgram, type ProgramRun, type RegisteredResource } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";
import { startPostgres, type PostgresServer } from "../../testing/servers/postgres";

const ENV = "qual";
const SUPERUSER = STORES.postgres.env.POSTGRES_USER as string;
const SERVICES = postgresServices();

let server: PostgresServer;
let shimDir: string;
let program: ProgramRun;

const provisioningOf = (run: ProgramRun): RegisteredResource => {
  const [found] = ofType(run, TYPES.command).filter((c) => c.name === `${ENV}-databases-provisioning`);
  if (!found) throw new Error("the program registered no database provisioning command");
  return found;
};

interface Login {
  database: string;
  user: string;
  password: string;
}

/** A service's login as its container's env carries it. */
const loginOf = (run: ProgramRun, service: string): Login => {
  const env = envOf(containerFor(run, service));
  return { database: env.DATABASE_NAME, user: env.DATABASE_USERNAME, password: env.DATABASE_PASSWORD };
};

/**
 * Runs the command's create script with its environment and stdin, as the command provider
 * does, with a `docker` on PATH that records the container it was asked for and runs the
 * `sh -c` script locally, in an env like the postgres container's (POSTGRES_USER and
 * POSTGRES_PASSWORD set, libpq pointed at the test server).
 */
function runProvisioning(command: RegisteredResource) {
  const result = tryProvisioning(command);
  if (result.status !== 0) throw new Error(`provisioning failed (${result.status}): ${result.stderr}`);
  return result;
}

function tryProvisioning(command: RegisteredResource) {
  return spawnSync("bash", ["-c", command.inputs.create], {
    input: command.inputs.stdin,
    encoding: "utf8",
    env: {
      PATH: `${shimDir}:${server.binDir}:${process.env.PATH}`,
      ...command.inputs.environment,
      SHIM_LOG: join(shimDir, "calls"),
      SHIM_POSTGRES_USER: SUPERUSER,
      SHIM_POSTGRES_PASSWORD: server.password,
      PGHOST: server.host,
      PGPORT: String(server.port),
    },
  });
}

async function connect(login: Login) {
  const client = new Client({ host: server.host, port: server.port, ...login });
  await client.connect();
  return client;
}

async function asSuperuser<T>(database: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect({ database, user: SUPERUSER, password: server.password });
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Every role and database as the catalogs hold them, with each row's xmin: a rewritten row, even to the same values, shows. */
const catalogs = () =>
  asSuperuser("postgres", async (client) => ({
    roles: (
      await client.query(
        "SELECT xmin::text, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolpassword FROM pg_authid ORDER BY rolname",
      )
    ).rows,
    databases: (await client.query("SELECT xmin::text, datname, datdba::regrole::text AS owner, datacl::text FROM pg_database ORDER BY datname")).rows,
  }));

/** Expects the login to be refused with the given SQLSTATE. */
async function expectRefused(login: Login, code: string) {
  const client = new Client({ host: server.host, port: server.port, ...login });
  await expect(client.connect()).rejects.toMatchObject({ code });
  await client.end().catch(() => undefined);
}

beforeAll(async () => {
  [server, program] = await Promise.all([startPostgres({ superuser: SUPERUSER }), runProgram({ stack: ENV })]);
  shimDir = mkdtempSync(join(tmpdir(), "po-docker-shim-"));
  writeFileSync(
    join(shimDir, "docker"),
    [
      "#!/bin/sh",
      // docker exec -i <container> sh -c <script>
      '[ "$1" = exec ] && [ "$2" = -i ] || { echo "unexpected docker call: $*" >&2; exit 64; }',
      'printf "%s\\n" "$3" >> "$SHIM_LOG"',
      'shift 3',
      'POSTGRES_USER="$SHIM_POSTGRES_USER" POSTGRES_PASSWORD="$SHIM_POSTGRES_PASSWORD" exec "$@"',
      "",
    ].join("\n"),
  );
  chmodSync(join(shimDir, "docker"), 0o755);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  if (shimDir) rmSync(shimDir, { recursive: true, force: true });
});

describe("on a fresh cluster", () => {
  beforeAll(() => {
    runProvisioning(provisioningOf(program));
  });

  test("execs into the environment's postgres container", () => {
    const calls = readFileSync(join(shimDir, "calls"), "utf8").trim().split("\n");
    expect(new Set(calls)).toEqual(new Set([names.container("postgres", ENV)]));
  });

  test("each service logs in with its rendered env to its own database, as its own role, and can create tables there", async () => {
    for (const service of SERVICES) {
      const login = loginOf(program, service);
      const client = await connect(login);
      try {
        const { rows } = await client.query("SELECT current_user AS role, current_database() AS database, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser");
        expect(rows[0]).toEqual({ role: names.serviceRole(service, ENV), database: names.serviceDatabase(service, ENV), superuser: false });
        await client.query("CREATE TABLE owned_by_me (secret text)");
        await client.query("INSERT INTO owned_by_me VALUES ($1)", [`${service}'s data`]);
      } finally {
        await client.end();
      }
    }
  });

  test("no role can connect to another service's database, nor to the maintenance database", async () => {
    for (const service of SERVICES) {
      const mine = loginOf(program, service);
      for (const other of SERVICES.filter((s) => s !== service)) {
        await expectRefused({ ...mine, database: names.serviceDatabase(other, ENV) }, "42501");
      }
      await expectRefused({ ...mine, database: "postgres" }, "42501");
    }
  });

  test("no role may read another service's tables", async () => {
    for (const owner of SERVICES) {
      const readers = await asSuperuser(names.serviceDatabase(owner, ENV), async (client) =>
        (await client.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'po\\_%' AND has_table_privilege(rolname, 'owned_by_me', 'SELECT')")).rows.map((r) => r.rolname),
      );
      expect(readers).toEqual([names.serviceRole(owner, ENV)]);
    }
  });

  test("a second run with the same inputs changes no role and no database, not even to the same values", async () => {
    const before = await catalogs();
    runProvisioning(provisioningOf(program));
    expect(await catalogs()).toEqual(before);
  });

  test("a rotated password is applied: the new one logs in, the old one is refused, other roles are untouched", async () => {
    const rotated = SERVICES[0];
    const credential = names.databasePasswordCredential(rotated);
    const after = await runProgram({ stack: ENV, secrets: { ...TEST_EXTERNAL_SECRETS, [credential]: "Rotated-password-0001" } });
    const oldLogin = loginOf(program, rotated);
    const newLogin = loginOf(after, rotated);
    expect(newLogin.password).toBe("Rotated-password-0001");

    const before = await catalogs();
    runProvisioning(provisioningOf(after));
    const changed = (await catalogs()).roles.filter((role) => !before.roles.some((r) => JSON.stringify(r) === JSON.stringify(role)));
    expect(changed.map((r) => r.rolname)).toEqual([names.serviceRole(rotated, ENV)]);

    await (await connect(newLogin)).end();
    await expectRefused(oldLogin, "28P01");
  });

  test("a run that fails stops at the failing statement and puts no verifier in its output or in the server log", async () => {
    const rotated = await runProgram({ stack: ENV, secrets: { ...TEST_EXTERNAL_SECRETS, [names.databasePasswordCredential(SERVICES[0])]: "Rotated-password-0002" } });
    const script: string = provisioningOf(rotated).inputs.stdin;
    const verifiers = [...script.matchAll(/SCRAM-SHA-256\$[^']+/g)].map((m) => m[0]);
    expect(verifiers).toHaveLength(SERVICES.length * 2);
    // Every role exists, so the first statement to run is the rotated role's ALTER ROLE ... PASSWORD, and it fails.
    await asSuperuser("postgres", (client) => client.query("ALTER SYSTEM SET default_transaction_read_only = on").then(() => client.query("SELECT pg_reload_conf()")));
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = await catalogs();
      const result = tryProvisioning(provisioningOf(rotated));
      expect(result.status).toBe(3);
      expect(result.stderr).toMatch(/ERROR:\s+cannot execute ALTER ROLE in a read-only transaction/);
      expect(await catalogs()).toEqual(before);
      const log = readFileSync(server.logFile, "utf8");
      expect(log).toMatch(/cannot execute ALTER ROLE in a read-only transaction/);
      for (const text of [result.stdout, result.stderr, log]) {
        expect(text).not.toContain("SCRAM-SHA-256$");
        expect(text).not.toContain("Rotated-password-0002");
      }
    } finally {
      await asSuperuser("postgres", (client) =>
        client
          .query("SET default_transaction_read_only = off")
          .then(() => client.query("ALTER SYSTEM RESET default_transaction_read_only"))
          .then(() => client.query("SELECT pg_reload_conf()")),
      );
    }
  });
});

describe("on an adopted cluster that already holds the shared database", () => {
  let adopted: PostgresServer;
  const shared = names.sharedPostgresDatabase(ENV);

  beforeAll(async () => {
    adopted = await startPostgres({ superuser: SUPERUSER });
    // What the Compose deployment left: every service's tables in one database, owned by the superuser.
    const admin = new Client({ host: adopted.host, port: adopted.port, user: SUPERUSER, password: adopted.password, database: "postgres" });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${shared}`);
    await admin.end();
    const legacy = new Client({ host: adopted.host, port: adopted.port, user: SUPERUSER, password: adopted.password, database: shared });
    await legacy.connect();
    await legacy.query("CREATE TABLE bookings (id int PRIMARY KEY, guest text)");
    await legacy.query("INSERT INTO bookings SELECT g, 'guest ' || g FROM generate_series(1, 250) g");
    await legacy.end();
  }, 60_000);

  afterAll(async () => {
    await adopted?.stop();
  });

  test("keeps the shared database and its data, gives every service its own database, and admits no service to the old one", async () => {
    const previous = server;
    server = adopted;
    try {
      runProvisioning(provisioningOf(program));
      runProvisioning(provisioningOf(program));
      const rows = await asSuperuser(shared, async (client) => (await client.query("SELECT count(*)::int AS n, max(guest) AS last FROM bookings")).rows[0]);
      expect(rows).toEqual({ n: 250, last: "guest 99" });
      for (const service of SERVICES) {
        const login = loginOf(program, service);
        await (await connect(login)).end();
        await expectRefused({ ...login, database: shared }, "42501");
      }
    } finally {
      server = previous;
    }
  });
});
