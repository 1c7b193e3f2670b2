/**
 * Images built from other images for the e2e suites and the bench: the same files under another image ID,
 * which a rolling update, a release variant or a pinned digest needs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";

type ProgressEvent = { error?: string; aux?: { ID?: string } };

/** Every event of a build or push; a failed step rejects (the daemon reports it as an event, not an HTTP error). */
export const follow = (docker: Docker, stream: NodeJS.ReadableStream) =>
  new Promise<ProgressEvent[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: ProgressEvent[]) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed!.error));
      else resolve(events);
    }),
  );

/**
 * Builds an image FROM `base` with `labels` and any further Dockerfile `lines`: the same files under another
 * image ID (or, with a line such as an ENTRYPOINT, a deliberately different behaviour). Tagged `ref` when
 * given; returns the image ID, from the build's `aux` event.
 */
export async function buildImageFrom(docker: Docker, base: string, opts: { labels: Record<string, string>; lines?: string[]; ref?: string }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "po-image-"));
  try {
    writeFileSync(join(dir, "Dockerfile"), [`FROM ${base}`, ...(opts.lines ?? [])].join("\n") + "\n");
    const stream = await docker.buildImage({ context: dir, src: ["Dockerfile"] }, { ...(opts.ref ? { t: opts.ref } : {}), labels: opts.labels, rm: true });
    const id = (await follow(docker, stream)).find((e) => e.aux?.ID)?.aux?.ID;
    if (!id) throw new Error(`building FROM ${base} reported no image ID`);
    return id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
