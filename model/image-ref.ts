/**
 * Image references as `docker pull` reads them: `host[:port]/path[:tag][@sha256:hex]`.
 * The release manifests pin every app image as `repository@sha256:<64 hex>`;
 * this is the one parser of that form, for config/, the release tools and verify.
 */

export interface ImageReference {
  /** Registry host and path, without tag or digest, e.g. `registry.gitlab.com/po/platform/booking-service`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
// Docker's tag grammar.
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Splits a reference; undefined when it is not one (an empty part, a malformed tag or digest). */
export function parseImageReference(ref: string): ImageReference | undefined {
  const at = ref.indexOf("@");
  const named = at < 0 ? ref : ref.slice(0, at);
  const digest = at < 0 ? undefined : ref.slice(at + 1);
  if (digest !== undefined && !DIGEST_PATTERN.test(digest)) return undefined;
  // A colon after the last slash starts the tag; one before it is the registry's port.
  const colon = named.lastIndexOf(":");
  const hasTag = colon > named.lastIndexOf("/");
  const repository = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  if (!repository || /\s/.test(repository) || (tag !== undefined && !TAG_PATTERN.test(tag))) return undefined;
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The pinned form every manifest entry has. */
export const pinnedReference = (repository: string, digest: string) => `${repository}@${digest}`;

/** `registry.gitlab.com/po/platform` → `registry.gitlab.com`: the host Docker authenticates against. */
export const registryHost = (repository: string) => repository.split("/")[0];
