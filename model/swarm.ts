/**
 * The environment on Docker Swarm (`runtime: swarm`): how each entry of the
 * plan model/environment.ts computes becomes a swarm service. Pure, like the
 * rest of model/; components/swarm/ renders it, `plan` shows it, config/
 * validates its placement against the nodes' budget.
 *
 * - Stateless services (no volume, not a singleton) run `replicas` tasks,
 *   spread by the scheduler across nodes, and roll out start-first: a new task
 *   turns healthy before an old one stops. A task that fails within the monitor
 *   window rolls the whole service back.
 * - Stores, singletons and the backup run one task, stop-first: two writers
 *   must never share a data directory (or a schema migration). Whatever mounts
 *   a local volume is pinned, by a node label, to the node that holds it.
 * - Every service uses endpoint mode dnsrr: its name resolves to its tasks'
 *   addresses, with no virtual IP. A VIP needs IPVS in the node's kernel
 *   (https://docs.docker.com/engine/swarm/networking/#configure-service-discovery);
 *   Traefik's swarm provider balances over task addresses in dnsrr mode
 *   (traefik pkg/provider/docker/pswarm.go `parseService`, `listTasks`).
 */
import { SERVICES, type ServiceName } from "../catalog/services";
import type { StoreName } from "../catalog/types";
import { BACKUP_WEBHOOK_ENV, type BackupPlan } from "./backup";
import type { CatalogContainerPlan, EnvironmentPlan } from "./environment";
import { swarmNames } from "./naming";
import type { EnvironmentSettings } from "./settings";
import { routeLabels } from "./traefik";

export type SwarmEntry = ServiceName | StoreName | "backup";

/** `docker service update` settings: the provider's `update_config` and `rollback_config`. */
export interface UpdatePolicy {
  parallelism: number;
  /** Between two tasks. */
  delay: string;
  failureAction: "rollback" | "pause" | "continue";
  /** How long a new task is watched for failure before the next one starts. */
  monitor: string;
  /** The provider's type is a string with one decimal, read back formatted `%.1f`. */
  maxFailureRatio: string;
  order: "start-first" | "stop-first";
}

/**
 * How a task reads each secret env var. `file`: the value is a Docker secret
 * mounted at /run/secrets/<NAME> and the env holds `<NAME>_FILE`, which the
 * image turns into the variable (docs/images.md); `env`: the image cannot,
 * and the variable stays in the task's environment, as on the docker runtime.
 */
export type SecretDelivery = { via: "file"; how: string } | { via: "env"; why: string };

const OUR_IMAGE: SecretDelivery = {
  via: "file",
  how: "built by this project's CI with the secret-file shim as its entrypoint: each <NAME>_FILE is exported as <NAME> before the program starts (docs/images.md)",
};

/** Per catalog entry (and the backup): how its image reads a secret; the default is OUR_IMAGE. */
export const SECRET_DELIVERY: Partial<Record<SwarmEntry, SecretDelivery>> = {
  // docker-library/postgres docker-entrypoint.sh: `file_env 'POSTGRES_PASSWORD'` reads POSTGRES_PASSWORD_FILE.
  postgres: { via: "file", how: "the official image's entrypoint reads POSTGRES_PASSWORD_FILE (file_env)" },
  // docker-library/rabbitmq docker-entrypoint.sh lists RABBITMQ_DEFAULT_PASS_FILE in deprecatedEnvVars and exits when it is set.
  rabbitmq: { via: "env", why: "the official image refuses RABBITMQ_DEFAULT_PASS_FILE (deprecatedEnvVars in its entrypoint); RabbitMQ reads RABBITMQ_DEFAULT_PASS" },
  // Our own program, no shell in front of it: backup/cli.ts reads each <NAME>_FILE it knows at start.
  backup: { via: "file", how: "the backup program reads each of its <NAME>_FILE into <NAME> when a `backup` command starts (backup/secret-files.ts)" },
  // The catalog's own redis command and healthcheck read $REDIS_PASSWORD.
  redis: { via: "env", why: "the redis image has no *_FILE convention; the catalog's command and healthcheck read $REDIS_PASSWORD" },
};

export const secretDelivery = (entry: SwarmEntry): SecretDelivery => SECRET_DELIVERY[entry] ?? OUR_IMAGE;

/** Where a secret env var's file is mounted in the task. */
export const secretFile = (envName: string) => `/run/secrets/${envName}`;

export interface SwarmServicePlan {
  entry: SwarmEntry;
  kind: "store" | "service" | "backup";
  /** The service name: the docker runtime's fixed container name. */
  serviceName: string;
  replicas: number;
  /** Why it runs one task, when it must. */
  single?: string;
  /** Swarm placement constraints, e.g. `node.labels.pt.portugalodyssey.stores-qual==true`. */
  constraints: string[];
  update: UpdatePolicy;
  rollback: UpdatePolicy;
  endpointMode: "dnsrr";
  /** The service's labels (Traefik's included, for the swarm provider); the task's container keeps the plan's. */
  serviceLabels: Record<string, string>;
  /** A routed service's router as the swarm provider names it (its definition names `@swarm` middlewares, so its digest differs from the docker one). */
  router?: string;
  /** How long `up` waits for every task to run (the provider's converge_config.timeout). */
  convergeTimeoutSeconds: number;
  memoryMb: number;
  secrets: SecretDelivery;
}

export interface SwarmPlan {
  /** The node label (value `true`) the stores' node carries: their volumes live there. */
  storesNodeLabel: string;
  /** The constraint that pins a task there. */
  storesConstraint: string;
  services: SwarmServicePlan[];
}

/**
 * A task that exits or turns unhealthy within this window after it started
 * fails the update. It starts counting once the task runs, which for a task
 * with a healthcheck is once it is healthy; 30 s catches a crash at first
 * traffic without making a two-replica rollout wait minutes.
 */
const MONITOR_SECONDS = 30;
const DELAY_SECONDS = 5;

export const SWARM_DEFAULTS = { replicas: 2, monitorSeconds: MONITOR_SECONDS, delaySeconds: DELAY_SECONDS } as const;

/** Why an entry must run exactly one task; undefined for a stateless service. */
export function singleReason(c: { kind: string; name: string; volumes: unknown[] }): string | undefined {
  if (c.kind === "store") return "owns a data volume: two tasks must never write it at once";
  if (c.kind === "backup") return "one scheduler per environment, beside the stores' volumes";
  const spec = SERVICES[c.name as ServiceName];
  return spec.singleton ?? (c.volumes.length > 0 ? "owns a volume" : undefined);
}

/** The replicas config asks for an entry (before the one-task rule). */
export const requestedReplicas = (s: Pick<EnvironmentSettings, "swarm">, name: string) =>
  s.swarm?.services?.[name as ServiceName]?.replicas ?? s.swarm?.replicas ?? SWARM_DEFAULTS.replicas;

const policy = (order: UpdatePolicy["order"], failureAction: UpdatePolicy["failureAction"]): UpdatePolicy => ({
  parallelism: 1,
  delay: `${DELAY_SECONDS}s`,
  failureAction,
  monitor: `${MONITOR_SECONDS}s`,
  maxFailureRatio: "0.0",
  order,
});

/** Traefik v3's swarm provider reads `traefik.swarm.*` and names its objects `@swarm` (traefik pkg/provider/docker/shared_labels.go `extractSwarmLabels`, pswarm.go `SwarmName`). */
function swarmRoute(c: CatalogContainerPlan, s: EnvironmentSettings, edgeNetwork: string): { labels: Record<string, string>; router?: string } {
  const spec = SERVICES[c.name as ServiceName];
  if (!c.route || !spec.route) return { labels: c.labels };
  const { labels, router } = routeLabels({
    service: c.name as ServiceName,
    env: s.env,
    host: c.route.host,
    port: c.port,
    middlewares: spec.route.middlewares,
    entrypoint: s.traefik.entrypoint,
    certResolver: s.traefik.certResolver,
    network: edgeNetwork,
    provider: "swarm",
  });
  const ours = Object.fromEntries(Object.entries(c.labels).filter(([k]) => !k.startsWith("traefik.")));
  return { labels: { ...ours, ...labels }, router };
}

export function planSwarm(s: EnvironmentSettings, plan: EnvironmentPlan): SwarmPlan {
  const storesNodeLabel = swarmNames.storesNodeLabel(plan.env);
  const storesConstraint = `node.labels.${storesNodeLabel}==true`;
  const entries: (CatalogContainerPlan | BackupPlan)[] = [...plan.containers, ...(plan.backup ? [plan.backup] : [])];
  const services = entries.map((c): SwarmServicePlan => {
    const single = singleReason(c);
    const replicas = single ? 1 : requestedReplicas(s, c.name);
    // Whatever mounts a local volume runs where that volume is: the stores' node.
    const pinned = c.volumes.length > 0 || c.kind === "backup";
    const order = single ? "stop-first" : "start-first";
    const healthWindow = c.waitTimeoutSeconds ?? 0;
    const route = c.kind === "backup" ? { labels: c.labels } : swarmRoute(c as CatalogContainerPlan, s, plan.edge.network);
    return {
      entry: c.name,
      kind: c.kind,
      serviceName: c.containerName,
      replicas,
      ...(single ? { single } : {}),
      constraints: pinned ? [storesConstraint] : [],
      update: policy(order, "rollback"),
      // A rollback that fails too is left for a person: pausing keeps what still runs.
      rollback: policy(order, "pause"),
      endpointMode: "dnsrr",
      serviceLabels: route.labels,
      ...(route.router ? { router: route.router } : {}),
      // Each task in turn: its health window, the monitor window and the delay; plus one more for a rollback.
      convergeTimeoutSeconds: (replicas + 1) * (healthWindow + MONITOR_SECONDS + DELAY_SECONDS),
      memoryMb: c.resources.memoryMb,
      secrets: secretDelivery(c.name),
    };
  });
  return { storesNodeLabel, storesConstraint, services };
}

/** One stack's tasks for the placement check: what must sit on the stores' node, and what may go anywhere. */
export interface SwarmLoad {
  stack: string;
  /** Memory of the tasks pinned to the stores' node. */
  pinnedMb: number;
  /** Every other task, one entry per replica. */
  tasks: { name: string; memoryMb: number }[];
  /** What a start-first rollout adds at most at once: one extra task of its largest start-first service. */
  rolloutMb: number;
}

export function swarmLoad(stack: string, swarm: SwarmPlan): SwarmLoad {
  const pinned = swarm.services.filter((t) => t.constraints.includes(swarm.storesConstraint));
  const free = swarm.services.filter((t) => !t.constraints.includes(swarm.storesConstraint));
  return {
    stack,
    pinnedMb: pinned.reduce((sum, t) => sum + t.memoryMb * t.replicas, 0),
    tasks: free.flatMap((t) => Array.from({ length: t.replicas }, (_, i) => ({ name: `${t.serviceName}.${i + 1}`, memoryMb: t.memoryMb }))),
    rolloutMb: Math.max(0, ...swarm.services.filter((t) => t.update.order === "start-first").map((t) => t.memoryMb)),
  };
}

/**
 * Whether every stack's tasks fit on `nodes` nodes of `budgetMb` each (less
 * `reservedMb` per node): the pinned tasks on the first node, the others
 * first-fit in decreasing size (a greedy packing the scheduler can match, as
 * it spreads to the least loaded node), plus room for the largest rollout
 * overlap. Returns what does not fit, or undefined.
 */
export function placementProblem(loads: SwarmLoad[], nodes: number, budgetMb: number, reservedMb: number): string | undefined {
  const room = budgetMb - reservedMb;
  const used = Array.from({ length: nodes }, () => 0);
  used[0] = loads.reduce((sum, l) => sum + l.pinnedMb, 0);
  if (used[0] > room) {
    return `the stores' node would hold ${used[0]} MiB of pinned tasks (${loads.map((l) => `${l.stack}: ${l.pinnedMb}`).join(", ")}), over its ${room} MiB`;
  }
  const overlap = Math.max(0, ...loads.map((l) => l.rolloutMb));
  const tasks = [...loads.flatMap((l) => l.tasks), { name: "the largest rollout overlap", memoryMb: overlap }].sort((a, b) => b.memoryMb - a.memoryMb);
  for (const task of tasks) {
    const node = used.findIndex((u) => u + task.memoryMb <= room);
    if (node < 0) {
      return `${task.name} (${task.memoryMb} MiB) fits on no node: the ${nodes} node(s) would hold ${used.join(", ")} MiB of ${room} MiB each`;
    }
    used[node] += task.memoryMb;
  }
  return undefined;
}

/** The secret variables the swarm gives one entry as files only: its plan's, and the backup's optional webhook. */
export function fileDeliveredSecrets(plan: EnvironmentPlan, swarm: SwarmPlan): { entry: SwarmEntry; variables: string[] }[] {
  const entries: (CatalogContainerPlan | BackupPlan)[] = [...plan.containers, ...(plan.backup ? [plan.backup] : [])];
  return swarm.services
    .filter((t) => t.secrets.via === "file")
    .map((t) => {
      const entry = entries.find((c) => c.name === t.entry)!;
      const variables = entry.env.filter((v) => v.secret).map((v) => v.name);
      return { entry: t.entry, variables: entry.kind === "backup" ? [...variables, BACKUP_WEBHOOK_ENV] : variables };
    });
}

/** Where an entry's own command, healthcheck or config file reads, by name, a secret the swarm gives it as a file only. */
export interface FileSecretReader {
  entry: SwarmEntry;
  where: "command" | "healthcheck" | `config file ${string}`;
  variable: string;
}

/** A shell's `$NAME` / `${NAME…}`, `printenv NAME`, Node's `process.env.NAME` / `process.env["NAME"]`. */
const readsVariable = (text: string, variable: string) => {
  const name = variable.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const end = "(?![A-Za-z0-9_])";
  return new RegExp(`\\$\\{?${name}${end}|printenv\\s+${name}${end}|process\\.env(\\.${name}${end}|\\[\\s*["'\`]${name}["'\`]\\s*\\])`).test(text);
};

/**
 * On a swarm, a variable delivered as a file is unset in the task: only `<NAME>_FILE` is. What turns it
 * back into `<NAME>` runs inside the image's program, so nothing else sees it: a healthcheck is an exec
 * of its own (moby daemon/health.go cmdProbe: the test's argv, not the entrypoint), a command need not
 * pass through the part of the entrypoint that reads the file (postgres' file_env runs only when it
 * starts postgres), and a config file is never expanded. Any such read is a task that breaks on a swarm.
 */
export function fileSecretReaders(plan: EnvironmentPlan, swarm: SwarmPlan): FileSecretReader[] {
  const entries: (CatalogContainerPlan | BackupPlan)[] = [...plan.containers, ...(plan.backup ? [plan.backup] : [])];
  return fileDeliveredSecrets(plan, swarm).flatMap(({ entry, variables }) => {
    const c = entries.find((x) => x.name === entry)!;
    const texts: [FileSecretReader["where"], string][] = [
      ...(c.command ?? []).map((arg): [FileSecretReader["where"], string] => ["command", arg]),
      ...c.healthcheck.tests.map((arg): [FileSecretReader["where"], string] => ["healthcheck", arg]),
      ...(c.configFiles ?? []).map((f): [FileSecretReader["where"], string] => [`config file ${f.path}`, f.content]),
    ];
    return variables.flatMap((variable) => [...new Set(texts.filter(([, text]) => readsVariable(text, variable)).map(([where]) => where))].map((where) => ({ entry, where, variable })));
  });
}
