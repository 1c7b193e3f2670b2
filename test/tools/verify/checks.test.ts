import {
  checkContainers,
  checkDefinitions,
  checkEdge,
  checkImages,
  checkNeighbours,
  checkNetworkMembers,
  checkNetworks,
  checkRouters,
  checkTraefikNetwork,
  checkVolumes,
} from "../../../tools/verify/checks";
import type { StackOutputs } from "../../../tools/verify/outputs";
import type { HostSnapshot } from "../../../tools/verify/snapshot";
import { container, healthyHost, programOutputs } from "./fixtures";
import { LABELS, PROJECT, names } from "../../../model/naming";

let qual: StackOutputs;
let prod: StackOutputs;
let host: HostSnapshot;
beforeAll(async () => {
  [qual, prod] = [await programOutputs("qual"), await programOutputs("prod")];
});
beforeEach(() => {
  host = healthyHost(qual, prod);
});

const all = (h: HostSnapshot) => [
  checkTraefikNetwork(h, qual.edge.traefikNetwork),
  ...checkNeighbours(h, qual.neighbours),
  checkRouters(h),
  checkDefinitions(h),
  ...[qual, prod].flatMap((o) => [...checkNetworks(h, o), ...checkVolumes(h, o), ...checkEdge(h, o), ...checkContainers(h, o), ...checkImages(h, o)]),
];
const failed = (h: HostSnapshot) => all(h).filter((c) => !c.ok);
const byName = (name: string) => host.containers.find((c) => c.name === name)!;

describe("the image check", () => {
  test("passes one check per app service, each naming the pinned image", () => {
    const results = checkImages(host, qual);
    expect(results.map((r) => r.id)).toEqual(Object.keys(qual.images).sort().map((s) => `image.qual.${s}`));
    for (const r of results) expect(r.ok).toBe(true);
  });

  test("a container running another digest fails its service's check, naming the container and both digests", () => {
    const [service, release] = Object.entries(prod.images)[0];
    const swapped = byName(prod.containers[service]);
    const other = release.image.replace(/@sha256:.*/, `@sha256:${"e".repeat(64)}`);
    Object.assign(swapped, { imageId: "sha256:another", repoDigests: [other] });
    expect(failed(host).map((c) => c.id)).toEqual([`image.prod.${service}`]);
    const [check] = failed(host);
    expect(check.evidence).toContain(`${swapped.name} runs image sha256:another`);
    expect(check.evidence).toContain(other);
    expect(check.evidence).toContain(`but the release pins ${release.image}`);
  });

  test("a locally built image under the pinned name (no registry digest) fails: a label or tag proves nothing", () => {
    const [service] = Object.keys(qual.images);
    Object.assign(byName(qual.containers[service]), { repoDigests: [] });
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([[`image.qual.${service}`, expect.stringContaining("(none), but the release pins")]]);
  });
});

describe("the checklist", () => {
  test("a host that matches both stacks passes every item, 5 per container", () => {
    expect(failed(host)).toEqual([]);
    expect(checkContainers(host, qual).filter((c) => c.id.startsWith("container.qual.postgres."))).toHaveLength(5);
  });

  test("a stopped container fails running and healthy, with its state as evidence", () => {
    Object.assign(byName(qual.containers.redis), { state: "exited", health: "unhealthy" });
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([
      ["container.qual.redis.running", "none running: po-redis-qual (exited, unhealthy)"],
      ["container.qual.redis.healthy", "not running"],
    ]);
  });

  test("an unhealthy or healthcheck-less running container fails healthy", () => {
    byName(prod.containers.keycloak).health = "unhealthy";
    byName(prod.containers.postgres).health = undefined;
    expect(failed(host).map((c) => c.evidence)).toEqual(["not healthy: po-keycloak-prod (unhealthy)", "not healthy: po-postgres-prod (no healthcheck)"]);
  });

  test("a missing container is found by its labels, not its name, and reported with the expected name", () => {
    host.containers = host.containers.filter((c) => c.name !== qual.containers["public-fo"]);
    const prodFo = byName(prod.containers["public-fo"]);
    host.containers.push(container({ name: "renamed-by-hand", labels: { ...prodFo.labels, "pt.portugalodyssey.environment": "qual" }, repoDigests: prodFo.repoDigests, health: "healthy", networks: { "po-internal-qual": { ip: "1", aliases: [] }, "po-edge-qual": { ip: "2", aliases: [] } } }));
    expect(failed(host).map((c) => c.id)).toEqual(["traefik.routers-unique"]);
    host.containers = host.containers.filter((c) => c.name !== "renamed-by-hand");
    const [missing] = failed(host);
    expect(failed(host).map((c) => c.id)).toEqual(["container.qual.public-fo.exists"]);
    expect(missing.evidence).toBe(`no container labelled pt.portugalodyssey.environment=qual, pt.portugalodyssey.service=public-fo (expected ${qual.containers["public-fo"]})`);
  });

  test("a qual container on a prod network, or missing one of its own, fails networks", () => {
    const fs = byName(qual.containers["file-service"]);
    fs.networks["po-postgres-network-prod"] = { ip: "10.1.1.1", aliases: [] };
    delete fs.networks["po-redis-network-qual"];
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([
      ["container.qual.file-service.networks", "po-file-service-qual: attached to unexpected po-postgres-network-prod; missing po-redis-network-qual"],
    ]);
  });

  test("a container of the environment outside its topology is reported", () => {
    host.containers.push(container({ name: "po-debug-qual", labels: { "pt.portugalodyssey.project": "portugal-odyssey", "pt.portugalodyssey.environment": "qual", "pt.portugalodyssey.service": "debug" } }));
    expect(failed(host).map((c) => c.evidence)).toEqual(["unexpected: po-debug-qual (service debug)"]);
  });

  test("wrong role or port labels fail the labels item", () => {
    byName(qual.containers.postgres).labels["pt.portugalodyssey.port"] = "5433";
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([["container.qual.postgres.labels", "po-postgres-qual: role=store, port=5433, traefik.enable=false"]]);
  });

  test("an unrouted container that does not opt out of Traefik fails the labels item", () => {
    delete byName(prod.containers["booking-service"]).labels["traefik.enable"];
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([["container.prod.booking-service.labels", "po-booking-service-prod: role=service, port=3000, traefik.enable=(none)"]]);
  });

  test("two containers defining one middleware two ways fail traefik.definitions-agree, naming both; alike, they pass", () => {
    const mw = "traefik.http.middlewares.secure-headers-qual.headers.framedeny";
    byName(qual.containers["public-fo"]).labels[mw] = "true";
    host.containers.push(container({ name: "po-public-fo-qual-00000000", labels: { ...byName(qual.containers["public-fo"]).labels }, health: "healthy" }));
    expect(checkDefinitions(host).ok).toBe(true);
    host.containers.at(-1)!.labels[mw] = "false";
    host.containers.at(-1)!.state = "exited";
    const result = checkDefinitions(host);
    expect(result.ok).toBe(false);
    expect(result.evidence).toBe(
      `http/middlewares/secure-headers-qual defined differently by ${qual.containers["public-fo"]} [running]: {"headers.framedeny":"true"} and po-public-fo-qual-00000000 [exited]: {"headers.framedeny":"false"}`,
    );
  });

  test("missing traefik network, volume and stack network are each named", () => {
    host.networks = host.networks.filter((n) => n.name !== "traefik" && n.name !== "po-redis-network-prod");
    host.volumes = host.volumes.filter((v) => v.name !== "postgres-data-qual");
    expect(failed(host).map((c) => c.id)).toEqual(["network.traefik", "volume.qual.postgres-data", "network.prod.redis"]);
  });

  test("a stopped or missing neighbour fails", () => {
    byName("x100f-webapp").state = "exited";
    expect(failed(host).map((c) => c.id)).toEqual(["neighbour.x100f-webapp"]);
    expect(checkNeighbours(host, ["gone"])[0].evidence).toBe("no container named gone");
  });

  test("in isolated mode Traefik must sit on the stack's edge network", () => {
    delete byName("traefik").networks["po-edge-prod"];
    const [f] = failed(host);
    expect(f.id).toBe("edge.prod.traefik-attached");
    expect(f.evidence).toMatch(/^traefik is only on po-edge-qual, traefik; re-attach it: docker network connect po-edge-prod traefik \(a plain pulumi up does not/);
  });

  test("an edge network without the subnet Keycloak trusts fails edge.E.subnet, naming what it has", () => {
    host.networks.find((n) => n.name === qual.edge.network)!.subnets = ["172.31.0.0/16"];
    expect(failed(host).map((c) => [c.id, c.evidence])).toEqual([[`edge.qual.subnet`, `${qual.edge.network} has 172.31.0.0/16`]]);
  });

  test("in shared mode there is no edge network to join, and the edge item says so", async () => {
    const shared = await programOutputs("qual", { edge: "shared" });
    const h = healthyHost(shared);
    expect(checkEdge(h, shared).map((c) => [c.id, c.ok])).toEqual([
      ["edge.qual.traefik-running", true],
      ["edge.qual.shared", true],
    ]);
  });
});

describe("network members: every endpoint on an environment's networks is accounted for", () => {
  const members = (h: HostSnapshot, o: StackOutputs) => checkNetworkMembers(h, o);
  const failedMembers = (h: HostSnapshot) => [qual, prod].flatMap((o) => members(h, o)).filter((c) => !c.ok);

  test("a host that matches both stacks has one passing members check per network of each stack", () => {
    expect(failedMembers(host)).toEqual([]);
    for (const o of [qual, prod]) expect(members(host, o).map((c) => c.id)).toEqual(Object.keys(o.networks).map((k) => `network.${o.environment}.${k}.members`));
  });

  test("a foreign, unlabelled container on the internal network fails, naming the container and the network", () => {
    const internal = prod.networks.internal;
    host.containers.push(container({ name: "intruder", networks: { [internal]: { ip: "10.7.0.9", aliases: [] } } }));
    expect(failedMembers(host).map((c) => [c.id, c.evidence])).toEqual([["network.prod.internal.members", `INTRUDERS: intruder on ${internal} (not this project's)`]]);
  });

  test("a container on both environments' internal networks fails on each side it does not belong to", () => {
    host.containers.push(container({ name: "pivot", networks: { [qual.networks.internal]: { ip: "10.7.0.10", aliases: [] }, [prod.networks.internal]: { ip: "10.7.0.11", aliases: [] } } }));
    expect(failedMembers(host).map((c) => c.id)).toEqual(["network.qual.internal.members", "network.prod.internal.members"]);
  });

  test("another environment's own container on this environment's network is an intruder too", () => {
    byName(qual.containers.postgres).networks[prod.networks.internal] = { ip: "10.7.0.12", aliases: [] };
    const [failure] = failedMembers(host);
    expect(failure.id).toBe("network.prod.internal.members");
    expect(failure.evidence).toContain(`${qual.containers.postgres} on ${prod.networks.internal} (environment ${qual.environment}, service postgres)`);
  });

  test("one of the environment's containers on a network its service does not list fails", () => {
    const [store, net] = Object.entries(prod.networks).find(([k]) => k !== "internal" && k !== "edge" && !prod.topology.redis.networks.includes(prod.networks[k]))!;
    byName(prod.containers.redis).networks[net] = { ip: "10.7.0.13", aliases: [] };
    expect(failedMembers(host).map((c) => c.id)).toEqual([`network.prod.${store}.members`]);
  });

  test("the environment's backup container is accepted on its stores' networks; another environment's is an intruder", () => {
    const stores = Object.entries(prod.networks).filter(([k]) => k !== "internal" && k !== "edge");
    const networks = Object.fromEntries(stores.map(([, n], i) => [n, { ip: `10.7.1.${i + 1}`, aliases: [] }]));
    const labels = { [LABELS.project]: PROJECT, [LABELS.role]: "backup", [LABELS.service]: "backup" };
    host.containers.push(container({ name: names.backupContainer(prod.environment), labels: { ...labels, [LABELS.environment]: prod.environment }, networks }));
    expect(failedMembers(host)).toEqual([]);
    host.containers.push(container({ name: names.backupContainer(qual.environment), labels: { ...labels, [LABELS.environment]: qual.environment }, networks }));
    expect(failedMembers(host).map((c) => c.id).sort()).toEqual(stores.map(([k]) => `network.prod.${k}.members`).sort());
  });

  test("Traefik is accepted on the edge network only", () => {
    byName(prod.edge.traefikContainer).networks[prod.networks.internal] = { ip: "10.7.0.14", aliases: [] };
    expect(failedMembers(host).map((c) => c.id)).toEqual(["network.prod.internal.members"]);
  });

  test("shared edge: other tenants on Traefik's network pass, an unrouted container of ours there fails", async () => {
    const [sq, sp] = [await programOutputs("qual", { edge: "shared" }), await programOutputs("prod", { edge: "shared" })];
    const shared = healthyHost(sq, sp);
    expect([sq, sp].flatMap((o) => checkNetworkMembers(shared, o)).filter((c) => !c.ok)).toEqual([]);
    const storeName = sp.containers.postgres;
    shared.containers.find((c) => c.name === storeName)!.networks[sp.edge.traefikNetwork] = { ip: "10.7.0.15", aliases: [] };
    const failures = [sq, sp].flatMap((o) => checkNetworkMembers(shared, o)).filter((c) => !c.ok);
    expect(failures.map((c) => c.id)).toEqual(["network.prod.edge.members"]);
    expect(failures[0].evidence).toContain(storeName);
  });
});
