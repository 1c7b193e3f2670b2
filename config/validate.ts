/**
 * The one place stack config is validated. Pure: it takes the raw key/value
 * pairs Pulumi hands the program and returns either the settings the model
 * needs or every problem at once, each with its key path, what was expected
 * and how to fix it.
 */
import type { z } from "zod";
import { SERVICES } from "../catalog/services";
import { EXTERNAL_SECRETS, GENERATED_CREDENTIALS, type Credential, type ExternalSecret } from "../catalog/types";
import { planEnvironment, type EnvironmentPlan, type EnvironmentSettings } from "../model/environment";
import { PROJECT, SUFFIX_PATTERN, names } from "../model/naming";
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
}

export type ValidationResult =
  | { ok: true; settings: EnvironmentSettings; plan: EnvironmentPlan; secretsFromConfig: Credential[] }
  | { ok: false; problems: ConfigProblem[] };

const SECRET_KEYS: readonly string[] = [...GENERATED_CREDENTIALS, ...EXTERNAL_SECRETS];
const key = (path: string) => `${PROJECT}:${path}`;

/** External secrets some catalog entry's env names: each must be set. */
export const requiredExternalSecrets = (): ExternalSecret[] =>
  [
    ...new Set(
      Object.values(SERVICES).flatMap((spec) =>
        Object.values(spec.env).flatMap((v) => (typeof v === "string" ? [] : credentialsIn(v.secret))),
      ),
    ),
  ].filter((c): c is ExternalSecret => (EXTERNAL_SECRETS as readonly string[]).includes(c));

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
      message: "unknown key; remove it or check its spelling against the config reference in README.md",
    }));
  }
  if (issue.code === "invalid_type" && valueAt(input, issue.path) === undefined) {
    return [{ path: key(path), message: `required; ${issue.message.replace(/^Invalid input: /, "")}` }];
  }
  return [{ path: key(path), message: issue.message }];
}

export function validateStackConfig(stack: string, raw: RawConfig): ValidationResult {
  const problems: ConfigProblem[] = [];
  const input: Record<string, unknown> = {};
  const secretsFromConfig: Credential[] = [];

  for (const [fullKey, value] of Object.entries(raw.values)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const name = fullKey.slice(PROJECT.length + 1);
    if (SECRET_KEYS.includes(name)) {
      if (!raw.secretKeys.has(fullKey)) {
        problems.push({
          path: fullKey,
          message: `holds a credential in plain text; remove it from Pulumi.${stack}.yaml and run: pulumi config set --secret ${name} --stack ${stack}`,
        });
      } else if (value.length === 0) {
        problems.push({ path: fullKey, message: `is empty; run: pulumi config set --secret ${name} --stack ${stack}` });
      } else {
        secretsFromConfig.push(name as Credential);
      }
      continue;
    }
    input[name] = parseValue(value);
  }

  for (const secret of requiredExternalSecrets()) {
    if (!(`${PROJECT}:${secret}` in raw.values)) {
      problems.push({
        path: key(secret),
        message: `required secret is not set; run: pulumi config set --secret ${secret} --stack ${stack}`,
      });
    }
  }

  problems.push(...unknownCatalogNames(input));
  const parsed = stackConfigSchema.safeParse(input);
  if (!parsed.success) {
    problems.push(...parsed.error.issues.flatMap((issue) => describeZodIssue(issue, input)));
    return { ok: false, problems };
  }
  const config = parsed.data;

  const env = config.suffix ?? stack;
  if (!config.suffix && !SUFFIX_PATTERN.test(stack)) {
    problems.push({
      path: key("suffix"),
      message: `the stack name "${stack}" cannot be used as the suffix (expected 2-16 lowercase letters and digits, no hyphen); set one: pulumi config set suffix <word> --stack ${stack}`,
    });
  }

  problems.push(...checkHostNeighbours(stack, env, config));
  if (problems.length > 0) return { ok: false, problems };

  const settings: EnvironmentSettings = { ...config, stack, env };
  const plan = planEnvironment(settings);
  problems.push(...checkMemoryBudget(stack, settings, plan.totalMemoryMb));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, settings, plan, secretsFromConfig };
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

/** What other stacks on the host would also produce: suffix (hence every name) and Host rules. */
function checkHostNeighbours(stack: string, env: string, config: StackConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!(stack in config.host.stacks)) {
    problems.push({
      path: key(`host.stacks.${stack}`),
      message: `this stack is not declared; add it (domain, memoryMb) so the other stacks on the host account for it`,
    });
  }
  const declaredDomain = config.host.stacks[stack]?.domain;
  if (declaredDomain !== undefined && declaredDomain !== config.domain) {
    problems.push({
      path: key(`host.stacks.${stack}.domain`),
      message: `declares "${declaredDomain}" but the stack serves "${config.domain}"; the other stacks check their Host rules against this declaration, so make the two equal`,
    });
  }
  const mine = new Set(publicHostsOf(config.domain));
  for (const [other, declared] of Object.entries(config.host.stacks)) {
    if (other === stack) continue;
    if ((declared.suffix ?? other) === env) {
      problems.push({
        path: key("suffix"),
        message: `"${env}" is also the suffix of stack "${other}" (host.stacks.${other}); every container, network, volume and router name would collide. Choose another suffix`,
      });
    }
    const shared = publicHostsOf(declared.domain).filter((h) => mine.has(h));
    if (shared.length > 0) {
      problems.push({
        path: key("domain"),
        message: `Host rule(s) ${shared.join(", ")} would also be served by stack "${other}"; Traefik would mix the two environments' traffic. Choose a domain no other stack's hosts use`,
      });
    }
  }
  return problems;
}

function checkMemoryBudget(stack: string, settings: EnvironmentSettings, total: number): ConfigProblem[] {
  const { memoryBudgetMb, stacks } = settings.host;
  const others = Object.entries(stacks).filter(([name]) => name !== stack);
  const othersTotal = others.reduce((sum, [, s]) => sum + s.memoryMb, 0);
  const problems: ConfigProblem[] = [];
  const declared = stacks[stack]?.memoryMb;
  if (declared !== undefined && total > declared) {
    problems.push({
      path: key(`host.stacks.${stack}.memoryMb`),
      message: `this stack's containers reserve ${total} MiB but it declares ${declared} MiB; raise the declaration to at least ${total} or lower the limits`,
    });
  }
  if (total + othersTotal > memoryBudgetMb) {
    const breakdown = [`${stack}: ${total}`, ...others.map(([name, s]) => `${name}: ${s.memoryMb}`)].join(", ");
    problems.push({
      path: key("host.memoryBudgetMb"),
      message: `the stacks on this host would reserve ${total + othersTotal} MiB (${breakdown}), over the budget of ${memoryBudgetMb} MiB; lower resources.scale or per-service memoryMb, or raise the budget if the host has the memory`,
    });
  }
  return problems;
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
