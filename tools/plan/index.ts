/**
 * `npm run plan -- --stack qual [--stack prod] [--format yaml|json|mermaid]`
 * (`make plan STACK=qual`): the environment a stack would build, resolved from
 * the committed stack files, without a Pulumi CLI, a backend or a Docker
 * daemon, the way `docker compose config` resolves a Compose project. Config is
 * validated by config/ exactly as `up` validates it; a bad stack prints the
 * same message and exits 1.
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { PROJECT } from "../../model/naming";
import { planEnvironment, type EnvironmentPlan } from "../../model/environment";
import { planSwarm, type SwarmPlan } from "../../model/swarm";
import { readStackFiles } from "../../config/stack-files";
import { formatProblems, secretsToSet, validateStackConfig } from "../../config/validate";
import { describePlan } from "./describe";
import { mermaidBlock, renderMermaid } from "./mermaid";
import { PROJECT_DIR } from "../run-cli";

const FORMATS = ["yaml", "json", "mermaid"] as const;
type Format = (typeof FORMATS)[number];

export class PlanError extends Error {}

export interface StackPlan {
  plan: EnvironmentPlan;
  /** `runtime: swarm`: how the plan becomes swarm services. */
  swarm?: SwarmPlan;
  /** What a person should know that is not a config error: the external secrets the stack file does not set yet. */
  notes: string[];
}

/** What a plan shows for an image its stack's release manifest does not pin yet. */
export const UNPINNED = "(unpinned)";

/**
 * The manifest with a stand-in pin for every image it lacks (a fresh project's
 * manifest pins nothing), so the rest of the stack still plans; the images it
 * fills are listed, to be shown as unpinned.
 */
export function withStandInPins(manifest: unknown, registry: string): { release: unknown; unpinned: string[] } {
  if (manifest !== undefined && (typeof manifest !== "object" || manifest === null)) return { release: manifest, unpinned: [] };
  const given = (manifest ?? {}) as { services?: Record<string, unknown> | null; backup?: unknown };
  const services = { ...(given.services ?? {}) };
  const standIn = (repository: string) => ({ image: `${registry}/${repository}@sha256:${"0".repeat(64)}`, commit: "0000000", pipeline: "0" });
  const unpinned = SERVICE_NAMES.filter((service) => !(service in services));
  for (const service of unpinned) services[service] = standIn(SERVICES[service].repository ?? service);
  const backup = given.backup ?? standIn("backup");
  return { release: { ...given, services, backup }, unpinned: [...unpinned, ...(given.backup === undefined ? ["backup"] : [])] };
}

/**
 * Plans a stack from its files. External secrets live in the backend's copy of
 * the stack file (or are placeholders on the local backend), and a fresh
 * project's release manifests pin nothing yet, so both are notes here, not
 * errors: the plan never needs a secret's value or an image's digest. A pin
 * that is there but wrong is still the config error `up` reports.
 */
export function planFromStackFiles(projectDir: string, stack: string, options: { release?: unknown } = {}): StackPlan {
  const files = readStackFiles(projectDir, stack);
  const registry = String(files.values[`${PROJECT}:registry`] ?? "");
  const { release, unpinned } = withStandInPins(options.release ?? files.release, registry);
  const unset = secretsToSet().filter((name) => !(`${PROJECT}:${name}` in files.values));
  const values = { ...files.values, ...Object.fromEntries(unset.map((name) => [`${PROJECT}:${name}`, "unset"])) };
  const secretKeys = new Set([...files.secretKeys, ...unset.map((name) => `${PROJECT}:${name}`)]);
  const result = validateStackConfig(stack, { ...files, release, values, secretKeys });
  if (!result.ok) throw new PlanError(formatProblems(stack, result.problems));
  const notes = [
    ...(unset.length ? [`Pulumi.${stack}.yaml sets no ${unset.join(", ")}; \`up\` needs them: pulumi config set --secret <name> --stack ${stack}`] : []),
    ...(unpinned.length && options.release === undefined
      ? [`releases/${stack}.yaml pins no image for ${unpinned.join(", ")}; \`up\` refuses until it does: npm run release -- --stack ${stack} --all --tag <tag> (docs/releases.md)`]
      : []),
  ];
  const plan = planEnvironment(result.settings);
  const containers = plan.containers.map((c) => (unpinned.includes(c.name) ? { ...c, image: `${c.image.split("@")[0]} ${UNPINNED}` } : c));
  return { plan: { ...plan, containers }, notes, ...(result.settings.runtime === "swarm" ? { swarm: planSwarm(result.settings, plan) } : {}) };
}

export function parsePlanArgs(argv: string[]): { stacks: string[]; format: Format } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { stack: { type: "string", short: "s", multiple: true }, format: { type: "string", default: "yaml" } },
  });
  const stacks = values.stack ?? [];
  if (!stacks.length) throw new PlanError("usage: plan --stack <stack> [--stack <stack>] [--format yaml|json|mermaid]");
  if (!FORMATS.includes(values.format as Format)) throw new PlanError(`--format must be one of ${FORMATS.join(", ")}`);
  return { stacks, format: values.format as Format };
}

export function renderPlans(plans: StackPlan[], format: Format): string {
  switch (format) {
    case "json":
      return JSON.stringify(plans.length === 1 ? describePlan(plans[0].plan, plans[0].swarm) : plans.map((p) => describePlan(p.plan, p.swarm)), null, 2) + "\n";
    case "yaml":
      return plans.map((p) => stringify(describePlan(p.plan, p.swarm), { lineWidth: 0 })).join("---\n");
    case "mermaid":
      return plans.map((p) => (plans.length === 1 ? renderMermaid(p.plan) : `## ${p.plan.stack}\n\n${mermaidBlock(p.plan)}`)).join("\n\n") + "\n";
  }
}

export function main(argv: string[], projectDir: string): number {
  try {
    const { stacks, format } = parsePlanArgs(argv);
    const plans = stacks.map((stack) => planFromStackFiles(projectDir, stack));
    for (const note of plans.flatMap((p) => p.notes)) console.error(`plan: ${note}`);
    process.stdout.write(renderPlans(plans, format));
    return 0;
  } catch (error) {
    // parseArgs reports a bad flag with an ERR_PARSE_ARGS_* code.
    const badArgs = String((error as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
    if (!(error instanceof PlanError) && !badArgs) throw error;
    console.error((error as Error).message);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2), PROJECT_DIR);
