/**
 * Whether Traefik v3's swarm provider would build each routed entry's route,
 * read from what the manager holds: the swarm service's own labels and
 * networks, and the Traefik container's networks. Pure, like checks.ts.
 *
 * What the provider does (traefik pkg/provider/docker/):
 * - pswarm.go `parseService` takes the labels from the SERVICE's spec
 *   (`service.Spec.Annotations.Labels`), never from a task's container;
 *   `parseTasks` gives each running task only its addresses on the swarm-scoped
 *   networks (`listServices` lists networks with scope=swarm), and no ports.
 * - shared_labels.go `extractSwarmLabels`: `traefik.enable` decides whether the
 *   service is kept (config.go `keepContainer`), `traefik.swarm.network` (or the
 *   deprecated `traefik.docker.network`) names the network to reach the tasks
 *   on, and a service with both `traefik.docker.*` and `traefik.swarm.*` labels
 *   is an error: `listServices` skips it ("Skip container").
 * - pswarm.go `listServices`: with `traefik.swarm.lbswarm=true` the service is
 *   kept only when it has a virtual IP (`parseService` sets addresses for
 *   endpoint mode vip only), so a dnsrr service with it is dropped.
 * - config.go `build` → `addServer` → `getIPPort`: the server's port is the
 *   service's `loadbalancer.server.port`, else the first of the container's
 *   ports (shared.go `getPort`), which a swarm task never has: "port is
 *   missing", and `build` drops the service's whole configuration, its routers
 *   with it.
 * - config.go `getIPAddress`: the address is the task's on the named network;
 *   when the task is not on it, Traefik warns and takes the first network of
 *   the task instead, in Go map order: an address Traefik may not reach. It
 *   dials that address itself, so the Traefik container must be on that network.
 * - pkg/provider/configuration.go `BuildRouterConfiguration` links a router
 *   without a `service` to the one service the labels define; a router naming
 *   a service nothing defines fails when Traefik builds it
 *   (pkg/server/service/service.go `Manager.BuildHTTP`: "the service %q does not exist").
 */
import type { TopologyEntry } from "../../model/outputs";
import { definitionsOf } from "../../model/traefik";
import { stackChecks, type CheckResult } from "./checks";

export interface RoutedServiceView {
  /** The swarm service's name. */
  name: string;
  /** The service spec's labels (what the swarm provider reads). */
  labels: Record<string, string>;
  /** The networks its task template attaches, by name, with their scope (`swarm` for an overlay). */
  networks: { name: string; scope: string }[];
  /** `vip` or `dnsrr`. */
  endpointMode: string;
}

export interface TraefikView {
  name: string;
  /** Undefined when no container of that name runs on the manager. */
  networks?: string[];
  state?: string;
}

const list = (xs: string[]) => (xs.length === 0 ? "none" : xs.join(", "));

/** Go's strconv.ParseBool, which the label decoder uses for booleans (traefik/paerser). */
const parseBool = (v: string | undefined) => (v === undefined ? undefined : ["1", "t", "T", "TRUE", "true", "True"].includes(v) ? true : ["0", "f", "F", "FALSE", "false", "False"].includes(v) ? false : undefined);

/** A label read as Traefik's decoder matches option names, without regard to case (pkg/config/label/label_test.go: `…addprefix.prefix` sets AddPrefix.Prefix). */
const labelOf = (labels: Record<string, string>, name: string) => Object.entries(labels).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** The checks of one routed entry (`spec.router` set) of stack `env`, on its swarm service. */
export function checkSwarmRoute(env: string, entry: string, spec: TopologyEntry, service: RoutedServiceView, traefik: TraefikView): CheckResult[] {
  const check = stackChecks("route", env);
  const router = spec.router!;
  const rule = `Host(\`${spec.host}\`)`;
  const on = `service ${service.name}`;
  const defs = definitionsOf(service.labels);
  const routerDef = defs.get(`http/routers/${router.toLowerCase()}`);

  const enable = labelOf(service.labels, "traefik.enable");
  const keys = Object.keys(service.labels).map((k) => k.toLowerCase());
  const mixed = keys.some((k) => k.startsWith("traefik.docker.")) && keys.some((k) => k.startsWith("traefik.swarm."));
  const lbswarm = parseBool(labelOf(service.labels, "traefik.swarm.lbswarm") ?? labelOf(service.labels, "traefik.docker.lbswarm")) === true;
  const problems = [
    parseBool(enable) !== true && `traefik.enable=${enable ?? "(none)"}: the provider keeps only enabled services (exposedByDefault is off, docs/traefik.md)`,
    mixed && "both traefik.docker.* and traefik.swarm.* labels: the provider skips the service",
    lbswarm && service.endpointMode !== "vip" && `traefik.swarm.lbswarm=true with endpoint mode ${service.endpointMode}: no virtual IP, so the provider drops the service`,
    !routerDef && `no traefik.http.routers.${router}.* label on the service`,
    routerDef && routerDef.rule !== rule && `traefik.http.routers.${router}.rule=${routerDef.rule ?? "(none)"}`,
  ].filter((p): p is string => typeof p === "string");
  const results = [
    check(
      `${entry}.router`,
      `${entry}'s router ${router} is on ${on}, enabled, with rule ${rule}`,
      problems.length === 0,
      problems.length === 0 ? `traefik.enable=${enable}, traefik.http.routers.${router}.rule=${rule}` : problems.join("; "),
    ),
  ];

  // The router's service: named by the router, or the one service the labels define.
  const defined = [...defs.keys()].filter((k) => k.startsWith("http/services/")).map((k) => k.slice("http/services/".length));
  const named = routerDef?.service;
  const target = named !== undefined ? named.replace(/@swarm$/i, "") : defined.length === 1 ? defined[0] : undefined;
  const serviceDef = target !== undefined && !target.includes("@") ? defs.get(`http/services/${target.toLowerCase()}`) : undefined;
  results.push(
    check(
      `${entry}.service`,
      `${entry}'s router names a Traefik service defined on ${on}`,
      serviceDef !== undefined,
      serviceDef
        ? `router ${router} → service ${target}${named === undefined ? " (the only one defined)" : ""}`
        : named !== undefined
          ? `router ${router} names service ${named}, which ${on} does not define (it defines ${list(defined)})`
          : `router ${router} names no service, and ${on} defines ${defined.length === 0 ? "none" : `${defined.length}: ${defined.join(", ")}`}`,
    ),
  );

  const port = serviceDef?.["loadbalancer.server.port"];
  results.push(
    check(
      `${entry}.port`,
      `${entry}'s Traefik service sets loadbalancer.server.port ${spec.port} (a swarm task has no port for Traefik to infer)`,
      port === String(spec.port),
      !serviceDef
        ? "no service to read the port from (see the service check)"
        : port === undefined
          ? `traefik.http.services.${target}.loadbalancer.server.port is not set: Traefik drops the route ("port is missing"); the service listens on ${spec.port}`
          : `traefik.http.services.${target}.loadbalancer.server.port=${port}; the service listens on ${spec.port}`,
    ),
  );

  const networkLabel = labelOf(service.labels, "traefik.swarm.network") ?? labelOf(service.labels, "traefik.docker.network");
  const attached = service.networks.find((n) => n.name === networkLabel);
  const names = list(service.networks.map((n) => `${n.name} (${n.scope})`));
  results.push(
    check(
      `${entry}.network`,
      `${entry}'s traefik.swarm.network names an overlay ${on} is attached to`,
      attached !== undefined && attached.scope === "swarm",
      networkLabel === undefined
        ? `no traefik.swarm.network label: Traefik would take its static providers.swarm.network, or the task's first network; ${on} is on ${names}`
        : !attached
          ? `traefik.swarm.network=${networkLabel}, but ${on} is on ${names}: Traefik would fall back to the task's first network`
          : attached.scope !== "swarm"
            ? `traefik.swarm.network=${networkLabel} has scope ${attached.scope}: the provider only sees swarm-scoped networks`
            : `traefik.swarm.network=${networkLabel}; ${on} is on ${names}`,
    ),
  );

  const traefikOn = traefik.networks !== undefined && networkLabel !== undefined && traefik.networks.includes(networkLabel);
  results.push(
    check(
      `${entry}.traefik-network`,
      `Traefik (${traefik.name}) is attached to ${networkLabel ?? "the route's network"}, where it reaches ${entry}'s tasks`,
      traefikOn,
      traefik.networks === undefined
        ? `no container named ${traefik.name} on the manager`
        : traefikOn
          ? `${traefik.name} (${traefik.state ?? "?"}) is on ${list([...traefik.networks].sort())}`
          : `${traefik.name} (${traefik.state ?? "?"}) is only on ${list([...traefik.networks].sort())}; attach it: docker network connect ${networkLabel ?? "<network>"} ${traefik.name}`,
    ),
  );
  return results;
}
