/**
 * One complete environment on Docker Swarm (`runtime: swarm`): the same plan
 * as components/environment.ts renders into containers, rendered into swarm
 * services. The provider talks to the manager DOCKER_HOST names; that manager
 * is the node holding the stores' volumes (docs/swarm.md), so the volumes, the
 * stores' image pulls and the database provisioning happen where the stores run.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Credential, StoreName } from "../../catalog/types";
import type { RegistrySecret } from "../../config/schema";
import type { NetworkKey } from "../../model/container";
import { BACKUP_WEBHOOK_ENV } from "../../model/backup";
import type { EnvironmentPlan } from "../../model/environment";
import { registryHost } from "../../model/image-ref";
import { LABELS, PROJECT, TYPE_TOKENS, childName } from "../../model/naming";
import type { SwarmPlan } from "../../model/swarm";
import { Credentials } from "../credentials";
import { Databases } from "../databases";
import { Edge } from "../edge";
import { createVolumes, planOutputs, type EnvironmentOutputs } from "../environment";
import { SWARM_SERVICE_LABEL, SwarmService } from "./service";

export interface SwarmEnvironmentArgs {
  /** model/environment.ts computes it from validated config. */
  plan: EnvironmentPlan;
  /** model/swarm.ts: replicas, placement and rollout of each entry. */
  swarm: SwarmPlan;
  /** Credentials the stack sets as config secrets (secret Outputs); the others are generated. */
  configSecrets: Partial<Record<Credential, pulumi.Output<string>>>;
  /** The registry login every node pulls the app images with. */
  registryAuth: Record<RegistrySecret, pulumi.Output<string>>;
}

/**
 * Finds the container of the postgres service's healthy task on the manager
 * (the stores' node), for the database provisioning to exec into: a task's
 * container name is Swarm's, not ours.
 */
export const LOCATE_TASK_SCRIPT = `set -eu
for attempt in $(seq 1 60); do
  id=$(docker ps -q --filter "label=${SWARM_SERVICE_LABEL}=$SERVICE" --filter health=healthy | head -n 1)
  if [ -n "$id" ]; then docker inspect --format '{{.Name}}' "$id" | cut -c2-; exit 0; fi
  sleep 2
done
echo "no healthy task of $SERVICE on $(docker info --format '{{.Name}}'): DOCKER_HOST must name the manager that holds the stores (docs/swarm.md)" >&2
exit 1`;

/** The running postgres task's container, as the Databases component execs into it. */
class TaskContainer extends command.local.Command {
  readonly name: pulumi.Output<string>;
  constructor(name: string, service: docker.Service, opts: pulumi.CustomResourceOptions) {
    super(name, { create: LOCATE_TASK_SCRIPT, update: LOCATE_TASK_SCRIPT, environment: { SERVICE: service.name }, triggers: [service.id, service.taskSpec] }, { ...opts, dependsOn: [service] });
    this.name = this.stdout.apply((out) => out.trim());
  }
}

export class SwarmEnvironment extends pulumi.ComponentResource {
  readonly outputs: EnvironmentOutputs;

  constructor(name: string, args: SwarmEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    // The docker runtime's type token: the same stack keeps its URNs when it moves to a swarm, so its
    // credentials (RandomPasswords the data was initialised with) and protected volumes stay the same
    // resources, and nothing is regenerated, replaced or copied (docs/swarm.md).
    super(TYPE_TOKENS.environment, name, {}, opts);
    const { plan, swarm } = args;
    const ownership = [
      { label: LABELS.project, value: PROJECT },
      { label: LABELS.environment, value: plan.env },
    ];
    if (plan.edge.mode !== "isolated" || !plan.edge.subnet) throw new Error(`${plan.stack}: runtime swarm needs edge: isolated with an edgeSubnet; config validation should have refused this`);

    // One overlay per network of the model. Not encrypted: IPsec between nodes needs ESP (IP protocol 50)
    // through every firewall on the way, and costs CPU on every packet; the overlays stay inside the
    // swarm's own network (docs/swarm.md). The edge is the Edge component's, as on the docker runtime, so
    // a stack moving to a swarm keeps its URN and that of Traefik's attachment.
    const edge = new Edge(childName(name, "edge"), { edge: plan.edge, labels: ownership, driver: "overlay" }, { parent: this });
    const networkIds: Partial<Record<NetworkKey, pulumi.Input<string>>> = { edge: edge.networkId };
    const networkNames: Partial<Record<NetworkKey, pulumi.Input<string>>> = { edge: edge.networkName };
    for (const network of plan.networks.filter((n) => n.key !== "edge")) {
      const created = new docker.Network(
        childName(name, "network", network.key),
        { name: network.name, driver: "overlay", internal: network.internal, labels: ownership },
        // Moving from the docker runtime replaces each bridge network of the same URN by an overlay of the
        // same name: the old one must go first, or Docker has two networks of one name.
        { parent: this, deleteBeforeReplace: true },
      );
      networkIds[network.key] = created.id;
      networkNames[network.key] = created.name;
    }

    // On the manager, which is the stores' node: the tasks pinned there mount them by name.
    const volumes = createVolumes(this, name, plan, ownership);

    const credentials = new Credentials(
      childName(name, "credentials"),
      { needed: [...plan.containers.flatMap((c) => c.credentials), ...(plan.backup?.credentials ?? [])], fromConfig: args.configSecrets },
      { parent: this },
    );

    // withRegistryAuth: the login goes with the service create/update, and the manager hands it to the
    // nodes that pull (provider resource_docker_service_funcs.go retrieveAndMarshalAuth).
    const authFor = (image: string) => ({ serverAddress: registryHost(image), username: args.registryAuth.registryUsername, password: args.registryAuth.registryPassword });
    const planOf = (entry: string) => swarm.services.find((s) => s.entry === entry)!;
    const inputs = { networks: networkNames, networkIds, volumes, credentials: credentials.values, edgeSubnet: plan.edge.subnet, ownership };

    const stores = new Map<StoreName, SwarmService>();
    const containers: EnvironmentOutputs["containers"] = {};
    for (const container of plan.containers.filter((c) => c.kind === "store")) {
      const child = childName(name, container.name);
      // A store's image is an upstream tag: pulled once on the manager, and run by the digest it resolved to.
      const image = new docker.RemoteImage(childName(child, "image"), { name: container.image, keepLocally: true }, { parent: this });
      const store = new SwarmService(child, { ...inputs, plan: container, swarm: planOf(container.name), image: image.repoDigest }, { parent: this });
      stores.set(container.name as StoreName, store);
      containers[container.name] = store.service.name;
    }

    const postgres = stores.get("postgres")!.service;
    const databases = new Databases(
      childName(name, "databases"),
      { databases: plan.databases, postgres: new TaskContainer(childName(name, "postgres-task"), postgres, { parent: this }), credentials: credentials.values },
      { parent: this },
    );

    for (const container of plan.containers.filter((c) => c.kind === "service")) {
      const needed = container.stores.flatMap((s) => (s === "postgres" ? [stores.get(s)!.service, databases.provisioned] : [stores.get(s)!.service]));
      const child = childName(name, container.name);
      containers[container.name] = new SwarmService(
        child,
        { ...inputs, plan: container, swarm: planOf(container.name), image: container.image, auth: authFor(container.image), dependsOn: needed },
        { parent: this },
      ).service.name;
    }

    if (plan.backup) {
      const webhook = args.configSecrets.backupWebhookUrl;
      new SwarmService(
        childName(name, "backup"),
        {
          ...inputs,
          plan: plan.backup,
          swarm: planOf("backup"),
          image: plan.backup.image,
          auth: authFor(plan.backup.image),
          ...(webhook ? { extraSecrets: { [BACKUP_WEBHOOK_ENV]: webhook } } : {}),
          dependsOn: [...stores.values()].map((s) => s.service),
        },
        { parent: this },
      );
    }

    this.outputs = planOutputs(plan, "swarm", { containers, networks: networkNames, volumes }, (c) => planOf(c.name).router!);
    this.registerOutputs(this.outputs);
  }
}
