/** Small readers over recorded registrations, so tests state expectations rather than plumbing. */
import { LABELS } from "../../model/naming";
import { TYPES, ofType, type ProgramRun, type RegisteredResource } from "./program";

export const containers = (run: ProgramRun) => ofType(run, TYPES.container);
export const networks = (run: ProgramRun) => ofType(run, TYPES.network);
export const volumes = (run: ProgramRun) => ofType(run, TYPES.volume);

export const labelsOf = (c: RegisteredResource): Record<string, string> =>
  Object.fromEntries((c.inputs.labels ?? []).map((l: { label: string; value: string }) => [l.label, l.value]));

export const envOf = (c: RegisteredResource): Record<string, string> =>
  Object.fromEntries((c.inputs.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

export const serviceOf = (c: RegisteredResource) => labelsOf(c)[LABELS.service];

export function containerFor(run: ProgramRun, service: string): RegisteredResource {
  const found = containers(run).filter((c) => serviceOf(c) === service);
  if (found.length !== 1) throw new Error(`expected one container for ${service}, found ${found.length}`);
  return found[0];
}

/** Network name → aliases, for one container. */
export const attachmentsOf = (c: RegisteredResource): Record<string, string[]> =>
  Object.fromEntries((c.inputs.networksAdvanced as { name: string; aliases?: string[] }[]).map((n) => [n.name, n.aliases ?? []]));

/** Every Traefik router, service and middleware name a container's labels declare. */
export function traefikObjects(c: RegisteredResource) {
  const objects = { routers: new Set<string>(), services: new Set<string>(), middlewares: new Set<string>(), rules: new Set<string>() };
  for (const [label, value] of Object.entries(labelsOf(c))) {
    const m = /^traefik\.http\.(routers|services|middlewares)\.([^.]+)\.(.+)$/.exec(label);
    if (!m) continue;
    objects[m[1] as "routers" | "services" | "middlewares"].add(m[2]);
    if (m[1] === "routers" && m[3] === "rule") objects.rules.add(value);
  }
  return objects;
}
