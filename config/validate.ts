/**
 * The one place stack config is validated. Pure: it takes the raw key/value
 * pairs Pulumi hands the program and returns either the stack's settings (what
 * the model plans from) or every problem at once, each with its key path, what
 * was expected and how to fix it.
 */
import type { z } from "zod";
import { SERVICES } from "../catalog/services";
import { STORES } from "../catalog/stores";
import { BACKUP_SECRETS, EXTERNAL_SECRETS, GENERATED_CREDENTIALS, type Credential, type ExternalSecret } from "../catalog/types";
import { databaseCredentials } from "../model/databases";
import { planEnvironment } from "../model/environment";
import { PROJECT, SUFFIX_PATTERN, names } from "../model/naming";
import { subnetsOverlap } from "../model/subnets";
import { credentialsIn } from "../model/templates";
import { CATALOG_KEYS, stackConfigSchema, type StackConfig } from "./schema";

export interface ConfigProblem {
  /** The config key path, e.g. `portugal-odyssey:services.booking-service.tag`. */
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
}

/** One stack's parsed config with its name and resolved suffix: what planEnvironment takes. */
export type StackSettings = StackConfig & { stack: string; env: string };

export type ValidationResult =
  | { ok: true; settings: StackSettings; secretsFromConfig: Credential[]; warnings: ConfigProblem[] }
  | { ok: false; problems: ConfigProblem[] };

const DATABASE_PASSWORDS: readonly string[] = databaseCredentials();
const SECRET_KEYS: readonly string[] = [...GENERATED_CREDENTIALS, ...EXTERNAL_SECRETS, ...DATABASE_PASSWORDS, ...BACKUP_SECRETS];
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
 * Every secret a stack of the committed config must set: the external ones and
 * the backup container's (its location is s3:). What tooling gives placeholders
 * or notes for; validation asks for the backup ones only when backups are set.
 */
export const secretsToSet = (): Credential[] => [...requiredExternalSecrets(), "resticPassword", ...S3_SECRETS];

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
    } else {
      secretsFromConfig.push(name as Credential);
    }
  }

  for (const secret of requiredExternalSecrets()) {
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
  if (!parsed.success) return { ok: false, problems };

  problems.push(...memoryFloors(parsed.data));
  const settings: StackSettings = { ...parsed.data, stack, env };
  // The budget counts what the plan reserves, so validation plans too; the program plans on its own.
  problems.push(...checkBackup(stack, parsed.data.backup?.repository, raw));
  const plan = planEnvironment(settings);
  const me = { stack, env, domain: parsed.data.domain, memoryMb: plan.totalMemoryMb, rolloutMb: plan.rolloutMemoryMb, edgeSubnet: plan.edge.subnet };
  problems.push(...checkEdgeSubnet(me, parsed.data.edge, neighbours));
  problems.push(...checkMemoryBudget(me, neighbours, parsed.data.host));
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

/** What another stack on the host claims: its suffix (hence every name), its Host rules, its memory. */
interface HostStack {
  stack: string;
  env: string;
  domain: string;
  memoryMb: number;
  rolloutMb: number;
  /** Isolated mode only: the subnet its edge network pins. */
  edgeSubnet?: string;
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
  const plan = planEnvironment({ ...parsed.data, stack, env });
  return { stack, env, domain: parsed.data.domain, memoryMb: plan.totalMemoryMb, rolloutMb: plan.rolloutMemoryMb, edgeSubnet: plan.edge.subnet };
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
