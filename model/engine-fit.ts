/**
 * The plan as it must be sent to the Docker engine it meets, so that what the
 * docker provider reads back after create equals what the program sends
 * (model/read-back.ts has the rules). The engine's facts are read at preview
 * (host/inventory.ts); `make plan`, which reads no host, shows the plan unfitted.
 */
import type { ContainerPlan } from "./container";
import type { CatalogContainerPlan, EnvironmentPlan } from "./environment";
import { START_INTERVAL_API, apiAtLeast, type EngineFacts } from "./read-back";

export function fitContainer<T extends ContainerPlan>(container: T, engine: EngineFacts): T {
  const { startInterval, ...withoutStartInterval } = container.healthcheck;
  return {
    ...container,
    // Older engines: the provider's Docker client refuses any create that sets it, and the daemon would drop it anyway.
    healthcheck: startInterval !== undefined && !apiAtLeast(engine.apiVersion, START_INTERVAL_API) ? withoutStartInterval : container.healthcheck,
    logs:
      container.logs.driver === "json-file"
        ? // The daemon fills in its daemon.json log-opts and the provider reads the merged map back: send it whole, ours winning.
          { ...container.logs, opts: { ...engine.jsonFileLogDefaults, ...container.logs.opts } }
        : container.logs,
    // Where the kernel has no swap accounting, Docker discards a swap limit and reports -1: ask for exactly that.
    memorySwapMb: engine.swapLimit ? container.resources.memoryMb : -1,
  };
}

export function fitToEngine(plan: EnvironmentPlan, engine: EngineFacts): EnvironmentPlan {
  return {
    ...plan,
    containers: plan.containers.map((c): CatalogContainerPlan => fitContainer(c, engine)),
    backup: plan.backup && fitContainer(plan.backup, engine),
  };
}
