/**
 * The portugal-odyssey program: one Environment per stack, built on the Docker
 * host DOCKER_HOST names. Config is validated, and the host checked for names
 * that are not ours, before any resource is registered.
 */
import { readDockerInventory } from "./host/inventory";
import { runEnvironmentStack } from "./program";

export = () => runEnvironmentStack({ readInventory: () => readDockerInventory() });
