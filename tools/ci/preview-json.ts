/**
 * The document `pulumi preview --json` prints (Pulumi's `PreviewDigest`), and
 * the small amount of interpretation the CI scripts share: which resource a
 * step touches, and how many creates/updates/replaces/deletes a preview holds.
 *
 * Only the fields we read are typed; everything else is passed through.
 */
import { parseJsonObject } from "./json-document";
import { readFileSync } from "node:fs";

/** Step ops Pulumi emits (`display.StepOp`). */
export type StepOp =
  | "same"
  | "create"
  | "update"
  | "delete"
  | "replace"
  | "create-replacement"
  | "delete-replaced"
  | "read"
  | "read-replacement"
  | "refresh"
  | "discard"
  | "discard-replaced"
  | "remove-pending-replace"
  | "import"
  | "import-replacement"
  | (string & {});

export interface ResourceState {
  urn?: string;
  type?: string;
  id?: string;
  custom?: boolean;
  parent?: string;
  protect?: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PropertyDiff {
  kind: string;
  inputDiff: boolean;
}

export interface PreviewStep {
  op: StepOp;
  urn: string;
  provider?: string;
  oldState?: ResourceState;
  newState?: ResourceState;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, PropertyDiff> | null;
}

export interface PreviewDiagnostic {
  urn?: string;
  prefix?: string;
  message?: string;
  severity?: string;
}

export interface PreviewDigest {
  config?: Record<string, string>;
  steps?: PreviewStep[];
  diagnostics?: PreviewDiagnostic[];
  duration?: number;
  changeSummary?: Record<string, number>;
  maybeCorrupt?: boolean;
}

/** A resource as named in its URN: `urn:pulumi:<stack>::<project>::<parent$…$type>::<name>`. */
export interface UrnParts {
  stack: string;
  project: string;
  /** The resource's own type, e.g. `docker:index/volume:Volume`. */
  type: string;
  /** The types of its ancestors, outermost first. */
  parentTypes: string[];
  /** The logical name. */
  name: string;
}

export function parseUrn(urn: string): UrnParts {
  const prefix = "urn:pulumi:";
  if (!urn.startsWith(prefix)) throw new Error(`not a Pulumi URN: ${urn}`);
  const parts = urn.slice(prefix.length).split("::");
  if (parts.length < 4) throw new Error(`not a Pulumi URN: ${urn}`);
  const [stack, project, qualifiedType, ...nameParts] = parts;
  const types = qualifiedType.split("$");
  return {
    stack,
    project,
    type: types[types.length - 1],
    parentTypes: types.slice(0, -1),
    // A logical name may itself contain "::".
    name: nameParts.join("::"),
  };
}

/** Parses and minimally checks a `pulumi preview --json` document. */
export function parsePreview(text: string, source = "preview"): PreviewDigest {
  const digest = parseJsonObject(text, source, "a pulumi preview --json document") as PreviewDigest;
  if (digest.steps !== undefined && !Array.isArray(digest.steps)) {
    throw new Error(`${source}: "steps" is not a list`);
  }
  for (const step of digest.steps ?? []) {
    if (typeof step?.op !== "string" || typeof step?.urn !== "string") {
      throw new Error(`${source}: every step needs a string "op" and "urn"`);
    }
  }
  return digest;
}

export function readPreviewFile(path: string): PreviewDigest {
  return parsePreview(readFileSync(path, "utf8"), path);
}

export interface ChangeCounts {
  create: number;
  update: number;
  replace: number;
  delete: number;
  same: number;
}

/**
 * Counts a preview's changes per resource. `pulumi preview --json` prints a
 * replacement as one `replace` step (its create-replacement and
 * delete-replaced steps only with --show-replacement-steps); either way it
 * counts once, as a replace. `read` and `refresh` steps change nothing and are
 * not counted.
 */
export function countChanges(digest: PreviewDigest): ChangeCounts {
  const counts: ChangeCounts = { create: 0, update: 0, replace: 0, delete: 0, same: 0 };
  const replaced = new Set<string>();
  for (const step of digest.steps ?? []) {
    switch (step.op) {
      case "create":
      case "import":
        counts.create++;
        break;
      case "update":
        counts.update++;
        break;
      case "delete":
        counts.delete++;
        break;
      case "same":
        counts.same++;
        break;
      case "replace":
      case "create-replacement":
      case "delete-replaced":
      case "import-replacement":
        replaced.add(step.urn);
        break;
      default:
        break;
    }
  }
  counts.replace = replaced.size;
  // The digest lists no `same` step but the root stack's unless --show-sames
  // is passed, so only Pulumi's own summary knows how many stay unchanged.
  const summarySame = digest.changeSummary?.same;
  if (typeof summarySame === "number") counts.same = summarySame;
  return counts;
}

export const totalChanges = (c: ChangeCounts) => c.create + c.update + c.replace + c.delete;

/** One line per changed resource: what happens to it and why. */
export interface ResourceChange {
  urn: string;
  name: string;
  type: string;
  /** create | update | replace | delete */
  action: "create" | "update" | "replace" | "delete";
  /** Property keys that cause the change (replaceReasons for replacements, diffReasons otherwise). */
  reasons: string[];
}

export function listChanges(digest: PreviewDigest): ResourceChange[] {
  const byUrn = new Map<string, ResourceChange>();
  for (const step of digest.steps ?? []) {
    const action = actionOf(step.op);
    if (!action) continue;
    const { name, type } = parseUrn(step.urn);
    const previous = byUrn.get(step.urn);
    const reasons = action === "replace" ? (step.replaceReasons ?? step.diffReasons ?? []) : (step.diffReasons ?? []);
    if (previous) {
      // Merge the steps of one replacement; keep every reason once.
      previous.reasons = [...new Set([...previous.reasons, ...reasons])];
      if (action === "replace") previous.action = "replace";
      continue;
    }
    byUrn.set(step.urn, { urn: step.urn, name, type, action, reasons: [...reasons] });
  }
  return [...byUrn.values()];
}

function actionOf(op: StepOp): ResourceChange["action"] | undefined {
  switch (op) {
    case "create":
    case "import":
      return "create";
    case "update":
      return "update";
    case "delete":
      return "delete";
    case "replace":
    case "create-replacement":
    case "delete-replaced":
    case "import-replacement":
      return "replace";
    default:
      return undefined;
  }
}

/** Error diagnostics of a preview (a preview that failed still prints its digest). */
export const errorDiagnostics = (digest: PreviewDigest) =>
  (digest.diagnostics ?? []).filter((d) => d.severity === "error").map((d) => (d.message ?? "").trim());

/** A resource Pulumi refused to replace or delete because it is marked `protect`. */
export interface ProtectionRefusal {
  urn: string;
  action: "replace" | "delete";
}

/*
 * The engine's wording, e.g. `unable to replace resource "<urn>"\nas it is
 * currently marked for protection. …`, or `unable to replace resource "<a>" as
 * part of replacing "<b>" as it is …`: the first URN is the protected one.
 */
const PROTECTION_ERROR = /unable to (replace|delete) resource "(urn:pulumi:[^"]+)"[\s\S]*?currently marked for protection/;

/**
 * The protected resources a preview's error diagnostics say Pulumi refused to
 * replace or delete. Such a preview fails but usually still prints the step;
 * the diagnostic says that Pulumi itself refused it, and is the only trace
 * when Pulumi stopped before printing a step (a protected dependent of a
 * delete-before-replace replacement).
 */
export function protectionRefusals(digest: PreviewDigest): ProtectionRefusal[] {
  return errorDiagnostics(digest).flatMap((message) => {
    const match = PROTECTION_ERROR.exec(message);
    return match ? [{ action: match[1] as ProtectionRefusal["action"], urn: match[2] }] : [];
  });
}
