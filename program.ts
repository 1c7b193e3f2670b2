/**
 * The program behind index.ts, with its one dependency on the outside world,
 * the host inventory, passed in so tests can run it against any host.
 */
import * as pulumi from "@pulumi/pulumi";
import { Environment, type EnvironmentOutputs } from "./components/environment";
import { ConfigError, readStackSettings } from "./config/load";
import type { HostInventory } from "./host/inventory";
import { findCollisions } from "./model/collisions";
import { planEnvironment } from "./model/environment";

export interface ProgramDeps {
  /** What already exists on the Docker host. */
  readInventory: () => Promise<HostInventory>;
  /** Where Pulumi.yaml and the stack files are; every stack file there is a stack on the same host. */
  projectDir?: string;
}

export async function runEnvironmentStack(deps: ProgramDeps): Promise<EnvironmentOutputs> {
  const stack = pulumi.getStack();
  const { settings, configSecrets } = readStackSettings(stack, deps.projectDir);
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
  return new Environment(plan.env, { plan, configSecrets }).outputs;
}
