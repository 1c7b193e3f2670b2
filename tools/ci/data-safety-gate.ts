/**
 * Fails a preview that would replace or delete data on a protected stack.
 *
 * Data means: every `docker:index/volume:Volume` (every volume in this project
 * holds data), every container under a DataStore component (postgres,
 * rabbitmq, …), and every container that mounts a volume. A step is judged by
 * every URN it carries, its own and its old state's: a store container moved
 * under another parent with an alias and then replaced keeps its DataStore
 * parent only in `oldState.urn` (pkg/display/json.go, PreviewStep: `urn`,
 * `oldState`, `newState` are apitype.ResourceV3 with `urn`, `type`, `inputs`).
 *
 * The gate fails closed: it knows the ops that leave the existing resource in
 * place, and blocks every other op on a data resource, including ops a newer
 * Pulumi may add (op names: pkg/resource/deploy/step.go, `Op…` constants).
 *
 * It reads the digest of a failed preview too: when the change hits a
 * resource marked `protect`, Pulumi itself refuses it with an error
 * diagnostic (see protectionRefusals), and the gate still names the data
 * resource instead of leaving only the engine's URN in the log.
 *
 *   npx tsx tools/ci/data-safety-gate.ts --stack prod preview-prod.json
 *
 * Whether the stack is protected comes from its stack file (`data.protect` in
 * Pulumi.<stack>.yaml, default true), the one place protection is declared.
 * Exit status: 0 pass, 1 blocked, 2 usage, unreadable preview or stack file.
 */
import { parseArgs } from "node:util";
import { dataIsProtected } from "../../config/data-protection";
import { PROJECT_DIR } from "../run-cli";
import { TYPE_TOKENS } from "../../model/naming";
import { CHANGES, type PreviewDigest, type PreviewStep, type ResourceState, type StepOp, parseUrn, protectionRefusals, readPreviewFile } from "./preview-json";

const VOLUME_TYPE = "docker:index/volume:Volume";
const CONTAINER_TYPE = "docker:index/container:Container";
/** The DataStore component by any project prefix: a renamed project or type token still counts. */
const DATA_STORE_TYPE = new RegExp(`(^|:)${TYPE_TOKENS.dataStore.split(":").pop()}$`);

/**
 * Ops that leave the resource that exists today where it is (pkg/resource/deploy/step.go):
 * nothing, a read of an external resource, a refresh, a new resource, an
 * in-place update, an import of an existing one, forgetting a read resource.
 * Anything else on a data resource is blocked.
 */
const SAFE_OPS: ReadonlySet<StepOp> = new Set(["same", "read", "refresh", "create", "update", "import", "discard"]);

export type DataKind = "data volume" | "data store" | "container with a data volume" | "protected resource";

export interface BlockedResource {
  name: string;
  type: string;
  kind: DataKind;
  urn: string;
  /** What Pulumi would do: `replace`, `delete`, or the raw op it printed. */
  action: string;
  reasons: string[];
  /** Pulumi's own preview refused it as well (an error diagnostic: the resource is marked `protect`). */
  refusedAsProtected: boolean;
  /** The resource it was found through, when that is not itself (moved with an alias, or replaced as part of another). */
  via?: string;
}

export interface GateResult {
  stack: string;
  protected: boolean;
  blocked: BlockedResource[];
}

/** What kind of data a resource holds, judged from one URN; undefined for anything else. */
export function dataKindOf(urn: string | undefined): DataKind | undefined {
  if (!urn?.startsWith("urn:pulumi:")) return undefined;
  const { type, parentTypes } = parseUrn(urn);
  if (type === VOLUME_TYPE) return "data volume";
  if (type === CONTAINER_TYPE && parentTypes.some((t) => DATA_STORE_TYPE.test(t))) return "data store";
  return undefined;
}

/**
 * Whether a container's recorded or planned inputs mount a Docker volume: the
 * provider's `volumes[].volumeName` and `mounts[]` of `type: volume`
 * (@pulumi/docker, ContainerVolume.volumeName, ContainerMount.type/source).
 */
export function mountsDataVolume(state: ResourceState | undefined): boolean {
  if (!state || state.type !== CONTAINER_TYPE) return false;
  const { volumes, mounts } = state.inputs ?? {};
  const named = Array.isArray(volumes) && volumes.some((v) => typeof v?.volumeName === "string" && v.volumeName !== "");
  return named || (Array.isArray(mounts) && mounts.some((m) => m?.type === "volume"));
}

/** The data kind of a step, from its URN, its old and new state's URNs, and what its containers mount. */
export function dataKindOfStep(step: PreviewStep): { kind: DataKind; via?: string } | undefined {
  for (const urn of [step.urn, step.oldState?.urn, step.newState?.urn]) {
    const kind = dataKindOf(urn);
    if (kind) return { kind, ...(urn !== step.urn ? { via: urn } : {}) };
  }
  if (mountsDataVolume(step.oldState) || mountsDataVolume(step.newState)) return { kind: "container with a data volume" };
  return undefined;
}

/** The stack the preview is for: the one given, or the one its URNs name. */
export function stackOfPreview(digest: PreviewDigest, given?: string): string {
  if (given) return given;
  const stacks = new Set((digest.steps ?? []).map((s) => parseUrn(s.urn).stack));
  if (stacks.size === 1) return [...stacks][0];
  throw new Error(
    stacks.size === 0 ? "the preview has no steps to name its stack; pass --stack" : `the preview mixes stacks ${[...stacks].join(", ")}; pass --stack`,
  );
}

export function evaluateGate(digest: PreviewDigest, stack: string, isProtected: boolean): GateResult {
  if (!isProtected) return { stack, protected: false, blocked: [] };
  const blocked = new Map<string, BlockedResource>();
  // A resource can be found twice (its own step and Pulumi's refusal): one entry, a replace outranks any other action.
  const add = (urn: string, entry: Omit<BlockedResource, "name" | "type" | "urn">) => {
    const previous = blocked.get(urn);
    if (previous) {
      previous.reasons = [...new Set([...previous.reasons, ...entry.reasons])];
      previous.refusedAsProtected ||= entry.refusedAsProtected;
      if (entry.action === "replace") previous.action = "replace";
      previous.via ??= entry.via;
    } else {
      const { name, type } = parseUrn(urn);
      blocked.set(urn, { name, type, urn, ...entry });
    }
  };
  for (const step of digest.steps ?? []) {
    if (SAFE_OPS.has(step.op)) continue;
    const data = dataKindOfStep(step);
    if (!data) continue;
    const reasons = step.replaceReasons ?? step.diffReasons ?? [];
    add(step.urn, { ...data, action: CHANGES[step.op] ?? step.op, reasons, refusedAsProtected: false });
  }
  for (const refusal of protectionRefusals(digest)) {
    // Pulumi refused it because it is marked protect, and only data is: it is
    // blocked even when its URN does not say which kind of data it holds.
    add(refusal.urn, { kind: dataKindOf(refusal.urn) ?? "protected resource", action: refusal.action, reasons: [], refusedAsProtected: true });
    const partOfKind = dataKindOf(refusal.partOf);
    if (refusal.partOf && partOfKind) add(refusal.partOf, { kind: partOfKind, action: "replace", reasons: [], refusedAsProtected: false, via: refusal.urn });
  }
  return { stack, protected: true, blocked: [...blocked.values()] };
}

export function describeBlocked(b: BlockedResource): string {
  const why = b.reasons.length ? ` (because of: ${b.reasons.join(", ")})` : "";
  const via = b.via ? `; found through ${b.via}` : "";
  const refused = b.refusedAsProtected ? "; Pulumi refused it too: the resource is marked protect" : "";
  return `${b.action} of ${b.kind} ${b.name} [${b.type}]${why}${via}${refused}`;
}

export function formatGateResult(result: GateResult): string {
  if (!result.protected) return `data-safety gate: stack ${result.stack} is not protected (data.protect is false in Pulumi.${result.stack}.yaml); nothing checked.`;
  if (result.blocked.length === 0) return `data-safety gate: stack ${result.stack} passed; no data resource is replaced, deleted or touched by an op the gate does not know.`;
  return [
    `data-safety gate: stack ${result.stack} FAILED; this preview would destroy data or touch it with an op the gate does not know:`,
    ...result.blocked.map((b) => `  - ${describeBlocked(b)}`),
    "Change the program so these resources are updated in place, or migrate the data by hand first.",
  ].join("\n");
}

export function parseGateArgs(argv: string[]) {
  const options = { stack: { type: "string", short: "s" }, "project-dir": { type: "string" } } as const;
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options });
  for (const flag of ["stack", "project-dir"] as const) {
    if (values[flag] === "") throw new Error(`--${flag} needs a value`);
  }
  if (positionals.length !== 1) throw new Error("usage: data-safety-gate [--stack S] [--project-dir DIR] <preview.json>");
  return { stack: values.stack, projectDir: values["project-dir"] ?? PROJECT_DIR, file: positionals[0] };
}

export function runGate(argv: string[], log: (line: string) => void = console.log): number {
  try {
    const args = parseGateArgs(argv);
    const digest = readPreviewFile(args.file);
    const stack = stackOfPreview(digest, args.stack);
    const result = evaluateGate(digest, stack, dataIsProtected(args.projectDir, stack.split("/").pop()!));
    log(formatGateResult(result));
    return result.blocked.length ? 1 : 0;
  } catch (error) {
    log(`data-safety gate: ${(error as Error).message}`);
    return 2;
  }
}

if (require.main === module) process.exitCode = runGate(process.argv.slice(2));
