/** How much memory and CPU each container gets: catalog default x stack scale, unless config pins it. */
import type { Resources } from "../catalog/types";
import { cpusSurviveReadBack } from "./read-back";

export interface ResourceOverride {
  memoryMb?: number;
  cpus?: number;
}

export function sizeContainer(defaults: Resources, scale: number, override: ResourceOverride = {}): Resources {
  return {
    // Docker rejects limits below 6 MiB; the schema keeps overrides >= 64, and so do we for scaled defaults.
    // Scaling never goes below the software's floor; config/ refuses an override under it.
    memoryMb: override.memoryMb ?? Math.max(64, defaults.minMemoryMb ?? 0, Math.round(defaults.memoryMb * scale)),
    cpus: override.cpus ?? scaledCpus(defaults.cpus * scale),
  };
}

/**
 * Two decimals, so a float like 0.30000000000000004 never churns the diff, and
 * at least 0.1 core. When the provider would read the two-decimal value back as
 * another (0.05 as "0.1", 10.05 as "10.1": model/read-back.ts), one decimal,
 * which it always reads back unchanged.
 */
export function scaledCpus(cores: number): number {
  const twoDecimals = Math.max(0.1, Math.round(cores * 100) / 100);
  return cpusSurviveReadBack(twoDecimals) ? twoDecimals : Math.max(0.1, Math.round(cores * 10) / 10);
}

/** Elastic's guidance: heap at half the container's memory, leaving the rest to the filesystem cache. */
export const elasticsearchHeapMb = (memoryMb: number) => Math.floor(memoryMb / 2);
