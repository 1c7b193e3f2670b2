/**
 * The program behind index.ts, with its one dependency on the outside world,
 * the host inventory, passed in so tests can run it against any host.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment, type EnvironmentOutputs } from "./components/environment";
import { SwarmEnvironment } from "./components/swarm/environment";
import { ConfigError, readStackSettings } from "./config/load";
import type { HostInventory } from "./host/inventory";
import type { VolumeKey } from "./catalog/types";
import { findCollisions } from "./model/collisions";
import { fitToEngine } from "./model/engine-fit";
import { planEnvironment, type EnvironmentPlan } from "./model/environment";
import { planSwarm } from "./model/swarm";
import { layoutProblems, volumesToCheck } from "./model/volume-layout";

export interface ProgramDeps {
  /** What already exists on the Docker host. */
  readInventory: () => Promise<HostInventory>;
  /** Paths in an existing volume, relative to its root, two levels deep, listed with `image` (host/volume-listing.ts). */
  listVolume: (volumeName: string, image: string) => Promise<string[]>;
  /** Where Pulumi.yaml and the stack files are; every stack file there is a stack on the same host. */
  projectDir?: string;
  /** The stack's release manifest as parsed YAML; read from releases/<stack>.yaml when not given. */
  release?: unknown;
}

export async function runEnvironmentStack(deps: ProgramDeps): Promise<EnvironmentOutputs> {
  const stack = pulumi.getStack();
  const { settings, configSecrets, registryAuth } = readStackSettings(stack, deps.projectDir, deps.release);
  const plan = planEnvironment(settings);
  let inventory: HostInventory;
  try {
    inventory = await deps.readInventory();
  } catch (error) {
    throw new ConfigError(`Cannot read the Docker host (DOCKER_HOST=${process.env.DOCKER_HOST ?? "unset"}): ${(error as Error).message}`);
  }
  const collisions = findCollisions(plan, inventory);
  if (collisions.length > 0) {
    throw new ConfigError(
      [
        `Stack "${stack}" would take ${collisions.length} name${collisions.length === 1 ? "" : "s"} or subnet${collisions.length === 1 ? "" : "s"} that something else on the Docker host holds; nothing was created.`,
        ...collisions.map((c) => `  - ${c.kind} ${c.name}: ${c.message}`),
      ].join("\n"),
    );
  }
  await checkAdoptedVolumes(stack, plan, deps);
  if (settings.runtime === "swarm") return new SwarmEnvironment(plan.env, { plan, swarm: planSwarm(settings, plan), configSecrets, registryAuth }).outputs;
  // Sent in the form this engine keeps and the provider reads back, so a second `up` changes nothing.
  return new Environment(plan.env, { plan: fitToEngine(plan, inventory.engine), configSecrets, registryAuth }).outputs;
}

/** An adopted volume whose data is not where its store will look would be served empty: refused before anything is registered. */
async function checkAdoptedVolumes(stack: string, plan: EnvironmentPlan, deps: ProgramDeps): Promise<void> {
  const listings: Partial<Record<VolumeKey, string[]>> = {};
  for (const volume of volumesToCheck(plan)) {
    try {
      listings[volume.key] = await deps.listVolume(volume.volumeName, volume.image);
    } catch (error) {
      throw new ConfigError(`Cannot check the layout of adopted volume ${volume.volumeName}; nothing was created: ${(error as Error).message}`);
    }
  }
  const problems = layoutProblems(plan, listings);
  if (problems.length > 0) {
    throw new ConfigError(
      [
        `Stack "${stack}" would serve ${problems.length === 1 ? "a taken-over volume" : "taken-over volumes"} without ${problems.length === 1 ? "its" : "their"} data; nothing was created.`,
        ...problems.map((p) => `  - ${p.path}: ${p.message}`),
      ].join("\n"),
    );
  }
}
