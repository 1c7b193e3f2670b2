/** How much memory and CPU each container gets: catalog default x stack scale, unless config pins it. */
import type { Resources } from "../catalog/types";

export interface ResourceOverride {
  memoryMb?: number;
  cpus?: number;
}

export function sizeContainer(defaults: Resources, scale: number, override: ResourceOverride = {}): Resources {
  return {
    // Docker rejects limits below 6 MiB; the schema keeps overrides >= 64, and so do we for scaled defaults.
    // Scaling never goes below the software's floor; config/ refuses an override under it.
    memoryMb: override.memoryMb ?? Math.max(64, defaults.minMemoryMb ?? 0, Math.round(defaults.memoryMb * scale)),
    // Two decimals: Docker takes NanoCPUs, and a float like 0.30000000000000004 would churn the diff.
    cpus: override.cpus ?? Math.max(0.05, Math.round(defaults.cpus * scale * 100) / 100),
  };
}

/** Elastic's guidance: heap at half the container's memory, leaving the rest to the filesystem cache. */
export const elasticsearchHeapMb = (memoryMb: number) => Math.floor(memoryMb / 2);
