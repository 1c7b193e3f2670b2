/**
 * The shape of a stack's configuration: what each key means, its default, and
 * what a valid value looks like. Every message here names what was expected,
 * because it is printed as-is to whoever ran `pulumi preview`.
 */
import { z } from "zod";
import { SERVICE_NAMES, STORE_NAMES, VOLUME_KEYS } from "../catalog/types";
import { SUFFIX_PATTERN } from "../model/naming";

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
// A registry host (with optional port) and a repository path, as `docker pull` reads it; no tag or digest.
const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
// Docker's tag grammar.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// Docker's object-name grammar (containers, networks, volumes).
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const LOG_SIZE = /^[1-9][0-9]*[kmg]$/;

const domain = z.string().regex(DOMAIN, { error: "expected a lowercase DNS domain such as qual.portugalodyssey.pt" });
const dockerName = z.string().regex(DOCKER_NAME, { error: "expected a Docker object name: letters, digits, '_', '.', '-'" });
const tag = z.string().regex(TAG, { error: "expected a Docker image tag such as 1.4.2 or main-3f2a9c1 (letters, digits, '_', '.', '-'; at most 128)" });
const memoryMb = z.int({ error: "expected a whole number of MiB" }).min(64, { error: "expected at least 64 MiB" });
const cpus = z.number({ error: "expected a number of CPU cores such as 0.5" }).positive({ error: "expected more than 0 cores" }).max(64);

const resourceOverride = { memoryMb: memoryMb.optional(), cpus: cpus.optional() };

const serviceOverride = z.strictObject({
  /** This service's image tag; wins over `imageTag`. */
  tag: tag.optional(),
  ...resourceOverride,
});

const storeOverride = z.strictObject(resourceOverride);

export const stackConfigSchema = z.strictObject({
  /** Ends every name this stack creates. Defaults to the stack name. */
  suffix: z
    .string()
    .regex(SUFFIX_PATTERN, { error: "expected 2-16 lowercase letters and digits, starting with a letter, no hyphen (e.g. qual)" })
    .optional(),
  /** The domain public hosts hang off: the apex serves public-fo, `cms.`, `api.`, `auth.` the others. */
  domain,
  /** Registry and path every app image is pulled from. */
  registry: z.string().regex(REGISTRY, { error: "expected a registry and repository path such as registry.gitlab.com/portugal-odyssey/platform, without a tag" }),
  /** The default tag of every app image; CI sets it. */
  imageTag: tag,
  /** `isolated`: each stack gets its own edge network, joined by Traefik. `shared`: the Compose deployment's layout, every routed service on the traefik network. */
  edge: z.enum(["isolated", "shared"], { error: "expected isolated or shared" }).default("isolated"),
  traefik: z
    .strictObject({
      /** The existing external network Traefik watches. */
      network: dockerName.default("traefik"),
      /** The existing Traefik container, attached to each isolated edge network. */
      container: dockerName.default("traefik"),
      entrypoint: z.string().regex(/^[A-Za-z0-9_-]+$/, { error: "expected a Traefik entrypoint name such as websecure" }),
      certResolver: z.string().regex(/^[A-Za-z0-9_-]+$/, { error: "expected a Traefik certificate resolver name such as letsencrypt" }),
    }),
  /** Per-service overrides, keyed by catalog name. */
  services: z.record(z.string(), serviceOverride).default({}),
  /** Per-store resource overrides. */
  stores: z.record(z.string(), storeOverride).default({}),
  resources: z
    .strictObject({
      /** Multiplies every catalog memory and CPU default: qual runs smaller than prod. */
      scale: z.number({ error: "expected a number such as 0.5" }).min(0.1, { error: "expected at least 0.1" }).max(4, { error: "expected at most 4" }).default(1),
    })
    .prefault({}),
  logs: z
    .strictObject({
      /** json-file `max-size` of one log file. */
      maxSize: z.string().regex(LOG_SIZE, { error: "expected a size such as 10m (k, m or g)" }).default("10m"),
      /** json-file `max-file`: rotated files kept. */
      maxFile: z.int({ error: "expected a whole number of files" }).min(1).max(20).default(3),
    })
    .prefault({}),
  data: z
    .strictObject({
      /** `protect`: Pulumi refuses to delete or replace the data volumes. */
      protect: z.boolean({ error: "expected true or false" }).default(true),
      /** `retainOnDelete`: a delete leaves the Docker volume on the host. */
      retainOnDelete: z.boolean({ error: "expected true or false" }).default(true),
      /** Existing volumes to take over instead of creating empty ones (e.g. a Compose deployment's). */
      volumes: z.record(z.string(), dockerName).default({}),
    })
    .prefault({}),
  host: z.strictObject({
    /** Memory all stacks on this host (every stack file in the project) may reserve together, MiB. */
    memoryBudgetMb: memoryMb,
    /** Memory kept back for what is not a stack of this project: the webapp, Traefik, the OS. */
    reservedMb: z.int({ error: "expected a whole number of MiB" }).min(0, { error: "expected 0 or more MiB" }).default(0),
    /** Containers we do not own that must keep running (the existing webapp). */
    neighbours: z.array(dockerName).default([]),
  }),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
export type StackConfig = z.output<typeof stackConfigSchema>;

/** Keys of the catalog-keyed maps, checked after parsing so the message can list what is known. */
export const CATALOG_KEYS = {
  services: SERVICE_NAMES,
  stores: STORE_NAMES,
  "data.volumes": VOLUME_KEYS,
} as const;
