/**
 * The pure model of one environment: every network, volume and container, with
 * every name, label, env var, healthcheck and limit, computed from validated
 * config and the catalog. Components render it; tests and `verify` read it.
 * Nothing here touches Pulumi, so it is cheap to compute and easy to diff.
 */
import { SERVICE_NAMES, SERVICES, type ServiceName } from "../catalog/services";
import { STORES } from "../catalog/stores";
import {
  STORE_NAMES,
  VOLUME_KEYS,
  type EnvValue,
  type HealthProbe,
  type Resources,
  type ServiceSpec,
  type StoreName,
  type StoreSpec,
  type VolumeKey,
} from "../catalog/types";
import { maxConnections, planDatabases, type DatabasePlan } from "./databases";
import { LABELS, PROJECT, names } from "./naming";
import { elasticsearchHeapMb, sizeContainer } from "./resources";
import type { EnvironmentSettings } from "./settings";
import { credentialsIn, renderTemplate, type TemplateContext } from "./templates";
import { UNROUTED_LABELS, routeLabels } from "./traefik";
import { planBackup, type BackupPlan } from "./backup";
import { durationOfSeconds, parseGoDuration } from "./read-back";
import type { ConfigFilePlan, ContainerPlan, EnvVar, Healthcheck, NetworkAttachment, NetworkKey, Rollout } from "./container";

export interface NetworkPlan {
  key: NetworkKey;
  name: string;
  /** No route out of the host: data stores never need one. */
  internal: boolean;
  /** False for the external traefik network, which we only look up. */
  managed: boolean;
}

export interface VolumePlan {
  key: VolumeKey;
  name: string;
  /** Taken over from an earlier deployment (config `data.volumes`), not created empty. */
  adopted: boolean;
  /** Pulumi refuses to delete or replace it. A taken-over volume always is: it holds data from before this stack. */
  protect: boolean;
  /** A delete leaves the Docker volume on the host. */
  retainOnDelete: boolean;
}

export interface Route {
  host: string;
  url: string;
  router: string;
}

/** A store or an app service of the catalog: the containers the topology, the outputs and `verify` list one by one. */
export interface CatalogContainerPlan extends ContainerPlan {
  kind: "store" | "service";
  name: ServiceName | StoreName;
  port: number;
  networks: Required<NetworkAttachment>[];
  healthcheck: Healthcheck;
  waitTimeoutSeconds: number;
  configFiles: ConfigFilePlan[];
  stores: StoreName[];
  /** Hosts (`alias:port`) its env names: what it must be able to reach. */
  dependencies: string[];
  route?: Route;
}

export interface EnvironmentPlan {
  stack: string;
  env: string;
  edge: {
    mode: "isolated" | "shared";
    /** The network Traefik reaches our routed services on. */
    network: string;
    traefikContainer: string;
    traefikNetwork: string;
    /** Isolated mode: the subnet pinned on our edge network (config `edgeSubnet`). Shared mode: looked up. */
    subnet?: string;
  };
  networks: NetworkPlan[];
  volumes: VolumePlan[];
  containers: CatalogContainerPlan[];
  /** One database and one role per service that uses PostgreSQL; no two share either. */
  databases: DatabasePlan[];
  /** Postgres's max_connections: every role's connection limit plus headroom. */
  postgresMaxConnections: number;
  /** The container running this environment's scheduled backups; none without `backup` config. */
  backup?: BackupPlan;
  urls: Partial<Record<ServiceName, string>>;
  neighbours: string[];
  /** Every container's memory limit, the backup container's included: the host budget counts them all. */
  totalMemoryMb: number;
  /** What a rollout adds while both revisions of every zero-downtime service run. */
  rolloutMemoryMb: number;
}

/**
 * Steady state: a check every 10 s. While starting: every second, so `wait`
 * sees healthy about a second after the software is ready rather than up to a
 * full interval later, on every step of a rollout.
 */
export const HEALTH_TIMING = { intervalSeconds: 10, startIntervalSeconds: 1, timeoutSeconds: 5, retries: 5 };
const DEFAULT_START_PERIOD_SECONDS = 15;

/** Exits 0 on a 2xx/3xx answer, 1 on anything else or no answer. */
const nodeHttpProbe = (url: string) =>
  `require('http').get('${url}', (r) => process.exit(r.statusCode < 400 ? 0 : 1)).on('error', () => process.exit(1))`;

function renderHealthcheck(probe: HealthProbe, port: number): { healthcheck: Healthcheck; waitTimeoutSeconds: number } {
  const tests =
    probe.kind === "node-http"
      ? // http.get rather than fetch: it exists on every Node.js version; exec form needs no shell.
        ["CMD", "node", "-e", nodeHttpProbe(`http://127.0.0.1:${probe.port ?? port}${probe.path}`)]
      : probe.test;
  const startPeriodSeconds = probe.startPeriodSeconds ?? DEFAULT_START_PERIOD_SECONDS;
  const { intervalSeconds, startIntervalSeconds, timeoutSeconds, retries } = HEALTH_TIMING;
  return {
    healthcheck: {
      tests,
      // In Go's time.Duration.String() form (60 s is "1m0s"), which is how the provider reads them back.
      interval: durationOfSeconds(intervalSeconds),
      timeout: durationOfSeconds(timeoutSeconds),
      startPeriod: durationOfSeconds(startPeriodSeconds),
      startInterval: durationOfSeconds(startIntervalSeconds),
      retries,
    },
    // Docker calls it unhealthy after `retries` failed checks past the start period, each taking up to interval + timeout.
    waitTimeoutSeconds: startPeriodSeconds + retries * (intervalSeconds + timeoutSeconds),
  };
}

/**
 * The modelled delay between the software being ready and Docker reporting
 * healthy, which is what `wait` waits on: the first check comes one
 * startInterval after start (Docker >= 25), or one full interval when the
 * daemon ignores startInterval, as before it existed.
 */
export function healthDetectionSeconds(startPeriod: string, mode: "interval-only" | "start-interval"): number {
  const { intervalSeconds, startIntervalSeconds } = HEALTH_TIMING;
  return mode === "start-interval" && parseGoDuration(startPeriod) > 0n ? startIntervalSeconds : intervalSeconds;
}

function renderConfigFiles(spec: StoreSpec | ServiceSpec, ctx: TemplateContext): ConfigFilePlan[] {
  return (spec.configFiles ?? []).map((file) => ({ path: file.path, content: renderTemplate(file.content, ctx) }));
}

function renderEnv(templates: Record<string, EnvValue>, ctx: TemplateContext): EnvVar[] {
  return Object.entries(templates)
    .map(([name, value]) =>
      typeof value === "string"
        ? { name, value: renderTemplate(value, ctx), secret: false }
        : { name, value: renderTemplate(value.secret, ctx), secret: true },
    )
    .sort((a, b) => a.name.localeCompare(b.name));
}

function rolloutOf(spec: ServiceSpec<ServiceName>): Rollout {
  const stateful = spec.singleton ?? (spec.volumes.length > 0 ? "owns a volume" : undefined);
  if (spec.route && !stateful) return { strategy: "revisioned" };
  return { strategy: "fixed-name", reason: stateful ?? "not routed: nothing balances traffic across two revisions" };
}

export function planEnvironment(s: EnvironmentSettings): EnvironmentPlan {
  const env = s.env;
  const alias = (target: string) => names.alias(target as ServiceName, env);
  const edgeNetwork = s.edge === "isolated" ? names.edgeNetwork(env) : s.traefik.network;

  const networks: NetworkPlan[] = [
    ...STORE_NAMES.map((store) => ({ key: store, name: names.storeNetwork(store, env), internal: true, managed: true })),
    { key: "internal", name: names.internalNetwork(env), internal: false, managed: true },
    { key: "edge", name: edgeNetwork, internal: false, managed: s.edge === "isolated" },
    // Not internal: the backup container's route to the off-host repository, shared with nothing else.
    ...(s.backup ? [{ key: "backup" as const, name: names.backupNetwork(env), internal: false, managed: true }] : []),
  ];
  const networkName = (key: NetworkKey) => networks.find((n) => n.key === key)!.name;

  const volumes: VolumePlan[] = VOLUME_KEYS.map((key) => {
    const adopted = key in s.data.volumes;
    return {
      key,
      name: s.data.volumes[key] ?? names.volume(key, env),
      adopted,
      protect: adopted || s.data.protect,
      retainOnDelete: adopted || s.data.retainOnDelete,
    };
  });
  const volumeName = (key: VolumeKey) => volumes.find((v) => v.key === key)!.name;

  const common = (spec: StoreSpec | ServiceSpec<ServiceName>, kind: "store" | "service", resources: Resources) => {
    const readOnly = !spec.hardening.writableRoot;
    return {
      kind,
      name: spec.name,
      containerName: names.container(spec.name, env),
      port: spec.port,
      resources,
      ...renderHealthcheck(spec.health, spec.port),
      volumes: spec.volumes.map((v) => ({ key: v.volume, volumeName: volumeName(v.volume), containerPath: v.path })),
      security: {
        readOnly,
        user: spec.hardening.runsAsRoot ? undefined : spec.user,
        capDrop: ["ALL"],
        capAdd: [...(spec.hardening.runsAsRoot?.capAdd ?? [])].sort(),
        securityOpts: ["no-new-privileges:true"],
        tmpfs: readOnly ? Object.fromEntries(spec.scratch.map((p) => [p, "rw,noexec,nosuid,size=64m"])) : {},
      },
      logs: { driver: "json-file" as const, opts: { "max-size": s.logs.maxSize, "max-file": String(s.logs.maxFile) } },
      baseLabels: {
        [LABELS.project]: PROJECT,
        [LABELS.environment]: env,
        [LABELS.service]: spec.name,
        [LABELS.role]: kind,
        [LABELS.port]: String(spec.port),
      },
    };
  };

  const databases = planDatabases(env, (service) => (rolloutOf(SERVICES[service]).strategy === "revisioned" ? 2 : 1));
  const postgresMaxConnections = maxConnections(databases);

  const stores: CatalogContainerPlan[] = STORE_NAMES.map((name) => {
    const spec = STORES[name];
    const resources = sizeContainer(spec.resources, s.resources.scale, s.stores[name]);
    const ctx: TemplateContext = {
      env,
      alias,
      heapMb: elasticsearchHeapMb(resources.memoryMb),
      memoryMb: resources.memoryMb,
      maxConnections: postgresMaxConnections,
    };
    const envVars = renderEnv(spec.env, ctx).map((e) =>
      // A taken-over cluster at the volume root (the image's default PGDATA) is served from there.
      e.name === "PGDATA" && s.data.postgresDataAtVolumeRoot ? { ...e, value: spec.volumes.find((v) => v.volume === "postgres-data")!.path } : e,
    );
    const { baseLabels, ...rest } = common(spec, "store", resources);
    return {
      ...rest,
      rollout: { strategy: "fixed-name", reason: "owns a data volume: two containers must never write it at once" },
      image: spec.image,
      command: spec.command?.map((arg) => renderTemplate(arg, ctx)),
      configFiles: renderConfigFiles(spec, ctx),
      hostname: spec.stableHostname ? ((name === "rabbitmq" && s.data.rabbitmqHostname) || alias(name)) : undefined,
      networks: [{ key: name, name: networkName(name), aliases: [alias(name)] }],
      env: envVars,
      credentials: [...new Set(envVars.filter((e) => e.secret).flatMap((e) => credentialsIn(e.value)))],
      labels: { ...baseLabels, ...UNROUTED_LABELS },
      stores: [],
      dependencies: [],
    };
  });

  const urls: Partial<Record<ServiceName, string>> = {};
  const services: CatalogContainerPlan[] = SERVICE_NAMES.map((name) => {
    const spec = SERVICES[name];
    const override = s.services[name] ?? {};
    const resources = sizeContainer(spec.resources, s.resources.scale, override);
    const host = spec.route && names.publicHost(spec.route.subdomain, s.domain);
    const traefik =
      spec.route &&
      routeLabels({
        service: name,
        env,
        host: host!,
        port: spec.port,
        middlewares: spec.route.middlewares,
        entrypoint: s.traefik.entrypoint,
        certResolver: s.traefik.certResolver,
        network: edgeNetwork,
      });
    const route: Route | undefined = traefik && { host: host!, url: `https://${host}`, router: traefik.router };
    if (route) urls[name] = route.url;
    const ctx: TemplateContext = {
      env,
      alias,
      publicUrl: route?.url,
      edgeSubnet: s.edge === "isolated" ? s.edgeSubnet : undefined,
      memoryMb: resources.memoryMb,
      service: name,
      postgresPool: databases.find((d) => d.service === name)?.pool,
    };
    const templates: Record<string, EnvValue> = {
      ...Object.assign({}, ...spec.stores.map((store) => STORES[store].clientEnv)),
      ...Object.fromEntries(spec.peers.map((peer) => [`${SERVICES[peer].urlVar}_URL`, `http://{alias:${peer}}:${SERVICES[peer].port}`])),
      PORT: String(spec.port),
      ...spec.env,
    };
    const envVars = renderEnv(templates, ctx);
    const { baseLabels, ...rest } = common(spec, "service", resources);
    const release = s.release[name];
    return {
      ...rest,
      rollout: rolloutOf(spec),
      image: release.image,
      release,
      command: (override.command ?? spec.command)?.map((arg) => renderTemplate(arg, ctx)),
      configFiles: renderConfigFiles(spec, ctx),
      networks: [
        { key: "internal" as const, name: networkName("internal"), aliases: [alias(name)] },
        ...spec.stores.map((store) => ({ key: store, name: networkName(store), aliases: [] })),
        ...(route ? [{ key: "edge" as const, name: edgeNetwork, aliases: [] }] : []),
      ],
      env: envVars,
      credentials: [...new Set(envVars.filter((e) => e.secret).flatMap((e) => credentialsIn(e.value)))],
      labels: {
        ...baseLabels,
        [LABELS.imageDigest]: release.image.slice(release.image.indexOf("@") + 1),
        [LABELS.sourceCommit]: release.commit,
        ...(traefik ? traefik.labels : UNROUTED_LABELS),
      },
      stores: [...spec.stores],
      dependencies: [
        ...spec.stores.map((store) => `${alias(store)}:${STORES[store].port}`),
        ...spec.peers.map((peer) => `${alias(peer)}:${SERVICES[peer].port}`),
      ],
      route,
    };
  });

  const containers = [...stores, ...services];
  const backup = s.backup ? planBackup({ ...s, backup: s.backup }, { alias: (store) => alias(store), networkName, volumeName }) : undefined;
  return {
    stack: s.stack,
    env,
    edge: {
      mode: s.edge,
      network: edgeNetwork,
      traefikContainer: s.traefik.container,
      traefikNetwork: s.traefik.network,
      ...(s.edge === "isolated" ? { subnet: s.edgeSubnet } : {}),
    },
    networks,
    volumes,
    containers,
    databases,
    postgresMaxConnections,
    backup,
    urls,
    neighbours: s.host.neighbours,
    totalMemoryMb: containers.reduce((sum, c) => sum + c.resources.memoryMb, 0) + (backup?.resources.memoryMb ?? 0),
    rolloutMemoryMb: containers.filter((c) => c.rollout.strategy === "revisioned").reduce((sum, c) => sum + c.resources.memoryMb, 0),
  };
}
