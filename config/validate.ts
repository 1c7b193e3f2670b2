/**
 * The one place stack config is validated. Pure: it takes the raw key/value
 * pairs Pulumi hands the program and returns either the stack's settings (what
 * the model plans from) or every problem at once, each with its key path, what
 * was expected and how to fix it.
 */
import type { z } from "zod";
import { SERVICES } from "../catalog/services";
import { SERVICE_NAMES, type ServiceName } from "../catalog/services";
import { STORES } from "../catalog/stores";
import { BACKUP_SECRETS, EXTERNAL_SECRETS, GENERATED_CREDENTIALS, type Credential, type ExternalSecret } from "../catalog/types";
import { databaseCredentials } from "../model/databases";
import { parseImageReference } from "../model/image-ref";
import { planEnvironment } from "../model/environment";
import { PROJECT, SUFFIX_PATTERN, names } from "../model/naming";
import { subnetsOverlap } from "../model/subnets";
import { fileSecretReaders, placementProblem, planSwarm, secretFile, singleReason, swarmLoad, type FileSecretReader, type SwarmLoad } from "../model/swarm";
import { credentialsIn } from "../model/templates";
import { BACKUP_IMAGE, releaseFileName, releaseManifestSchema, type ReleaseEntry } from "./release";
import { CATALOG_KEYS, REGISTRY_SECRETS, type RegistrySecret, stackConfigSchema, type StackConfig } from "./schema";

export interface ConfigProblem {
  /** The config key path, e.g. `portugal-odyssey:services.booking-service.memoryMb`, or a manifest path `releases/qual.yaml: services.booking-service.image`. */
  path: string;
  message: string;
}

export interface RawConfig {
  /** Values as Pulumi passes them: `namespace:key` → string (objects and lists JSON-encoded). */
  values: Record<string, string>;
  /** Keys whose value was set with `--secret`. */
  secretKeys: ReadonlySet<string>;
  /** The other stacks on the host (every other stack file in the project), engine-encoded like `values`. */
  otherStacks?: Record<string, Record<string, string>>;
  /** The stack's release manifest (releases/<stack>.yaml) as parsed YAML; undefined when the file is missing. */
  release: unknown;
}

/** One stack's parsed config with its name, resolved suffix and release manifest: what planEnvironment takes. */
export type StackSettings = StackConfig & { stack: string; env: string; release: Record<ServiceName, ReleaseEntry>; backupRelease?: ReleaseEntry };

export type ValidationResult =
  | { ok: true; settings: StackSettings; secretsFromConfig: Credential[]; warnings: ConfigProblem[] }
  | { ok: false; problems: ConfigProblem[] };

const DATABASE_PASSWORDS: readonly string[] = databaseCredentials();
const SECRET_KEYS: readonly string[] = [...GENERATED_CREDENTIALS, ...EXTERNAL_SECRETS, ...DATABASE_PASSWORDS, ...BACKUP_SECRETS, ...REGISTRY_SECRETS];
// The program sends Postgres a SCRAM verifier of the password's bytes; Postgres SASLpreps a login's
// password first, which leaves printable ASCII as it is and could change anything else.
const SCRAM_SAFE_PASSWORD = /^[\x21-\x7e]+$/;
const key = (path: string) => `${PROJECT}:${path}`;

/** The object store's keys an `s3:` backup repository needs. */
export const S3_SECRETS = ["backupAccessKeyId", "backupSecretAccessKey"] as const;

/** External secrets some catalog entry's env names: each must be set. */
export const requiredExternalSecrets = (): ExternalSecret[] =>
  [
    ...new Set(
      Object.values(SERVICES).flatMap((spec) =>
        Object.values(spec.env).flatMap((v) => (typeof v === "string" ? [] : credentialsIn(v.secret))),
      ),
    ),
  ].filter((c): c is ExternalSecret => (EXTERNAL_SECRETS as readonly string[]).includes(c));

/**
 * Every secret a stack of the committed config must set: the external ones, the
 * backup container's (its location is s3:) and the registry login. What tooling gives placeholders
 * or notes for; validation asks for the backup ones only when backups are set.
 */
export const secretsToSet = (): (Credential | RegistrySecret)[] => [...requiredExternalSecrets(), "resticPassword", ...S3_SECRETS, ...REGISTRY_SECRETS];

function parseValue(raw: string): unknown {
  if (!/^\s*[[{]/.test(raw)) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const valueAt = (input: unknown, path: PropertyKey[]) =>
  path.reduce<unknown>((node, part) => (node as Record<PropertyKey, unknown> | undefined)?.[part], input);

function describeZodIssue(issue: z.core.$ZodIssue, input: Record<string, unknown>): ConfigProblem[] {
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({
      path: key(path ? `${path}.${k}` : k),
      message: "unknown key; remove it or check its spelling against the config reference in docs/configuration.md",
    }));
  }
  if (issue.code === "invalid_type" && valueAt(input, issue.path) === undefined) {
    return [{ path: key(path), message: `required; ${issue.message.replace(/^Invalid input: /, "")}` }];
  }
  return [{ path: key(path), message: issue.message }];
}

/** The non-secret project keys of a stack's config, JSON values decoded: what the schema parses. */
function schemaInput(values: Record<string, string>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [fullKey, value] of Object.entries(values)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const name = fullKey.slice(PROJECT.length + 1);
    if (!SECRET_KEYS.includes(name)) input[name] = parseValue(value);
  }
  return input;
}

export function validateStackConfig(stack: string, raw: RawConfig): ValidationResult {
  const problems: ConfigProblem[] = [];
  const secretsFromConfig: Credential[] = [];

  for (const [fullKey, value] of Object.entries(raw.values)) {
    const name = fullKey.slice(PROJECT.length + 1);
    if (!fullKey.startsWith(`${PROJECT}:`) || !SECRET_KEYS.includes(name)) continue;
    if (!raw.secretKeys.has(fullKey)) {
      problems.push({
        path: fullKey,
        message: `holds a credential in plain text; remove it from Pulumi.${stack}.yaml and run: pulumi config set --secret ${name} --stack ${stack}`,
      });
    } else if (value.length === 0) {
      problems.push({ path: fullKey, message: `is empty; run: pulumi config set --secret ${name} --stack ${stack}` });
    } else if (DATABASE_PASSWORDS.includes(name) && !SCRAM_SAFE_PASSWORD.test(value)) {
      problems.push({
        path: fullKey,
        message: `expected printable ASCII without spaces (a database password is hashed as SCRAM-SHA-256 before Postgres sees it); set another with: pulumi config set --secret ${name} --stack ${stack}`,
      });
    } else if (!(REGISTRY_SECRETS as readonly string[]).includes(name)) {
      secretsFromConfig.push(name as Credential);
    }
  }

  for (const secret of [...requiredExternalSecrets(), ...REGISTRY_SECRETS]) {
    if (!(`${PROJECT}:${secret}` in raw.values)) {
      problems.push({
        path: key(secret),
        message: `required secret is not set; run: pulumi config set --secret ${secret} --stack ${stack}`,
      });
    }
  }

  const input = schemaInput(raw.values);
  problems.push(...unknownCatalogNames(input));
  const parsed = stackConfigSchema.safeParse(input);
  if (!parsed.success) problems.push(...parsed.error.issues.flatMap((issue) => describeZodIssue(issue, input)));

  // The checks against the other stacks need only the suffix and the domain, so they run whenever
  // those two are valid: one run then lists their problems beside any other.
  const suffix = stackConfigSchema.shape.suffix.safeParse(input.suffix);
  const domain = stackConfigSchema.shape.domain.safeParse(input.domain);
  const env = (suffix.success ? suffix.data : undefined) ?? stack;
  if (suffix.success && suffix.data === undefined && !SUFFIX_PATTERN.test(stack)) {
    problems.push({
      path: key("suffix"),
      message: `the stack name "${stack}" cannot be used as the suffix (expected 2-16 lowercase letters and digits, no hyphen); set one: pulumi config set suffix <word> --stack ${stack}`,
    });
  }
  const others = Object.entries(raw.otherStacks ?? {}).map(([other, values]) => describeOtherStack(other, values));
  problems.push(...others.flatMap((o) => ("problem" in o ? [o.problem] : [])));
  const neighbours = others.flatMap((o) => ("problem" in o ? [] : [o]));
  if (suffix.success && domain.success) problems.push(...checkSharedNames(env, domain.data, neighbours));
  const registry = stackConfigSchema.shape.registry.safeParse(input.registry);
  const release = checkRelease(stack, raw.release, registry.success ? registry.data : undefined, input.backup !== undefined && input.backup !== null);
  problems.push(...release.problems);
  if (!parsed.success || !release.entries) return { ok: false, problems };

  problems.push(...memoryFloors(parsed.data));
  const settings: StackSettings = { ...parsed.data, stack, env, release: release.entries, ...(release.backup ? { backupRelease: release.backup } : {}) };
  // The budget counts what the plan reserves, so validation plans too; the program plans on its own.
  problems.push(...checkBackup(stack, parsed.data.backup?.repository, raw));
  const plan = planEnvironment(settings);
  const me: HostStack = {
    stack,
    env,
    domain: parsed.data.domain,
    memoryMb: plan.totalMemoryMb,
    rolloutMb: plan.rolloutMemoryMb,
    edgeSubnet: plan.edge.subnet,
    ...swarmOf(stack, settings, plan),
  };
  problems.push(...checkEdgeSubnet(me, parsed.data.edge, neighbours));
  // A swarm stack's budget is per node, shared with the other swarm stacks; the single host's is shared by the docker ones.
  problems.push(...(me.swarm ? checkSwarm(me, parsed.data, neighbours) : checkMemoryBudget(me, neighbours.filter((o) => !o.swarm), parsed.data.host)));
  if (settings.runtime === "swarm") problems.push(...checkFileSecretReaders(parsed.data, fileSecretReaders(plan, planSwarm(settings, plan))));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, settings, secretsFromConfig, warnings: backupWarnings(parsed.data.backup?.repository) };
}

/** An `s3:` repository needs its keys; a failure webhook must be a URL. Each environment's repository is its own by construction (naming.ts). */
function checkBackup(stack: string, repository: string | undefined, raw: RawConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (repository === undefined) return problems;
  const needed = ["resticPassword", ...(repository.startsWith("s3:") ? S3_SECRETS : [])];
  for (const secret of needed.filter((s) => !(key(s) in raw.values))) {
    problems.push({ path: key(secret), message: `required by the backup config${secret === "resticPassword" ? "" : " (an s3: repository)"}; run: pulumi config set --secret ${secret} --stack ${stack}` });
  }
  const webhook = raw.values[key("backupWebhookUrl")];
  // The value is a secret: the message says what is wrong with it, never what it is.
  if (webhook && !/^https?:\/\/[^\s]+$/.test(webhook)) {
    problems.push({ path: key("backupWebhookUrl"), message: `expected an http(s) URL; run: pulumi config set --secret backupWebhookUrl --stack ${stack}` });
  }
  return problems;
}

/** The environments (from `candidates`) a repository location names as a path segment. */
export function repositoryEnvironments(repository: string, candidates: string[]): string[] {
  const segments = new Set(repository.split(/[/:@]/));
  return [...new Set(candidates)].filter((env) => segments.has(env));
}

function backupWarnings(repository: string | undefined): ConfigProblem[] {
  if (repository === undefined) {
    return [{ path: key("backup"), message: "not set: this environment is not backed up; set backup.repository (docs/backups.md)" }];
  }
  if (!repository.startsWith("/")) return [];
  return [
    {
      path: key("backup.repository"),
      message: `"${repository}" is a local repository: it is on this host, not off-site, so it survives a bad migration or a DROP TABLE but not the loss of the host or its disk. Use an s3:, sftp: or rest: repository for production`,
    },
  ];
}

/** A memory override below the catalog's floor would be OOM-killed at boot: refused, naming the floor. */
function memoryFloors(config: { services: Record<string, { memoryMb?: number }>; stores: Record<string, { memoryMb?: number }> }): ConfigProblem[] {
  const catalog: [string, Record<string, { resources: { minMemoryMb?: number } }>][] = [
    ["services", SERVICES],
    ["stores", STORES],
  ];
  return catalog.flatMap(([group, entries]) =>
    Object.entries(config[group as "services" | "stores"]).flatMap(([name, override]) => {
      const floor = entries[name]?.resources.minMemoryMb;
      if (override.memoryMb === undefined || floor === undefined || override.memoryMb >= floor) return [];
      return [
        {
          path: key(`${group}.${name}.memoryMb`),
          message: `${override.memoryMb} MiB is below the ${floor} MiB ${name} needs to start (see its catalog entry); set at least ${floor} or remove the key`,
        },
      ];
    }),
  );
}

/** The command that pins one service (or, with no service, every service) in a stack's manifest. */
export const releaseCommand = (stack: string, service?: string) =>
  `npm run release -- --stack ${stack} ${service ? `--service ${service}` : "--all"} --tag <tag> --commit <sha> --pipeline <url>`;

/**
 * Every app service must be pinned by digest, in the repository config and
 * catalog name: anything else could run something other than what was built.
 */
function checkRelease(
  stack: string,
  raw: unknown,
  registry: string | undefined,
  withBackup: boolean,
): { problems: ConfigProblem[]; entries?: Record<ServiceName, ReleaseEntry>; backup?: ReleaseEntry } {
  const file = releaseFileName(stack);
  const at = (path: string) => `${file}: ${path}`;
  if (raw === undefined) {
    return { problems: [{ path: file, message: `missing; every stack needs its release manifest. Create it with: ${releaseCommand(stack)}` }] };
  }
  const parsed = releaseManifestSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.flatMap((issue) =>
        issue.code === "unrecognized_keys"
          ? issue.keys.map((k) => ({ path: at([...issue.path, k].join(".")), message: "unknown key; a manifest entry has image, commit and pipeline" }))
          : [{ path: at(issue.path.join(".") || "(top level)"), message: issue.message }],
      ),
    };
  }
  const services = parsed.data.services;
  const problems: ConfigProblem[] = Object.keys(services)
    .filter((name) => !(SERVICE_NAMES as readonly string[]).includes(name))
    .map((name) => ({ path: at(`services.${name}`), message: `unknown service "${name}"; expected one of: ${SERVICE_NAMES.join(", ")}` }));
  const missing = SERVICE_NAMES.filter((name) => !(name in services));
  if (missing.length === SERVICE_NAMES.length) {
    problems.push({
      path: file,
      message: `pins no app image yet (a fresh project's manifest is empty); pin every service before the first up: ${releaseCommand(stack)}${withBackup ? `, and the backup image: ${releaseCommand(stack, BACKUP_IMAGE)}` : ""}`,
    });
    return { problems };
  }
  for (const name of missing) problems.push({ path: at(`services.${name}`), message: `not pinned; run: ${releaseCommand(stack, name)}` });
  const pinned: [string, string, string][] = SERVICE_NAMES.filter((n) => n in services).map((n) => [n, `services.${n}.image`, services[n].image]);
  if (parsed.data.backup) pinned.push([BACKUP_IMAGE, "backup.image", parsed.data.backup.image]);
  else if (withBackup) problems.push({ path: at("backup"), message: `not pinned, and the stack has backup config; run: ${releaseCommand(stack, BACKUP_IMAGE)}` });
  for (const [name, path, image] of pinned) {
    const ref = parseImageReference(image);
    const expected = registry && `${registry}/${name === BACKUP_IMAGE ? BACKUP_IMAGE : (SERVICES[name as ServiceName].repository ?? name)}`;
    if (!ref) {
      problems.push({ path: at(path), message: `"${image}" is not an image reference; expected ${expected ?? "<repository>"}@sha256:<64 hex>. Pin it: ${releaseCommand(stack, name)}` });
    } else if (!ref.digest) {
      problems.push({
        path: at(path),
        message: `"${image}" names a tag only, and a tag can move; pin it by digest: ${releaseCommand(stack, name).replace("<tag>", ref.tag ?? "<tag>")}`,
      });
    } else if (ref.tag !== undefined) {
      problems.push({ path: at(path), message: `"${image}" carries a tag beside its digest; write it as ${ref.repository}@${ref.digest}` });
    } else if (expected && ref.repository !== expected) {
      problems.push({
        path: at(path),
        message: `names repository ${ref.repository}, but ${name} is pulled from ${expected} (config registry + catalog repository); pin it again: ${releaseCommand(stack, name)}`,
      });
    }
  }
  return problems.length > 0 ? { problems } : { problems, entries: services as Record<ServiceName, ReleaseEntry>, backup: parsed.data.backup };
}

/** What another stack on the host claims: its suffix (hence every name), its Host rules, its memory. */
interface HostStack {
  stack: string;
  env: string;
  domain: string;
  memoryMb: number;
  rolloutMb: number;
  /** Isolated mode only: the subnet its edge network pins. */
  edgeSubnet?: string;
  /** `runtime: swarm` only: its tasks, for the per-node budget. */
  swarm?: SwarmLoad;
}

const swarmOf = (stack: string, settings: Parameters<typeof planEnvironment>[0], plan: ReturnType<typeof planEnvironment>) =>
  settings.runtime === "swarm" ? { swarm: swarmLoad(stack, planSwarm(settings, plan)) } : {};

/**
 * `runtime: swarm`: the node count is needed, only stateless services may run
 * more than one task, and every swarm stack's tasks must fit the nodes, each
 * with `host.memoryBudgetMb` less `host.reservedMb` (model/swarm.ts `placementProblem`).
 */
function checkSwarm(me: HostStack, config: StackConfig, others: HostStack[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [service, override] of Object.entries(config.swarm.services)) {
    const spec = SERVICES[service as ServiceName];
    const single = spec && singleReason({ kind: "service", name: service, volumes: spec.volumes });
    if (single && override.replicas !== undefined && override.replicas > 1) {
      problems.push({ path: key(`swarm.services.${service}.replicas`), message: `${service} runs one task (${single}); remove the key or set 1` });
    }
  }
  if (config.edge !== "isolated") {
    problems.push({
      path: key("edge"),
      message: "runtime: swarm needs edge: isolated (an attachable overlay of the stack's own, with edgeSubnet); the shared traefik network is a bridge, which swarm services cannot join. Remove the key or set isolated",
    });
  }
  const nodes = config.swarm.nodes;
  if (nodes === undefined) {
    problems.push({ path: key("swarm.nodes"), message: `required with runtime: swarm; expected the number of nodes in the swarm, such as 3; run: pulumi config set --path swarm.nodes 3 --stack ${me.stack}` });
    return problems;
  }
  const loads = [me, ...others].flatMap((s) => (s.swarm ? [s.swarm] : []));
  const problem = placementProblem(loads, nodes, config.host.memoryBudgetMb, config.host.reservedMb);
  if (problem) {
    problems.push({
      path: key("host.memoryBudgetMb"),
      message: `with runtime: swarm this is each node's budget, and the swarm stacks' tasks cannot be placed: ${problem}; lower swarm.replicas, resources.scale or per-service memoryMb, or add nodes (swarm.nodes)`,
    });
  }
  return problems;
}

/** `runtime: swarm`: no command, healthcheck or config file may read by name a secret the swarm gives as a file only. */
function checkFileSecretReaders(config: StackConfig, readers: FileSecretReader[]): ConfigProblem[] {
  return readers.map((r) => {
    const overridden = r.where === "command" && config.services[r.entry as ServiceName]?.command !== undefined;
    return {
      path: key(overridden ? `services.${r.entry}.command` : "runtime"),
      message:
        `${r.entry}'s ${r.where} reads ${r.variable}, but runtime: swarm gives ${r.entry} that secret as a file only (${r.variable}_FILE=${secretFile(r.variable)}), so it is unset there; ` +
        (overridden ? `read the file instead, or remove the key` : `make the catalog read the file, or deliver it as env (model/swarm.ts SECRET_DELIVERY), or keep this stack on runtime: docker`),
    };
  });
}

/** Reads another stack's file config as that stack's own program would; a stack that does not validate is reported. */
function describeOtherStack(stack: string, values: Record<string, string>): HostStack | { problem: ConfigProblem } {
  const parsed = stackConfigSchema.safeParse(schemaInput(values));
  const env = parsed.success ? (parsed.data.suffix ?? stack) : stack;
  if (!parsed.success || !SUFFIX_PATTERN.test(env)) {
    const first = parsed.success ? "its stack name cannot be a suffix" : `${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`;
    return {
      problem: {
        path: `Pulumi.${stack}.yaml`,
        message: `stack "${stack}" on the same host does not validate (${first}), so this stack cannot check its names, Host rules and memory against it; fix that file (pulumi preview --stack ${stack} lists every problem)`,
      },
    };
  }
  // Its memory does not depend on which build it runs, and its manifest is not read here: it is
  // planned with every service pinned to one all-zero digest, which the plan never shows.
  const placeholder = { image: "", commit: "0000000", pipeline: "0" };
  const release = Object.fromEntries(SERVICE_NAMES.map((name) => [name, { ...placeholder, image: `${parsed.data.registry}/${SERVICES[name].repository ?? name}@sha256:${"0".repeat(64)}` }]));
  const backupRelease = { ...placeholder, image: `${parsed.data.registry}/${BACKUP_IMAGE}@sha256:${"0".repeat(64)}` };
  const otherSettings = { ...parsed.data, stack, env, release: release as StackSettings["release"], backupRelease };
  const plan = planEnvironment(otherSettings);
  return { stack, env, domain: parsed.data.domain, memoryMb: plan.totalMemoryMb, rolloutMb: plan.rolloutMemoryMb, edgeSubnet: plan.edge.subnet, ...swarmOf(stack, otherSettings, plan) };
}

/** Keys of the catalog-keyed maps that name nothing in the catalog; checked on raw input so they are reported with type errors. */
function unknownCatalogNames(input: Record<string, unknown>): ConfigProblem[] {
  return Object.entries(CATALOG_KEYS).flatMap(([path, known]) => {
    const map = valueAt(input, path.split("."));
    if (!map || typeof map !== "object" || Array.isArray(map)) return [];
    return Object.keys(map)
      .filter((name) => !(known as readonly string[]).includes(name))
      .map((name) => ({ path: key(`${path}.${name}`), message: `unknown name "${name}"; expected one of: ${known.join(", ")}` }));
  });
}

/** The hosts a stack with this domain routes: every routed catalog entry's Host rule. */
const publicHostsOf = (domain: string) =>
  Object.values(SERVICES).flatMap((spec) => (spec.route ? [names.publicHost(spec.route.subdomain, domain)] : []));

/** Another stack with the same suffix would produce every one of our names; one with our hosts would share our routers' traffic. */
function checkSharedNames(env: string, domain: string, others: HostStack[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const mine = new Set(publicHostsOf(domain));
  for (const other of others) {
    if (other.env === env) {
      problems.push({
        path: key("suffix"),
        message: `"${env}" is also the suffix of stack "${other.stack}" (Pulumi.${other.stack}.yaml); every container, network, volume and router name would collide. Choose another suffix`,
      });
    }
    const shared = publicHostsOf(other.domain).filter((h) => mine.has(h));
    if (shared.length > 0) {
      problems.push({
        path: key("domain"),
        message: `Host rule(s) ${shared.join(", ")} would also be served by stack "${other.stack}"; Traefik would mix the two environments' traffic. Choose a domain no other stack's hosts use`,
      });
    }
  }
  return problems;
}

/**
 * An isolated edge network pins its subnet, so Keycloak can trust proxy headers
 * from exactly that network; Docker refuses two networks whose subnets overlap,
 * so no two stack files may pick overlapping ones (host networks: model/collisions.ts).
 */
function checkEdgeSubnet(me: HostStack, edge: "isolated" | "shared", others: HostStack[]): ConfigProblem[] {
  if (edge !== "isolated") return [];
  if (!me.edgeSubnet) {
    return [
      {
        path: key("edgeSubnet"),
        message: `required with edge: isolated; expected the private IPv4 subnet of ${names.edgeNetwork(me.env)}, which Keycloak trusts proxy headers from, one no other stack file or host network uses; run: pulumi config set edgeSubnet 172.16.<n>.0/24 --stack ${me.stack}`,
      },
    ];
  }
  return others
    .filter((other) => other.edgeSubnet !== undefined && subnetsOverlap(me.edgeSubnet!, other.edgeSubnet))
    .map((other) => ({
      path: key("edgeSubnet"),
      message: `${me.edgeSubnet} overlaps ${other.edgeSubnet}, the edgeSubnet of stack "${other.stack}" (Pulumi.${other.stack}.yaml); Docker refuses overlapping networks on one host. Choose a subnet no other stack uses`,
    }));
}

/**
 * Every stack's containers reserve their memory limits. Together, plus what the
 * host keeps for others and the largest rollout overlap (while a stack rolls
 * out, both revisions of its zero-downtime services run), they must fit.
 */
function checkMemoryBudget(me: HostStack, others: HostStack[], host: { memoryBudgetMb: number; reservedMb: number }): ConfigProblem[] {
  const all = [me, ...others];
  const rollout = all.reduce((max, s) => (s.rolloutMb > max.rolloutMb ? s : max));
  const total = all.reduce((sum, s) => sum + s.memoryMb, 0) + host.reservedMb + rollout.rolloutMb;
  const { memoryBudgetMb } = host;
  if (total <= memoryBudgetMb) return [];
  const breakdown = [
    ...all.map((s) => `${s.stack}: ${s.memoryMb}`),
    `${rollout.stack}'s rollout overlap: ${rollout.rolloutMb}`,
    ...(host.reservedMb ? [`reserved: ${host.reservedMb}`] : []),
  ].join(", ");
  return [
    {
      path: key("host.memoryBudgetMb"),
      message: `the stacks on this host would reserve ${total} MiB (${breakdown}), over the budget of ${memoryBudgetMb} MiB; lower resources.scale or per-service memoryMb, or raise the budget if the host has the memory`,
    },
  ];
}

/** One message for all problems: what the engine prints, with no stack trace under it. */
export function formatProblems(stack: string, problems: ConfigProblem[]): string {
  const lines = problems.map((p) => `  - ${p.path}: ${p.message}`);
  return [
    `Stack "${stack}" has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; nothing was created.`,
    ...lines,
    `Edit Pulumi.${stack}.yaml (or Pulumi.yaml for shared keys), or run: pulumi config set --path <key> <value> --stack ${stack}`,
  ].join("\n");
}
