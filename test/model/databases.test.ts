import { createHash, createHmac } from "node:crypto";
import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { DEFAULT_POSTGRES_POOL, POSTGRES_HEADROOM, databaseCredentials, maxConnections, planDatabases, postgresServices } from "../../model/databases";
import { names } from "../../model/naming";
import { provisioningSql, scramSha256Verifier } from "../../model/provisioning";
import { planEnvironment } from "../../model/environment";
import { testRelease } from "../harness/release";
import { FIXTURE_PROJECT, engineConfig } from "../harness/stack-config";
import { validateStackConfig } from "../../config/validate";
import { readOtherStacks } from "../../config/stack-files";

const SUPERUSER = STORES.postgres.env.POSTGRES_USER as string;
/** The pool a catalog entry states, or the default one that states none gets. */
const poolOf = (service: keyof typeof SERVICES) => SERVICES[service].postgresPool ?? DEFAULT_POSTGRES_POOL;
/** The longest suffix config accepts (SUFFIX_PATTERN): 16 characters. */
const LONGEST_SUFFIX = "q".repeat(16);

const planFor = (stack: string) => {
  const config = engineConfig(stack);
  const result = validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), otherStacks: readOtherStacks(FIXTURE_PROJECT, stack), release: testRelease(stack) });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return planEnvironment(result.settings);
};

describe("one database and one role per service", () => {
  test("lists exactly the catalog services whose stores include postgres", () => {
    const expected = SERVICE_NAMES.filter((s) => SERVICES[s].stores.includes("postgres"));
    expect(expected.length).toBeGreaterThan(1);
    expect(postgresServices()).toEqual(expected);
    expect(planDatabases("qual", () => 1).map((d) => d.service)).toEqual(expected);
  });

  test.each(["qual", "prod", LONGEST_SUFFIX])("no two services share a database, a role or a password credential, and none is the superuser (suffix %s)", (env) => {
    const databases = planDatabases(env, () => 1);
    for (const key of ["database", "role", "credential"] as const) {
      const values = databases.map((d) => d[key]);
      expect(new Set(values).size).toBe(values.length);
    }
    for (const d of databases) {
      expect(d.role).not.toBe(SUPERUSER);
      expect(d.database).not.toBe(names.sharedPostgresDatabase(env));
      expect(["postgres", "template0", "template1"]).not.toContain(d.database);
    }
  });

  test("every name is a plain Postgres identifier Postgres keeps whole, even with the longest suffix, and none takes the reserved pg_ prefix", () => {
    for (const service of postgresServices()) {
      for (const name of [names.serviceDatabase(service, LONGEST_SUFFIX), names.serviceRole(service, LONGEST_SUFFIX)]) {
        // NAMEDATALEN - 1 = 63 bytes; longer names are silently truncated.
        expect(name).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
        expect(name).not.toMatch(/^pg_/);
      }
    }
  });

  test("a name cannot be read as another service's in another environment", () => {
    const all = ["qual", "prod", "demo"].flatMap((env) => postgresServices().map((service) => ({ env, service, name: names.serviceDatabase(service, env) })));
    expect(new Set(all.map((n) => n.name)).size).toBe(all.length);
  });

  test("each role's connection limit is its pool times the revisions that run at once, and max_connections their sum plus headroom", () => {
    const doubled = postgresServices()[0];
    const databases = planDatabases("qual", (service) => (service === doubled ? 2 : 1));
    for (const d of databases) expect(d.connectionLimit).toBe(poolOf(d.service) * (d.service === doubled ? 2 : 1));
    const pools = postgresServices().reduce((sum, s) => sum + poolOf(s), 0);
    expect(maxConnections(databases)).toBe(pools + poolOf(doubled) + POSTGRES_HEADROOM.superuserReserved + POSTGRES_HEADROOM.maintenance);
  });

  test("one password credential per database, each a config key of its own", () => {
    expect(databaseCredentials()).toEqual(postgresServices().map(names.databasePasswordCredential));
    expect(names.databasePasswordCredential("booking-service")).toBe("bookingServiceDatabasePassword");
  });
});

describe("the environment plan", () => {
  test.each(["qual", "prod"])("gives the %s postgres container max_connections sized to the plan's databases", (stack) => {
    const plan = planFor(stack);
    const postgres = plan.containers.find((c) => c.name === "postgres")!;
    expect(postgres.command).toEqual(["postgres", "-c", `max_connections=${plan.postgresMaxConnections}`]);
    expect(plan.postgresMaxConnections).toBe(plan.databases.reduce((sum, d) => sum + d.connectionLimit, 0) + POSTGRES_HEADROOM.superuserReserved + POSTGRES_HEADROOM.maintenance);
  });

  test.each(["qual", "prod"])("in %s, gives each service using postgres its own login and pool, and none the superuser's", (stack) => {
    const plan = planFor(stack);
    for (const container of plan.containers.filter((c) => c.kind === "service")) {
      const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
      const own = plan.databases.find((d) => d.service === container.name);
      if (!own) {
        expect(Object.keys(env).filter((k) => k.startsWith("DATABASE_") || k.startsWith("KC_DB_"))).toEqual([]);
        continue;
      }
      expect(env.DATABASE_NAME).toBe(own.database);
      expect(env.DATABASE_USERNAME).toBe(own.role);
      expect(env.DATABASE_PASSWORD).toBe(`{${own.credential}}`);
      expect(env.DATABASE_POOL_MAX).toBe(String(own.pool));
      expect(Object.values(env)).not.toContain(SUPERUSER);
      expect(JSON.stringify(env)).not.toContain("{postgresPassword}");
      expect(container.credentials).toContain(own.credential);
      expect(container.credentials).not.toContain("postgresPassword");
    }
    const keycloak = Object.fromEntries(plan.containers.find((c) => c.name === "keycloak")!.env.map((e) => [e.name, e.value]));
    const own = plan.databases.find((d) => d.service === "keycloak")!;
    expect(keycloak).toMatchObject({ KC_DB_URL_DATABASE: own.database, KC_DB_USERNAME: own.role, KC_DB_PASSWORD: `{${own.credential}}`, KC_DB_POOL_MAX_SIZE: String(own.pool) });
  });
});

describe("SCRAM-SHA-256 verifiers", () => {
  // RFC 7677 section 3: user "user", password "pencil". A verifier is right when the client proof
  // and server signature of that exchange check out against its StoredKey and ServerKey.
  const RFC = {
    password: "pencil",
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    authMessage:
      "n=user,r=rOprNGfwEbeRWgbNEkqO," +
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," +
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    clientProof: "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    serverSignature: "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  };

  test("match RFC 7677's test vector", () => {
    const verifier = scramSha256Verifier(RFC.password, Buffer.from(RFC.salt, "base64"), 4096);
    const [, iterationsAndSalt, keys] = verifier.split("$");
    expect(iterationsAndSalt).toBe(`4096:${RFC.salt}`);
    const [storedKey, serverKey] = keys.split(":").map((k) => Buffer.from(k, "base64"));
    expect(createHmac("sha256", serverKey).update(RFC.authMessage).digest("base64")).toBe(RFC.serverSignature);
    const clientSignature = createHmac("sha256", storedKey).update(RFC.authMessage).digest();
    const clientKey = Buffer.from(RFC.clientProof, "base64").map((byte, i) => byte ^ clientSignature[i]);
    expect(createHash("sha256").update(clientKey).digest()).toEqual(storedKey);
  });

  test("depend on the password and the salt, and on nothing else", () => {
    const salt = Buffer.from("0123456789abcdef");
    expect(scramSha256Verifier("a-password", salt)).toBe(scramSha256Verifier("a-password", Buffer.from(salt)));
    expect(scramSha256Verifier("a-password", salt)).not.toBe(scramSha256Verifier("b-password", salt));
    expect(scramSha256Verifier("a-password", salt)).not.toBe(scramSha256Verifier("a-password", Buffer.from("fedcba9876543210")));
  });
});

describe("the provisioning SQL", () => {
  const logins = planDatabases("qual", () => 1).map((d) => ({ ...d, verifier: scramSha256Verifier(`password of ${d.role}`, Buffer.from(`salt of ${d.role}`)) }));

  test("names every role and database, with verifiers and never a password", () => {
    const sql = provisioningSql(logins);
    for (const login of logins) {
      expect(sql).toContain(`CREATE ROLE ${login.role} `);
      expect(sql).toContain(`CREATE DATABASE ${login.database} OWNER ${login.role}`);
      expect(sql).toContain(login.verifier);
      expect(sql).not.toContain(`password of ${login.role}`);
    }
  });

  test("renders the same text for the same inputs in any order", () => {
    expect(provisioningSql([...logins].reverse())).toBe(provisioningSql(logins));
  });

  test("refuses a name that would need quoting and a password that is not a verifier", () => {
    expect(() => provisioningSql([{ ...logins[0], role: "x'; DROP DATABASE y; --" }])).toThrow(/not a plain Postgres identifier/);
    expect(() => provisioningSql([{ ...logins[0], verifier: "plain-password" }])).toThrow(/not a SCRAM-SHA-256 verifier/);
  });

  test("never drops anything", () => {
    expect(provisioningSql(logins)).not.toMatch(/\bDROP\b/i);
  });
});
