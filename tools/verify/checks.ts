/**
 * The checklist: pure functions of a host snapshot and a stack's outputs.
 * Every result says what was expected and what was found.
 */
import type { ServiceName } from "../../catalog/services";
import type { StoreName } from "../../catalog/types";
import { LABELS, PROJECT, childName, names } from "../../model/naming";
import type { StackOutputs } from "./outputs";
import { conflictingDefinitions } from "../../model/traefik";
import { findConflicts } from "./routers";
import type { ContainerView, HostSnapshot } from "./snapshot";

export interface CheckResult {
  /** Stable, greppable: `container.qual.postgres.healthy`. */
  id: string;
  /** The stack (environment) it concerns; undefined for host-wide checks. */
  stack?: string;
  title: string;
  ok: boolean;
  evidence: string;
}

/** Results about stack `env` (host-wide ones have none): `check(name, …)` has the id `<area>.<env>.<name>`. */
export const stackChecks =
  (area: string, env: string) =>
  (name: string, title: string, ok: boolean, evidence: string): CheckResult => ({ id: `${area}.${env}.${name}`, stack: env, title, ok, evidence });

const TRAEFIK_ENABLE = "traefik.enable";

const list = (xs: string[]) => (xs.length === 0 ? "none" : xs.join(", "));

const inEnvironment = (c: ContainerView, env: string) => c.labels[LABELS.project] === PROJECT && c.labels[LABELS.environment] === env;

/** The containers labelled as this project's `service` in environment `env`: revisions of a routed service may be several. */
export function containersOf(snapshot: HostSnapshot, env: string, service?: string): ContainerView[] {
  return snapshot.containers.filter((c) => inEnvironment(c, env) && (service === undefined || c.labels[LABELS.service] === service));
}

const describe = (c: ContainerView) => `${c.name} (${c.state}${c.health ? `, ${c.health}` : ""})`;

/** Traefik's own network, which the stacks' outputs name (`edge.traefikNetwork`). */
export function checkTraefikNetwork(snapshot: HostSnapshot, name: string): CheckResult {
  const net = snapshot.networks.find((n) => n.name === name);
  return {
    id: `network.${name}`,
    title: `external network ${name} exists`,
    ok: net !== undefined,
    evidence: net ? `found ${name} (${net.id.slice(0, 12)}), attached: ${list(net.containers)}` : `no network named ${name} on the host; Traefik and the webapp need it`,
  };
}

export function checkNetworks(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const check = stackChecks("network", outputs.environment);
  return Object.entries(outputs.networks).map(([key, name]) => {
    const net = snapshot.networks.find((n) => n.name === name);
    return check(key, `network ${name} exists`, net !== undefined, net ? `found ${name}${net.internal ? " (internal)" : ""}` : `no network named ${name}`);
  });
}

export function checkContainers(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const env = outputs.environment;
  const results: CheckResult[] = [];
  const result = stackChecks("container", env);
  for (const [service, spec] of Object.entries(outputs.topology).sort(([a], [b]) => a.localeCompare(b))) {
    const check = (aspect: string, title: string, ok: boolean, evidence: string) =>
      results.push(result(`${service}.${aspect}`, `${service} ${title}`, ok, evidence));
    const found = containersOf(snapshot, env, service);
    const expectedName = outputs.containers[service] ?? names.container(service as ServiceName | StoreName, env);
    const none = `no container labelled ${LABELS.environment}=${env}, ${LABELS.service}=${service} (expected ${expectedName})`;
    check("exists", "exists", found.length > 0, found.length > 0 ? `found ${list(found.map((c) => c.name))}` : none);
    if (found.length === 0) continue;

    const running = found.filter((c) => c.state === "running");
    const runningNames = list(running.map((c) => c.name));
    check("running", "is running", running.length > 0, running.length > 0 ? `running: ${runningNames}` : `none running: ${list(found.map(describe))}`);

    const unhealthy = running.filter((c) => c.health !== "healthy");
    const health =
      running.length === 0
        ? "not running"
        : unhealthy.length > 0
          ? `not healthy: ${list(unhealthy.map((c) => `${c.name} (${c.health ?? "no healthcheck"})`))}`
          : `healthy: ${runningNames}`;
    check("healthy", "is healthy", running.length > 0 && unhealthy.length === 0, health);

    const expected = [...spec.networks].sort();
    const wrong = found.flatMap((c) => {
      const actual = Object.keys(c.networks);
      const extra = actual.filter((n) => !expected.includes(n)).sort();
      const missing = expected.filter((n) => !actual.includes(n));
      const problems = [extra.length > 0 && `attached to unexpected ${list(extra)}`, missing.length > 0 && `missing ${list(missing)}`].filter(Boolean);
      return problems.length > 0 ? [`${c.name}: ${problems.join("; ")}`] : [];
    });
    check("networks", "is on exactly its networks", wrong.length === 0, wrong.length === 0 ? `on ${list(expected)}` : wrong.join("; "));

    // Unrouted containers must opt out: Traefik's exposedByDefault=true default would give each a router of its own.
    const traefikEnable = spec.router ? "true" : "false";
    const label = (c: ContainerView, name: string) => c.labels[name] ?? "(none)";
    const badLabels = found
      .filter((c) => c.labels[LABELS.role] !== spec.role || c.labels[LABELS.port] !== String(spec.port) || c.labels[TRAEFIK_ENABLE] !== traefikEnable)
      .map((c) => `${c.name}: role=${label(c, LABELS.role)}, port=${label(c, LABELS.port)}, ${TRAEFIK_ENABLE}=${label(c, TRAEFIK_ENABLE)}`);
    const wanted = `${LABELS.role}=${spec.role}, ${LABELS.port}=${spec.port}, ${TRAEFIK_ENABLE}=${traefikEnable}`;
    const title = `carries role ${spec.role}, port ${spec.port} and ${TRAEFIK_ENABLE}=${traefikEnable}`;
    check("labels", title, badLabels.length === 0, badLabels.length === 0 ? wanted : badLabels.join("; "));
  }

  const unknown = containersOf(snapshot, env)
    .filter((c) => !(c.labels[LABELS.service] in outputs.topology))
    .map((c) => `${c.name} (service ${c.labels[LABELS.service] ?? "unlabelled"})`);
  const evidence = unknown.length === 0 ? "none" : `unexpected: ${list(unknown)}`;
  results.push(result("unexpected", `no ${env} container outside the stack's topology`, unknown.length === 0, evidence));
  return results;
}

export function checkVolumes(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const check = stackChecks("volume", outputs.environment);
  return Object.entries(outputs.volumes).map(([key, name]) => {
    const ok = snapshot.volumes.some((v) => v.name === name);
    return check(key, `volume ${name} exists`, ok, ok ? `found ${name}` : `no volume named ${name}`);
  });
}

/**
 * Each running container of an app service runs the image its release pins:
 * the image's registry digests include the manifest's `repository@sha256:…`.
 * The digest label is what was asked for; the image's RepoDigests are what runs.
 */
export function checkImages(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const env = outputs.environment;
  const check = stackChecks("image", env);
  return Object.entries(outputs.images)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, release]) => {
      const running = containersOf(snapshot, env, service).filter((c) => c.state === "running");
      const wrong = running.filter((c) => !c.repoDigests.includes(release.image));
      const runs = (c: ContainerView) => `${c.name} runs image ${c.imageId.slice(0, 19)}… (${list(c.repoDigests)})`;
      const evidence =
        running.length === 0
          ? `no running container of ${service} to check against ${release.image} (see its running check)`
          : wrong.length > 0
            ? `${wrong.map(runs).join("; ")}, but the release pins ${release.image}`
            : `${list(running.map((c) => c.name))} run ${release.image} (commit ${release.commit.slice(0, 8)})`;
      // With nothing running there is nothing to check: the running check already fails, once.
      return check(service, `${service} runs its pinned image`, wrong.length === 0, evidence);
    });
}

export function checkNeighbours(snapshot: HostSnapshot, neighbours: string[]): CheckResult[] {
  return neighbours.map((name) => {
    const c = snapshot.containers.find((x) => x.name === name);
    const ok = c?.state === "running" && c.health !== "unhealthy";
    return { id: `neighbour.${name}`, title: `neighbour ${name} is running`, ok, evidence: c ? describe(c) : `no container named ${name}` };
  });
}

export function checkEdge(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const env = outputs.environment;
  const { mode, network, traefikContainer, traefikNetwork, subnet } = outputs.edge;
  const traefik = snapshot.containers.find((c) => c.name === traefikContainer);
  const check = stackChecks("edge", env);
  const found = traefik ? describe(traefik) : `no container named ${traefikContainer}`;
  const running = check("traefik-running", `Traefik container ${traefikContainer} is running`, traefik?.state === "running", found);
  if (mode === "shared") {
    const evidence = `edge network ${network}; every container on ${traefikNetwork} can reach every other (see isolation)`;
    return [running, check("shared", `shared edge: routed services sit on ${traefikNetwork}`, network === traefikNetwork, evidence)];
  }
  const subnets = snapshot.networks.find((n) => n.name === network)?.subnets ?? [];
  const attached = traefik !== undefined && network in traefik.networks;
  const evidence =
    network === traefikNetwork
      ? `isolated mode, but the edge network is the shared ${traefikNetwork}`
      : attached
        ? `${traefikContainer} is on ${list(Object.keys(traefik.networks).sort())}`
        : // A recreated Traefik container comes back without it, and a plain `pulumi up` sees no change to re-run the attachment for.
          `${traefikContainer} is ${traefik ? `only on ${list(Object.keys(traefik.networks).sort())}` : "missing"}; ` +
          `re-attach it: docker network connect ${network} ${traefikContainer} (a plain pulumi up does not: the stack's ${childName(env, "edge", "traefik-attachment")} only runs when created or replaced)`;
  return [
    running,
    check(
      "subnet",
      `the edge network ${network} has the pinned subnet Keycloak trusts (${subnet ?? "none in the outputs"})`,
      subnet !== undefined && subnets.includes(subnet),
      `${network} has ${list(subnets)}`,
    ),
    check("traefik-attached", `Traefik is attached to the edge network ${network}`, network !== traefikNetwork && attached, evidence),
  ];
}

/** A host-wide check that passes when there is no conflict, and names each one otherwise. */
const noConflict = <T>(id: string, title: string, conflicts: T[], none: string, describeConflict: (c: T) => string): CheckResult => ({
  id,
  title,
  ok: conflicts.length === 0,
  evidence: conflicts.length === 0 ? none : conflicts.map(describeConflict).join("; "),
});

export function checkRouters(snapshot: HostSnapshot): CheckResult {
  return noConflict(
    "traefik.routers-unique",
    "no Traefik router name or Host rule is declared by two containers (other than revisions of one service)",
    findConflicts(snapshot.containers),
    "no conflict on the host",
    (c) => `${c.kind} ${c.key} declared by ${c.containers.map((x) => `${x.name} [${x.owner}, ${x.state}]`).join(" and ")}`,
  );
}

/**
 * Traefik deletes a router, middleware or service that two containers define
 * differently (a service may differ in its servers only), and every router that
 * references a deleted one stops routing. Any container on the host counts,
 * running or not: a stopped one clashes again the moment it starts.
 */
export function checkDefinitions(snapshot: HostSnapshot): CheckResult {
  const state = new Map(snapshot.containers.map((c) => [c.name, c.state]));
  return noConflict(
    "traefik.definitions-agree",
    "no Traefik router, middleware or service is defined differently by two containers",
    conflictingDefinitions(snapshot.containers),
    "no conflicting definition on the host",
    (c) => `${c.key} defined differently by ${c.holders.map((h) => `${h.container} [${state.get(h.container)}]: ${JSON.stringify(h.definition)}`).join(" and ")}`,
  );
}

/**
 * Every endpoint on each of the environment's networks must be one of its own
 * containers, labelled with a service of its topology whose networks include
 * this one. The one exception is the Traefik container on the edge network.
 * Anything else (a foreign container, another environment's, one on a network
 * its service does not list) is an intruder, named with the network.
 *
 * In shared edge mode the edge network is Traefik's own network, which holds
 * Traefik, the neighbours and other tenants by design: there only this
 * environment's own containers are accounted for (each must be a routed
 * service of the topology); what else sits there is not ours to judge, and the
 * isolation probes measure what it can reach.
 */
export function checkNetworkMembers(snapshot: HostSnapshot, outputs: StackOutputs): CheckResult[] {
  const env = outputs.environment;
  const { mode, network: edgeNetwork, traefikContainer, traefikNetwork } = outputs.edge;
  const check = stackChecks("network", env);
  return Object.entries(outputs.networks).map(([key, network]) => {
    const sharedEdge = mode === "shared" && network === traefikNetwork;
    const members = snapshot.containers.filter((c) => network in c.networks);
    const intruders = members.filter((c) => {
      if (network === edgeNetwork && c.name === traefikContainer) return false;
      if (sharedEdge && !inEnvironment(c, env)) return false;
      // The environment's backup container is on its stores' networks by design (model/backup.ts); it is not in the topology.
      if (inEnvironment(c, env) && c.labels[LABELS.role] === "backup" && c.name === names.backupContainer(env)) return false;
      const service = c.labels[LABELS.service];
      return !(inEnvironment(c, env) && service in outputs.topology && outputs.topology[service].networks.includes(network));
    });
    const describeIntruder = (c: ContainerView) => {
      const owner = c.labels[LABELS.project] === PROJECT ? `environment ${c.labels[LABELS.environment] ?? "(none)"}, service ${c.labels[LABELS.service] ?? "(none)"}` : "not this project's";
      return `${c.name} on ${network} (${owner})`;
    };
    return check(
      `${key}.members`,
      sharedEdge
        ? `every ${env} container on the shared ${network} is a routed service of the topology (other tenants are there by design)`
        : `every endpoint on ${network} is a ${env} container of the topology${network === edgeNetwork ? `, or Traefik` : ""}`,
      intruders.length === 0,
      intruders.length === 0 ? `${members.length} endpoint(s), all accounted for` : `INTRUDERS: ${intruders.map(describeIntruder).join("; ")}`,
    );
  });
}
