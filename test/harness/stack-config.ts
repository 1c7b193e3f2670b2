/**
 * Stack config as the Pulumi engine would hand it to the program: project-level
 * values from Pulumi.yaml, overridden key by key by Pulumi.<stack>.yaml, every
 * key namespaced and objects JSON-encoded.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { PROJECT } from "../../model/naming";

const ROOT = join(__dirname, "..", "..");

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

const encode = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
const namespaced = (key: string) => (key.includes(":") ? key : `${PROJECT}:${key}`);

export function readStackConfig(stack: string): Record<string, unknown> {
  const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as { config?: Record<string, { value: unknown }> };
  const stackPath = join(ROOT, `Pulumi.${stack}.yaml`);
  // A new stack may have no file yet: it then runs on the project's base config alone.
  const stackFile = (existsSync(stackPath) ? parse(readFileSync(stackPath, "utf8")) : {}) as { config?: Record<string, unknown> };
  const merged: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(project.config ?? {})) merged[namespaced(key)] = entry.value;
  for (const [key, value] of Object.entries(stackFile.config ?? {})) merged[namespaced(key)] = value;
  return merged;
}

/**
 * The config for `stack`, with `overrides` applied per top-level key (`undefined`
 * removes a key) and the external secrets set unless `withoutSecrets`.
 */
export function engineConfig(
  stack: string,
  overrides: Record<string, unknown> = {},
  secrets: Record<string, string> = TEST_EXTERNAL_SECRETS,
): EngineConfig {
  const merged = readStackConfig(stack);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete merged[namespaced(key)];
    else merged[namespaced(key)] = value;
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(merged)) values[key] = encode(value);
  for (const [key, value] of Object.entries(secrets)) values[namespaced(key)] = value;
  return { values, secretKeys: Object.keys(secrets).map(namespaced) };
}
