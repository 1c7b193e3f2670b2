/**
 * The release manifest: `releases/<stack>.yaml`, one per stack, pins every app
 * image by digest with the commit and pipeline that built it. What a stack runs
 * is what main's manifest says; `npm run release` and `npm run promote` write
 * it, a revert rolls it back. Validated here, with the stack's other config.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { DIGEST_PATTERN } from "../model/image-ref";

export const RELEASES_DIR = "releases";

/** `releases/qual.yaml`, relative to the project folder, as messages name it. */
export const releaseFileName = (stack: string) => `${RELEASES_DIR}/${stack}.yaml`;

export const releaseEntrySchema = z.strictObject({
  /** `repository@sha256:<64 hex>`: the only form a manifest holds. */
  image: z.string({ error: "expected repository@sha256:<64 hex>" }).min(1),
  /** The source commit the image was built from. */
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, { error: "expected the source commit's hex SHA (7 to 64 characters)" }),
  /** The pipeline that built it: its URL, or its numeric id. */
  pipeline: z.string().regex(/^(?:https?:\/\/\S+|[0-9]+)$/, { error: "expected the building pipeline's URL or numeric id" }),
});

export const releaseManifestSchema = z.strictObject({
  services: z.record(z.string(), releaseEntrySchema).nullable().transform((s) => s ?? {}),
  /** The backup container's image (`<registry>/backup`), required when the stack has backup config. */
  backup: releaseEntrySchema.optional(),
});

export { BACKUP_IMAGE } from "../model/backup";

export type ReleaseEntry = z.output<typeof releaseEntrySchema>;
export type ReleaseManifest = z.output<typeof releaseManifestSchema>;

export { DIGEST_PATTERN };

/** The raw YAML of a stack's manifest; `undefined` when there is no file. A YAML syntax error throws with the file name. */
export function readReleaseFile(projectDir: string, stack: string): unknown {
  const path = join(projectDir, releaseFileName(stack));
  if (!existsSync(path)) return undefined;
  try {
    return parse(readFileSync(path, "utf8")) ?? {};
  } catch (error) {
    throw new Error(`${releaseFileName(stack)} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * `releases/requesters.yaml`: the pipeline trigger token each application project asks for a
 * release with, by its short token (what GitLab records of the token that started a pipeline,
 * https://docs.gitlab.com/ci/triggers/#see-which-pipeline-trigger-token-was-used). A project not
 * listed here cannot ask. Changing it is a commit to main, reviewed like any other.
 */
export const REQUESTERS_FILE = `${RELEASES_DIR}/requesters.yaml`;

// GitLab's short token: the first four characters after the `glptt-` prefix.
const SHORT_TOKEN = /^[A-Za-z0-9_-]{4}$/;
const PROJECT_PATH = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/;

export const requestersSchema = z
  .strictObject({
    requesters: z
      .record(
        z.string(),
        z.strictObject({ trigger: z.string().regex(SHORT_TOKEN, { error: "expected the trigger token's short token (its first four characters after glptt-)" }) }),
      )
      .nullable()
      .transform((r) => r ?? {}),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    for (const [project, { trigger }] of Object.entries(file.requesters)) {
      // Checked here, not as the record's key schema, so the message names the key and says what is expected.
      if (!PROJECT_PATH.test(project)) ctx.addIssue({ code: "custom", path: ["requesters", project], message: "expected a GitLab project path such as portugal-odyssey/platform" });
      const other = seen.get(trigger);
      // Two projects behind one short token could not be told apart: rotate one of the tokens.
      if (other) ctx.addIssue({ code: "custom", path: ["requesters", project, "trigger"], message: `${trigger} is also ${other}'s; rotate one of the two trigger tokens` });
      seen.set(trigger, project);
    }
  });

export type Requesters = z.output<typeof requestersSchema>["requesters"];

/** The requesters file of the project folder; a missing file lists nobody. Throws one message naming every problem. */
export function readRequesters(projectDir: string): Requesters {
  const path = join(projectDir, REQUESTERS_FILE);
  if (!existsSync(path)) return {};
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, "utf8")) ?? {};
  } catch (error) {
    throw new Error(`${REQUESTERS_FILE} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  const parsed = requestersSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${REQUESTERS_FILE}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`).join("; ")}`);
  }
  return parsed.data.requesters;
}
