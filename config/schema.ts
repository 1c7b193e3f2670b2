/**
 * The shape of a stack's configuration: what each key means, its default, and
 * what a valid value looks like. Every message here names what was expected,
 * because it is printed as-is to whoever ran `pulumi preview`.
 */
import { cpusReadBack, cpusSurviveReadBack } from "../model/read-back";
import { z } from "zod";
import { SERVICE_NAMES } from "../catalog/services";
import { STORE_NAMES, VOLUME_KEYS } from "../catalog/types";
import { SUFFIX_PATTERN } from "../model/naming";
import { edgeSubnetProblem } from "../model/subnets";

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// A registry host (with optional port) and a repository path, as `docker pull` reads it; no tag or digest.
const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
// Docker's object-name grammar (containers, networks, volumes).
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const LOG_SIZE = /^[1-9][0-9]*[kmg]$/;

const domain = z.string().regex(DOMAIN, { error: "expected a lowercase DNS domain such as qual.portugalodyssey.pt" });
const dockerName = z.string().regex(DOCKER_NAME, { error: "expected a Docker object name: letters, digits, '_', '.', '-'" });
const memoryMb = z.int({ error: "expected a whole number of MiB" }).min(64, { error: "expected at least 64 MiB" });
const cpus = z
  .number({ error: "expected a number of CPU cores such as 0.5" })
  .positive({ error: "expected more than 0 cores" })
  .max(64)
  // Sent as ForceNew `cpus`: a value the provider stores differently would replace the container on every `up`.
  .refine(cpusSurviveReadBack, {
    error: (issue) =>
      `expected a number of cores the docker provider reads back unchanged; it stores ${String(issue.input)} as "${cpusReadBack(issue.input as number)}", ` +
      `which would replace the container on every up. Use ${Math.max(0.1, Math.round((issue.input as number) * 10) / 10)} instead: ` +
      `one decimal always reads back unchanged; two do unless the first is 0 on 0, 10, 20… cores (0.05 and 10.05 do not)`,
  });

const resourceOverride = {
  memoryMb: memoryMb
    .optional()
    .meta({ description: "Memory limit in MiB, instead of the catalog default times `resources.scale`. Applied in place: swap is off, so any raise takes effect." }),
  cpus: cpus.optional().meta({
    description:
      "CPU cores, instead of the catalog default times `resources.scale`: a value the docker provider reads back unchanged (one decimal, or two unless the first is 0 on 0, 10, 20… cores: not 0.05 or 10.05). A change replaces the container (the provider cannot update CPUs in place): delete-first, a short outage, for fixed-name containers; on prod the data-safety gate blocks it for a store.",
  }),
};

// Images are not config: each stack's release manifest (releases/<stack>.yaml) pins them by digest.
const serviceOverride = z.strictObject({
  command: z
    .array(z.string().min(1, { error: "expected no empty argument" }), { error: 'expected a list of arguments such as ["start", "--optimized"]' })
    .min(1, { error: "expected at least one argument; remove the key to use the catalog's command" })
    .optional()
    .meta({ description: "Arguments to the image's entrypoint, instead of the catalog's command, e.g. `[start, --optimized]` for a Keycloak image built optimized." }),
  ...resourceOverride,
});

const storeOverride = z.strictObject(resourceOverride);

/**
 * A restic repository: a backend prefix (https://restic.readthedocs.io/en/v0.14.0/030_preparing_a_new_repo.html)
 * or an absolute path on the host (a local repository: allowed, with a warning that it is not off-site).
 */
const RESTIC_REPOSITORY = /^(?:(?:s3|b2|azure|gs|swift|sftp|rest|rclone):\S+|\/\S+)$/;
const DAILY_TIME = /^(?:[01][0-9]|2[0-3]):[0-5][0-9]$/;
const keep = (what: string, fallback: number) =>
  z.int({ error: `expected a whole number of ${what} backups to keep` }).min(0, { error: "expected 0 or more" }).max(1000).default(fallback);

export const backupSchema = z.strictObject({
  repository: z
    .string()
    .regex(RESTIC_REPOSITORY, {
      error: "expected a restic repository location such as s3:https://s3.example.com/bucket, sftp:backup@host:/srv/restic, or an absolute path for a local one",
    })
    .meta({
      description:
        "Where the restic repositories live; each environment's is `<repository>/<suffix>`, so none shares another's. An absolute path is a local repository on the host: accepted with a warning that it is not off-site (docs/backups.md).",
    }),
  retention: z
    .strictObject({
      daily: keep("daily", 7).meta({ description: "Daily backups kept (`restic forget --keep-daily`)." }),
      weekly: keep("weekly", 4).meta({ description: "Weekly backups kept (`--keep-weekly`)." }),
      monthly: keep("monthly", 6).meta({ description: "Monthly backups kept (`--keep-monthly`)." }),
    })
    .prefault({}),
  rpoHours: z
    .number({ error: "expected a number of hours such as 26" })
    .min(1, { error: "expected at least 1 hour" })
    .max(24 * 14)
    .default(26)
    .meta({ description: "Recovery point objective, hours: a newest complete backup older than this fails the restore drill." }),
  schedule: z
    .string()
    .regex(DAILY_TIME, { error: "expected a UTC time of day as HH:MM, such as 02:30" })
    .default("02:30")
    .meta({ description: "When the backup container runs the nightly backup, `HH:MM` UTC." }),
  checkDay: z
    .enum(["sun", "mon", "tue", "wed", "thu", "fri", "sat"], { error: "expected a weekday: sun, mon, ... sat" })
    .default("sun")
    .meta({ description: "Day of the weekly `restic check --read-data-subset`, after that night's backup." }),
  checkSubset: z
    .string()
    .regex(/^(?:[1-9][0-9]?(?:\.[0-9]+)?%|[1-9][0-9]*\/[1-9][0-9]*)$/, { error: "expected a percentage such as 10% or a fraction n/m such as 1/7" })
    .default("10%")
    .meta({ description: "How much of the repository's data the weekly check reads back (`--read-data-subset`)." }),
  memoryMb: memoryMb.default(256).meta({ description: "The backup container's memory limit, MiB; the host budget counts it." }),
});

/** A map keyed by catalog names; `title` names the key in the generated reference (`services.<service>.memoryMb`). */
const catalogKey = (title: string) => z.string().meta({ title });

const replicas = z.int({ error: "expected a whole number of replicas" }).min(1, { error: "expected at least 1" }).max(32, { error: "expected at most 32" });

/** Read with `runtime: swarm` only (docs/swarm.md); a `docker` stack ignores it. */
const swarmSchema = z.strictObject({
  nodes: z
    .int({ error: "expected a whole number of nodes" })
    .min(1, { error: "expected at least 1" })
    .max(64)
    .optional()
    .meta({
      description:
        "Required with `runtime: swarm`: how many nodes the swarm has, each with `host.memoryBudgetMb` (less `host.reservedMb`) for the stacks; validation refuses a placement of every stack's tasks that cannot fit them.",
    }),
  replicas: replicas.default(2).meta({
    description:
      "Tasks of every stateless service (no volume, not a singleton), spread across nodes; stores, singletons and the backup always run one. Two survive the loss of a node and roll out start-first.",
  }),
  services: z
    .record(catalogKey("service"), z.strictObject({ replicas: replicas.optional().meta({ description: "This service's tasks, instead of `swarm.replicas`; only a stateless service may have more than one." }) }))
    .default({})
    .meta({ description: "Per-service swarm settings, keyed by catalog service name." }),
});

/**
 * Every key carries its description: docs/configuration.md is generated from
 * this schema (`npm run docs`), and a test fails while a key has none.
 */
export const stackConfigSchema = z.strictObject({
  suffix: z
    .string()
    .regex(SUFFIX_PATTERN, { error: "expected 2-16 lowercase letters and digits, starting with a letter, no hyphen (e.g. qual)" })
    .optional()
    .meta({
      description:
        "Ends every name this stack creates (`po-postgres-<suffix>`, …): 2-16 lowercase letters and digits, starting with a letter, no hyphen. Defaults to the stack name. Must differ from every other stack file's.",
    }),
  domain: domain.meta({
    description:
      "The domain the routed services' public hosts hang off: the apex, or `<subdomain>.<domain>` as the catalog's route says. No Host rule may overlap another stack file's.",
  }),
  registry: z
    .string()
    .regex(REGISTRY, { error: "expected a registry and repository path such as registry.gitlab.com/portugal-odyssey/platform, without a tag" })
    .meta({ description: "Registry and repository path every app image is pulled from, without a tag." }),
  keepReleases: z
    .int({ error: "expected a whole number of releases" })
    .min(1, { error: "expected at least 1" })
    .max(50, { error: "expected at most 50" })
    .default(3)
    .meta({
      description:
        "Releases per service whose images `npm run prune-images` keeps on the host for this stack (besides every image a container uses), so a rollback works while the registry is unreachable. App images themselves are pinned in releases/<stack>.yaml (docs/releases.md).",
    }),
  edge: z
    .enum(["isolated", "shared"], { error: "expected isolated or shared" })
    .default("isolated")
    .meta({
      description:
        "`isolated`: the stack gets its own edge network, and Traefik is attached to it. `shared`: the Compose deployment's layout, every routed service on the traefik network. See docs/traefik.md.",
    }),
  edgeSubnet: z
    .string({ error: "expected a private IPv4 network in CIDR notation such as 172.16.101.0/24" })
    .check((ctx) => {
      const problem = edgeSubnetProblem(ctx.value);
      if (problem) {
        ctx.issues.push({
          code: "custom",
          input: ctx.value,
          message: `expected a private IPv4 network in CIDR notation, /16 to /28, such as 172.16.101.0/24 (${problem})`,
        });
      }
    })
    .optional()
    .meta({
      description:
        "Required with `edge: isolated`: the subnet pinned on `po-edge-<suffix>`, which Keycloak trusts proxy headers from (`KC_PROXY_TRUSTED_ADDRESSES`). A private IPv4 CIDR, /16 to /28, overlapping no other stack file's and no network on the host. Ignored in shared mode, where the traefik network's own subnet is looked up. See docs/traefik.md.",
    }),
  traefik: z.strictObject({
    network: dockerName.default("traefik").meta({ description: "The existing external network Traefik watches; looked up, never created or changed." }),
    container: dockerName.default("traefik").meta({ description: "The existing Traefik container, attached to each isolated edge network." }),
    entrypoint: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { error: "expected a Traefik entrypoint name such as websecure" })
      .meta({ description: "The Traefik entrypoint every router listens on." }),
    certResolver: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { error: "expected a Traefik certificate resolver name such as letsencrypt" })
      .meta({ description: "The Traefik certificate resolver every router's TLS uses." }),
  }),
  services: z.record(catalogKey("service"), serviceOverride).default({}),
  stores: z.record(catalogKey("store"), storeOverride).default({}),
  resources: z
    .strictObject({
      scale: z
        .number({ error: "expected a number such as 0.5" })
        .min(0.1, { error: "expected at least 0.1" })
        .max(4, { error: "expected at most 4" })
        .default(1)
        .meta({
          description:
            "Multiplies every catalog memory and CPU default. A change alters every container's CPUs, so it replaces every container; on prod the data-safety gate blocks that for the stores.",
        }),
    })
    .prefault({}),
  logs: z
    .strictObject({
      maxSize: z
        .string()
        .regex(LOG_SIZE, { error: "expected a size such as 10m (k, m or g)" })
        .default("10m")
        .meta({ description: "json-file `max-size` of one log file of every container (k, m or g)." }),
      maxFile: z
        .int({ error: "expected a whole number of files" })
        .min(1)
        .max(20)
        .default(3)
        .meta({ description: "json-file `max-file`: rotated log files kept per container." }),
    })
    .prefault({}),
  data: z
    .strictObject({
      protect: z
        .boolean({ error: "expected true or false" })
        .default(true)
        .meta({ description: "`protect` the data volumes: Pulumi refuses to delete or replace them." }),
      retainOnDelete: z
        .boolean({ error: "expected true or false" })
        .default(true)
        .meta({ description: "`retainOnDelete`: a delete leaves the Docker volume on the host." }),
      volumes: z
        .record(catalogKey("volume"), dockerName)
        .default({})
        .meta({
          description:
            "An existing volume to take over instead of creating `<volume>-<suffix>`, e.g. the Compose deployment's (docs/migrating-from-compose.md). Always protected and retained.",
        }),
      postgresDataAtVolumeRoot: z
        .boolean({ error: "expected true or false" })
        .default(false)
        .meta({
          description:
            "PGDATA is the postgres-data volume's root instead of its `pgdata/` subdirectory: for a taken-over volume whose cluster sits at its root (the postgres image's default PGDATA). `up` refuses a taken-over volume whose layout does not match (docs/images.md).",
        }),
      rabbitmqHostname: z
        .string()
        .regex(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, { error: "expected a hostname without dots, such as rabbitmq (the host part of the old node name rabbit@<host>)" })
        .optional()
        .meta({
          description:
            "RabbitMQ's hostname, hence its node name `rabbit@<hostname>`, instead of `rabbitmq-<suffix>`: for a taken-over volume whose data is under another node name (docs/images.md).",
        }),
    })
    .prefault({}),
  /** Nightly, encrypted backups of this environment's data: see docs/backups.md. */
  backup: backupSchema.optional(),
  host: z.strictObject({
    memoryBudgetMb: memoryMb.meta({
      description:
        "Memory all stacks on this host may reserve together, MiB: the memory limits of every container of every stack file, plus `host.reservedMb`, plus the largest rollout overlap (both revisions of each zero-downtime service run during a rollout) must fit.",
    }),
    reservedMb: z
      .int({ error: "expected a whole number of MiB" })
      .min(0, { error: "expected 0 or more MiB" })
      .default(0)
      .meta({ description: "Memory kept back, MiB, for what is not a stack of this project: Traefik, the webapp, the OS." }),
    neighbours: z
      .array(dockerName)
      .default([])
      .meta({ description: "Containers we do not own that must keep running (the webapp); `verify` checks them." }),
  }),
  runtime: z
    .enum(["docker", "swarm"], { error: "expected docker or swarm" })
    .default("docker")
    .meta({
      description:
        "`docker`: containers on the one host `DOCKER_HOST` names. `swarm`: services on the Docker Swarm whose manager `DOCKER_HOST` names (`ssh://` included); `host.memoryBudgetMb` is then each node's budget. See docs/swarm.md.",
    }),
  swarm: swarmSchema.prefault({}),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
export type StackConfig = z.output<typeof stackConfigSchema>;

/**
 * The registry login the Docker provider pulls the app images with (a GitLab
 * deploy token with read_registry): config secrets, required on every stack.
 */
export const REGISTRY_SECRETS = ["registryUsername", "registryPassword"] as const;
export type RegistrySecret = (typeof REGISTRY_SECRETS)[number];

/** Keys of the catalog-keyed maps, checked after parsing so the message can list what is known. */
export const CATALOG_KEYS = {
  services: SERVICE_NAMES,
  stores: STORE_NAMES,
  "data.volumes": VOLUME_KEYS,
  "swarm.services": SERVICE_NAMES,
} as const;
