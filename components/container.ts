/**
 * Renders one ContainerPlan into docker.Container arguments. DataStore,
 * AppService and Backup differ only in how they roll out and what they start
 * after, so they share this.
 */
import { createHash } from "node:crypto";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Credential, VolumeKey } from "../catalog/types";
import type { ContainerPlan, NetworkKey } from "../model/container";
import { names } from "../model/naming";
import { cpusReadBack } from "../model/read-back";
import { EDGE_SUBNET, fillCredentials, credentialsIn } from "../model/templates";

export interface ContainerInputs {
  plan: ContainerPlan;
  /** Network names, as Outputs of the resources that create (or look up) them. */
  networks: Partial<Record<NetworkKey, pulumi.Input<string>>>;
  volumes: Partial<Record<VolumeKey, pulumi.Input<string>>>;
  credentials: Partial<Record<Credential, pulumi.Output<string>>>;
  /** The edge network's subnet as looked up, for env the plan could not render (shared edge mode). */
  edgeSubnet?: pulumi.Input<string>;
}

/** Each env var as `NAME=value`; a credential-bearing one is a secret Output. */
export function renderEnvs(plan: ContainerPlan, credentials: ContainerInputs["credentials"], edgeSubnet?: ContainerInputs["edgeSubnet"]): pulumi.Input<string>[] {
  return plan.env.map((v) => {
    if (!v.secret && v.value.includes(EDGE_SUBNET)) {
      if (edgeSubnet === undefined) throw new Error(`${plan.name}: ${v.name} needs the edge subnet, which nothing looked up`);
      return pulumi.output(edgeSubnet).apply((subnet) => `${v.name}=${v.value.split(EDGE_SUBNET).join(subnet)}`);
    }
    if (!v.secret) return `${v.name}=${v.value}`;
    const needed = credentialsIn(v.value);
    const values = pulumi.all(Object.fromEntries(needed.map((c) => [c, credentials[c]!])));
    return pulumi.secret(values.apply((vals) => `${v.name}=${fillCredentials(v.value, vals)}`));
  });
}

/**
 * A short hash of everything that defines a revision, secrets included, so a
 * rotated password also gets a new name. The hash cannot reveal the secrets, so
 * the name is unsecreted: it must be readable in outputs and `docker ps`.
 */
export function revisionName(plan: ContainerPlan, envs: pulumi.Input<string>[]): pulumi.Output<string> {
  if (plan.rollout.strategy !== "revisioned") return pulumi.output(plan.containerName);
  const { containerName, ...spec } = plan;
  const digest = pulumi
    .all(envs)
    .apply((rendered) => createHash("sha256").update(JSON.stringify(spec)).update(rendered.join("\n")).digest("hex"));
  return pulumi.unsecret(digest.apply((revision) => names.revisionContainer(containerName, revision)));
}

/** Container resource options both components share. */
export const CONTAINER_REPLACE_ON_CHANGES = {
  // The provider "updates" these in place, but Docker ignores such an update: only a new container applies them.
  replaceOnChanges: ["healthcheck", "tmpfs"],
};

/** How long a destroy lets the container stop before Docker kills it. */
export const STOP_GRACE_SECONDS: Record<ContainerPlan["kind"], number> = {
  // Time to flush to disk: 10 s can cut a Postgres checkpoint short.
  store: 60,
  service: 20,
  // A backup in flight gets time to finish its restic upload; an interrupted one is never tagged complete anyway.
  backup: 120,
};

/** `image` defaults to the plan's reference; an app service passes its RemoteImage's image ID. */
export function containerArgs(
  inputs: ContainerInputs,
  name: pulumi.Input<string>,
  envs: pulumi.Input<string>[],
  image: pulumi.Input<string> = inputs.plan.image,
): docker.ContainerArgs {
  const { plan } = inputs;
  const network = (key: NetworkKey) => inputs.networks[key]!;
  return {
    name,
    image,
    command: plan.command,
    hostname: plan.hostname,
    envs,
    labels: Object.entries(plan.labels).map(([label, value]) => ({ label, value })),
    // networkMode stays unset: the provider then detaches the default bridge before connecting these.
    networksAdvanced: plan.networks.map((n) => ({ name: network(n.key), aliases: n.aliases })),
    healthcheck: plan.healthcheck,
    restart: "unless-stopped",
    // Created only once healthy, so whatever depends on it starts against a working store or peer.
    // The timeout is derived with the healthcheck, so a first boot Docker still grants time is never cut short.
    ...(plan.waitTimeoutSeconds === undefined ? {} : { wait: true, waitTimeout: plan.waitTimeoutSeconds }),
    memory: plan.resources.memoryMb,
    // No swap: at its limit a container is OOM-killed rather than swapping the shared host to a
    // crawl. It must be explicit anyway: left unset, Docker makes it 2x memory, and the provider's
    // in-place update sends memory alone, which Docker refuses once it exceeds that old swap limit.
    // (A host without swap accounting reads it back as -1, and the fitted plan asks for exactly that: model/engine-fit.ts.)
    memorySwap: plan.memorySwapMb ?? plan.resources.memoryMb,
    // In the form the provider reads it back in ("1.0", not "1"): it is ForceNew (model/read-back.ts).
    cpus: cpusReadBack(plan.resources.cpus),
    logDriver: plan.logs.driver,
    logOpts: plan.logs.opts,
    readOnly: plan.security.readOnly,
    tmpfs: plan.security.tmpfs,
    user: plan.security.user,
    capabilities: { drops: plan.security.capDrop, adds: plan.security.capAdd },
    securityOpts: plan.security.securityOpts,
    // Written after create, before start; Docker refuses them on a read-only root, so only writable-root entries have any.
    uploads: plan.configFiles?.map((f) => ({ file: f.path, content: f.content, permissions: "0644" })),
    volumes: [
      ...plan.volumes.map((v) => ({ volumeName: inputs.volumes[v.key]!, containerPath: v.containerPath, readOnly: v.readOnly })),
      ...(plan.hostMounts ?? []).map((m) => ({ hostPath: m.hostPath, containerPath: m.containerPath, readOnly: m.readOnly })),
    ],
    destroyGraceSeconds: STOP_GRACE_SECONDS[plan.kind],
    mustRun: true,
  };
}
