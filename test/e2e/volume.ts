/** One labelled volume of an e2e run on the local daemon, the stand-in image, and a root shell on the volume. */
import type Docker from "dockerode";
import { exec } from "../../backup/docker-drill";
import { Applier } from "./applier";
import { assertNotADeploymentHost, buildStandinImage, dockerStatus } from "./host";

export interface StandinVolume {
  image: string;
  volume: string;
  /** Runs a shell line in a throwaway container with the volume at `mountPath`, as root; returns its output. */
  inVolume(line: string): Promise<string>;
}

/** Creates `<runId>-<name>`; everything it makes carries the run's label (removeLabelled takes it away). */
export async function standinVolume(docker: Docker, runId: string, name: string, mountPath: string): Promise<StandinVolume> {
  const status = dockerStatus();
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  await assertNotADeploymentHost(docker);
  const image = buildStandinImage();
  const applier = new Applier(docker, runId, image);
  const volume = `${runId}-${name}`;
  await docker.createVolume({ Name: volume, Labels: applier.labels });
  return {
    image,
    volume,
    inVolume: async (line) => {
      const c = await applier.createContainer({ Image: image, Entrypoint: ["sleep", "60"], HostConfig: { Binds: [`${volume}:${mountPath}`], NetworkMode: "none" } });
      try {
        return await exec(docker, c.id, ["sh", "-c", line]);
      } finally {
        await c.remove({ force: true });
      }
    },
  };
}
