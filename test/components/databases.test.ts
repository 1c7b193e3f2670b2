import { SERVICE_NAMES } from "../../catalog/services";
import { PROVISION_SCRIPT } from "../../components/databases";
import { postgresServices } from "../../model/databases";
import { names } from "../../model/naming";
import { scramSha256Verifier } from "../../model/provisioning";
import { changedResources } from "../../testing/diff";
import { containerFor, envOf } from "../harness/inspect";
import { TYPES, ofType, runProgram, type ProgramRun } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";

const provisioningOf = (run: ProgramRun, env: string) => {
  const found = ofType(run, TYPES.command).filter((c) => c.name === `${env}-databases-provisioning`);
  expect(found).toHaveLength(1);
  return found[0];
};

/** role → the verifier the script sets for it. */
const verifiersIn = (sql: string) =>
  Object.fromEntries([...sql.matchAll(/ALTER ROLE (\w+) PASSWORD ' \|\| quote_literal\('([^']+)'\)/g)].map((m) => [m[1], m[2]]));

const runs: Record<string, ProgramRun> = {};
beforeAll(async () => {
  runs.qual = await runProgram({ stack: "qual" });
  runs.prod = await runProgram({ stack: "prod" });
});

describe.each(["qual", "prod"])("the %s stack's database provisioning", (env) => {
  const run = () => runs[env];

  test("runs psql in this environment's postgres container, once the container is healthy", () => {
    const command = provisioningOf(run(), env);
    const postgres = containerFor(run(), "postgres");
    expect(command.inputs.create).toBe(PROVISION_SCRIPT);
    expect(command.inputs.environment).toEqual({ POSTGRES_CONTAINER: names.container("postgres", env) });
    expect(command.options.dependsOn).toContain(postgres.urn);
    expect(postgres.inputs.wait).toBe(true);
    // Runs nothing on delete: a database is never dropped by the program.
    expect(command.inputs.delete).toBeUndefined();
  });

  test("sends the script on stdin as a secret, with each service's password only as a SCRAM verifier of it", () => {
    const command = provisioningOf(run(), env);
    expect(command.secretInputs).toEqual(expect.arrayContaining(["stdin", "triggers"]));
    const verifiers = verifiersIn(command.inputs.stdin);
    expect(Object.keys(verifiers).sort()).toEqual(postgresServices().map((s) => names.serviceRole(s, env)).sort());
    for (const service of postgresServices()) {
      const password = envOf(containerFor(run(), service)).DATABASE_PASSWORD;
      const verifier = verifiers[names.serviceRole(service, env)];
      const salt = Buffer.from(verifier.split("$")[1].split(":")[1], "base64");
      expect(scramSha256Verifier(password, salt)).toBe(verifier);
      expect(JSON.stringify(command.inputs)).not.toContain(password);
    }
  });

  test("re-runs when the postgres container is replaced: its id is a trigger", () => {
    expect(provisioningOf(run(), env).inputs.triggers).toContain(`${containerFor(run(), "postgres").name}-id`);
  });

  test("starts every service that uses PostgreSQL after the provisioning, and no other service waits for it", () => {
    const command = provisioningOf(run(), env);
    const users = postgresServices();
    for (const service of SERVICE_NAMES) {
      const waits = containerFor(run(), service).options.dependsOn.includes(command.urn);
      expect({ service, waits }).toEqual({ service, waits: users.includes(service) });
    }
  });

  test("sends every service's database password as a secret env var", () => {
    for (const service of postgresServices()) {
      const container = containerFor(run(), service);
      expect(envOf(container).DATABASE_PASSWORD).toMatch(/^generated-/);
      expect(container.secretInputs).toContain("envs");
    }
  });
});

test("a second preview with the same inputs changes nothing, the provisioning included", async () => {
  const first = await runProgram({ stack: "qual", preview: true });
  const second = await runProgram({ stack: "qual", preview: true });
  expect(ofType(first, TYPES.command).map((c) => c.name)).toContain("qual-databases-provisioning");
  expect(changedResources(first, second)).toEqual([]);
});

test("a rotated database password re-runs the provisioning and replaces only that service's container", async () => {
  const service = postgresServices()[postgresServices().length - 1];
  const credential = names.databasePasswordCredential(service);
  const rotated = await runProgram({ stack: "qual", secrets: { ...TEST_EXTERNAL_SECRETS, [credential]: "Set-from-config-0001" } });
  const kebab = credential.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  expect(changedResources(runs.qual, rotated)).toEqual(
    [`qual-credentials-${kebab}`, "qual-databases-provisioning", containerFor(rotated, service).name].sort(),
  );
  expect(envOf(containerFor(rotated, service)).DATABASE_PASSWORD).toBe("Set-from-config-0001");
  const verifier = verifiersIn(provisioningOf(rotated, "qual").inputs.stdin)[names.serviceRole(service, "qual")];
  expect(scramSha256Verifier("Set-from-config-0001", Buffer.from(verifier.split("$")[1].split(":")[1], "base64"))).toBe(verifier);
});
