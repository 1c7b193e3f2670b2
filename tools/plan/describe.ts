/**
 * An environment plan as a person reads it, the way `docker compose config`
 * prints a Compose project: every container with its image, networks and
 * aliases, route, memory and CPU and env, then every network and volume.
 * Secret env values are never shown: the plan holds none, only templates that
 * name credentials, and even those print as MASK.
 */
import type { ContainerPlan } from "../../model/container";
import type { CatalogContainerPlan, EnvironmentPlan } from "../../model/environment";
import type { SwarmPlan } from "../../model/swarm";

/** What a secret env var prints as; Pulumi prints secret values the same way. */
export const MASK = "[secret]";

/** The name `docker ps` will show: a revisioned container's ends in a hash only the engine knows. */
export const displayName = (c: ContainerPlan) => (c.rollout.strategy === "revisioned" ? `${c.containerName}-‹revision›` : c.containerName);

const fromCatalog = (c: ContainerPlan): c is CatalogContainerPlan => c.kind !== "backup";

function describeContainer(c: ContainerPlan) {
  const catalog = fromCatalog(c) ? c : undefined;
  return {
    role: c.kind,
    image: c.image,
    ...(c.command ? { command: c.command } : {}),
    ...(catalog ? { port: catalog.port } : {}),
    rollout: c.rollout.strategy === "revisioned" ? "zero-downtime: a new revision starts beside the old one" : `delete-first: ${c.rollout.reason}`,
    networks: Object.fromEntries(c.networks.map((n) => [n.name, n.aliases?.length ? { aliases: n.aliases } : {}])),
    ...(catalog?.route ? { route: { host: catalog.route.host, url: catalog.route.url, router: catalog.route.router } } : {}),
    resources: { memoryMb: c.resources.memoryMb, cpus: c.resources.cpus },
    env: Object.fromEntries(c.env.map((e) => [e.name, e.secret ? MASK : e.value])),
    ...(c.credentials.length ? { credentials: c.credentials } : {}),
    ...(c.volumes.length ? { volumes: c.volumes.map((v) => `${v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`) } : {}),
    ...(catalog?.dependencies.length ? { dependencies: catalog.dependencies } : {}),
  };
}

/** Every container the stack runs: the catalog's, then the backup container when the stack has backup config. */
export const allContainers = (plan: EnvironmentPlan): ContainerPlan[] => [...plan.containers, ...(plan.backup ? [plan.backup] : [])];

/** `runtime: swarm`: each service's replicas, placement and rollout, and the node label the stores need. */
export function describeSwarm(swarm: SwarmPlan) {
  return {
    storesNode: `the node holding the volumes carries ${swarm.storesNodeLabel}=true (docker node update --label-add ${swarm.storesNodeLabel}=true <node>)`,
    services: Object.fromEntries(
      swarm.services.map((t) => [
        t.serviceName,
        {
          replicas: t.replicas,
          ...(t.single ? { single: t.single } : {}),
          placement: t.constraints.length ? t.constraints : "spread across nodes",
          update: `${t.update.order}, ${t.update.parallelism} at a time, ${t.update.failureAction} on failure (monitor ${t.update.monitor})`,
          secrets: t.secrets.via === "file" ? "files under /run/secrets" : `environment: ${t.secrets.why}`,
        },
      ]),
    ),
  };
}

export function describePlan(plan: EnvironmentPlan, swarm?: SwarmPlan) {
  return {
    ...(swarm ? { runtime: "swarm", swarm: describeSwarm(swarm) } : {}),
    stack: plan.stack,
    environment: plan.env,
    edge: plan.edge,
    containers: Object.fromEntries(allContainers(plan).map((c) => [displayName(c), describeContainer(c)])),
    networks: Object.fromEntries(plan.networks.map((n) => [n.name, { internal: n.internal, external: !n.managed }])),
    volumes: Object.fromEntries(
      plan.volumes.map((v) => [v.name, { adopted: v.adopted, protect: v.protect, retainOnDelete: v.retainOnDelete }]),
    ),
    neighbours: plan.neighbours,
    memory: { containersMb: plan.totalMemoryMb, rolloutOverlapMb: plan.rolloutMemoryMb },
  };
}
