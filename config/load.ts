/** Reads the stack's config from the Pulumi runtime and validates it before any resource exists. */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import type { Credential } from "../catalog/types";
import { readReleaseFile } from "./release";
import { REGISTRY_SECRETS, type RegistrySecret } from "./schema";
import { readOtherStacks } from "./stack-files";
import { formatProblems, validateStackConfig, type StackSettings } from "./validate";

/**
 * A RunError is what the Pulumi Node.js host prints without a stack trace: the
 * operator sees the message, and only the message.
 */
export class ConfigError extends pulumi.RunError {}

// The SDK knows which keys were set with --secret but does not export that in its typings.
const isConfigSecret = (runtimeConfig as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;

/** The folder holding Pulumi.yaml and the stack files; the engine says, and a mock run has the working directory. */
const projectDirectory = () => pulumi.runtime.getRootDirectory() || process.cwd();

export interface RuntimeStackSettings {
  settings: StackSettings;
  /** The credentials set as config secrets, as secret Outputs: every external one, and any generated one overridden. */
  configSecrets: Partial<Record<Credential, pulumi.Output<string>>>;
  /** The registry login the app images are pulled with, as secret Outputs. */
  registryAuth: Record<RegistrySecret, pulumi.Output<string>>;
}

/**
 * The running stack's settings, validated against every other stack file in the project; throws a ConfigError listing every problem.
 * `release` is the stack's release manifest as parsed YAML; by default releases/<stack>.yaml in the project folder (tests pass their own).
 */
export function readStackSettings(stack = pulumi.getStack(), projectDir = projectDirectory(), release?: unknown): RuntimeStackSettings {
  const values = pulumi.runtime.allConfig();
  const secretKeys = new Set(Object.keys(values).filter((k) => isConfigSecret?.(k) ?? false));
  let manifest = release;
  if (manifest === undefined) {
    try {
      manifest = readReleaseFile(projectDir, stack);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  const result = validateStackConfig(stack, { values, secretKeys, otherStacks: readOtherStacks(projectDir, stack), release: manifest });
  if (!result.ok) throw new ConfigError(formatProblems(stack, result.problems));
  for (const warning of result.warnings) void pulumi.log.warn(`${warning.path}: ${warning.message}`);
  const config = new pulumi.Config();
  const configSecrets = Object.fromEntries(result.secretsFromConfig.map((name) => [name, config.requireSecret(name)]));
  const registryAuth = Object.fromEntries(REGISTRY_SECRETS.map((name) => [name, config.requireSecret(name)])) as RuntimeStackSettings["registryAuth"];
  return { settings: result.settings, configSecrets, registryAuth };
}
