/**
 * The project's stack files, read as the Pulumi engine reads them: the
 * project-level `config` in Pulumi.yaml gives every stack its defaults, and
 * Pulumi.<stack>.yaml overrides them key by key. Each stack file in the project
 * folder is a stack on the shared host, so a stack checks its names, Host rules
 * and memory against all the others without anyone declaring them twice.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { PROJECT } from "../model/naming";
import { readReleaseFile } from "./release";
import type { RawConfig } from "./validate";

const STACK_FILE = /^Pulumi\.(.+)\.ya?ml$/;

/** `domain` → `portugal-odyssey:domain`; keys of other namespaces stay as they are. */
export const namespaced = (key: string) => (key.includes(":") ? key : `${PROJECT}:${key}`);

/** The stacks that have a file in the project folder, e.g. `["prod", "qual"]`. */
export function stacksWithFiles(projectDir: string): string[] {
  return readdirSync(projectDir)
    .map((file) => STACK_FILE.exec(file)?.[1])
    .filter((stack): stack is string => stack !== undefined)
    .sort();
}

function readYaml(path: string): Record<string, unknown> {
  return (existsSync(path) ? parse(readFileSync(path, "utf8")) : undefined) ?? {};
}

/**
 * A stack's config as namespaced keys with their YAML values. A stack without a
 * file runs on the project's defaults alone, as Pulumi would run it.
 * Secret values stay in their encrypted `{ secure: ... }` form.
 */
export function readStackFileConfig(projectDir: string, stack: string): Record<string, unknown> {
  const stackFile = readYaml(join(projectDir, `Pulumi.${stack}.yaml`)) as { config?: Record<string, unknown> };
  const merged: Record<string, unknown> = readProjectConfig(projectDir);
  for (const [key, value] of Object.entries(stackFile.config ?? {})) merged[namespaced(key)] = value;
  return merged;
}

/** The project-level `config` of Pulumi.yaml, every stack's defaults, as namespaced keys with their values. */
export function readProjectConfig(projectDir: string): Record<string, unknown> {
  const project = readYaml(join(projectDir, "Pulumi.yaml")) as { config?: Record<string, { value?: unknown; default?: unknown }> };
  return Object.fromEntries(Object.entries(project.config ?? {}).map(([key, entry]) => [namespaced(key), entry.value ?? entry.default]));
}

/** Config values as the engine hands them to a program: strings, objects and lists JSON-encoded. */
export function encodeForEngine(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

/** Every other stack's config, engine-encoded, keyed by stack name. */
export function readOtherStacks(projectDir: string, current: string): Record<string, Record<string, string>> {
  return Object.fromEntries(
    stacksWithFiles(projectDir)
      .filter((stack) => stack !== current)
      .map((stack) => [stack, encodeForEngine(readStackFileConfig(projectDir, stack))]),
  );
}

/** `pulumi config set --secret` stores a value as `{ secure: <ciphertext> }`. */
export const isSecureValue = (value: unknown) =>
  !!value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value;

/**
 * A stack's config as the engine would hand it to the program, read from the
 * stack files alone, without a backend: secrets stay encrypted (only whether a
 * key is one matters to validation), and the other stack files are the other
 * stacks on the host.
 */
export function readStackFiles(projectDir: string, stack: string): RawConfig {
  const config = readStackFileConfig(projectDir, stack);
  return {
    values: encodeForEngine(config),
    secretKeys: new Set(Object.keys(config).filter((key) => isSecureValue(config[key]))),
    otherStacks: readOtherStacks(projectDir, stack),
    release: readReleaseFile(projectDir, stack),
  };
}
