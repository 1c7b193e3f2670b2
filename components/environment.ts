import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ServiceName } from "../catalog/services";
import type { Credential, StoreName } from "../catalog/types";
import type { RegistrySecret } from "../config/schema";
import { BACKUP_IMAGE } from "../model/backup";
import { registryHost } from "../model/image-ref";
import type { NetworkKey } from "../model/container";
import type { EnvironmentPlan } from "../model/environment";
import { LABELS, PROJECT, TYPE_TOKENS, childName } from "../model/naming";
import type { StackOutputs } from "../model/outputs";
import { AppService } from "./app-service";
import { Backup } from "./backup";
import { Credentials } from "./credentials";
import { DataStore } from "./data-store";
import { Databases } from "./databases";
import { Edge } from "./edge";

export interface EnvironmentArgs {
  /** The environment to build: model/environment.ts computes it from validated config. */
  plan: EnvironmentPlan;
  /** Credentials the stack sets as config secrets (secret Outputs); the others are generated. */
  configSecrets: Partial<Record<Credential, pulumi.Output<string>>>;
  /** The registry login (config secrets, secret Outputs) the app images are pulled with. */
  registryAuth: Record<RegistrySecret, pulumi.Output<string>>;
}

/** The stack outputs, as Outputs: their resolved form is the contract in model/outputs.ts. None is secret. */
export interface EnvironmentOutputs {
  environment: StackOutputs["environment"];
  runtime: StackOutputs["runtime"];
  containers: Record<string, pulumi.Output<string>>;
  networks: Record<string, pulumi.Input<string>>;
  volumes: Record<string, pulumi.Output<string>>;
  urls: StackOutputs["urls"];
  edge: StackOutputs["edge"];
  neighbours: StackOutputs["neighbours"];
  topology: StackOutputs["topology"];
  images: StackOutputs["images"];
}

/**
 * One complete environment on the shared Docker host: five networks of its own
 * (plus the edge), five volumes, four data stores, a database and role per
 * service that uses PostgreSQL, and the fourteen services, every name ending in
 * the environment's suffix.
 */
export class Environment extends pulumi.ComponentResource {
  readonly outputs: EnvironmentOutputs;

  constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.environment, name, {}, opts);
    const { plan } = args;
    const ownership = [
      { label: LABELS.project, value: PROJECT },
      { label: LABELS.environment, value: plan.env },
    ];

    const edge = new Edge(childName(name, "edge"), { edge: plan.edge, labels: ownership }, { parent: this });
    const networks: Partial<Record<NetworkKey, pulumi.Input<string>>> = { edge: edge.networkName };
    for (const network of plan.networks.filter((n) => n.key !== "edge")) {
      networks[network.key] = new docker.Network(
        childName(name, "network", network.key),
        { name: network.name, driver: "bridge", internal: network.internal, labels: ownership },
        { parent: this },
      ).name;
    }

    const volumes = createVolumes(this, name, plan, ownership);

    const credentials = new Credentials(
      childName(name, "credentials"),
      { needed: [...plan.containers.flatMap((c) => c.credentials), ...(plan.backup?.credentials ?? [])], fromConfig: args.configSecrets },
      { parent: this },
    );

    // An explicit provider carries the registry login. Only the RemoteImages use it: the
    // containers, networks and volumes stay on the default provider, so existing state is
    // not moved to a new provider (a provider change on a resource is a diff the engine
    // has to settle through DiffConfig, pulumi/pulumi#18509; nothing to gain here).
    // It reaches the same daemon: like the default provider, it reads DOCKER_HOST.
    const hosts = [...new Set([...plan.containers.flatMap((c) => (c.release ? [registryHost(c.image)] : [])), ...(plan.backup ? [registryHost(plan.backup.image)] : [])])];
    const registryProvider = new docker.Provider(
      childName(name, "registry"),
      {
        registryAuth: hosts.map((address) => ({ address, username: args.registryAuth.registryUsername, password: args.registryAuth.registryPassword })),
      },
      { parent: this },
    );

    const inputs = { networks, volumes, credentials: credentials.values, edgeSubnet: edge.subnet };
    const stores = new Map<StoreName, DataStore>();
    const containers: EnvironmentOutputs["containers"] = {};
    for (const container of plan.containers.filter((c) => c.kind === "store")) {
      const store = new DataStore(childName(name, container.name), { ...inputs, plan: container }, { parent: this });
      stores.set(container.name as StoreName, store);
      containers[container.name] = store.container.name;
    }

    const databases = new Databases(
      childName(name, "databases"),
      { databases: plan.databases, postgres: stores.get("postgres")!.container, credentials: credentials.values },
      { parent: this },
    );

    for (const container of plan.containers.filter((c) => c.kind === "service")) {
      // A service that uses PostgreSQL starts only once its role and database exist.
      const needed = container.stores.flatMap((s) => (s === "postgres" ? [stores.get(s)!.container, databases.provisioned] : [stores.get(s)!.container]));
      const child = childName(name, container.name);
      containers[container.name] = new AppService(child, { ...inputs, plan: container, stores: needed, registryProvider }, { parent: this }).container.name;
    }

    // Not in the `containers` output: that lists the catalog's containers, which verify checks one by one.
    if (plan.backup) new Backup(
      childName(name, "backup"),
      { ...inputs, plan: plan.backup, stores: [...stores.values()].map((s) => s.container), webhook: args.configSecrets.backupWebhookUrl, registryProvider },
      { parent: this },
    );

    this.outputs = planOutputs(plan, "docker", { containers, networks, volumes });
    this.registerOutputs(this.outputs);
  }
}

/** The plan's volumes, named as planned: the docker and swarm renderers (components/swarm/environment.ts) both create them. */
export function createVolumes(parent: pulumi.Resource, name: string, plan: EnvironmentPlan, ownership: { label: string; value: string }[]): EnvironmentOutputs["volumes"] {
  const volumes: EnvironmentOutputs["volumes"] = {};
  for (const volume of plan.volumes) {
    volumes[volume.key] = new docker.Volume(
      childName(name, "volume", volume.key),
      // An adopted volume keeps the labels it was created with (Compose's). The provider reads
      // those back into state and treats a label change as a replacement, so they are ignored:
      // otherwise the next preview would plan to replace the (protected) volume.
      { name: volume.name, labels: volume.adopted ? undefined : ownership },
      { parent, protect: volume.protect, retainOnDelete: volume.retainOnDelete, ...(volume.adopted ? { ignoreChanges: ["labels"] } : {}) },
    ).name;
  }
  return volumes;
}

/** The stack outputs of a rendered plan; `routerOf` names a routed entry's router (the swarm provider's differs). */
export function planOutputs(
  plan: EnvironmentPlan,
  runtime: StackOutputs["runtime"],
  rendered: Pick<EnvironmentOutputs, "containers" | "networks" | "volumes">,
  routerOf: (c: EnvironmentPlan["containers"][number]) => string = (c) => c.route!.router,
): EnvironmentOutputs {
  return {
    environment: plan.env,
    runtime,
    ...rendered,
    urls: plan.urls as Record<string, string>,
    edge: plan.edge,
    neighbours: plan.neighbours,
    topology: Object.fromEntries(
      plan.containers.map((c) => [
        c.name,
        {
          role: c.kind,
          port: c.port,
          networks: c.networks.map((n) => n.name),
          dependencies: c.dependencies,
          ...(c.route ? { router: routerOf(c), host: c.route.host } : {}),
        },
      ]),
    ),
    images: {
      ...Object.fromEntries(plan.containers.flatMap((c) => (c.release ? [[c.name as ServiceName, { ...c.release }]] : []))),
      ...(plan.backup ? { [BACKUP_IMAGE]: { ...plan.backup.release } } : {}),
    },
  };
}
