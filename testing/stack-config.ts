/**
 * Stack config as the Pulumi engine would hand it to the program: project-level
 * values from Pulumi.yaml, overridden key by key by Pulumi.<stack>.yaml, every
 * key namespaced and objects JSON-encoded.
 */
import { encodeForEngine, namespaced, readStackFileConfig } from "../config/stack-files";

/** Stand-ins for the secrets an operator sets with `pulumi config set --secret`. */
export const TEST_EXTERNAL_SECRETS = {
  paymentProviderKey: "test-payment-provider-key-0000",
  paymentWebhookSecret: "test-payment-webhook-secret-0000",
  smtpPassword: "test-smtp-password-0000",
  resticPassword: "test-restic-password-0000",
  backupAccessKeyId: "test-backup-access-key-0000",
  backupSecretAccessKey: "test-backup-secret-key-0000",
  registryUsername: "test-deploy-token-user",
  registryPassword: "test-deploy-token-password-0000",
};

export interface EngineConfig {
  values: Record<string, string>;
  secretKeys: string[];
}

/**
 * The config of `stack` in the project folder `projectDir`, with `overrides`
 * applied per top-level key (`undefined` removes a key) and `secrets` set as
 * config secrets.
 */
export function engineConfig(
  projectDir: string,
  stack: string,
  overrides: Record<string, unknown> = {},
  secrets: Record<string, string> = TEST_EXTERNAL_SECRETS,
): EngineConfig {
  const merged = readStackFileConfig(projectDir, stack);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete merged[namespaced(key)];
    else merged[namespaced(key)] = value;
  }
  const values = encodeForEngine(merged);
  for (const [key, value] of Object.entries(secrets)) values[namespaced(key)] = value;
  return { values, secretKeys: Object.keys(secrets).map(namespaced) };
}
