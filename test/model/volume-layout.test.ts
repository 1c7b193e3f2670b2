/**
 * Taking over a volume whose data is not where the store will look must be
 * refused before anything is registered, naming the config that fixes it;
 * a matching or empty volume goes ahead.
 */
import { ConfigError } from "../../config/load";
import { STORES } from "../../catalog/stores";
import { names } from "../../model/naming";
import { containerFor, envOf } from "../harness/inspect";
import { EMPTY_HOST, runProgram } from "../harness/program";

const STACK = "prod";
const PG = "compose_postgres-data";
const MQ = "compose_rabbitmq-data";
const adopt = (data: Record<string, unknown> = {}) => ({ data: { protect: true, retainOnDelete: true, volumes: { "postgres-data": PG, "rabbitmq-data": MQ }, ...data } });
const pgdataDir = () => STORES.postgres.env.PGDATA as string;
const pgMount = () => STORES.postgres.volumes[0].path;
const subdir = () => pgdataDir().slice(pgMount().length + 1);
/** The host holds both Compose volumes: the collision check wants an adopted volume to exist. */
const inventory = { ...EMPTY_HOST, volumes: [PG, MQ].map((name) => ({ name, labels: { "com.docker.compose.project": "compose" } })) };
const ourNode = `rabbit@${names.alias("rabbitmq", STACK)}`;

async function attempt(listings: Record<string, string[]>, data?: Record<string, unknown>) {
  const registered: string[] = [];
  const run = runProgram({ stack: STACK, config: adopt(data), inventory, volumeListings: listings, onRegister: (r) => registered.push(r.type) });
  return { run, registered };
}

test("a cluster where PGDATA points and RabbitMQ data under this stack's node name go ahead", async () => {
  const { run } = await attempt({ [PG]: [subdir(), `${subdir()}/PG_VERSION`, `${subdir()}/base`], [MQ]: ["mnesia", `mnesia/${ourNode}`, `mnesia/${ourNode}.pid`, ".erlang.cookie"] });
  await expect(run).resolves.toBeDefined();
});

test("empty volumes go ahead: the stores initialise them, with nothing beside", async () => {
  const { run } = await attempt({ [PG]: ["lost+found"], [MQ]: [] });
  await expect(run).resolves.toBeDefined();
});

test("a Postgres cluster at the volume root is refused, naming the key that serves it from there, before anything is registered", async () => {
  const { run, registered } = await attempt({ [PG]: ["PG_VERSION", "base", "global", "pg_wal"], [MQ]: [] });
  await expect(run).rejects.toBeInstanceOf(ConfigError);
  await expect(run).rejects.toThrow(/volume compose_postgres-data holds a PostgreSQL cluster at its root.*pulumi config set --path data\.postgresDataAtVolumeRoot true --stack prod/);
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
});

test("with data.postgresDataAtVolumeRoot the same volume goes ahead, and PGDATA is the volume root", async () => {
  const { run } = await attempt({ [PG]: ["PG_VERSION", "base"], [MQ]: [] }, { postgresDataAtVolumeRoot: true });
  expect(envOf(containerFor(await run, "postgres")).PGDATA).toBe(pgMount());
});

test("data.postgresDataAtVolumeRoot on a volume whose cluster is in the subdirectory is refused too", async () => {
  const { run } = await attempt({ [PG]: [subdir(), `${subdir()}/PG_VERSION`], [MQ]: [] }, { postgresDataAtVolumeRoot: true });
  await expect(run).rejects.toThrow(/holds a PostgreSQL cluster in pgdata\/, but PGDATA is the volume root/);
});

test("a volume with other data and no cluster is refused rather than initialised beside it", async () => {
  const { run } = await attempt({ [PG]: ["dump.sql"], [MQ]: [] });
  await expect(run).rejects.toThrow(/volume compose_postgres-data is not empty \(dump\.sql\) but holds no PostgreSQL cluster/);
});

test("RabbitMQ data under another node name is refused, naming the hostname that keeps it; with it set, the store takes that hostname", async () => {
  const old = "rabbit@rabbitmq";
  const listings = { [PG]: [], [MQ]: ["mnesia", `mnesia/${old}`, `mnesia/${old}-feature_flags`, `mnesia/${old}-plugins-expand`] };
  const { run, registered } = await attempt(listings);
  await expect(run).rejects.toThrow(`volume ${MQ} holds RabbitMQ data for node ${old}, but this stack's node is ${ourNode}`);
  await expect(run).rejects.toThrow("pulumi config set --path data.rabbitmqHostname rabbitmq --stack prod");
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
  const fixed = await runProgram({ stack: STACK, config: adopt({ rabbitmqHostname: "rabbitmq" }), inventory, volumeListings: listings });
  expect(containerFor(fixed, "rabbitmq").inputs.hostname).toBe("rabbitmq");
});

test("volumes that are not taken over are not listed at all", async () => {
  const listed: string[] = [];
  await runProgram({ stack: STACK, volumeListings: async (volume) => (listed.push(volume), []) });
  expect(listed).toEqual([]);
});
