/**
 * Lists what an existing volume holds, two levels deep, with a one-shot
 * container that mounts it read-only and has no network: nothing in the volume
 * is changed, and the container is removed whatever happens.
 */
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../model/naming";

const MOUNT = "/volume";

async function ensureImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
    return;
  } catch {
    // Not on the host yet: pull it, as the store's own container would need anyway.
  }
  const stream = await docker.pull(image);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
}

/** Paths relative to the volume root, e.g. `pgdata`, `pgdata/PG_VERSION`. */
export async function listVolume(docker: Docker, volumeName: string, image: string): Promise<string[]> {
  await ensureImage(docker, image);
  const container = await docker.createContainer({
    Image: image,
    // Busybox and GNU find both have -maxdepth; root (the image default for every store) can read a 0700 data dir.
    Entrypoint: ["find", MOUNT, "-mindepth", "1", "-maxdepth", "2"],
    Cmd: [],
    User: "0",
    Tty: true,
    Labels: { [LABELS.project]: PROJECT, [`${LABELS.project}.volume-check`]: volumeName },
    HostConfig: { NetworkMode: "none", Mounts: [{ Type: "volume", Source: volumeName, Target: MOUNT, ReadOnly: true }] },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const output = (await container.logs({ stdout: true, stderr: true })).toString("utf8");
    if (StatusCode !== 0) throw new Error(`listing volume ${volumeName} with ${image} failed (exit ${StatusCode}): ${output.trim()}`);
    return output
      .split(/\r?\n/)
      .filter((line) => line.startsWith(`${MOUNT}/`))
      .map((line) => line.slice(MOUNT.length + 1));
  } finally {
    await container.remove({ force: true });
  }
}
