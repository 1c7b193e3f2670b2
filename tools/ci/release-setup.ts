/**
 * What `gitlab:setup` sets up for release requests (docs/releases.md), apart from the rest of the
 * project's setup so each can change on its own:
 *
 * - the release credentials, scoped to the release-requests environment alone (desiredScopes);
 * - that environment protected, with the release bot (the owner of the trigger tokens, so the
 *   user their pipelines run as) as its only deployer: no other pipeline, an infrastructure
 *   branch's included, receives the release credentials (docs.gitlab.com/api/protected_environments);
 * - the release-requests resource group oldest_first, so releases land in the order they were asked;
 * - infra/* protected, so a release merge request's pipeline previews it (docs.gitlab.com/api/protected_branches);
 * - pipeline variables off (minimum role no_one_allowed, honoured only with
 *   restrict_user_defined_variables, gitlab-org/gitlab!149343), so a trigger token passes only the
 *   inputs .gitlab-ci.yml declares (docs.gitlab.com/api/projects/#edit-a-project);
 * - every project the catalog names in `builtBy` listed in releases/requesters.yaml with a trigger
 *   token that exists (tokens are issued by a person: their value is shown once).
 */
import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { REQUESTERS_FILE, readRequesters } from "../../config/release";

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
}

export async function releaseRequestSetup({ call, change, pending, log, projectDir, releaseBotUserId }: ReleaseSetupContext): Promise<void> {
  const group = `/resource_groups/${encodeURIComponent(RELEASE_RESOURCE_GROUP)}`;
  const { status: groupStatus, data: groupData } = await call<{ process_mode: string }>("GET", group);
  if (groupStatus === 404) pending.push(`resource group ${RELEASE_RESOURCE_GROUP} does not exist yet (GitLab creates it with the first release request): run gitlab:setup again after it`);
  else if (groupData?.process_mode !== "oldest_first") {
    await change(`set resource group ${RELEASE_RESOURCE_GROUP} from ${groupData?.process_mode} to oldest_first`, () => call("PUT", group, { process_mode: "oldest_first" }));
  } else log(`ok: resource group ${RELEASE_RESOURCE_GROUP} is oldest_first`);

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
  }

  const branch = await call("GET", `/protected_branches/${encodeURIComponent(PROTECTED_BRANCH_WILDCARD)}`);
  if (branch.status === 404) {
    await change(`protect branches ${PROTECTED_BRANCH_WILDCARD} (Developers push and merge, no force push)`, () =>
      call("POST", "/protected_branches", { name: PROTECTED_BRANCH_WILDCARD, push_access_level: 30, merge_access_level: 30, allow_force_push: false }),
    );
  } else log(`ok: ${PROTECTED_BRANCH_WILDCARD} is a protected branch wildcard`);

  const { data: project } = await call<{ restrict_user_defined_variables?: boolean; ci_pipeline_variables_minimum_override_role?: string }>("GET", "");
  if (project?.restrict_user_defined_variables !== true || project?.ci_pipeline_variables_minimum_override_role !== "no_one_allowed") {
    await change("switch pipeline variables off (minimum role no_one_allowed): a trigger token may pass only the declared inputs", () =>
      call("PUT", "", { restrict_user_defined_variables: true, ci_pipeline_variables_minimum_override_role: "no_one_allowed" }),
    );
  } else log("ok: pipeline variables are off");

  const requesters = readRequesters(projectDir);
  const triggers = (await call<Array<{ id: number; description: string; token: string }>>("GET", "/triggers")).data ?? [];
  // The API shows other users' tokens by their first four characters; GitLab's short token skips the glptt- prefix.
  const shortOf = (token: string) => token.replace(/^glptt-/, "").slice(0, 4);
  for (const builder of [...new Set(SERVICE_NAMES.map((s) => SERVICES[s].builtBy))].sort()) {
    const listed = requesters[builder];
    if (!listed) {
      pending.push(
        `${builder} builds catalog services but cannot ask for releases: issue it a pipeline trigger token described release-request:${builder}, ` +
          `list its short token in ${REQUESTERS_FILE} and store the token in ${builder} as the masked, protected variable PO_RELEASE_TRIGGER_TOKEN`,
      );
    } else if (!triggers.some((t) => shortOf(t.token) === listed.trigger)) {
      pending.push(`${REQUESTERS_FILE} lists trigger ${listed.trigger}… for ${builder}, but this project has no such trigger token (revoked?): issue a new one and list it`);
    } else log(`ok: ${builder} asks for releases with trigger ${listed.trigger}…`);
  }
}
