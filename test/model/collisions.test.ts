import { ConfigError } from "../../config/load";
import type { HostInventory } from "../../host/inventory";
import { findCollisions } from "../../model/collisions";
import { planEnvironment } from "../../model/environment";
import { LABELS, PROJECT } from "../../model/naming";
import { validateStackConfig } from "../../config/validate";
import { volumes } from "../harness/inspect";
import { EMPTY_HOST, runProgram } from "../harness/program";
import { testRelease } from "../harness/release";
import { engineConfig } from "../harness/stack-config";

function plan(stack: string, overrides: Record<string, unknown> = {}) {
  const config = engineConfig(stack, overrides);
  const result = validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), release: testRelease(stack) });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return planEnvironment(result.settings);
}

const ours = (env: string, service?: string) => ({
  [LABELS.project]: PROJECT,
  [LABELS.environment]: env,
  ...(service ? { [LABELS.service]: service } : {}),
});
const host = (partial: Partial<HostInventory>): HostInventory => ({ ...EMPTY_HOST, ...partial });

test("finds nothing on an empty host, or on a host holding only this stack's own objects", () => {
  expect(findCollisions(plan("prod"), EMPTY_HOST)).toEqual([]);
  const own = host({
    containers: [
      { name: "po-postgres-prod", labels: ours("prod", "postgres") },
      { name: "po-public-fo-prod-0123abcd", labels: ours("prod", "public-fo") },
    ],
    networks: [{ name: "po-internal-prod", labels: ours("prod") }],
    volumes: [{ name: "postgres-data-prod", labels: ours("prod") }],
  });
  expect(findCollisions(plan("prod"), own)).toEqual([]);
});

test("flags a volume of the same name that is not ours, and says how to take it over instead", () => {
  const found = findCollisions(plan("prod"), host({ volumes: [{ name: "postgres-data-prod", labels: {} }] }));
  expect(found).toEqual([
    { kind: "volume", name: "postgres-data-prod", message: expect.stringContaining("set data.volumes.postgres-data: postgres-data-prod") },
  ]);
});

test("flags another environment's objects, naming the owner", () => {
  const found = findCollisions(plan("qual"), host({ networks: [{ name: "po-internal-qual", labels: ours("staging") }] }));
  expect(found.map((c) => c.message)).toEqual([expect.stringContaining('belongs to portugal-odyssey environment "staging"')]);
});

test("flags a foreign container that has a fixed name or a revision name of ours", () => {
  const found = findCollisions(
    plan("qual"),
    host({
      containers: [
        { name: "po-redis-qual", labels: {} },
        { name: "po-api-gateway-qual-deadbeef", labels: ours("qual", "public-fo") },
        { name: "po-api-gateway-qual-extra", labels: {} },
      ],
    }),
  );
  expect(found.map((c) => c.name)).toEqual(["po-redis-qual", "po-api-gateway-qual-deadbeef"]);
});

test("names the Compose project of a container that still holds our name, and how to remove it without its volumes", () => {
  const found = findCollisions(plan("prod"), host({ containers: [{ name: "po-postgres-prod", labels: { "com.docker.compose.project": "portugal-odyssey-prod" } }] }));
  expect(found).toEqual([
    {
      kind: "container",
      name: "po-postgres-prod",
      message: expect.stringContaining('belongs to Compose project "portugal-odyssey-prod"; stop and remove it first (docker compose rm --stop --force'),
    },
  ]);
});

test("requires a taken-over volume to exist, so a typo never starts a store on an empty volume", () => {
  const adopting = plan("prod", { data: { volumes: { "postgres-data": "compose_postgres-data-prod" } } });
  expect(findCollisions(adopting, EMPTY_HOST)).toEqual([
    { kind: "volume", name: "compose_postgres-data-prod", message: expect.stringContaining("does not exist on the host") },
  ]);
  expect(findCollisions(adopting, host({ volumes: [{ name: "compose_postgres-data-prod", labels: {} }] }))).toEqual([]);
});

test("refuses to take over another environment's volume, so two stores never share one data directory", () => {
  const adopting = plan("qual", { data: { protect: true, retainOnDelete: true, volumes: { "postgres-data": "postgres-data-prod" } } });
  const found = findCollisions(adopting, host({ volumes: [{ name: "postgres-data-prod", labels: ours("prod") }] }));
  expect(found).toEqual([{ kind: "volume", name: "postgres-data-prod", message: expect.stringContaining('it belongs to portugal-odyssey environment "prod"') }]);
});

describe("the program", () => {
  test("stops before registering anything when the host holds a colliding name", async () => {
    const registered: string[] = [];
    const attempt = runProgram({
      stack: "prod",
      inventory: host({ volumes: [{ name: "redis-data-prod", labels: {} }] }),
      onRegister: (r) => registered.push(r.type),
    });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/volume redis-data-prod: volume redis-data-prod already exists and it was not created by this project/);
    expect(registered).toEqual(["pulumi:pulumi:Stack"]);
  });

  test("takes over a mapped volume under its existing name, unlabelled, protected, retained even in qual, and blind to its labels", async () => {
    const run = await runProgram({
      stack: "qual",
      config: { data: { protect: false, retainOnDelete: false, volumes: { "postgres-data": "compose_postgres-data-qual" } } },
      inventory: host({ volumes: [{ name: "compose_postgres-data-qual", labels: { "com.docker.compose.project": "compose" } }] }),
    });
    const adopted = volumes(run).find((v) => v.name === "qual-volume-postgres-data")!;
    expect(adopted.inputs).toEqual({ name: "compose_postgres-data-qual" });
    // Compose's labels, read back into state, must not look like a change that replaces the volume.
    expect(adopted.options).toMatchObject({ protect: true, retainOnDelete: true, ignoreChanges: ["labels"] });
    const fresh = volumes(run).find((v) => v.name === "qual-volume-redis-data")!;
    expect(fresh.options).toMatchObject({ protect: false, retainOnDelete: false, ignoreChanges: [] });
    expect(run.outputs.volumes["postgres-data"]).toBe("compose_postgres-data-qual");
  });
});

describe("the pinned edge subnet against the host's networks", () => {
  const qual = () => plan("qual");
  const subnet = () => qual().edge.subnet!;
  /** A /16 that holds the pinned subnet: overlapping without being equal. */
  const around = () => `${subnet().split(".").slice(0, 2).join(".")}.0.0/16`;

  test("flags any other network whose subnet overlaps it, with the key to change", () => {
    const found = findCollisions(qual(), host({ networks: [{ name: "someone-else", labels: {}, subnets: ["fd00::/64", around()] }] }));
    expect(found).toEqual([
      { kind: "subnet", name: subnet(), message: expect.stringMatching(new RegExp(`overlaps network someone-else's subnet ${around().replace(/\./g, "\\.")} .*pulumi config set edgeSubnet`)) },
    ]);
  });

  test("accepts our own edge network holding it, and networks elsewhere", () => {
    const own = { name: qual().edge.network, labels: ours("qual"), subnets: [subnet()] };
    const elsewhere = { name: "bridge", labels: {}, subnets: ["172.17.0.0/16"] };
    expect(findCollisions(qual(), host({ networks: [own, elsewhere] }))).toEqual([]);
  });

  test("is not checked in shared mode, where nothing is pinned", () => {
    expect(findCollisions(plan("qual", { edge: "shared" }), host({ networks: [{ name: "traefik", labels: {}, subnets: [around()] }] }))).toEqual([]);
  });
});

test("the backup container's name is checked like every other container's", () => {
  const withBackup = plan("qual", { backup: { repository: "s3:https://s3.example.com/bucket" } });
  const taken = withBackup.backup!.containerName;
  const found = findCollisions(withBackup, host({ containers: [{ name: taken, labels: {} }] }));
  expect(found).toEqual([{ kind: "container", name: taken, message: expect.stringContaining("was not created by this project") }]);
  expect(findCollisions(withBackup, host({ containers: [{ name: taken, labels: ours("qual", "backup") }] }))).toEqual([]);
});
