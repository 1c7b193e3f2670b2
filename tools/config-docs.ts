/**
 * The configuration reference of docs/configuration.md, rendered from the zod
 * schema (its JSON Schema, with every key's description) and from the base
 * values Pulumi.yaml gives every stack; tools/docs.ts writes it (`npm run docs`).
 */
import { z } from "zod";
import { EXTERNAL_SECRETS, GENERATED_CREDENTIALS } from "../catalog/types";
import { REGISTRY_SECRETS, stackConfigSchema } from "../config/schema";
import { readProjectConfig } from "../config/stack-files";
import { databaseCredentials } from "../model/databases";
import { PROJECT } from "../model/naming";
import { samplePlan } from "./catalog-docs";
import { PROJECT_DIR } from "./run-cli";

/** What z.toJSONSchema emits; for this schema a nested schema is never the boolean form JSON Schema allows. */
type JsonSchema = z.core.JSONSchema.JSONSchema;

export interface ConfigKey {
  /** Dotted path under `portugal-odyssey:`, map keys as `<service>`. */
  path: string;
  type: string;
  description?: string;
  /** The schema's default, when it has one that says something. */
  default?: unknown;
  /** The program stops when it is missing (and Pulumi.yaml does not set it). */
  required: boolean;
}

const isObject = (s: JsonSchema) => s.type === "object";
const isMap = (s: JsonSchema) => isObject(s) && typeof s.additionalProperties === "object";
const isEmpty = (v: unknown) => v !== null && typeof v === "object" && Object.keys(v).length === 0;

function describeType(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(" or ");
  if (s.type === "boolean") return "true or false";
  if (s.type === "array") return `list of ${(s.items as JsonSchema | undefined)?.type ?? "value"}s`;
  if (s.type === "integer" || s.type === "number") {
    const min = s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? `≥ ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined;
    const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : undefined;
    return [s.type, [min, max].filter(Boolean).join(", ")].filter(Boolean).join(" ");
  }
  return String(s.type ?? "value");
}

/** Every settable key of the schema, depth first in schema order: objects by their keys, maps by a `<title>` placeholder. */
export function configKeys(): ConfigKey[] {
  const walk = (node: JsonSchema, path: string, required: boolean, inherited?: JsonSchema): ConfigKey[] => {
    if (isMap(node)) {
      const value = node.additionalProperties as JsonSchema;
      const placeholder = `${path}.<${(node.propertyNames as JsonSchema | undefined)?.title ?? "name"}>`;
      // A map of plain values reads as one key: its description is the map's.
      return walk(value, placeholder, false, isObject(value) ? undefined : node);
    }
    if (isObject(node) && node.properties) {
      return Object.entries(node.properties).flatMap(([name, child]) =>
        // Required within its object: a key of an optional object (backup.repository) must be set once that object is.
        walk(child as JsonSchema, path ? `${path}.${name}` : name, (node.required ?? []).includes(name)),
      );
    }
    const own = node.default === undefined || isEmpty(node.default) ? undefined : node.default;
    return [{ path, type: describeType(node), description: node.description ?? inherited?.description, default: own, required: required && own === undefined }];
  };
  return walk(z.toJSONSchema(stackConfigSchema, { io: "input" }), "", true);
}

/** Pulumi.yaml's base values, flattened to the dotted paths of configKeys. */
function baseValues(projectDir: string): Map<string, unknown> {
  const flat = new Map<string, unknown>();
  const visit = (value: unknown, path: string) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`);
    } else flat.set(path, value);
  };
  for (const [key, value] of Object.entries(readProjectConfig(projectDir))) {
    if (key.startsWith(`${PROJECT}:`)) visit(value, key.slice(PROJECT.length + 1));
  }
  return flat;
}

const literal = (v: unknown) => `\`${typeof v === "string" ? v : JSON.stringify(v)}\``;
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderConfigReference(projectDir = PROJECT_DIR): string {
  const base = baseValues(projectDir);
  return [
    `| Key (\`${PROJECT}:\`) | Type | Default | Meaning |`,
    "|---|---|---|---|",
    ...configKeys().map((k) => {
      const defaults = [
        k.default !== undefined ? literal(k.default) : k.required && !base.has(k.path) ? "**required**" : undefined,
        base.has(k.path) ? `Pulumi.yaml: ${literal(base.get(k.path))}` : undefined,
      ].filter(Boolean);
      return `| \`${k.path}\` | ${cell(k.type)} | ${defaults.join("; ") || "–"} | ${cell(k.description ?? "")} |`;
    }),
  ].join("\n");
}

/** The credentials, how each gets its value, and which containers receive it (from the model). */
export function renderSecretsTable(): string {
  const plan = samplePlan();
  const users = (credential: string) => plan.containers.filter((c) => (c.credentials as string[]).includes(credential)).map((c) => c.name);
  const row = (name: string, kind: string) => `| \`${name}\` | ${kind} | ${users(name).join(", ") || "–"} |`;
  return [
    "| Secret | Value | Used by |",
    "|---|---|---|",
    ...GENERATED_CREDENTIALS.map((name) => row(name, "generated with `@pulumi/random` unless set")),
    ...databaseCredentials().map((name) => row(name, "generated with `@pulumi/random` unless set; printable ASCII (docs/databases.md)")),
    ...EXTERNAL_SECRETS.map((name) => row(name, "**required**: issued by a third party")),
    // Not a container's env: the Docker provider pulls the app images with it (docs/releases.md).
    ...REGISTRY_SECRETS.map((name) => `| \`${name}\` | **required**: the registry login, a deploy token with \`read_registry\` | the app image pulls |`),
  ].join("\n");
}
