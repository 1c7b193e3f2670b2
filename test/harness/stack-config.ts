/**
 * Stack config for tests. Tests read the fixture project (two stacks, qual and
 * prod, on one host), never the committed stack files, so that a new stack file
 * or a retuned one changes what is deployed without changing what a test expects.
 * Tests whose point is the committed files use REPOSITORY_ROOT.
 */
import { join } from "node:path";
import { stackConfigSchema } from "../../config/schema";
import { readStackFileConfig } from "../../config/stack-files";
import type { StackSettings } from "../../config/validate";
import { PROJECT } from "../../model/naming";
import { testRelease } from "../../testing/release";
import { engineConfig as engineConfigIn } from "../../testing/stack-config";

export { TEST_EXTERNAL_SECRETS, type EngineConfig } from "../../testing/stack-config";

export const REPOSITORY_ROOT = join(__dirname, "..", "..");
export const FIXTURE_PROJECT = join(__dirname, "..", "fixtures", "projects", "qual-prod");

/** A stack's config in the fixture project: Pulumi.yaml's defaults under Pulumi.<stack>.yaml. */
export const readStackConfig = (stack: string, projectDir = FIXTURE_PROJECT): Record<string, unknown> => readStackFileConfig(projectDir, stack);

/** The engine config of `stack` with `overrides` per top-level key (`undefined` removes one) and `secrets` as config secrets. */
export const engineConfig = (stack: string, overrides?: Record<string, unknown>, secrets?: Record<string, string>, projectDir = FIXTURE_PROJECT) =>
  engineConfigIn(projectDir, stack, overrides, secrets);

/**
 * A stack's settings as config/ parses them, with `overrides` per top-level key: what the model plans from.
 * Schema only: the checks against the other stacks are config's tests' business.
 */
export function settingsOf(stack: string, overrides: Record<string, unknown> = {}, projectDir = FIXTURE_PROJECT): StackSettings {
  const input = Object.fromEntries(Object.entries(readStackConfig(stack, projectDir)).map(([key, value]) => [key.replace(`${PROJECT}:`, ""), value]));
  const config = stackConfigSchema.parse({ ...input, ...overrides });
  return { ...config, stack, env: config.suffix ?? stack, release: testRelease(projectDir, stack).services as StackSettings["release"], backupRelease: testRelease(projectDir, stack).backup };
}
