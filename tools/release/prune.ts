/**
 * npm run prune-images -- [--dry-run]
 *
 * Image housekeeping on the Docker host DOCKER_HOST names. The app images are
 * pulled with keepLocally (qual and prod share the image store), so old ones
 * pile up. This keeps, per service and per stack, the images of the last N
 * releases (config `keepReleases`, default 3; the releases are the versions of
 * releases/<stack>.yaml in git, newest first) so a rollback works offline, and
 * every image a container uses (running or stopped). It removes the other
 * images of this project's registry paths, and never touches an image with any
 * reference outside them (the webapp's, Traefik's, anyone's).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type Docker from "dockerode";
import { parse } from "yaml";
import { SERVICE_NAMES } from "../../catalog/services";
import { parseImageReference } from "../../model/image-ref";
import { RELEASES_DIR, releaseFileName, releaseManifestSchema } from "../../config/release";
import { stackConfigSchema } from "../../config/schema";
import { readStackFileConfig } from "../../config/stack-files";
import { assertDaemon, dockerClient } from "../../host/docker";
import { PROJECT } from "../../model/naming";
import { imageRepository, readManifest, stackRegistry } from "./manifest";
import { PROJECT_DIR, runCli } from "../run-cli";

/** One stack's releases, newest first: each is service → `repository@sha256:…`. */
export type ReleaseHistory = Record<string, string>[];

export interface PruneOptions {
  /** Every repository of this project (registry path + catalog repository): nothing outside them is touched. */
  repositories: string[];
  /** Per stack: its release history and how many releases to keep. */
  stacks: Record<string, { history: ReleaseHistory; keep: number }>;
  dryRun?: boolean;
}

export interface PruneResult {
  removed: { id: string; references: string[] }[];
  kept: { id: string; references: string[]; why: string }[];
  failed: { id: string; references: string[]; error: string }[];
}

/** The pins the last `keep` distinct releases of each service hold, per stack. */
export function pinsToKeep(stacks: PruneOptions["stacks"]): Map<string, string> {
  const keep = new Map<string, string>();
  for (const [stack, { history, keep: n }] of Object.entries(stacks)) {
    for (const service of new Set(history.flatMap((release) => Object.keys(release)))) {
      const images = [...new Set(history.flatMap((release) => release[service] ?? []))].slice(0, n);
      images.forEach((image, i) => keep.has(image) || keep.set(image, `release ${i + 1} of the last ${n} of ${service} on ${stack}`));
    }
  }
  return keep;
}

export async function pruneImages(docker: Docker, options: PruneOptions): Promise<PruneResult> {
  const ours = new Set(options.repositories);
  const keep = pinsToKeep(options.stacks);
  const [images, containers] = await Promise.all([docker.listImages({ all: false }), docker.listContainers({ all: true })]);
  const used = new Map<string, string[]>();
  for (const c of containers) used.set(c.ImageID, [...(used.get(c.ImageID) ?? []), c.Names[0]?.replace(/^\//, "") ?? c.Id]);
  const result: PruneResult = { removed: [], kept: [], failed: [] };
  for (const image of images) {
    const digests = (image.RepoDigests ?? []).filter((d) => d !== "<none>@<none>");
    const references = [...(image.RepoTags ?? []).filter((t) => t !== "<none>:<none>"), ...digests];
    // Ours only when every reference is ours: one foreign name makes the whole image someone else's.
    if (references.length === 0 || !references.every((r) => ours.has(parseImageReference(r)?.repository ?? r))) continue;
    const users = used.get(image.Id);
    const pinned = digests.find((d) => keep.has(d));
    const why = users ? `used by ${users.join(", ")}` : pinned && keep.get(pinned);
    if (why) {
      result.kept.push({ id: image.Id, references, why });
    } else if (options.dryRun) {
      result.removed.push({ id: image.Id, references });
    } else {
      try {
        // By reference, never by force: the daemon itself refuses to remove an image a container uses.
        for (const reference of references) {
          await docker
            .getImage(reference)
            .remove()
            .catch((e: { statusCode?: number }) => {
              // Removing its last other reference may already have deleted the image.
              if (e.statusCode !== 404) throw e;
            });
        }
        result.removed.push({ id: image.Id, references });
      } catch (error) {
        result.failed.push({ id: image.Id, references, error: (error as Error).message });
      }
    }
  }
  return result;
}

/** git in the project folder; what it says on stderr goes into the error it throws, not onto the terminal. */
const git = (projectDir: string, ...args: string[]) => execFileSync("git", args, { cwd: projectDir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** A stack's releases from git: the manifest as committed, newest first, the working copy before them. */
export function gitReleaseHistory(projectDir: string, stack: string): ReleaseHistory {
  const file = releaseFileName(stack);
  const pins = (services: Record<string, { image: string }>) => Object.fromEntries(Object.entries(services).map(([s, e]) => [s, e.image]));
  const history: ReleaseHistory = [pins(readManifest(projectDir, stack))];
  let commits: string[] = [];
  try {
    commits = git(projectDir, "log", "--format=%H", "--", file).split("\n").filter(Boolean);
  } catch {
    // Not a git checkout: the working copy alone is the history.
  }
  for (const commit of commits) {
    let text: string;
    try {
      text = git(projectDir, "show", `${commit}:${file}`);
    } catch {
      continue; // A commit that deleted the manifest holds no release.
    }
    const parsed = releaseManifestSchema.safeParse(parse(text) ?? {});
    if (parsed.success) history.push(pins(parsed.data.services));
  }
  return history;
}

/** Whether git log sees every release: true outside git (the working copy is all there is), or once unshallowed. */
function fullHistory(projectDir: string): boolean {
  const shallow = () => git(projectDir, "rev-parse", "--is-shallow-repository").trim() === "true";
  try {
    if (!shallow()) return true;
    git(projectDir, "fetch", "--quiet", "--unshallow");
    return !shallow();
  } catch {
    return !existsSync(join(projectDir, ".git"));
  }
}

/** Every stack with a release manifest: its registry paths, its history from git, its `keepReleases` (default 3). */
export function pruneOptionsFor(projectDir: string): PruneOptions {
  const repositories = new Set<string>();
  const stacks: PruneOptions["stacks"] = {};
  for (const stack of readdirSync(join(projectDir, RELEASES_DIR)).flatMap((f) => (f.endsWith(".yaml") ? [f.slice(0, -".yaml".length)] : []))) {
    for (const service of SERVICE_NAMES) repositories.add(imageRepository(stackRegistry(projectDir, stack), service));
    const keep = stackConfigSchema.shape.keepReleases.safeParse(readStackFileConfig(projectDir, stack)[`${PROJECT}:keepReleases`]);
    stacks[stack] = { history: gitReleaseHistory(projectDir, stack), keep: keep.data ?? 3 };
  }
  return { repositories: [...repositories], stacks };
}

export function formatPrune(result: PruneResult, dryRun: boolean): string {
  const line = (x: { references: string[] }) => x.references.join(", ");
  return [
    ...result.removed.map((r) => `${dryRun ? "would remove" : "removed"}  ${line(r)}`),
    ...result.kept.map((k) => `kept     ${line(k)} (${k.why})`),
    ...result.failed.map((f) => `FAILED   ${line(f)}: ${f.error}`),
    `${result.removed.length} image(s) ${dryRun ? "to remove" : "removed"}, ${result.kept.length} of this project's kept, ${result.failed.length} failed`,
  ].join("\n");
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let dryRun: boolean;
  try {
    dryRun = parseArgs({ args: argv, strict: true, options: { "dry-run": { type: "boolean" } } }).values["dry-run"] ?? false;
  } catch (e) {
    err.write(`prune-images: ${(e as Error).message}\nusage: npm run prune-images -- [--dry-run]\n`);
    return 2;
  }
  if (!dryRun && !fullHistory(PROJECT_DIR)) {
    // CI clones shallow: an incomplete history would count too few releases and remove a rollback's image.
    err.write("prune-images: this clone's git history is shallow and could not be deepened; nothing is removed (dry run)\n");
    dryRun = true;
  }
  try {
    const docker = dockerClient();
    await assertDaemon(docker);
    const result = await pruneImages(docker, { ...pruneOptionsFor(PROJECT_DIR), dryRun });
    out.write(`${formatPrune(result, dryRun)}\n`);
    return result.failed.length > 0 ? 1 : 0;
  } catch (e) {
    err.write(`prune-images: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) runCli("prune-images", () => main(process.argv.slice(2)));
