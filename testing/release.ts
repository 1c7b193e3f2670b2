/**
 * Release manifests for the mock engine (tests and `npm run bench`): every
 * catalog service pinned to a digest derived from its name and a build label,
 * in the registry the project's stack config names. The committed manifests of
 * a fresh project pin nothing, so mock runs use these unless told otherwise.
 */
import { createHash } from "node:crypto";
import { SERVICE_NAMES, SERVICES, type ServiceName } from "../catalog/services";
import type { ReleaseEntry } from "../config/release";
import { readStackFileConfig } from "../config/stack-files";
import { PROJECT } from "../model/naming";

const sha = (text: string, algorithm: "sha256" | "sha1") => createHash(algorithm).update(text).digest("hex");

/** One service's entry for a given build: another `build` is another digest and commit. */
export function testEntry(projectDir: string, stack: string, service: ServiceName, build = "1"): ReleaseEntry {
  const registry = readStackFileConfig(projectDir, stack)[`${PROJECT}:registry`] as string;
  const repository = `${registry}/${SERVICES[service].repository ?? service}`;
  return {
    image: `${repository}@sha256:${sha(`${service}#${build}`, "sha256")}`,
    commit: sha(`${service}#${build}`, "sha1"),
    pipeline: `https://gitlab.example/portugal-odyssey/${service}/-/pipelines/${build.length}`,
  };
}

/** A complete manifest (as parsed YAML); `builds` moves single services to another build. */
export function testRelease(
  projectDir: string,
  stack: string,
  builds: Partial<Record<ServiceName, string>> = {},
): { services: Record<string, ReleaseEntry>; backup: ReleaseEntry } {
  // The backup image too: a test may give any stack backup config.
  const registry = readStackFileConfig(projectDir, stack)[`${PROJECT}:registry`] as string;
  const backup = { image: `${registry}/backup@sha256:${sha("backup#1", "sha256")}`, commit: sha("backup#1", "sha1"), pipeline: "https://gitlab.example/portugal-odyssey/infra/-/pipelines/1" };
  return { services: Object.fromEntries(SERVICE_NAMES.map((name) => [name, testEntry(projectDir, stack, name, builds[name])])), backup };
}
