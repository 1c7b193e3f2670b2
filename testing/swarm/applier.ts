/**
 * Applies what the program registered with `runtime: swarm` on Pulumi's mock
 * engine to the lab swarm (.ci/swarm.sh), through the first manager, as the
 * Docker provider would: overlays, volumes (on the manager, which holds the
 * stores), secrets, configs and services, every input carried over exactly as
 * registered. A service's registered `auth` goes with its create and update as
 * the X-Registry-Auth header the provider sends, so the manager hands that
 * login to every node that pulls. `imageOf` says what a registered image runs
 * as: the e2e gives the app services' release references back unchanged (they
 * are in the lab registry), and the stores' upstream images (no registry here
 * holds them) as the stand-in's image ID, which the nodes have by
 * `docker save | docker load` and never pull. An input it does not know fails
 * the run, as test/e2e/applier.ts does for containers. Everything carries the
 * test-run label and is removed by it.
 */
import { spawnSync } from "node:child_process";
import { parseDurationNs } from "../../components/swarm/read-back";
import { TYPES, type ProgramRun, type RegisteredResource } from "../mock-engine";
import { running, tasksOf, until, type Lab } from "./lab";

/** The label every e2e object carries (test/e2e/applier.ts RUN_LABEL). */
export const RUN_LABEL = "pt.portugalodyssey.test-run";

export const SWARM_TYPES = {
  service: "docker:index/service:Service",
  secret: "docker:index/secret:Secret",
  config: "docker:index/serviceConfig:ServiceConfig",
} as const;

/** Service inputs this applier carries over; `auth` and `convergeConfig` tell the provider how to act (the login is a header; the applier waits itself). */
const APPLIED = new Set(["name", "labels", "taskSpec", "mode", "updateConfig", "rollbackConfig", "endpointSpec"]);
const PROVIDER_ONLY = new Set(["auth", "convergeConfig"]);
const CONTAINER_SPEC = new Set([
  "image", "args", "hostname", "env", "labels", "user", "readOnly", "capDrops", "capAdds", "healthcheck", "mounts", "secrets", "configs", "stopGracePeriod",
]);

const ns = (text: string | undefined) => (text === undefined ? undefined : Number(parseDurationNs(text)));
const labelMap = (labels: { label: string; value: string }[] | undefined) => Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
const unknownKeys = (what: string, given: Record<string, unknown>, known: Set<string>) => {
  const unknown = Object.keys(given).filter((k) => !known.has(k) && given[k] !== undefined);
  if (unknown.length) throw new Error(`${what}: the swarm applier does not know how to apply ${unknown.join(", ")}; teach testing/swarm/applier.ts`);
};

/**
 * The X-Registry-Auth value the provider sends with a service create or update: its `auth` block as
 * an AuthConfig, JSON then base64 with the URL alphabet and padding (kreuzwerker
 * resource_docker_service_funcs.go retrieveAndMarshalAuth, authToServiceAuth; moby
 * api/types/registry/authconfig.go for the JSON names). Without a username and password it is the
 * empty AuthConfig, `{}`, which the provider sends all the same.
 */
export function registryAuthHeader(auth: { serverAddress?: string; username?: string; password?: string } | undefined): string {
  const config = auth?.username && auth.password ? { username: auth.username, password: auth.password, serveraddress: auth.serverAddress ?? "" } : {};
  return Buffer.from(JSON.stringify(config), "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

const policy = (p: any) =>
  p && { Parallelism: p.parallelism, Delay: ns(p.delay), FailureAction: p.failureAction, Monitor: ns(p.monitor), MaxFailureRatio: Number(p.maxFailureRatio), Order: p.order };

export class SwarmApplier {
  /** The mock engine's ID of a registered object (`<logical name>-id`) → the swarm's. */
  readonly ids = new Map<string, string>();
  /** Service name → its registered resource, for updates. */
  readonly services = new Map<string, RegisteredResource>();

  constructor(
    readonly lab: Lab,
    readonly runId: string,
    /** What a registered image reference runs as: itself when a lab registry holds it, or a local image ID. */
    readonly imageOf: (registered: string) => string,
  ) {}

  /** Per service, what the registry query at create time said, when it could not resolve the image (the provider logs it as a warning). */
  readonly warnings = new Map<string, string>();

  get labels() {
    return { [RUN_LABEL]: this.runId };
  }

  private idOf(mockId: string) {
    const id = this.ids.get(mockId);
    if (!id) throw new Error(`nothing was applied with the mock ID ${mockId}`);
    return id;
  }

  /** The Engine API service spec for a registered docker.Service. */
  serviceSpec(r: RegisteredResource, image?: string): any {
    const i = r.inputs;
    unknownKeys(r.name, Object.fromEntries(Object.entries(i).filter(([k]) => !PROVIDER_ONLY.has(k))), APPLIED);
    const c = i.taskSpec.containerSpec;
    unknownKeys(`${r.name} containerSpec`, c, CONTAINER_SPEC);
    return {
      Name: i.name,
      Labels: { ...labelMap(i.labels), ...this.labels },
      TaskTemplate: {
        ContainerSpec: {
          Image: image ?? this.imageOf(c.image),
          Args: c.args,
          Hostname: c.hostname,
          Env: Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v}`),
          Labels: { ...labelMap(c.labels), ...this.labels },
          User: c.user,
          ReadOnly: c.readOnly,
          CapabilityDrop: c.capDrops,
          CapabilityAdd: c.capAdds,
          Healthcheck: c.healthcheck && {
            Test: c.healthcheck.tests,
            Interval: ns(c.healthcheck.interval),
            Timeout: ns(c.healthcheck.timeout),
            StartPeriod: ns(c.healthcheck.startPeriod),
            Retries: c.healthcheck.retries,
          },
          Mounts: (c.mounts ?? []).map((m: any) => ({
            Type: m.type,
            Source: m.source,
            Target: m.target,
            ReadOnly: m.readOnly,
            ...(m.tmpfsOptions ? { TmpfsOptions: { SizeBytes: m.tmpfsOptions.sizeBytes, Mode: m.tmpfsOptions.mode } } : {}),
          })),
          Secrets: (c.secrets ?? []).map((s: any) => ({
            SecretID: this.idOf(s.secretId),
            SecretName: s.secretName,
            File: { Name: s.fileName, UID: s.fileUid, GID: s.fileGid, Mode: s.fileMode },
          })),
          Configs: (c.configs ?? []).map((s: any) => ({
            ConfigID: this.idOf(s.configId),
            ConfigName: s.configName,
            File: { Name: s.fileName, UID: s.fileUid, GID: s.fileGid, Mode: s.fileMode },
          })),
          StopGracePeriod: ns(c.stopGracePeriod),
        },
        Networks: (i.taskSpec.networksAdvanceds ?? []).map((n: any) => ({ Target: this.idOf(n.id), Aliases: n.aliases })),
        Placement: i.taskSpec.placement && { Constraints: i.taskSpec.placement.constraints },
        Resources: i.taskSpec.resources && {
          Limits: { MemoryBytes: i.taskSpec.resources.limits?.memoryBytes, NanoCPUs: i.taskSpec.resources.limits?.nanoCpus },
          Reservations: { MemoryBytes: i.taskSpec.resources.reservation?.memoryBytes },
        },
        RestartPolicy: i.taskSpec.restartPolicy && {
          Condition: i.taskSpec.restartPolicy.condition,
          Delay: ns(i.taskSpec.restartPolicy.delay),
          MaxAttempts: i.taskSpec.restartPolicy.maxAttempts,
          Window: ns(i.taskSpec.restartPolicy.window),
        },
        LogDriver: i.taskSpec.logDriver && { Name: i.taskSpec.logDriver.name, Options: i.taskSpec.logDriver.options },
      },
      Mode: { Replicated: { Replicas: i.mode.replicated.replicas } },
      UpdateConfig: policy(i.updateConfig),
      RollbackConfig: policy(i.rollbackConfig),
      EndpointSpec: { Mode: i.endpointSpec?.mode },
    };
  }

  /**
   * Networks, volumes (on the manager), secrets and configs, the edge's connect command, then services.
   * `existingVolumes`: the volumes are already there (a stack moving from the docker runtime keeps their
   * URNs and inputs, so Pulumi plans no step for them): they are only checked, never created.
   */
  async apply(run: ProgramRun, opts: { existingVolumes?: boolean } = {}) {
    const m = this.lab.manager;
    for (const n of run.resources.filter((r) => r.type === TYPES.network)) {
      // As the provider sends them (resourceDockerNetworkCreate, ipamConfigSetToIpamConfigs): subnet and gateway.
      const configs = ((n.inputs.ipamConfigs ?? []) as { subnet?: string; gateway?: string }[]).flatMap((c) =>
        c.subnet ? [{ Subnet: c.subnet, ...(c.gateway ? { Gateway: c.gateway } : {}) }] : [],
      );
      const created = await m.createNetwork({
        Name: n.inputs.name,
        Driver: n.inputs.driver,
        Internal: n.inputs.internal ?? false,
        Attachable: n.inputs.attachable ?? false,
        CheckDuplicate: true,
        Labels: { ...labelMap(n.inputs.labels), ...this.labels },
        ...(configs.length ? { IPAM: { Driver: "default", Config: configs } } : {}),
      });
      this.ids.set(`${n.name}-id`, created.id);
    }
    for (const v of run.resources.filter((r) => r.type === TYPES.volume)) {
      if (opts.existingVolumes) {
        await m.getVolume(v.inputs.name).inspect();
        continue;
      }
      await m.createVolume({ Name: v.inputs.name, Labels: { ...labelMap(v.inputs.labels), ...this.labels } });
    }
    for (const s of run.resources.filter((r) => r.type === SWARM_TYPES.secret)) {
      const created = await m.createSecret({ Name: s.inputs.name, Data: s.inputs.data, Labels: { ...labelMap(s.inputs.labels), ...this.labels } });
      this.ids.set(`${s.name}-id`, created.id);
    }
    for (const c of run.resources.filter((r) => r.type === SWARM_TYPES.config)) {
      const created = await (m as any).createConfig({ Name: c.inputs.name, Data: c.inputs.data, Labels: { ...labelMap(c.inputs.labels), ...this.labels } });
      this.ids.set(`${c.name}-id`, created.id);
    }
    for (const c of run.resources.filter((r) => r.type === TYPES.command && r.name.endsWith("-traefik-attachment"))) this.runCommand(c, "create");
    for (const s of run.resources.filter((r) => r.type === SWARM_TYPES.service)) {
      await this.createService(s);
      this.services.set(s.inputs.name, s);
    }
  }

  /**
   * As the provider creates a service: with the login as X-Registry-Auth and QueryRegistry, so its
   * Docker client first asks the daemon for the image's distribution (GET /distribution/…/json, with
   * the same login; the manager asks the registry), keeps a digest reference as it is and pins the
   * platforms the registry lists (moby client/service_create.go resolveContainerSpecImage, at the
   * provider's docker/docker v28.5.2). A failed query is only a warning there, and here.
   */
  private async createService(r: RegisteredResource) {
    const spec = this.serviceSpec(r);
    const auth = { base64: registryAuthHeader(r.inputs.auth) };
    const image: string = spec.TaskTemplate.ContainerSpec.Image;
    // A local stand-in's image ID is this applier's own substitution, never the provider's: nothing to ask a registry.
    if (!/^sha256:[0-9a-f]{64}$/.test(image)) {
      try {
        const found = (await this.lab.manager.getImage(image).distribution({ authconfig: auth })) as { Platforms?: { os: string; architecture: string }[] };
        const platforms = (found.Platforms ?? []).filter((p) => p.os !== "unknown" && p.architecture !== "unknown").map((p) => ({ OS: p.os, Architecture: p.architecture }));
        if (platforms.length) spec.TaskTemplate.Placement = { ...spec.TaskTemplate.Placement, Platforms: platforms };
      } catch (e) {
        this.warnings.set(r.inputs.name, `image ${image} could not be accessed on a registry to record its digest: ${(e as Error).message}`);
      }
    }
    await this.lab.manager.createService(auth, spec);
  }

  /** A command:local:Command's script, with DOCKER_HOST on the manager as the provider's would be. */
  runCommand(r: RegisteredResource, which: "create" | "delete") {
    const script: string | undefined = r.inputs[which];
    if (!script) return;
    const env = { ...process.env, ...r.inputs.environment, DOCKER_HOST: `unix://${(this.lab.manager.modem as any).socketPath}` };
    const res = spawnSync("bash", ["-c", script], { env, encoding: "utf8" });
    if (res.status !== 0) throw new Error(`${r.name} ${which} failed (${res.status}): ${res.stderr}`);
  }

  /**
   * Updates a service as `up` would after a changed input: the registered spec with another image, and
   * the registered login as X-Registry-Auth (the provider's update sends it without QueryRegistry:
   * resource_docker_service_funcs.go resourceDockerServiceUpdate).
   */
  async updateImage(service: string, image: string) {
    const registered = this.services.get(service)!;
    const current = await this.lab.manager.getService(service).inspect();
    const spec = this.serviceSpec(registered, image);
    await this.lab.manager.getService(service).update({ base64: registryAuthHeader(registered.inputs.auth) }, { version: current.Version.Index, ...spec });
  }

  /** Waits until every service applied runs its replicas, each task running (healthy, when it has a healthcheck). */
  async waitConverged(timeoutMs = 300_000) {
    const names = [...this.services.keys()];
    let lagging: string[] = [];
    await until(
      () => `not converged: ${lagging.join(", ")}`,
      async () => {
        lagging = [];
        for (const name of names) {
          const wanted = this.services.get(name)!.inputs.mode.replicated.replicas;
          const tasks = await tasksOf(this.lab.manager, name);
          const up = running(tasks).length;
          if (up !== wanted || tasks.some((t) => t.desired === "running" && t.state !== "running")) lagging.push(`${name} ${up}/${wanted}`);
        }
        return lagging.length === 0 ? true : undefined;
      },
      timeoutMs,
    );
  }
}

/** Removes what carries the run label from the lab swarm: services first, then secrets, configs, networks, volumes and containers. */
export async function removeSwarmLabelled(lab: Lab, runId?: string): Promise<void> {
  const m = lab.manager;
  const filters = { label: [runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL] };
  for (const s of await m.listServices({ filters })) await m.getService(s.ID).remove().catch(() => undefined);
  for (const node of lab.nodes) {
    for (const c of await node.listContainers({ all: true, filters })) await node.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  // A removed service's tasks let go of their secrets and networks a moment later.
  const retry = (what: string, remove: () => Promise<unknown>) =>
    until(() => `${what} is still in use`, () => remove().then(() => true, (e: { statusCode?: number }) => (e.statusCode === 404 ? true : undefined)), 60_000);
  for (const s of await m.listSecrets({ filters })) await retry(`secret ${s.Spec?.Name}`, () => m.getSecret(s.ID).remove());
  for (const c of await (m as any).listConfigs({ filters })) await retry(`config ${c.Spec?.Name}`, () => (m as any).getConfig(c.ID).remove());
  for (const n of await m.listNetworks({ filters })) await retry(`network ${n.Name}`, () => m.getNetwork(n.Id).remove());
  for (const node of lab.nodes) {
    for (const v of (await node.listVolumes({ filters })).Volumes ?? []) await retry(`volume ${v.Name}`, () => node.getVolume(v.Name).remove());
  }
}

