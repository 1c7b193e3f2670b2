/**
 * The pure model: what planEnvironment makes of a stack's settings and the
 * catalog. No engine runs here; test/components checks that the components
 * render these plans, and what only the engine shows (options, secrets,
 * dependencies).
 */
import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { STORE_NAMES, VOLUME_KEYS } from "../../catalog/types";
import { planEnvironment, type CatalogContainerPlan, type EnvironmentPlan } from "../../model/environment";
import { names } from "../../model/naming";
import { settingsOf } from "../harness/stack-config";

const plan = (stack: string, overrides: Record<string, unknown> = {}) => planEnvironment(settingsOf(stack, overrides));
const containerOf = (p: EnvironmentPlan, name: string): CatalogContainerPlan => p.containers.find((c) => c.name === name)!;
const qual = plan("qual");
const prod = plan("prod");

test("plans one container per store and per service, a network per store plus internal and edge, and every catalog volume", () => {
  expect(qual.containers.map((c) => c.name).sort()).toEqual([...STORE_NAMES, ...SERVICE_NAMES].sort());
  expect(qual.networks.map((n) => n.key).sort()).toEqual([...STORE_NAMES, "edge", "internal"].sort());
  expect(qual.volumes.map((v) => v.key).sort()).toEqual([...VOLUME_KEYS].sort());
});

test("puts each service on the internal network under its alias and on exactly the store networks it uses; routed ones on the edge", () => {
  for (const name of SERVICE_NAMES) {
    const keys = containerOf(qual, name).networks.map((n) => n.key);
    expect(keys).toEqual(["internal", ...SERVICES[name].stores, ...(SERVICES[name].route ? ["edge"] : [])]);
    expect(containerOf(qual, name).networks[0].aliases).toEqual([names.alias(name, "qual")]);
  }
});

test("gives each service the URL of every peer and the client env of every store, as the catalog declares", () => {
  for (const name of SERVICE_NAMES) {
    const env = Object.fromEntries(containerOf(qual, name).env.map((e) => [e.name, e.value]));
    for (const peer of SERVICES[name].peers) expect(env[`${SERVICES[peer].urlVar}_URL`]).toBe(`http://${names.alias(peer, "qual")}:${SERVICES[peer].port}`);
    for (const store of SERVICES[name].stores) for (const key of Object.keys(STORES[store].clientEnv)) expect(env).toHaveProperty(key);
    expect(containerOf(qual, name).dependencies).toHaveLength(SERVICES[name].stores.length + SERVICES[name].peers.length);
  }
});

test("keeps credentials as placeholders in secret env values, never in plain ones", () => {
  for (const c of qual.containers) {
    for (const e of c.env) if (!e.secret) expect(e.value).not.toMatch(/\{[A-Za-z]+\}/);
    expect(c.credentials.length > 0).toBe(c.env.some((e) => e.secret));
  }
});

test("rolls out routed stateless services as new revisions, and the rest delete-first with the catalog's reason", () => {
  for (const name of SERVICE_NAMES) {
    const spec = SERVICES[name];
    const expected = spec.route && !spec.singleton && spec.volumes.length === 0 ? "revisioned" : "fixed-name";
    expect({ name, strategy: containerOf(prod, name).rollout.strategy }).toEqual({ name, strategy: expected });
  }
  for (const name of STORE_NAMES) expect(containerOf(prod, name).rollout.strategy).toBe("fixed-name");
});

test("sums every container's memory, and what the zero-downtime services add while both revisions run", () => {
  const sum = (cs: CatalogContainerPlan[]) => cs.reduce((total, c) => total + c.resources.memoryMb, 0);
  expect(prod.totalMemoryMb).toBe(sum(prod.containers));
  expect(prod.rolloutMemoryMb).toBe(sum(prod.containers.filter((c) => c.rollout.strategy === "revisioned")));
  expect(prod.rolloutMemoryMb).toBeGreaterThan(0);
});

test("scales the catalog's memory and CPU by resources.scale, never below 64 MiB nor an entry's floor, unless config pins a service or a store", () => {
  const scaled = plan("prod", { resources: { scale: 0.1 } });
  for (const c of scaled.containers) {
    const catalog = (STORES as Record<string, { resources: { memoryMb: number; minMemoryMb?: number } }>)[c.name] ?? SERVICES[c.name as keyof typeof SERVICES];
    expect(c.resources.memoryMb).toBe(Math.max(64, catalog.resources.minMemoryMb ?? 0, Math.round(catalog.resources.memoryMb * 0.1)));
  }
  const keycloakMb = (SERVICES.keycloak.resources.minMemoryMb ?? 0) + 100;
  const pinned = plan("qual", { services: { keycloak: { memoryMb: keycloakMb, cpus: 0.75 } }, stores: { redis: { memoryMb: 200 } } });
  expect(containerOf(pinned, "keycloak").resources).toEqual({ memoryMb: keycloakMb, cpus: 0.75 });
  expect(containerOf(pinned, "redis").resources.memoryMb).toBe(200);
});

test("gives Elasticsearch a heap of half its memory limit, whatever the limit", () => {
  for (const memoryMb of [STORES.elasticsearch.resources.memoryMb, 3000]) {
    const es = containerOf(plan("prod", { stores: { elasticsearch: { memoryMb } } }), "elasticsearch");
    const heap = Math.floor(memoryMb / 2);
    expect(es.env.find((e) => e.name === "ES_JAVA_OPTS")!.value).toBe(`-Xms${heap}m -Xmx${heap}m`);
  }
});

test("rotates logs as config says", () => {
  for (const c of plan("qual", { logs: { maxSize: "50m", maxFile: 5 } }).containers) expect(c.logs.opts).toEqual({ "max-size": "50m", "max-file": "5" });
});

test("takes an existing volume over under its own name, always protected and retained", () => {
  const adopting = plan("qual", { data: { protect: false, retainOnDelete: false, volumes: { "postgres-data": "compose_postgres-data-qual" } } });
  expect(adopting.volumes.find((v) => v.key === "postgres-data")).toEqual({ key: "postgres-data", name: "compose_postgres-data-qual", adopted: true, protect: true, retainOnDelete: true });
  expect(adopting.volumes.find((v) => v.key === "redis-data")).toMatchObject({ adopted: false, protect: false, retainOnDelete: false });
});

test("in shared edge mode, routes over the traefik network and creates no edge network of its own", () => {
  const shared = plan("qual", { edge: "shared" });
  expect(shared.networks.find((n) => n.key === "edge")).toMatchObject({ name: shared.edge.traefikNetwork, managed: false });
  for (const c of shared.containers.filter((c) => c.route)) expect(c.labels["traefik.docker.network"]).toBe(shared.edge.traefikNetwork);
});

test("routes each routed service on its own host, with the stack's entrypoint and resolver", () => {
  const settings = settingsOf("prod");
  for (const name of SERVICE_NAMES.filter((n) => SERVICES[n].route)) {
    const c = containerOf(prod, name);
    expect(c.route!.host).toBe(names.publicHost(SERVICES[name].route!.subdomain, settings.domain));
    expect(c.labels[`traefik.http.routers.${c.route!.router}.rule`]).toBe(`Host(\`${c.route!.host}\`)`);
    expect(c.labels[`traefik.http.routers.${c.route!.router}.entrypoints`]).toBe(settings.traefik.entrypoint);
    expect(c.labels[`traefik.http.routers.${c.route!.router}.tls.certresolver`]).toBe(settings.traefik.certResolver);
  }
});
