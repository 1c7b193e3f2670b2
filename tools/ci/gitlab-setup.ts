/**
 * One-time, idempotent GitLab project setup the pipeline relies on, derived
 * from the stack files (config/gitlab-settings.ts) and the tables below. It
 * reads every current value first, changes only what differs, and a dry run
 * prints what it would change. What the API cannot set is printed as `todo:`
 * (exit code 3), for a person.
 *
 * 1. Project settings (PROJECT_SETTINGS; GET/PUT /projects/:id, docs.gitlab.com/api/projects).
 * 2. Protected branches (PROTECTED_BRANCHES; docs.gitlab.com/api/protected_branches): created when
 *    missing; an existing one keeps the levels a person chose.
 * 3. Each stack's resource group processes jobs `oldest_first`
 *    (PUT /projects/:id/resource_groups/:key, docs.gitlab.com/api/resource_groups). The project's
 *    default mode (1.) covers a group GitLab has not created yet.
 * 4. Environments (environmentPlan): the protected ones with the allowed deployers given
 *    (docs.gitlab.com/api/protected_environments; Premium), and the variables each one's jobs receive
 *    (docs.gitlab.com/api/project_level_variables): a variable scoped elsewhere (`*` above all) is
 *    copied to each missing scope, then removed. Values are never printed; a hidden variable (no
 *    value in the API) cannot be copied and is reported for a person to re-create.
 * 5. PO_PROTECTED_PIPELINE=true exists as a protected variable for every scope:
 *    the pipeline's rules read it to tell whether a pipeline gets protected variables.
 * 6. The schedule (drift checks and restore drills) exists, and its owner is a deployer of every
 *    protected environment its jobs name: they run as that owner (docs.gitlab.com/api/pipeline_schedules).
 * 7. Release requests: release-setup.ts (--release-bot-user-id N).
 *
 *   GITLAB_API_URL=https://gitlab.example.com/api/v4 GITLAB_PROJECT=group/infra GITLAB_SETUP_TOKEN=… \
 *     npm run gitlab:setup -- [--dry-run] [--deployer-access-level 40] [--deployer-user-id N]… [--deployer-group-id N]… [--release-bot-user-id N]
 *
 * The token needs the `api` scope and the Owner role: GitLab shows `ci_forward_deployment_enabled` and
 * `auto_cancel_pending_pipelines` only to Owners (docs.gitlab.com/api/projects, "Get a single project").
 */
import { parseArgs } from "node:util";
import { type StackCiSettings, allStackCiSettings } from "../../config/gitlab-settings";
import { PROJECT_DIR, runCli } from "../run-cli";
import { type GitlabProject, gitlabApiCall, gitlabCall, gitlabList } from "./gitlab-api";
import { PROTECTED_BRANCH_WILDCARD, RELEASE_CREDENTIALS, RELEASE_ENVIRONMENT, RELEASE_RESOURCE_GROUP, releaseRequestSetup } from "./release-setup";

/** The variables only deploy, preview, drift and drill jobs may receive. */
export const DEPLOY_CREDENTIALS = [
  "PULUMI_BACKEND_URL",
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_CONFIG_PASSPHRASE_FILE",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "DEPLOY_DOCKER_HOST",
  "SSH_PRIVATE_KEY",
  "SSH_KNOWN_HOSTS",
] as const;
/** The summary job's environment: the token that posts the merge-request note is scoped to it alone. */
export const NOTES_ENVIRONMENT = "preview-notes";
export const NOTES_TOKEN = "GITLAB_API_TOKEN";
/** The backup-image job's environment (.gitlab-ci.yml): the registry login reaches that job alone. */
export const BACKUP_REGISTRY_ENVIRONMENT = "backup-registry";
export const BACKUP_REGISTRY_CREDENTIALS = ["BACKUP_REGISTRY_USER", "BACKUP_REGISTRY_PASSWORD"] as const;
export const MARKER = "PO_PROTECTED_PIPELINE";
/** Variables a project may leave unset: the other passphrase form, a backend without AWS keys, the job token's registry. */
const OPTIONAL = new Set<string>(["PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", ...BACKUP_REGISTRY_CREDENTIALS]);

export type Deployer = { access_level: number } | { user_id: number } | { group_id: number };

/** A project setting the pipeline relies on: its API attribute, the value, and where a person finds it. */
export interface ProjectSetting {
  attribute: string;
  value: string | boolean;
  ui: string;
}

export const PROJECT_SETTINGS: ProjectSetting[] = [
  // A resource group GitLab creates on a stack's first deploy starts `oldest_first` too: deploys run in push order from the start.
  { attribute: "resource_group_default_process_mode", value: "oldest_first", ui: "no UI: API only" },
  // An older pipeline's deploy never runs over a newer one (docs.gitlab.com/ci/pipelines/settings/#prevent-outdated-deployment-jobs).
  { attribute: "ci_forward_deployment_enabled", value: true, ui: "Settings > CI/CD > General pipelines > Prevent outdated deployment jobs" },
  // A merge request between two protected branches gets protected variables, so its previews can run (gitlab!188008, API: gitlab!216943).
  {
    attribute: "protect_merge_request_pipelines",
    value: true,
    ui: "Settings > CI/CD > Variables > Allow merge request pipelines to access protected variables and runners",
  },
  // A merge request merges only once its pipeline passed, which includes the previews a deployer ran (docs/ci.md, "Who runs what").
  { attribute: "only_allow_merge_if_pipeline_succeeds", value: true, ui: "Settings > Merge requests > Merge checks > Pipelines must succeed" },
  // A new push cancels the older pipeline's interruptible jobs (checks, previews), never a deploy: those are not interruptible.
  { attribute: "auto_cancel_pending_pipelines", value: "enabled", ui: "Settings > CI/CD > General pipelines > Auto-cancel redundant pipelines" },
  // A trigger token (a release request) passes only the inputs .gitlab-ci.yml declares, never a variable that could
  // override anything the pipeline reads: the minimum role is honoured only with the restriction on (gitlab-org/gitlab!149343).
  { attribute: "restrict_user_defined_variables", value: true, ui: "Settings > CI/CD > Variables > Minimum role to use pipeline variables" },
  { attribute: "ci_pipeline_variables_minimum_override_role", value: "no_one_allowed", ui: "Settings > CI/CD > Variables > Minimum role to use pipeline variables" },
];

/** A protected branch the pipeline relies on; `default` stands for the project's default branch. Levels: 0 no one, 30 Developer, 40 Maintainer. */
export interface BranchProtection {
  name: string | "default";
  push_access_level: 0 | 30 | 40;
  merge_access_level: 0 | 30 | 40;
  why: string;
}

export const PROTECTED_BRANCHES: BranchProtection[] = [
  { name: "default", push_access_level: 40, merge_access_level: 40, why: "deploys run from it with the protected credentials" },
  { name: PROTECTED_BRANCH_WILDCARD, push_access_level: 30, merge_access_level: 40, why: "merge requests from these branches get previews (both ends protected)" },
];

/** A GitLab environment the pipeline's jobs name: whether only its deployers may run them, and the variables scoped to it. */
export interface EnvironmentPlan {
  name: string;
  protect: boolean;
  credentials: string[];
}

/**
 * Every environment and what reaches it. Any credential that reaches the shared host's Docker engine is root
 * on that host, over every stack, so every stack's environment is protected with the same deployers, qual as
 * much as prod. The registry login is protected too: whoever holds it can replace the backup image. The
 * notes token is not: the summary runs for whoever opened the merge request, and it only posts a note.
 */
export function environmentPlan(stacks: StackCiSettings[], extraCredentials: string[] = []): EnvironmentPlan[] {
  return [
    ...stacks.map((s) => ({ name: s.environment, protect: true, credentials: [...DEPLOY_CREDENTIALS, ...extraCredentials] })),
    { name: BACKUP_REGISTRY_ENVIRONMENT, protect: true, credentials: [...BACKUP_REGISTRY_CREDENTIALS] },
    { name: NOTES_ENVIRONMENT, protect: false, credentials: [NOTES_TOKEN] },
    // Protected too, but for the release bot alone, not the deployers: release-setup.ts does that.
    { name: RELEASE_ENVIRONMENT, protect: false, credentials: [...RELEASE_CREDENTIALS] },
  ];
}

/** The scopes each variable must have: one variable per scope, nothing else. */
export function desiredScopes(stacks: StackCiSettings[], extraCredentials: string[] = []): Map<string, string[]> {
  const scopes = new Map<string, string[]>();
  for (const env of environmentPlan(stacks, extraCredentials)) for (const key of env.credentials) scopes.set(key, [...(scopes.get(key) ?? []), env.name]);
  return scopes;
}

interface ProjectVariable {
  key: string;
  value: string | null;
  variable_type: "env_var" | "file";
  protected: boolean;
  masked: boolean;
  raw?: boolean;
  environment_scope: string;
}

interface AccessLevel {
  id: number;
  access_level: number | null;
  user_id: number | null;
  group_id: number | null;
}

interface Schedule {
  id: number;
  description: string;
  ref: string;
  active: boolean;
  owner: { id: number; username: string } | null;
}

export interface SetupOptions extends GitlabProject {
  dryRun: boolean;
  deployers: Deployer[];
  /** The release bot's user id (release-setup.ts). */
  releaseBotUserId?: number;
  extraCredentials: string[];
  projectDir: string;
  log: (line: string) => void;
}

/** The schedule the setup creates when the default branch has none: drift checks and restore drills every morning. */
export const SCHEDULE = { description: "drift checks and restore drills", cron: "0 6 * * *", cron_timezone: "UTC" };

const sameDeployer = (a: AccessLevel, d: Deployer) =>
  ("access_level" in d && a.access_level === d.access_level && a.user_id === null && a.group_id === null) ||
  ("user_id" in d && a.user_id === d.user_id) ||
  ("group_id" in d && a.group_id === d.group_id);
const describeDeployer = (d: Deployer) => ("access_level" in d ? `access level ${d.access_level}` : "user_id" in d ? `user ${d.user_id}` : `group ${d.group_id}`);
const show = (v: unknown) => (v === undefined ? "(not readable with this token)" : JSON.stringify(v));

/** Returns the changes made (or, in a dry run, that would be made), and what this run cannot do and a person must. */
export async function gitlabSetup(opts: SetupOptions): Promise<{ changes: string[]; pending: string[] }> {
  const call = <T>(method: string, path: string, body?: unknown) => gitlabCall<T>(opts, method, path, body, true);
  const stacks = allStackCiSettings(opts.projectDir);
  const environments = environmentPlan(stacks, opts.extraCredentials);
  const changes: string[] = [];
  const pending: string[] = [];
  const change = async (what: string, act: () => Promise<unknown>) => {
    changes.push(what);
    opts.log(`${opts.dryRun ? "would " : ""}${what}`);
    if (!opts.dryRun) await act();
  };

  // 1. Project settings: one PUT with every value that differs, then read back what this token could not read before.
  const { data: project } = await call<Record<string, unknown> & { default_branch: string }>("GET", "");
  if (!project) throw new Error("GitLab has no such project (GET /projects/:id answered 404): check GITLAB_PROJECT");
  const differing = PROJECT_SETTINGS.filter((s) => project[s.attribute] !== s.value);
  for (const s of PROJECT_SETTINGS.filter((x) => !differing.includes(x))) opts.log(`ok: ${s.attribute} is ${show(s.value)}`);
  if (differing.length) {
    await change(`set ${differing.map((s) => `${s.attribute} from ${show(project[s.attribute])} to ${show(s.value)}`).join(", ")}`, async () => {
      await call("PUT", "", Object.fromEntries(differing.map((s) => [s.attribute, s.value])));
      const { data: after } = await call<Record<string, unknown>>("GET", "");
      for (const s of differing.filter((x) => after?.[x.attribute] !== x.value)) {
        pending.push(`${s.attribute} could not be confirmed (this token cannot read it, or this GitLab does not have it): check ${s.ui} is ${show(s.value)}`);
      }
    });
  }

  // 2. Protected branches.
  for (const b of PROTECTED_BRANCHES) {
    const name = b.name === "default" ? project.default_branch : b.name;
    const { status } = await call("GET", `/protected_branches/${encodeURIComponent(name)}`);
    if (status === 404) {
      await change(`protect branch ${name} (push: ${b.push_access_level}, merge: ${b.merge_access_level}): ${b.why}`, () =>
        call("POST", "/protected_branches", { name, push_access_level: b.push_access_level, merge_access_level: b.merge_access_level, allow_force_push: false }),
      );
    } else opts.log(`ok: branch ${name} is protected`);
  }

  // 3. Resource groups that exist already (the default mode above covers the others).
  // Each stack's deploys, and every release request (they land in the order they were asked).
  for (const group of [...stacks.map((s) => s.stack), RELEASE_RESOURCE_GROUP]) {
    const path = `/resource_groups/${encodeURIComponent(group)}`;
    const { status, data } = await call<{ key: string; process_mode: string }>("GET", path);
    if (status === 404) opts.log(`ok: resource group ${group} does not exist yet; GitLab creates it oldest_first (the project's default mode)`);
    else if (data?.process_mode !== "oldest_first") {
      await change(`set resource group ${group} from ${data?.process_mode} to oldest_first`, () => call("PUT", path, { process_mode: "oldest_first" }));
    } else opts.log(`ok: resource group ${group} is oldest_first`);
  }

  // 4a. Protected environments.
  for (const env of environments.filter((e) => e.protect)) {
    const path = `/protected_environments/${encodeURIComponent(env.name)}`;
    const { status, data } = await call<{ name: string; deploy_access_levels: AccessLevel[] }>("GET", path);
    const present = data?.deploy_access_levels ?? [];
    const missing = opts.deployers.filter((d) => !present.some((a) => sameDeployer(a, d)));
    const extra = present.filter((a) => !opts.deployers.some((d) => sameDeployer(a, d)));
    if (status === 404) {
      await change(`protect environment ${env.name}, allowed to deploy: ${opts.deployers.map(describeDeployer).join(", ")}`, () =>
        call("POST", "/protected_environments", { name: env.name, deploy_access_levels: opts.deployers }),
      );
    } else if (missing.length || extra.length) {
      await change(`update environment ${env.name}'s deployers: add ${missing.map(describeDeployer).join(", ") || "none"}, remove ${extra.length}`, () =>
        call("PUT", path, { deploy_access_levels: [...missing, ...extra.map((a) => ({ id: a.id, _destroy: true }))] }),
      );
    } else opts.log(`ok: environment ${env.name} is protected with the given deployers`);
  }

  // 4b. Variable scopes.
  const variables = await gitlabList<ProjectVariable>(opts, "/variables");
  for (const [key, scopes] of desiredScopes(stacks, opts.extraCredentials)) {
    const mine = variables.filter((v) => v.key === key);
    if (mine.length === 0) {
      if (!OPTIONAL.has(key)) pending.push(`${key} is not set: add it (protected) for environment(s) ${scopes.join(", ")}`);
      continue;
    }
    const source = mine.find((v) => v.environment_scope === "*") ?? mine.find((v) => v.value !== null) ?? mine[0];
    const missingScopes = scopes.filter((sc) => !mine.some((v) => v.environment_scope === sc));
    for (const scope of missingScopes) {
      if (source.value === null) {
        pending.push(`${key} is hidden, so its value cannot be copied: re-create it for environment ${scope} by hand`);
        continue;
      }
      const body = { key, value: source.value, variable_type: source.variable_type, protected: true, masked: source.masked, raw: source.raw ?? false, environment_scope: scope };
      await change(`create ${key} for environment ${scope} (copied from scope ${source.environment_scope}, protected)`, () => call("POST", "/variables", body));
    }
    // Updating a variable needs its value (PUT …/variables/:key), which this tool does not carry over; a person flips the flag.
    for (const v of mine.filter((x) => !x.protected && scopes.includes(x.environment_scope))) {
      pending.push(`${key} for environment ${v.environment_scope} is not protected: protect it in Settings > CI/CD > Variables`);
    }
    // A hidden variable not yet in every scope it needs keeps its other scopes: they may hold its only copy.
    if (source.value === null && missingScopes.length) continue;
    for (const v of mine.filter((x) => !scopes.includes(x.environment_scope))) {
      await change(`remove ${key} from scope ${v.environment_scope} (it must reach only ${scopes.join(", ")})`, () =>
        call("DELETE", `/variables/${encodeURIComponent(key)}?${new URLSearchParams({ "filter[environment_scope]": v.environment_scope })}`),
      );
    }
  }

  // 5. The marker the pipeline's rules read.
  const marker = variables.find((v) => v.key === MARKER && v.environment_scope === "*");
  if (!marker) {
    await change(`create ${MARKER}=true (protected, every scope, not secret)`, () =>
      call("POST", "/variables", { key: MARKER, value: "true", variable_type: "env_var", protected: true, masked: false, raw: true, environment_scope: "*" }),
    );
  } else if (!marker.protected || marker.value !== "true") {
    await change(`set ${MARKER} to true and protected`, () => call("PUT", `/variables/${MARKER}?filter%5Benvironment_scope%5D=*`, { value: "true", protected: true }));
  }

  // 6. The schedule, and whether its owner may run the jobs it starts.
  const schedules = (await gitlabList<Schedule>(opts, "/pipeline_schedules")).filter((s) => s.active && s.ref.replace(/^refs\/heads\//, "") === project.default_branch);
  if (schedules.length === 0) {
    await change(`create the schedule "${SCHEDULE.description}" on ${project.default_branch}, ${SCHEDULE.cron} ${SCHEDULE.cron_timezone}, owned by this token's user`, () =>
      call("POST", "/pipeline_schedules", { ...SCHEDULE, ref: project.default_branch, active: true }),
    );
  }
  const guarded = environments.filter((e) => e.protect && stacks.some((s) => s.environment === e.name)).map((e) => e.name);
  for (const s of schedules) {
    if (!s.owner) continue;
    const verdict = await isDeployer(opts, s.owner.id, opts.deployers);
    if (verdict === true) opts.log(`ok: schedule "${s.description}" runs as ${s.owner.username}, a deployer of ${guarded.join(", ")}`);
    else {
      pending.push(
        `schedule "${s.description}" runs as ${s.owner.username}, ${verdict === false ? "who is not" : "who may not be"} a deployer of ${guarded.join(", ")}: ` +
          "its drift checks and drills would fail with \"protected environment failure\"; a deployer takes it over (Build > Pipeline schedules > Take ownership)",
      );
    }
  }

  // 7. Release requests.
  await releaseRequestSetup({ call, change, pending, log: opts.log, projectDir: opts.projectDir, releaseBotUserId: opts.releaseBotUserId, defaultBranch: project.default_branch });

  for (const p of pending) opts.log(`todo: ${p}`);
  opts.log(changes.length ? `${changes.length} change(s) ${opts.dryRun ? "to make (dry run: nothing changed)" : "made"}.` : "nothing to change.");
  return { changes, pending };
}

/**
 * Whether a user is one of the deployers: by id, by project role (docs.gitlab.com/api/members, members/all
 * includes inherited members), or by membership of a deployer group. `undefined` when only an
 * administrator level (60) could admit them, which a project token cannot see.
 */
async function isDeployer(p: GitlabProject, userId: number, deployers: Deployer[]): Promise<boolean | undefined> {
  let unknown = false;
  for (const d of deployers) {
    if ("user_id" in d && d.user_id === userId) return true;
    if ("group_id" in d && (await gitlabApiCall(p, "GET", `/groups/${d.group_id}/members/all/${userId}`, undefined, true)).status === 200) return true;
    if ("access_level" in d) {
      if (d.access_level === 60) unknown = true;
      const { data } = await gitlabCall<{ access_level: number }>(p, "GET", `/members/all/${userId}`, undefined, true);
      if (data && data.access_level >= d.access_level) return true;
    }
  }
  return unknown ? undefined : false;
}

export function parseSetupArgs(argv: string[], env: NodeJS.ProcessEnv): Omit<SetupOptions, "fetch" | "log" | "projectDir"> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      "dry-run": { type: "boolean", default: false },
      "deployer-access-level": { type: "string", multiple: true },
      "deployer-user-id": { type: "string", multiple: true },
      "deployer-group-id": { type: "string", multiple: true },
      credential: { type: "string", multiple: true },
      "release-bot-user-id": { type: "string" },
    },
  });
  const apiUrl = env.GITLAB_API_URL ?? env.CI_API_V4_URL;
  const project = env.GITLAB_PROJECT ?? env.CI_PROJECT_ID;
  const token = env.GITLAB_SETUP_TOKEN;
  if (!apiUrl || !project || !token) throw new Error("set GITLAB_API_URL (…/api/v4), GITLAB_PROJECT (id or group/name) and GITLAB_SETUP_TOKEN (Owner, api scope)");
  const ids = (flag: "deployer-access-level" | "deployer-user-id" | "deployer-group-id") =>
    (values[flag] ?? []).map((v) => {
      if (!/^\d+$/.test(v)) throw new Error(`--${flag} expects a number, got ${v}`);
      return Number(v);
    });
  const levels = ids("deployer-access-level");
  for (const l of levels) if (![30, 40, 60].includes(l)) throw new Error(`--deployer-access-level must be 30 (Developer), 40 (Maintainer) or 60 (Admin), got ${l}`);
  const deployers: Deployer[] = [
    ...levels.map((access_level) => ({ access_level })),
    ...ids("deployer-user-id").map((user_id) => ({ user_id })),
    ...ids("deployer-group-id").map((group_id) => ({ group_id })),
  ];
  const bot = values["release-bot-user-id"];
  if (bot !== undefined && !/^\d+$/.test(bot)) throw new Error(`--release-bot-user-id expects a number, got ${bot}`);
  const releaseBotUserId = bot === undefined ? undefined : Number(bot);
  return { apiUrl, project, token, dryRun: values["dry-run"], deployers: deployers.length ? deployers : [{ access_level: 40 }], releaseBotUserId, extraCredentials: values.credential ?? [] };
}

if (require.main === module) {
  runCli("gitlab-setup", async () => {
    const { pending } = await gitlabSetup({ ...parseSetupArgs(process.argv.slice(2), process.env), fetch, log: console.log, projectDir: PROJECT_DIR });
    return pending.length ? 3 : 0;
  });
}
