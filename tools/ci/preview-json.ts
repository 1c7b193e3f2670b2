/**
 * The document `pulumi preview --json` prints (Pulumi's `PreviewDigest`), and
 * the small amount of interpretation the CI scripts share: which resource a
 * step touches, and how many creates/updates/replaces/deletes a preview holds.
 *
 * Only the fields we read are typed; everything else is passed through.
 */
import type { OpType } from "@pulumi/pulumi/automation";
import { parseJsonObject } from "./json-document";
import { readFileSync } from "node:fs";

/** Step ops Pulumi emits (`display.StepOp`, the Automation API's OpType); an unknown op stays a string. */
export type StepOp = OpType | (string & {});

export interface ResourceState {
  urn?: string;
  type?: string;
  inputs?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PreviewStep {
  op: StepOp;
  urn: string;
  oldState?: ResourceState;
  newState?: ResourceState;
  diffReasons?: string[];
  replaceReasons?: string[];
  /** Property path -> Pulumi's PropertyDiff; only its keys are read. */
  detailedDiff?: Record<string, unknown> | null;
}

export interface PreviewDiagnostic {
  message?: string;
  severity?: string;
}

export interface PreviewDigest {
  config?: Record<string, string>;
  steps?: PreviewStep[];
  diagnostics?: PreviewDiagnostic[];
  duration?: number;
  changeSummary?: Record<string, number>;
}

/** A resource as named in its URN: `urn:pulumi:<stack>::<project>::<parent$…$type>::<name>`. */
export function parseUrn(urn: string) {
  const prefix = "urn:pulumi:";
  const parts = urn.startsWith(prefix) ? urn.slice(prefix.length).split("::") : [];
  if (parts.length < 4) throw new Error(`not a Pulumi URN: ${urn}`);
  const [stack, project, qualifiedType, ...nameParts] = parts;
  const types = qualifiedType.split("$");
  return {
    stack,
    project,
    /** The resource's own type, e.g. `docker:index/volume:Volume`. */
    type: types[types.length - 1],
    /** The types of its ancestors, outermost first. */
    parentTypes: types.slice(0, -1),
    // A logical name may itself contain "::".
    name: nameParts.join("::"),
  };
}

/** Parses and minimally checks a `pulumi preview --json` document. */
export function parsePreview(text: string, source = "preview"): PreviewDigest {
  const digest = parseJsonObject(text, source, "a pulumi preview --json document") as PreviewDigest;
  if (digest.steps !== undefined && !Array.isArray(digest.steps)) throw new Error(`${source}: "steps" is not a list`);
  if ((digest.steps ?? []).some((step) => typeof step?.op !== "string" || typeof step?.urn !== "string")) {
    throw new Error(`${source}: every step needs a string "op" and "urn"`);
  }
  return digest;
}

export function readPreviewFile(path: string): PreviewDigest {
  return parsePreview(readFileSync(path, "utf8"), path);
}

export type ChangeCounts = Record<ResourceChange["action"] | "same", number>;

/**
 * Counts a preview's changes per resource. `pulumi preview --json` prints a
 * replacement as one `replace` step (its create-replacement and
 * delete-replaced steps only with --show-replacement-steps); either way it
 * counts once, as a replace. `read` and `refresh` steps change nothing and are
 * not counted.
 */
export function countChanges(digest: PreviewDigest): ChangeCounts {
  const counts: ChangeCounts = { create: 0, update: 0, replace: 0, delete: 0, same: 0 };
  for (const change of listChanges(digest)) counts[change.action]++;
  // The digest lists no `same` step but the root stack's unless --show-sames
  // is passed, so only Pulumi's own summary knows how many stay unchanged.
  counts.same = digest.changeSummary?.same ?? (digest.steps ?? []).filter((s) => s.op === "same").length;
  return counts;
}

export const totalChanges = (c: ChangeCounts) => c.create + c.update + c.replace + c.delete;

/** One line per changed resource: what happens to it and why. */
export interface ResourceChange {
  urn: string;
  name: string;
  type: string;
  action: "create" | "update" | "replace" | "delete";
  /** Property keys that cause the change (replaceReasons for replacements, diffReasons otherwise). */
  reasons: string[];
}

export function listChanges(digest: PreviewDigest): ResourceChange[] {
  const byUrn = new Map<string, ResourceChange>();
  for (const step of digest.steps ?? []) {
    const action = CHANGES[step.op];
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

/** What each op that changes a resource does to it; a replacement's steps all count as its replace. */
export const CHANGES: Partial<Record<StepOp, ResourceChange["action"]>> = {
  create: "create",
  import: "create",
  update: "update",
  delete: "delete",
  replace: "replace",
  "create-replacement": "replace",
  "delete-replaced": "replace",
  "import-replacement": "replace",
};

/** `update app [docker:index/container:Container] (memory)`: one changed resource, as logs print it. */
export const describeChange = (c: ResourceChange) => `${c.action} ${c.name} [${c.type}]${c.reasons.length ? ` (${c.reasons.join(", ")})` : ""}`;

/** Error diagnostics of a preview (a preview that failed still prints its digest). */
export const errorDiagnostics = (digest: PreviewDigest) =>
  (digest.diagnostics ?? []).filter((d) => d.severity === "error").map((d) => (d.message ?? "").trim());

/** A resource Pulumi refused to replace or delete because it is marked `protect`. */
export interface ProtectionRefusal {
  /** The protected resource Pulumi refused to touch. */
  urn: string;
  action: "replace" | "delete";
  /** The resource whose replacement would have replaced it (`as part of replacing "…"`). */
  partOf?: string;
}

/*
 * The engine's three refusals, each printed as an error diagnostic whose
 * message is the severity prefix plus the text (pkg/backend/display/json.go,
 * ShowPreviewDigest: `p.Prefix + p.Message`; sdk/go/common/diag/sink.go,
 * Stringify: `error: `). URNs are quoted with Go's %q.
 *  - pkg/resource/deploy/step_generator.go: `unable to replace resource %q\nas it is currently marked for protection. …`
 *  - pkg/resource/deploy/step_generator.go: `unable to replace resource %q as part of replacing %q as it is currently marked for protection. …`
 *  - pkg/resource/deploy/step.go (deleteProtectedError): `resource %q cannot be deleted\nbecause it is protected. …`,
 *    which a preview wraps as `Preview failed: …` (sdk/go/common/diag/errors.go, GetPreviewFailedError).
 * Whitespace between the words is matched loosely: the engine breaks these lines with \n.
 */
const URN = String.raw`"(urn:pulumi:(?:[^"\\]|\\.)+)"`;
const REPLACE_REFUSED = new RegExp(String.raw`unable\s+to\s+replace\s+resource\s+${URN}(?:\s+as\s+part\s+of\s+replacing\s+${URN})?\s+as\s+it\s+is\s+currently\s+marked\s+for\s+protection`, "g");
const DELETE_REFUSED = new RegExp(String.raw`resource\s+${URN}\s+cannot\s+be\s+deleted\s+because\s+it\s+is\s+protected`, "g");

/** Go's %q escapes only `"` and `\` in a URN; undo that. */
const unquote = (quoted: string) => quoted.replace(/\\(.)/g, "$1");

/**
 * The protected resources a preview's error diagnostics say Pulumi refused to
 * replace or delete. Such a preview fails but may still print the step; the
 * diagnostic is the only trace when Pulumi stopped before printing a step (a
 * protected dependent of a delete-before-replace replacement).
 */
export function protectionRefusals(digest: PreviewDigest): ProtectionRefusal[] {
  return errorDiagnostics(digest).flatMap((message) => [
    ...[...message.matchAll(REPLACE_REFUSED)].map((m) => ({
      urn: unquote(m[1]),
      action: "replace" as const,
      ...(m[2] ? { partOf: unquote(m[2]) } : {}),
    })),
    ...[...message.matchAll(DELETE_REFUSED)].map((m) => ({ urn: unquote(m[1]), action: "delete" as const })),
  ]);
}
