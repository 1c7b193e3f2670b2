/**
 * Small stand-in images for the release and housekeeping tests: built FROM
 * scratch with one marker file (so two builds with different markers are two
 * different images), pushed with dockerode's per-call auth, so nothing is
 * written to the Docker CLI's config. Every call names only images the test made.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { follow } from "../../testing/images";

/** Builds `ref` (repository:tag) with a marker file holding `marker`; returns the image ID. */
export async function buildMarkerImage(docker: Docker, ref: string, marker: string, labels: Record<string, string> = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "po-image-"));
  try {
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY marker /marker\n");
    writeFileSync(join(dir, "marker"), marker);
    const tar = execFileSync("tar", ["-C", dir, "-c", "Dockerfile", "marker"]);
    const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, { t: ref, labels, rm: true });
    await follow(docker, stream);
    return (await docker.getImage(ref).inspect()).Id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pushes `ref` to its registry; returns the image's RepoDigests afterwards. */
export async function pushImage(docker: Docker, ref: string, login: { username: string; password: string; host: string }): Promise<string[]> {
  const stream = await docker.getImage(ref).push({ authconfig: { username: login.username, password: login.password, serveraddress: login.host } });
  await follow(docker, stream);
  return (await docker.getImage(ref).inspect()).RepoDigests ?? [];
}

/** Removes images by ID or reference, ignoring those already gone. */
export async function removeImages(docker: Docker, refs: string[]): Promise<void> {
  for (const ref of refs) await docker.getImage(ref).remove({ force: true }).catch((e: { statusCode?: number }) => {
    if (e.statusCode !== 404) throw e;
  });
}
