/** Which registered resources differ between two runs of the program: the blast radius of a config change. */
import type { ProgramRun } from "./mock-engine";

/** Logical names of resources whose inputs or options differ, or that only one run registered. */
export function changedResources(before: ProgramRun, after: ProgramRun): string[] {
  const index = (run: ProgramRun) => new Map(run.resources.map((r) => [r.urn, JSON.stringify({ inputs: r.inputs, options: r.options })]));
  const a = index(before);
  const b = index(after);
  const urns = new Set([...a.keys(), ...b.keys()]);
  return [...urns].filter((urn) => a.get(urn) !== b.get(urn)).map((urn) => urn.split("::").pop()!).sort();
}

/** The services (by the `<env>-<service>-container` naming) whose containers are among `changed`. */
export const changedContainers = (changed: string[], env: string) =>
  changed.filter((n) => n.endsWith("-container")).map((n) => n.slice(env.length + 1, -"-container".length));
