/**
 * Reading and writing a stack's release manifest (releases/<stack>.yaml, the
 * format config/release.ts validates). Writes are atomic: the new text goes to
 * a temp file beside it, renamed over the old one, so a failed run leaves the
 * manifest as it was.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { SERVICES, type ServiceName } from "../../catalog/services";
import { BACKUP_IMAGE, readReleaseFile, releaseFileName, releaseManifestSchema, type ReleaseEntry } from "../../config/release";
import { readStackFileConfig } from "../../config/stack-files";
import { PROJECT } from "../../model/naming";

export class ManifestError extends Error {}

/** The stack's `registry` config (Pulumi.yaml under Pulumi.<stack>.yaml). */
export function stackRegistry(projectDir: string, stack: string): string {
  const registry = readStackFileConfig(projectDir, stack)[`${PROJECT}:registry`];
  if (typeof registry !== "string" || !registry) throw new ManifestError(`stack ${stack} has no registry config (Pulumi.yaml or Pulumi.${stack}.yaml)`);
  return registry;
}

/** Where a stack pulls a catalog service's image, or the backup image, from: the config registry + the catalog repository. */
export const imageRepository = (registry: string, service: string) =>
  `${registry}/${service === BACKUP_IMAGE ? BACKUP_IMAGE : (SERVICES[service as ServiceName].repository ?? service)}`;

export type ReleaseServices = Record<string, ReleaseEntry>;

/** The manifest's entries; a missing file is an empty manifest. */
export function readManifest(projectDir: string, stack: string): ReleaseServices {
  let raw: unknown;
  try {
    raw = readReleaseFile(projectDir, stack);
  } catch (error) {
    throw new ManifestError((error as Error).message);
  }
  return raw === undefined ? {} : manifestEntries(raw, stack);
}

/** The entries of a manifest's text, as the GitLab files API returns it (the release request edits main's copy, not a checkout). */
export function parseManifest(text: string, stack: string): ReleaseServices {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (error) {
    throw new ManifestError(`${releaseFileName(stack)} is not valid YAML: ${(error as Error).message}`);
  }
  return manifestEntries(raw, stack);
}

function manifestEntries(raw: unknown, stack: string): ReleaseServices {
  const parsed = releaseManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new ManifestError(`${releaseFileName(stack)} does not match the manifest format:\n${issues.join("\n")}`);
  }
  // The tools treat the backup image as one more entry, under its own name (no catalog service has it).
  return { ...parsed.data.services, ...(parsed.data.backup ? { [BACKUP_IMAGE]: parsed.data.backup } : {}) };
}

/** The comment block a manifest's text starts with, kept across writes. */
function header(text: string): string {
  const lines = text.split("\n");
  const end = lines.findIndex((l) => !l.startsWith("#"));
  return lines.slice(0, end < 0 ? lines.length : end).map((l) => `${l}\n`).join("");
}

/** The manifest's new text: the previous text's comment block, then the entries, sorted. */
export function manifestText(previous: string, services: ReleaseServices): string {
  const { [BACKUP_IMAGE]: backup, ...apps } = services;
  const sorted = Object.fromEntries(Object.entries(apps).sort(([a], [b]) => a.localeCompare(b)));
  return header(previous) + stringify({ services: sorted, ...(backup ? { backup } : {}) }, { lineWidth: 0 });
}

export function writeManifest(projectDir: string, stack: string, services: ReleaseServices): void {
  const path = join(projectDir, releaseFileName(stack));
  const text = manifestText(existsSync(path) ? readFileSync(path, "utf8") : "", services);
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
}

const describeEntry = (e: ReleaseEntry) => `${e.image.slice(e.image.indexOf("@") + 1, e.image.indexOf("@") + 20)}… (commit ${e.commit.slice(0, 8)})`;

/** Writes `after` when any service's entry differs from `before`; returns one line per change, `from → to`, for people and CI logs. */
export function writeChanges(projectDir: string, stack: string, before: ReleaseServices, after: ReleaseServices, total: number): string {
  const changed = Object.keys(after)
    .sort()
    .filter((s) => JSON.stringify(before[s]) !== JSON.stringify(after[s]));
  if (changed.length === 0) return `${releaseFileName(stack)}: nothing changes (${total} service(s) already pinned to these digests)`;
  writeManifest(projectDir, stack, after);
  return [
    `${releaseFileName(stack)}: ${changed.length} service(s) change`,
    ...changed.map((s) => `  ${s}: ${before[s] ? describeEntry(before[s]) : "(not pinned)"} → ${describeEntry(after[s])}`),
  ].join("\n");
}
