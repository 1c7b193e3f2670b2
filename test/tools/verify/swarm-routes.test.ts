import type { ProgramRun } from "../../harness/program";
import type { StackOutputs } from "../../../tools/verify/outputs";
import { checkSwarmRoute, type RoutedServiceView, type TraefikView } from "../../../tools/verify/swarm-routes";
import { serviceSpecs, swarmRun } from "./swarm-fixtures";

let run: ProgramRun;
let outputs: StackOutputs;
beforeAll(async () => {
  ({ run, outputs } = await swarmRun("qual"));
});

/** Each routed entry of the topology, with its service as the renderer registers it and the Traefik container on the edge overlay. */
const routed = () =>
  serviceSpecs(run, outputs)
    .map((s) => ({ entry: Object.keys(outputs.containers).find((e) => outputs.containers[e] === s.Spec.Name)!, s }))
    .filter(({ entry }) => outputs.topology[entry].router !== undefined)
    .map(({ entry, s }) => ({
      entry,
      service: {
        name: s.Spec.Name,
        labels: s.Spec.Labels,
        networks: outputs.topology[entry].networks.map((name) => ({ name, scope: "swarm" })),
        endpointMode: s.Spec.EndpointSpec.Mode,
      } satisfies RoutedServiceView,
    }));
const traefik = (): TraefikView => ({ name: outputs.edge.traefikContainer, networks: [outputs.edge.traefikNetwork, outputs.edge.network], state: "running" });
const first = () => routed()[0];
const router = () => outputs.topology[first().entry].router!;
const serviceLabel = (labels: Record<string, string>) => Object.keys(labels).find((k) => /^traefik\.http\.services\.[^.]+\.loadbalancer\.server\.port$/.test(k))!;

const checksOf = (service: RoutedServiceView, t: TraefikView = traefik()) => checkSwarmRoute("qual", first().entry, outputs.topology[first().entry], service, t);
const failed = (service: RoutedServiceView, t?: TraefikView) => checksOf(service, t).filter((c) => !c.ok);
const withLabels = (change: (labels: Record<string, string>) => void): RoutedServiceView => {
  const service = structuredClone(first().service);
  change(service.labels);
  return service;
};

describe("a swarm route, as Traefik's swarm provider would build it", () => {
  test("every routed entry the renderer registers passes its five route checks", () => {
    const entries = routed();
    expect(entries.length).toBe(Object.values(outputs.topology).filter((t) => t.router).length);
    for (const { entry, service } of entries) {
      const checks = checkSwarmRoute("qual", entry, outputs.topology[entry], service, traefik());
      expect(checks.map((c) => c.id)).toEqual(["router", "service", "port", "network", "traefik-network"].map((a) => `route.qual.${entry}.${a}`));
      expect(checks.filter((c) => !c.ok)).toEqual([]);
    }
  });

  test("a route on the task's container instead of the service: the router check fails, naming the missing router", () => {
    const bare = withLabels((l) => {
      for (const k of Object.keys(l)) if (k.startsWith("traefik.")) delete l[k];
    });
    const ids = failed(bare).map((c) => c.id.split(".").pop());
    expect(ids).toEqual(["router", "service", "port", "network", "traefik-network"]);
    expect(failed(bare)[0].evidence).toContain(`no traefik.http.routers.${router()}.* label on the service`);
  });

  test("another rule fails the router check with the rule found", () => {
    const bad = withLabels((l) => (l[`traefik.http.routers.${router()}.rule`] = "Host(`elsewhere.example`)"));
    expect(failed(bad).map((c) => [c.id, c.evidence])).toEqual([[`route.qual.${first().entry}.router`, `traefik.http.routers.${router()}.rule=Host(\`elsewhere.example\`)`]]);
  });

  test("traefik.enable=false, both traefik.docker.* and traefik.swarm.* labels, or lbswarm on a dnsrr service: the provider skips the service", () => {
    expect(failed(withLabels((l) => (l["traefik.enable"] = "false")))[0].evidence).toContain("traefik.enable=false");
    const mixed = failed(withLabels((l) => (l["traefik.docker.network"] = "other")));
    expect(mixed.map((c) => c.id)).toEqual([`route.qual.${first().entry}.router`]);
    expect(mixed[0].evidence).toContain("both traefik.docker.* and traefik.swarm.* labels");
    expect(failed(withLabels((l) => (l["traefik.swarm.lbswarm"] = "true")))[0].evidence).toContain("lbswarm=true with endpoint mode dnsrr");
  });

  test("a router naming a service the labels do not define fails the service and port checks", () => {
    const bad = withLabels((l) => (l[`traefik.http.routers.${router()}.service`] = "nowhere-qual"));
    expect(failed(bad).map((c) => c.id.split(".").pop())).toEqual(["service", "port"]);
    expect(failed(bad)[0].evidence).toMatch(/names service nowhere-qual, which service \S+ does not define \(it defines \S+\)/);
  });

  test("no loadbalancer.server.port fails the port check: a swarm task has no port for Traefik to infer", () => {
    // The port is the service's only label: without it, nothing defines the service the router names.
    const undefinedService = withLabels((l) => delete l[serviceLabel(l)]);
    expect(failed(undefinedService).map((c) => c.id.split(".").pop())).toEqual(["service", "port"]);
    const noPort = withLabels((l) => {
      const key = serviceLabel(l);
      l[key.replace(/server\.port$/, "passhostheader")] = "true";
      delete l[key];
    });
    expect(failed(noPort).map((c) => c.id.split(".").pop())).toEqual(["port"]);
    expect(failed(noPort)[0].evidence).toContain("is not set: Traefik drops the route");
    const wrong = withLabels((l) => (l[serviceLabel(l)] = "1"));
    expect(failed(wrong)[0].evidence).toBe(`${serviceLabel(wrong.labels)}=1; the service listens on ${outputs.topology[first().entry].port}`);
  });

  test("traefik.swarm.network naming a network the service is not on, or a local one, fails the network check; and Traefik's if Traefik is not there", () => {
    const other = withLabels((l) => (l["traefik.swarm.network"] = outputs.networks.internal));
    expect(failed(other).map((c) => c.id.split(".").pop())).toEqual(expect.arrayContaining(["traefik-network"]));
    const absent = withLabels((l) => (l["traefik.swarm.network"] = "po-nowhere"));
    expect(failed(absent).find((c) => c.id.endsWith(".network"))?.evidence).toContain("traefik.swarm.network=po-nowhere, but service");
    const local = structuredClone(first().service);
    local.networks = local.networks.map((n) => ({ ...n, scope: "local" }));
    expect(failed(local).map((c) => [c.id.split(".").pop(), c.evidence])).toEqual([["network", `traefik.swarm.network=${outputs.edge.network} has scope local: the provider only sees swarm-scoped networks`]]);
  });

  test("a Traefik container missing from the manager, or not on the route's network, fails the traefik-network check with the fix", () => {
    const off = failed(first().service, { name: "traefik", networks: [outputs.edge.traefikNetwork], state: "running" });
    expect(off.map((c) => c.id.split(".").pop())).toEqual(["traefik-network"]);
    expect(off[0].evidence).toContain(`docker network connect ${outputs.edge.network} traefik`);
    expect(failed(first().service, { name: "traefik" })[0].evidence).toBe("no container named traefik on the manager");
  });
});
