/**
 * Turns a stack's outputs (`pulumi stack output --json`) into the few flat,
 * non-secret values later GitLab jobs need, as a dotenv report:
 *
 *   ENVIRONMENT_URL   urls["public-fo"]   → environment:url: $ENVIRONMENT_URL
 *   PO_ENVIRONMENT    environment         (qual / prod)
 *   PO_API_URL        urls["api-gateway"]
 *
 * GitLab's dotenv reports accept only simple KEY=value lines, so values with
 * newlines, quotes or `$` are refused, and so is Pulumi's `[secret]` placeholder:
 * a secret has no business in a job variable.
 */
import { SUFFIX_PATTERN } from "../../model/naming";
import type { StackOutputs } from "../../model/outputs";

const SECRET_PLACEHOLDER = "[secret]";

/** Every path in the outputs whose value is the `[secret]` placeholder. */
export function secretPaths(value: unknown, path = "$"): string[] {
  if (value === SECRET_PLACEHOLDER) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => secretPaths(v, `${path}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => secretPaths(v, `${path}.${k}`));
  return [];
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") throw new Error(`${what} is missing from the stack outputs`);
  if (value.includes(SECRET_PLACEHOLDER)) throw new Error(`${what} is a secret ([secret]); secrets never go into the dotenv report`);
  if (/[\r\n"'`$\\]/.test(value)) throw new Error(`${what} holds characters a dotenv report cannot carry safely`);
  return value;
}

function requireUrl(value: unknown, what: string): string {
  const s = requireString(value, what);
  if (!URL.canParse(s)) throw new Error(`${what} is not a URL: ${s}`);
  const url = new URL(s);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${what} is not an http(s) URL: ${s}`);
  if (url.username || url.password) throw new Error(`${what} carries credentials; refusing to publish it`);
  return s;
}

export function outputsToDotenv(outputs: StackOutputs): string {
  const urls: Record<string, string | undefined> = outputs.urls;
  const vars: Record<string, string> = {
    ENVIRONMENT_URL: requireUrl(urls["public-fo"], 'urls["public-fo"]'),
    PO_ENVIRONMENT: requireString(outputs.environment, "environment"),
  };
  // `environment` is the stack's suffix, not its name.
  if (!SUFFIX_PATTERN.test(vars.PO_ENVIRONMENT)) throw new Error(`environment is not a suffix: ${vars.PO_ENVIRONMENT}`);
  if (urls["api-gateway"] !== undefined) vars.PO_API_URL = requireUrl(urls["api-gateway"], 'urls["api-gateway"]');
  return formatDotenv(vars);
}

export function formatDotenv(vars: Record<string, string>): string {
  const badKey = Object.keys(vars).find((k) => !/^[A-Z_][A-Z0-9_]*$/.test(k));
  if (badKey !== undefined) throw new Error(`bad dotenv key ${badKey}`);
  return Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}
