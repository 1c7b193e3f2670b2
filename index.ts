/**
 * The portugal-odyssey program: one Environment per stack, built on the Docker
 * host DOCKER_HOST names. Config is validated, and the host checked for names
 * that are not ours, before any resource is registered.
 */
import { dockerClient } from "./host/docker";
import { readDockerInventory } from "./host/inventory";
import { listVolume } from "./host/volume-listing";
import { runEnvironmentStack } from "./program";

export = () => {
  const docker = dockerClient();
  return runEnvironmentStack({ readInventory: () => readDockerInventory(docker), listVolume: (volume, image) => listVolume(docker, volume, image) });
};
