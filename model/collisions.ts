/**
 * Names this stack would take that something else on the host already holds.
 * Docker refuses a second container or network of the same name, but it hands
 * back an existing volume of the same name as if it had created it: without
 * this check a stack could silently mount another stack's data.
 */
import type { EnvironmentPlan } from "./environment";
import type { HostInventory, HostObject } from "../host/inventory";
import { LABELS, PROJECT, names } from "./naming";
import { subnetsOverlap } from "./subnets";

export interface Collision {
  kind: "container" | "network" | "volume" | "subnet";
  name: string;
  message: string;
}

/** What Docker Compose labels its containers with. */
const COMPOSE_PROJECT_LABEL = "com.docker.compose.project";

const ownedBy = (object: HostObject, env: string) =>
  object.labels[LABELS.project] === PROJECT && object.labels[LABELS.environment] === env;

const describeOwner = (object: HostObject) =>
  object.labels[LABELS.project]
    ? `it belongs to ${object.labels[LABELS.project]} environment "${object.labels[LABELS.environment] ?? "?"}"`
    : "it was not created by this project (no ownership labels)";

export function findCollisions(plan: EnvironmentPlan, host: HostInventory): Collision[] {
  const collisions: Collision[] = [];
  const env = plan.env;

  for (const container of [...plan.containers, ...(plan.backup ? [plan.backup] : [])]) {
    const takesTheName = names.containerOf(container.containerName);
    for (const existing of host.containers.filter((c) => takesTheName(c.name))) {
      if (ownedBy(existing, env) && existing.labels[LABELS.service] === container.name) continue;
      // The Compose deployment being replaced uses these very names: its containers must go before ours can exist.
      const composeProject = existing.labels[COMPOSE_PROJECT_LABEL];
      collisions.push({
        kind: "container",
        name: existing.name,
        message: composeProject
          ? `container ${existing.name} already exists and belongs to Compose project "${composeProject}"; stop and remove it first (docker compose rm --stop --force in that project's folder; named volumes stay), see docs/migrating-from-compose.md`
          : `container ${existing.name} already exists and ${describeOwner(existing)}; remove or rename it, or give this stack another suffix`,
      });
    }
  }

  for (const network of plan.networks.filter((n) => n.managed)) {
    const existing = host.networks.find((n) => n.name === network.name);
    if (existing && !ownedBy(existing, env)) {
      collisions.push({
        kind: "network",
        name: network.name,
        message: `network ${network.name} already exists and ${describeOwner(existing)}; remove it, or give this stack another suffix`,
      });
    }
  }

  // Docker refuses to create a network whose subnet overlaps another's; our own edge network may already hold it.
  const edgeSubnet = plan.edge.subnet;
  if (plan.edge.mode === "isolated" && edgeSubnet) {
    for (const network of host.networks) {
      if (network.name === plan.edge.network && ownedBy(network, env)) continue;
      const overlapping = (network.subnets ?? []).find((subnet) => subnetsOverlap(edgeSubnet, subnet));
      if (overlapping) {
        collisions.push({
          kind: "subnet",
          name: edgeSubnet,
          message: `edgeSubnet ${edgeSubnet} overlaps network ${network.name}'s subnet ${overlapping} on the host; Docker would refuse to create ${plan.edge.network}. Choose a free one: pulumi config set edgeSubnet <private CIDR> --stack ${plan.stack}`,
        });
      }
    }
  }

  for (const volume of plan.volumes) {
    const existing = host.volumes.find((v) => v.name === volume.name);
    if (volume.adopted) {
      if (!existing) {
        collisions.push({
          kind: "volume",
          name: volume.name,
          message: `data.volumes.${volume.key} names volume ${volume.name}, which does not exist on the host; a typo here would start ${volume.key} on an empty volume`,
        });
      } else if (existing.labels[LABELS.project] === PROJECT && !ownedBy(existing, env)) {
        // Another environment's live data: two stores would share one data directory.
        collisions.push({
          kind: "volume",
          name: volume.name,
          message: `data.volumes.${volume.key} names volume ${volume.name}, but ${describeOwner(existing)}; a stack takes over only volumes no other environment uses (a Compose deployment's)`,
        });
      }
    } else if (existing && !ownedBy(existing, env)) {
      collisions.push({
        kind: "volume",
        name: volume.name,
        message: `volume ${volume.name} already exists and ${describeOwner(existing)}; to take over its data set data.volumes.${volume.key}: ${volume.name}, otherwise remove it or give this stack another suffix`,
      });
    }
  }
  return collisions;
}
