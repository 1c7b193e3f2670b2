/**
 * What `npm run up` does around `pulumi up` so that a failed create is never
 * accepted later and a perpetual diff is caught on the deploy that causes it.
 * Pure functions; tools/pulumi-cli.ts runs them.
 *
 * Before: a container whose `wait` timed out stays in the state with
 * `initErrors` (the provider had set its ID: kreuzwerker
 * internal/provider/resource_docker_container_funcs.go,
 * resourceDockerContainerCreate; pulumi sdk/go/common/apitype/core.go,
 * ResourceV3.InitErrors, as `pulumi stack export` prints it). The next plain
 * `up` would only send it an empty update, which never waits again, and, for a
 * zero-downtime service whose replacement failed, delete the previous revision
 * that Pulumi marked `delete: true` (pkg/resource/deploy/step.go, CreateStep:
 * "Mark the old resource as pending deletion"; deleted at the end of the next
 * update by GenerateDeletes). So each such resource is replaced (`--replace`),
 * or, where that is not safe to do unasked, the run stops and says what to run.
 *
 * After: `pulumi preview --refresh --expect-no-changes` (pkg/cmd/pulumi/operations/preview.go:
 * NoChangesExpectedError when engine.HasChanges): right after its own `up`,
 * anything it plans is a perpetual diff, named by resource and property.
 */
import { names } from "../model/naming";
import { dataKindOf, mountsDataVolume } from "./ci/data-safety-gate";
import { type PreviewDigest, describeChange, errorDiagnostics, listChanges, type ResourceState } from "./ci/preview-json";

/** One resource of `pulumi stack export`'s `deployment.resources` (apitype.ResourceV3), the fields read here. */
export interface ExportedResource extends ResourceState {
  urn: string;
  type: string;
  delete?: boolean;
  initErrors?: string[];
  outputs?: Record<string, unknown>;
}

/** `pulumi stack export` output (apitype.UntypedDeployment wrapping DeploymentV3). */
export function exportedResources(exported: unknown): ExportedResource[] {
  const resources = (exported as { deployment?: { resources?: unknown } } | null)?.deployment?.resources;
  if (resources === undefined) return [];
  if (!Array.isArray(resources)) throw new Error("pulumi stack export: deployment.resources is not a list");
  return resources as ExportedResource[];
}

const CONTAINER = "docker:index/container:Container";

export interface InitErrorRecovery {
  /** URNs to pass as `--replace`. */
  replace: string[];
  /** One line per replaced resource, saying why. */
  notices: string[];
  /** Resources the run must stop for, each with what to run. Empty: go ahead. */
  stops: string[];
}

/** The `--replace` URNs already given after `--`. */
function replacedByHand(passthrough: string[]): Set<string> {
  const urns = new Set<string>();
  passthrough.forEach((arg, i) => {
    if (arg === "--replace" && passthrough[i + 1]) urns.add(passthrough[i + 1]);
    else if (arg.startsWith("--replace=")) urns.add(arg.slice("--replace=".length));
  });
  return urns;
}

export function planInitErrorRecovery(resources: ExportedResource[], ctx: { stack: string; dataProtected: boolean; passthrough: string[] }): InitErrorRecovery {
  const result: InitErrorRecovery = { replace: [], notices: [], stops: [] };
  const byHand = replacedByHand(ctx.passthrough);
  for (const r of resources) {
    if (r.delete || !r.initErrors?.length || byHand.has(r.urn)) continue;
    const name = String(r.outputs?.name ?? r.inputs?.name ?? r.urn.split("::").pop());
    const why = r.initErrors.map((e) => e.trim()).join("; ");
    const previous = resources.find((o) => o.delete && o.urn === r.urn);
    if (r.type === CONTAINER && names.isRevisionContainer(name)) {
      // A replacement would be created first under the same name, which Docker refuses (409).
      result.stops.push(
        [
          `${name} failed in an earlier up (${why}).`,
          previous
            ? `  Its previous revision${previous.outputs?.name ? ` ${previous.outputs.name}` : ""} still serves, and a plain up would keep the failed one and remove that.`
            : "  A plain up would keep it as it is, never waiting for it again.",
          `  Find why (docker logs ${name}); then remove the failed revision and forget it, and run up again:`,
          `    docker rm -f ${name}`,
          `    pulumi refresh --stack ${ctx.stack} --target '${r.urn}' --yes`,
          `    npm run up -- --stack ${ctx.stack}`,
          "  That up creates the revision anew and waits for it; the previous one is removed only once it is healthy.",
        ].join("\n"),
      );
    } else if (ctx.dataProtected && (dataKindOf(r.urn) || mountsDataVolume(r))) {
      // The deploy's data-safety gate judged a preview without this replacement: it is not ours to add.
      result.stops.push(
        [
          `${name} holds data on a protected stack and failed in an earlier up (${why}).`,
          "  Replacing its container keeps its volume, but the data-safety gate has not seen that replacement. Check it, then run:",
          `    npm run up -- --stack ${ctx.stack} -- --replace '${r.urn}'`,
        ].join("\n"),
      );
    } else {
      result.replace.push(r.urn);
      result.notices.push(`${name} failed in an earlier up (${why}); this up replaces it (--replace) and waits for it again.`);
    }
  }
  return result;
}

export const formatStops = (stack: string, stops: string[]) =>
  [`pulumi-cli: up of ${stack} stopped before changing anything: ${stops.length} resource(s) failed in an earlier up and must not be accepted as they are.`, ...stops.map((s) => `  - ${s}`)].join(
    "\n",
  );

export interface SettledCheck {
  ok: boolean;
  lines: string[];
}

/** Judges the digest of the refresh-and-preview run right after `up`: any change it plans fails, by resource and property. */
export function judgeSettled(stack: string, digest: PreviewDigest, exitCode: number): SettledCheck {
  const changes = listChanges(digest);
  const errors = errorDiagnostics(digest);
  if (changes.length === 0 && exitCode === 0) return { ok: true, lines: [`settled: stack ${stack} matches the program after a refresh; a second up would change nothing.`] };
  return {
    ok: false,
    lines: [
      changes.length
        ? `settled: stack ${stack} is NOT settled: right after up, a refresh and preview still plans ${changes.length} change(s). Each is re-applied by every up (a replacement each time, for ForceNew properties); send the value the provider reads back (model/read-back.ts):`
        : `settled: the refresh and preview of stack ${stack} failed (exit ${exitCode}):`,
      ...changes.map((c) => `  - ${describeChange(c)}`),
      ...errors.map((e) => `  error: ${e}`),
    ],
  };
}
