/**
 * How CI treats a stack, declared in its own stack file beside the rest of its
 * config, in a `gitlab:` namespace the program does not read:
 *
 *   gitlab:environment: production   # GitLab environment; the deploy credentials are scoped to it
 *   gitlab:tier: production          # GitLab deployment_tier
 *   gitlab:deploy: manual            # automatic on every push to main, or manual (a person presses play)
 *
 * A stack file without them deploys by hand to an environment named after the
 * stack: a new stack never deploys on its own. Whether its data is protected
 * is `data.protect` (config/data-protection.ts).
 */
import { z } from "zod";
import { dataIsProtected } from "./data-protection";
import { readStackFileConfig, stacksWithFiles } from "./stack-files";

// GitLab: environment names contain letters, digits, spaces and - _ / $ { } . (docs.gitlab.com/ci/yaml/#environmentname).
const environmentName = z.string().regex(/^[A-Za-z0-9 _/.-]{1,255}$/, { error: "expected a GitLab environment name such as production" });
const settingsSchema = z.strictObject({
  environment: environmentName.optional(),
  // docs.gitlab.com/ci/yaml/#environmentdeployment_tier
  tier: z.enum(["production", "staging", "testing", "development", "other"], { error: "expected production, staging, testing, development or other" }).default("other"),
  deploy: z.enum(["automatic", "manual"], { error: "expected automatic or manual" }).default("manual"),
});

export interface StackCiSettings {
  stack: string;
  environment: string;
  tier: z.output<typeof settingsSchema>["tier"];
  deploy: "automatic" | "manual";
  dataProtected: boolean;
}

export class GitlabSettingsError extends Error {}

export function stackCiSettings(projectDir: string, stack: string): StackCiSettings {
  const config = readStackFileConfig(projectDir, stack);
  const raw = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith("gitlab:")).map(([k, v]) => [k.slice("gitlab:".length), v]));
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `gitlab:${i.path.map(String).join(".") || "(keys)"}: ${i.message}`);
    throw new GitlabSettingsError(`Pulumi.${stack}.yaml: ${problems.join("; ")}`);
  }
  return { stack, environment: parsed.data.environment ?? stack, tier: parsed.data.tier, deploy: parsed.data.deploy, dataProtected: dataIsProtected(projectDir, stack) };
}

/** Every stack with a file in the project folder, with its CI settings. */
export function allStackCiSettings(projectDir: string): StackCiSettings[] {
  const all = stacksWithFiles(projectDir).map((stack) => stackCiSettings(projectDir, stack));
  const byEnvironment = new Map<string, string>();
  for (const s of all) {
    const other = byEnvironment.get(s.environment);
    if (other) throw new GitlabSettingsError(`Pulumi.${other}.yaml and Pulumi.${s.stack}.yaml both name GitLab environment ${s.environment}; give each stack its own gitlab:environment`);
    byEnvironment.set(s.environment, s.stack);
  }
  return all;
}
