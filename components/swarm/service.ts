/**
 * One entry of the plan (a store, an app service or the backup) as a swarm
 * service: the container renderer's counterpart for `runtime: swarm`. Every
 * input is sent in the form the provider reads back (read-back.ts).
 */
import { createHash } from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ContainerPlan } from "../../model/container";
import { childName, swarmNames } from "../../model/naming";
import { secretFile, type SwarmServicePlan, type UpdatePolicy } from "../../model/swarm";
import { UNROUTED_LABELS } from "../../model/traefik";
import { STOP_GRACE_SECONDS, renderEnvs, type ContainerInputs } from "../container";
import { memoryBytes, nanoCpus, readBackDuration, shortDuration, tmpfsSizeBytes } from "./read-back";

export interface SwarmServiceArgs extends ContainerInputs {
  swarm: SwarmServicePlan;
  /** Network IDs by key: the provider reads an attachment back as the network's ID. */
  networkIds: ContainerInputs["networks"];
  /** `repository@sha256:…`: the release's pin, or a store's digest as its RemoteImage resolved it. No node pulls by tag. */
  image: pulumi.Input<string>;
  /** The registry login the manager hands to every node that pulls the image (withRegistryAuth). */
  auth?: docker.types.input.ServiceAuth;
  /** Secret env vars the plan cannot know of (the backup's optional webhook): name → secret value. */
  extraSecrets?: Record<string, pulumi.Output<string>>;
  /** Ownership labels for its secrets and configs. */
  ownership: { label: string; value: string }[];
  /** What must run first (its stores, its database's provisioning). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** The one service input the program leaves to the registry (read-back.ts). */
export const PLACEMENT_PLATFORMS = "taskSpec.placement.platforms";

const labelList = (labels: Record<string, string>) => Object.entries(labels).map(([label, value]) => ({ label, value }));
const digest = (...parts: string[]) => createHash("sha256").update(parts.join("\n")).digest("hex");
const kebab = (envName: string) => envName.toLowerCase().replace(/[^a-z0-9]+/g, "-");

/** The provider's update_config / rollback_config, durations in read-back form. */
const updateArgs = (p: UpdatePolicy) => ({
  parallelism: p.parallelism,
  delay: readBackDuration(p.delay),
  failureAction: p.failureAction,
  monitor: readBackDuration(p.monitor),
  maxFailureRatio: p.maxFailureRatio,
  order: p.order,
});

/**
 * Task containers carry the ownership labels, and `traefik.enable=false`: the
 * routes are the service's labels, read by Traefik's swarm provider; a docker
 * provider on a node must not route the task containers a second time.
 */
const taskLabels = (plan: ContainerPlan) => ({
  ...Object.fromEntries(Object.entries(plan.labels).filter(([k]) => !k.startsWith("traefik."))),
  ...UNROUTED_LABELS,
});

export class SwarmService extends pulumi.ComponentResource {
  readonly service: docker.Service;

  constructor(name: string, args: SwarmServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(swarmNames.typeTokens.service, name, {}, opts);
    const { plan, swarm } = args;
    const rendered = renderEnvs(plan, args.credentials, args.edgeSubnet);
    const env: Record<string, pulumi.Input<string>> = {};
    const secrets: docker.types.input.ServiceTaskSpecContainerSpecSecret[] = [];
    const valueOf = (line: pulumi.Input<string>) => pulumi.output(line).apply((l) => l.slice(l.indexOf("=") + 1));
    const asFile = (envName: string, value: pulumi.Output<string>) => {
      // Named after a digest of its content: a rotated value is a new secret, so the service update rolls.
      const secretName = pulumi.unsecret(value.apply((v) => swarmNames.object(swarm.serviceName, digest(envName, v))));
      const secret = new docker.Secret(
        childName(name, "secret", kebab(envName)),
        {
          name: secretName,
          // The provider decodes `data` as standard base64 (resource_docker_secret.go resourceDockerSecretCreate).
          data: pulumi.secret(value.apply((v) => Buffer.from(v, "utf8").toString("base64"))),
          labels: [...args.ownership, { label: swarmNames.heldLabel, value: envName }],
        },
        { parent: this },
      );
      // file_uid, file_gid and file_mode as the provider defaults and reads them back (flattenServiceSecrets):
      // world-readable inside the task's own in-memory /run/secrets, since images that drop to another
      // user (postgres' gosu) read it after the switch.
      secrets.push({ secretId: secret.id, secretName: secret.name, fileName: secretFile(envName), fileUid: "0", fileGid: "0", fileMode: 0o444 });
      env[`${envName}_FILE`] = secretFile(envName);
    };
    plan.env.forEach((v, i) => {
      if (v.secret && swarm.secrets.via === "file") asFile(v.name, valueOf(rendered[i]));
      else env[v.name] = valueOf(rendered[i]);
    });
    for (const [envName, value] of Object.entries(args.extraSecrets ?? {})) {
      if (swarm.secrets.via === "file") asFile(envName, value);
      else env[envName] = value;
    }

    // Config files become Docker configs: a swarm task has no "copy in before start".
    const configs = (plan.configFiles ?? []).map((file) => {
      const config = new docker.ServiceConfig(
        childName(name, "config", kebab(file.path.split("/").pop()!)),
        {
          name: swarmNames.object(swarm.serviceName, digest(file.path, file.content)),
          data: Buffer.from(file.content, "utf8").toString("base64"),
          labels: [...args.ownership, { label: swarmNames.heldLabel, value: file.path }],
        },
        { parent: this },
      );
      return { configId: config.id, configName: config.name, fileName: file.path, fileUid: "0", fileGid: "0", fileMode: 0o444 };
    });

    const healthcheck = plan.healthcheck;
    this.service = new docker.Service(
      childName(name, "service"),
      {
        name: swarm.serviceName,
        labels: labelList(swarm.serviceLabels),
        taskSpec: {
          containerSpec: {
            image: args.image,
            // The plan's command is the image's CMD: `args` on a swarm service (`command` would replace the entrypoint).
            args: plan.command,
            hostname: plan.hostname,
            env,
            labels: labelList(taskLabels(plan)),
            user: plan.security.user,
            readOnly: plan.security.readOnly,
            capDrops: plan.security.capDrop,
            capAdds: plan.security.capAdd.length ? plan.security.capAdd : undefined,
            // No start_interval on a swarm service's healthcheck (read-back.ts).
            healthcheck: {
              tests: healthcheck.tests,
              interval: readBackDuration(healthcheck.interval),
              timeout: readBackDuration(healthcheck.timeout),
              startPeriod: readBackDuration(healthcheck.startPeriod),
              retries: healthcheck.retries,
            },
            mounts: [
              ...plan.volumes.map((v) => ({ type: "volume", source: args.volumes[v.key]!, target: v.containerPath, readOnly: v.readOnly ?? false })),
              ...(plan.hostMounts ?? []).map((m) => ({ type: "bind", source: m.hostPath, target: m.containerPath, readOnly: m.readOnly })),
              ...Object.entries(plan.security.tmpfs).map(([target, options]) => ({ type: "tmpfs", target, readOnly: false, tmpfsOptions: { sizeBytes: tmpfsSizeBytes(options) } })),
            ],
            secrets: secrets.length ? secrets : undefined,
            configs: configs.length ? configs : undefined,
            stopGracePeriod: shortDuration(STOP_GRACE_SECONDS[plan.kind] * 1000),
          },
          networksAdvanceds: plan.networks.map((n) => ({ id: args.networkIds[n.key]!, ...(n.aliases?.length ? { aliases: n.aliases } : {}) })),
          placement: swarm.constraints.length ? { constraints: swarm.constraints } : undefined,
          resources: {
            limits: { memoryBytes: memoryBytes(plan.resources.memoryMb), nanoCpus: nanoCpus(plan.resources.cpus) },
            // The scheduler places a task only where its memory is free: the node budget, enforced by Swarm.
            reservation: { memoryBytes: memoryBytes(plan.resources.memoryMb) },
          },
          restartPolicy: { condition: "any", delay: shortDuration(5000), maxAttempts: 0, window: shortDuration(0) },
          logDriver: { name: plan.logs.driver, options: plan.logs.opts },
        },
        mode: { replicated: { replicas: swarm.replicas } },
        updateConfig: updateArgs(swarm.update),
        rollbackConfig: updateArgs(swarm.rollback),
        // dnsrr: no virtual IP (model/swarm.ts says why); no published port, Traefik reaches tasks on the edge overlay.
        endpointSpec: { mode: swarm.endpointMode },
        // `up` waits until every task runs (healthy, for a task with a healthcheck) and fails on a rollback.
        convergeConfig: { delay: shortDuration(5000), timeout: shortDuration(swarm.convergeTimeoutSeconds * 1000) },
        auth: args.auth,
      },
      {
        parent: this,
        dependsOn: args.dependsOn,
        // The provider's create asks the moby client to query the registry (resource_docker_service_funcs.go
        // resourceDockerServiceCreate, QueryRegistry), and the client writes the image's platforms into the
        // placement (client/service_create.go resolveContainerSpecImage); the provider reads them back into
        // placement.platforms, which the program cannot know before the registry answers. Sent as stored, they
        // stay the platforms of the image the service was created with (an update does not query the registry).
        ignoreChanges: [PLACEMENT_PLATFORMS],
      },
    );
    this.registerOutputs({ serviceName: this.service.name });
  }
}

/** The label that tells which service a task's container belongs to (set by Swarm on every task container). */
export const SWARM_SERVICE_LABEL = "com.docker.swarm.service.name";