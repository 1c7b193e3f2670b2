/**
 * Stack config as the Pulumi engine would hand it to the program: project-level
 * values from Pulumi.yaml, overridden key by key by Pulumi.<stack>.yaml, every
 * key namespaced and objects JSON-encoded.
 */
import { join } from "node:path";
import { encodeForEngine, namespaced, readStackFileConfig } from "../../config/stack-files";

export const PROJECT_DIR = join(__dirname, "..", "..");

/** Stand-ins for the secrets an operator sets with `pulumi config set --secret`. */
export const TEST_EXTERNAL_SECRETS = {
  paymentProviderKey: "test-payment-provider-key-0000",
  paymentWebhookSecret: "test-payment-webhook-secret-0000",
  smtpPassword: "test-smtp-password-0000",
};

export interface EngineConfig {
  values: Record<string, string>;
  secretKeys: string[];
}

/** The stack's committed config: Pulumi.yaml's defaults under Pulumi.<stack>.yaml. */
export const readStackConfig = (stack: string, projectDir = PROJECT_DIR): Record<string, unknown> => readStackFileConfig(projectDir, stack);

/**
 * The config for `stack`, with `overrides` applied per top-level key (`undefined`
 * removes a key), with `secrets` set as config secrets, read from `projectDir`.
 */
export function engineConfig(
  stack: string,
  overrides: Record<string, unknown> = {},
  secrets: Record<string, string> = TEST_EXTERNAL_SECRETS,
  projectDir = PROJECT_DIR,
): EngineConfig {
  const merged = readStackConfig(stack, projectDir);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete merged[namespaced(key)];
    else merged[namespaced(key)] = value;
  }
  const values = encodeForEngine(merged);
  for (const [key, value] of Object.entries(secrets)) values[namespaced(key)] = value;
  return { values, secretKeys: Object.keys(secrets).map(namespaced) };
}
