/**
 * Reads the digest of `pulumi preview --refresh --expect-no-changes --json`
 * (run by `npm run drift -- --stack S`) and says what drifted: any resource the
 * refreshed state no longer matches the program for, and any resource a
 * refresh found changed or gone on the Docker host.
 *
 * Pulumi's JSON display prints `refresh` steps only with
 * --show-replacement-steps (they are not "logical" steps, like
 * create-replacement), so `npm run drift` passes it; a replacement then shows
 * as three steps, which listChanges counts once.
 */
import { type PreviewDigest, type PreviewStep, listChanges, parseUrn } from "./preview-json";

export interface DriftItem {
  name: string;
  type: string;
  what: string;
}

const stable = (v: unknown): string => JSON.stringify(v, (_k, val) => (val && typeof val === "object" && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => a.localeCompare(b))) : val));

/**
 * A refresh step drifted when the host's state differs from the recorded one
 * in a property the program declares, or the resource is gone.
 *
 * Only the keys of the recorded inputs count. Every other output is computed
 * by the provider and moves without anyone touching the resource: a
 * container's `networkData` (its IP and MAC addresses) changes whenever the
 * daemon restarts it, and reporting that would make the drift job cry wolf.
 */
function refreshDrift(step: PreviewStep): string | undefined {
  if (step.op !== "refresh") return undefined;
  if (step.oldState && !step.newState) return "deleted outside Pulumi";
  if (!step.oldState || !step.newState) return undefined;
  const before = step.oldState.outputs ?? {};
  const after = step.newState.outputs ?? {};
  const declared = Object.keys(step.oldState.inputs ?? {});
  const keys = declared.filter((k) => stable(before[k]) !== stable(after[k])).sort();
  return keys.length ? `changed outside Pulumi: ${keys.join(", ")}` : undefined;
}

export function findDrift(digest: PreviewDigest): DriftItem[] {
  const items: DriftItem[] = [];
  for (const step of digest.steps ?? []) {
    const what = refreshDrift(step);
    if (what) {
      const { name, type } = parseUrn(step.urn);
      items.push({ name, type, what });
    }
  }
  for (const change of listChanges(digest)) {
    const because = change.reasons.length ? ` (${change.reasons.join(", ")})` : "";
    items.push({ name: change.name, type: change.type, what: `the next deploy would ${change.action} it${because}` });
  }
  return items;
}

export function formatDrift(stack: string, items: DriftItem[]): string {
  if (!items.length) return `drift: stack ${stack} matches the Docker host and the program; no drift.`;
  return [`drift: stack ${stack} has DRIFTED (${items.length}):`, ...items.map((i) => `  - ${i.name} [${i.type}]: ${i.what}`)].join("\n");
}
