/**
 * Builders for the JSON Pulumi prints, in the exact shape and wording of the
 * CLI the pipeline runs (PULUMI_VERSION in .gitlab-ci.yml), so fixtures and
 * tests never invent a field. Each shape is cited to the pulumi/pulumi file it
 * is read from:
 *
 * - The document: pkg/display/json.go (PreviewDigest: config, steps,
 *   diagnostics, duration in nanoseconds, changeSummary keyed by op, maybeCorrupt;
 *   PreviewStep: op, urn, provider, oldState, newState, diffReasons,
 *   replaceReasons, and detailedDiff, which has no omitempty and is `null`
 *   when absent; PropertyDiff: kind, inputDiff).
 * - A step's states: sdk/go/common/apitype/core.go (ResourceV3: urn, custom,
 *   id, type, inputs, outputs, parent, protect, provider, …; secrets are the
 *   string "[secret]", pkg/backend/display/json.go, stateForJSONOutput).
 * - Which steps a preview prints and how a refresh step becomes `update` or
 *   `delete`: pkg/backend/display/json.go (ShowPreviewDigest) and
 *   pkg/resource/deploy/step.go (RefreshStep.ResultOp).
 * - Diagnostics: `message` is the severity prefix plus the text, uncoloured
 *   (ShowPreviewDigest; sdk/go/common/diag/sink.go, Stringify), and ends in a newline.
 * - detailedDiff kinds: sdk/go/common/resource/plugin/provider.go (DiffKind.String).
 */
import type { PreviewDigest, PreviewDiagnostic, PreviewStep, ResourceState } from "../../../tools/ci/preview-json";

export const PROJECT = "portugal-odyssey";
const ENVIRONMENT = `${PROJECT}:platform:Environment`;
export const TYPES = {
  stack: "pulumi:pulumi:Stack",
  volume: "docker:index/volume:Volume",
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  dataStore: `${PROJECT}:platform:DataStore`,
  appService: `${PROJECT}:platform:AppService`,
} as const;

/** A URN as the engine builds it: the parent chain's types joined by `$`, the root stack left out (sdk/go/common/resource/urn.go). */
export const urn = (stack: string, chain: string[], name: string) => `urn:pulumi:${stack}::${PROJECT}::${chain.join("$")}::${name}`;
export const stackUrn = (stack: string) => urn(stack, [TYPES.stack], `${PROJECT}-${stack}`);
export const volumeUrn = (stack: string, key: string) => urn(stack, [ENVIRONMENT, TYPES.volume], `${stack}-volume-${key}`);
export const storeContainerUrn = (stack: string, store: string) => urn(stack, [ENVIRONMENT, TYPES.dataStore, TYPES.container], `${stack}-${store}-container`);
export const appContainerUrn = (stack: string, service: string) => urn(stack, [ENVIRONMENT, TYPES.appService, TYPES.container], `${stack}-${service}-container`);
export const networkUrn = (stack: string, name: string) => urn(stack, [ENVIRONMENT, TYPES.network], `${stack}-network-${name}`);
const providerRef = (stack: string) => `urn:pulumi:${stack}::${PROJECT}::pulumi:providers:docker::default_5_2_0::0b7f3c4e-1d2a-4c5b-9e8f-6a7b8c9d0e1f`;

const typeOf = (u: string) => u.split("::")[2].split("$").pop()!;

export function state(u: string, inputs: Record<string, unknown> = {}, outputs: Record<string, unknown> = inputs, extra: Partial<ResourceState> = {}): ResourceState {
  const custom = !typeOf(u).startsWith(`${PROJECT}:`) && typeOf(u) !== TYPES.stack;
  return {
    urn: u,
    custom,
    ...(custom ? { id: `${u.split("::").pop()}-id` } : {}),
    type: typeOf(u),
    ...(Object.keys(inputs).length ? { inputs } : {}),
    ...(Object.keys(outputs).length ? { outputs } : {}),
    ...(custom ? { provider: providerRef(u.split("::")[0].slice("urn:pulumi:".length)) } : {}),
    ...extra,
  };
}

export interface StepParts {
  old?: ResourceState;
  new?: ResourceState;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff: boolean }> | null;
}

export function step(op: string, u: string, parts: StepParts = {}): PreviewStep {
  const custom = (parts.old ?? parts.new)?.custom;
  return {
    op,
    urn: u,
    ...(custom ? { provider: providerRef(u.split("::")[0].slice("urn:pulumi:".length)) } : {}),
    ...(parts.old ? { oldState: parts.old } : {}),
    ...(parts.new ? { newState: parts.new } : {}),
    ...(parts.diffReasons?.length ? { diffReasons: parts.diffReasons } : {}),
    ...(parts.replaceReasons?.length ? { replaceReasons: parts.replaceReasons } : {}),
    detailedDiff: parts.detailedDiff ?? null,
  };
}

export const errorDiagnostic = (u: string | undefined, text: string): PreviewDiagnostic => ({ ...(u ? { urn: u } : {}), message: `error: ${text}\n`, severity: "error" });

/** pkg/resource/deploy/step_generator.go: a replace of a resource marked protect. */
export const replaceProtected = (u: string) =>
  errorDiagnostic(
    u,
    `unable to replace resource "${u}"\nas it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\``,
  );

/** pkg/resource/deploy/step_generator.go: a protected dependent of a delete-before-replace replacement; the diagnostic carries the replaced resource's URN. */
export const replaceProtectedAsPartOf = (dependent: string, replaced: string) =>
  errorDiagnostic(
    replaced,
    `unable to replace resource "${dependent}" as part of replacing "${replaced}" as it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n\`pulumi state unprotect '${dependent}'\``,
  );

/** pkg/resource/deploy/step.go (deleteProtectedError), as a preview reports it (sdk/go/common/diag/errors.go, GetPreviewFailedError). */
export const deleteProtected = (u: string) =>
  errorDiagnostic(
    u,
    `Preview failed: resource "${u}" cannot be deleted\nbecause it is protected. To unprotect the resource, either remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n\`pulumi state unprotect '${u}'\``,
  );

export function digest(stack: string, steps: PreviewStep[], diagnostics: PreviewDiagnostic[] = [], same = 0): PreviewDigest {
  const changeSummary: Record<string, number> = {};
  for (const s of steps) if (s.op !== "same" && s.op !== "refresh") changeSummary[s.op] = (changeSummary[s.op] ?? 0) + 1;
  if (same) changeSummary.same = same;
  return {
    config: { [`${PROJECT}:domain`]: stack === "prod" ? "portugalodyssey.pt" : `${stack}.portugalodyssey.pt`, [`${PROJECT}:imageTag`]: "main", [`${PROJECT}:smtpPassword`]: "[secret]" },
    steps,
    ...(diagnostics.length ? { diagnostics } : {}),
    duration: 4_182_000_000,
    changeSummary,
  };
}
