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
