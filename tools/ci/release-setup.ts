/**
 * What `gitlab:setup` sets up for release requests (docs/releases.md) beyond its tables (gitlab-setup.ts
 * turns pipeline variables off, protects infra/* and orders the release-requests resource group):
 *
 * - the release credentials, scoped to the release-requests environment alone (desiredScopes);
 * - that environment protected, with the release bot (the owner of the trigger tokens, so the
 *   user their pipelines run as) as its only deployer: no other pipeline, an infrastructure
 *   branch's included, receives the release credentials (docs.gitlab.com/api/protected_environments);
 * - the release bot, a Developer, allowed to push to the default branch (Maintainers only otherwise):
 *   GitLab starts a trigger token's pipeline on a branch only if the token's owner may push or merge
 *   there (Gitlab::Ci::Pipeline::Chain::Validate::Abilities, Gitlab::UserAccess#can_update_branch?),
 *   and the release commit is a push (docs.gitlab.com/api/protected_branches, allowed_to_push; Premium);
 * - every project the catalog names in `builtBy` listed in releases/requesters.yaml with a trigger
 *   token that exists (tokens are issued by a person: their value is shown once).
 */
import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { REQUESTERS_FILE, readRequesters, releaseFileName } from "../../config/release";

/** The release-request job's environment and lock (.gitlab-ci.yml), and the credentials only it receives. */
export const RELEASE_ENVIRONMENT = "release-requests";
export const RELEASE_RESOURCE_GROUP = "release-requests";
export const RELEASE_CREDENTIALS = ["PO_RELEASE_API_TOKEN", "PO_RELEASE_REGISTRY_USER", "PO_RELEASE_REGISTRY_PASSWORD"] as const;
/** Merge requests from branches under it get protected variables, so a preview; release merge requests push there. */
export const PROTECTED_BRANCH_WILDCARD = "infra/*";

type Call = <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; data?: T }>;

export interface ReleaseSetupContext {
  call: Call;
  /** Records a change, and makes it unless this is a dry run. */
  change: (what: string, act: () => Promise<unknown>) => Promise<void>;
  pending: string[];
  log: (line: string) => void;
  projectDir: string;
  /** The release bot's user id: the only deployer of the release-requests environment. */
  releaseBotUserId?: number;
  /** The project's default branch: release requests run and commit there. */
  defaultBranch: string;
}

export async function releaseRequestSetup({ call, change, pending, log, projectDir, releaseBotUserId, defaultBranch }: ReleaseSetupContext): Promise<void> {
  if (releaseBotUserId === undefined) pending.push(`environment ${RELEASE_ENVIRONMENT} is protected for the release bot alone only with --release-bot-user-id <its user id>`);
  else {
    const path = `/protected_environments/${encodeURIComponent(RELEASE_ENVIRONMENT)}`;
    const { status, data } = await call<{ deploy_access_levels: Array<{ id: number; user_id: number | null }> }>("GET", path);
    const levels = data?.deploy_access_levels ?? [];
    if (status === 404) {
      await change(`protect environment ${RELEASE_ENVIRONMENT}, allowed to deploy: user ${releaseBotUserId} (the release bot) alone`, () =>
        call("POST", "/protected_environments", { name: RELEASE_ENVIRONMENT, deploy_access_levels: [{ user_id: releaseBotUserId }] }),
      );
    } else if (levels.length !== 1 || levels[0].user_id !== releaseBotUserId) {
      const keep = levels.some((l) => l.user_id === releaseBotUserId);
      await change(`make user ${releaseBotUserId} (the release bot) the only deployer of environment ${RELEASE_ENVIRONMENT}`, () =>
        call("PUT", path, {
          deploy_access_levels: [...(keep ? [] : [{ user_id: releaseBotUserId }]), ...levels.filter((l) => l.user_id !== releaseBotUserId).map((l) => ({ id: l.id, _destroy: true }))],
        }),
      );
    } else log(`ok: environment ${RELEASE_ENVIRONMENT} is protected for the release bot alone`);

    const branch = `/protected_branches/${encodeURIComponent(defaultBranch)}`;
    const { data: protection } = await call<{ push_access_levels?: Array<{ user_id: number | null }> }>("GET", branch);
    if (protection?.push_access_levels?.some((l) => l.user_id === releaseBotUserId)) log(`ok: the release bot may push to ${defaultBranch}`);
    else {
      await change(`allow user ${releaseBotUserId} (the release bot) to push to ${defaultBranch}: its trigger tokens start pipelines there and it commits ${releaseFileName("qual")}`, () =>
        call("PATCH", branch, { allowed_to_push: [{ user_id: releaseBotUserId }] }),
      );
    }
  }

  const requesters = readRequesters(projectDir);
  const triggers = (await call<Array<{ id: number; description: string; token: string }>>("GET", "/triggers")).data ?? [];
  // GitLab's short token is the first four characters after the glptt- prefix and an instance-wide token
  // prefix before it (Ci::Trigger#short_token); the API shows other users' tokens as that short token already
  // (Ci::TriggerPresenter#token), its own user's in full.
  const shortOf = (token: string) => token.replace(/^.*?glptt-/, "").slice(0, 4);
  for (const builder of [...new Set(SERVICE_NAMES.map((s) => SERVICES[s].builtBy))].sort()) {
    const listed = requesters[builder];
    if (!listed) {
      pending.push(
        `${builder} builds catalog services but cannot ask for releases: issue it a pipeline trigger token described release-request:${builder}, ` +
          `list its short token in ${REQUESTERS_FILE} and store the token in ${builder} as the masked, protected variable PO_RELEASE_TRIGGER_TOKEN`,
      );
    } else {
      const issued = triggers.filter((t) => shortOf(t.token) === listed.trigger);
      if (issued.length === 0) {
        pending.push(`${REQUESTERS_FILE} lists trigger ${listed.trigger}… for ${builder}, but this project has no such trigger token (revoked?): issue a new one and list it`);
      } else if (issued.length > 1) {
        // Who asked is only the short token (CI_TRIGGER_SHORT_TOKEN): each of these would ask as that project.
        pending.push(`${issued.length} trigger tokens of this project (${issued.map((t) => t.description).join(", ")}) have the short token ${listed.trigger}… listed for ${builder}, so each asks as ${builder}: revoke all but the one issued to it`);
      } else log(`ok: ${builder} asks for releases with trigger ${listed.trigger}…`);
    }
  }
}
