/**
 * Fails a preview that would replace or delete data on a protected stack.
 *
 * Data means: every `docker:index/volume:Volume` (every volume in this project
 * holds data), and every container that is a child of a
 * `portugal-odyssey:platform:DataStore` component (postgres, rabbitmq, …).
 *
 * It reads the digest of a failed preview too: when the change hits a volume
 * marked `protect` (prod's are), Pulumi itself refuses it with an error
 * diagnostic and a non-zero exit, and the gate's message still names the
 * data resource instead of leaving only the engine's URN in the log.
 *
 *   npx tsx tools/ci/data-safety-gate.ts --stack prod preview-prod.json
 *
 * Protected stacks: `--protected prod,other`, else $PO_PROTECTED_STACKS, else `prod`.
 * Exit status: 0 pass, 1 blocked, 2 usage or unreadable preview.
 */
import { parseArgs } from "node:util";
import { TYPE_TOKENS } from "../../model/naming";
import { type PreviewDigest, type StepOp, parseUrn, protectionRefusals, readPreviewFile } from "./preview-json";

const VOLUME_TYPE = "docker:index/volume:Volume";
const CONTAINER_TYPE = "docker:index/container:Container";
export const DEFAULT_PROTECTED_STACKS = ["prod"];

/** Ops that destroy the resource that exists today. */
const DESTRUCTIVE_OPS: ReadonlySet<StepOp> = new Set([
  "replace",
  "create-replacement",
  "delete-replaced",
  "delete",
  "import-replacement",
]);

export type DataKind = "data volume" | "data store";

export interface BlockedResource {
  name: string;
  type: string;
  kind: DataKind;
  urn: string;
  /** replace or delete */
  action: "replace" | "delete";
  reasons: string[];
  /** Pulumi's own preview refused it as well (an error diagnostic: the resource is marked `protect`). */
  refusedAsProtected: boolean;
}

export interface GateResult {
  stack: string;
  protected: boolean;
  blocked: BlockedResource[];
}

/** What kind of data a resource holds, judged from its URN; undefined for anything else. */
export function dataKindOf(urn: string): DataKind | undefined {
  const { type, parentTypes } = parseUrn(urn);
  if (type === VOLUME_TYPE) return "data volume";
  if (type === CONTAINER_TYPE && parentTypes.includes(TYPE_TOKENS.dataStore)) return "data store";
  return undefined;
}

export function parseStackList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const stacks = value
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return stacks;
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

export function evaluateGate(digest: PreviewDigest, stack: string, protectedStacks: string[] = DEFAULT_PROTECTED_STACKS): GateResult {
  const isProtected = protectedStacks.includes(stack);
  const blocked = new Map<string, BlockedResource>();
  if (isProtected) {
    for (const step of digest.steps ?? []) {
      if (!DESTRUCTIVE_OPS.has(step.op)) continue;
      const kind = dataKindOf(step.urn);
      if (!kind) continue;
      const { name, type } = parseUrn(step.urn);
      const action = step.op === "delete" ? "delete" : "replace";
      const reasons = step.replaceReasons ?? step.diffReasons ?? [];
      const previous = blocked.get(step.urn);
      if (previous) {
        previous.reasons = [...new Set([...previous.reasons, ...reasons])];
        if (action === "replace") previous.action = "replace";
      } else {
        blocked.set(step.urn, { name, type, kind, urn: step.urn, action, reasons: [...reasons], refusedAsProtected: false });
      }
    }
    for (const refusal of protectionRefusals(digest)) {
      const kind = dataKindOf(refusal.urn);
      if (!kind) continue;
      const previous = blocked.get(refusal.urn);
      if (previous) {
        previous.refusedAsProtected = true;
      } else {
        // Pulumi stopped before it printed a step for it (e.g. a protected dependent of a replacement).
        const { name, type } = parseUrn(refusal.urn);
        blocked.set(refusal.urn, { name, type, kind, urn: refusal.urn, action: refusal.action, reasons: [], refusedAsProtected: true });
      }
    }
  }
  return { stack, protected: isProtected, blocked: [...blocked.values()] };
}

export function describeBlocked(b: BlockedResource): string {
  const why = b.reasons.length ? ` (because of: ${b.reasons.join(", ")})` : "";
  const refused = b.refusedAsProtected ? "; Pulumi refused it too: the resource is marked protect" : "";
  return `${b.action} of ${b.kind} ${b.name} [${b.type}]${why}${refused}`;
}

export function formatGateResult(result: GateResult): string {
  if (!result.protected) return `data-safety gate: stack ${result.stack} is not protected; nothing checked.`;
  if (result.blocked.length === 0) return `data-safety gate: stack ${result.stack} passed; no data volume or data store is replaced or deleted.`;
  return [
    `data-safety gate: stack ${result.stack} FAILED; this preview would destroy data:`,
    ...result.blocked.map((b) => `  - ${describeBlocked(b)}`),
    "Change the program so these resources are updated in place, or migrate the data by hand first.",
  ].join("\n");
}

export interface GateArgs {
  stack?: string;
  protectedStacks?: string[];
  files: string[];
}

export function parseGateArgs(argv: string[], env: NodeJS.ProcessEnv = {}): GateArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      stack: { type: "string", short: "s" },
      protected: { type: "string" },
    },
  });
  for (const flag of ["stack", "protected"] as const) {
    if (values[flag] === "") throw new Error(`--${flag} needs a value`);
  }
  if (positionals.length !== 1) throw new Error("usage: data-safety-gate [--stack S] [--protected a,b] <preview.json>");
  return {
    stack: values.stack,
    protectedStacks: parseStackList(values.protected ?? env.PO_PROTECTED_STACKS),
    files: positionals,
  };
}

export function runGate(argv: string[], env: NodeJS.ProcessEnv, log: (line: string) => void = console.log): number {
  let args: GateArgs;
  let digest: PreviewDigest;
  try {
    args = parseGateArgs(argv, env);
    digest = readPreviewFile(args.files[0]);
  } catch (error) {
    log(`data-safety gate: ${(error as Error).message}`);
    return 2;
  }
  const result = evaluateGate(digest, stackOfPreview(digest, args.stack), args.protectedStacks);
  log(formatGateResult(result));
  return result.blocked.length ? 1 : 0;
}

if (require.main === module) {
  process.exitCode = runGate(process.argv.slice(2), process.env);
}
