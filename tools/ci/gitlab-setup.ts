/**
 * One-time, idempotent GitLab project setup the pipeline relies on, derived
 * from the stack files (config/gitlab-settings.ts):
 *
 * 1. Each stack's resource group processes jobs `oldest_first` (GitLab's
 *    default is `unordered`, and the mode can be set only through the API:
 *    docs.gitlab.com/api/resource_groups, PUT /projects/:id/resource_groups/:key).
 *    GitLab creates a resource group when a pipeline first uses it, so a group
 *    that does not exist yet is reported; run this again after the first deploy.
 * 2. The GitLab environment of every stack whose data is protected is a
 *    protected environment with the allowed deployers given
 *    (docs.gitlab.com/api/protected_environments; Premium).
 * 3. The deploy credentials are scoped to the stacks' environments and
 *    GITLAB_API_TOKEN to `preview-notes` (docs.gitlab.com/api/project_level_variables):
 *    a variable scoped elsewhere (`*` above all) is copied to each missing scope,
 *    then removed. Values are never printed; a hidden variable (no value in
 *    the API) cannot be copied and is reported for a person to re-create.
 * 4. PO_PROTECTED_PIPELINE=true exists as a protected variable for every scope:
 *    the pipeline's rules read it to tell whether a pipeline gets protected variables.
 * 5. Release requests: release-setup.ts (--release-bot-user-id N).
 *
 *   GITLAB_API_URL=https://gitlab.example.com/api/v4 GITLAB_PROJECT=group/infra GITLAB_SETUP_TOKEN=… \
 *     npm run gitlab:setup -- [--dry-run] [--deployer-access-level 40] [--deployer-user-id N]… [--deployer-group-id N]… [--release-bot-user-id N]
 *
 * The token needs the Maintainer role and the `api` scope.
 */
import { parseArgs } from "node:util";
import { type StackCiSettings, allStackCiSettings } from "../../config/gitlab-settings";
import { PROJECT_DIR, runCli } from "../run-cli";
import { type GitlabProject, gitlabCall, gitlabList } from "./gitlab-api";
import { RELEASE_CREDENTIALS, RELEASE_ENVIRONMENT, releaseRequestSetup } from "./release-setup";

/** The variables only deploy, preview and drift jobs may receive. */
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
export const MARKER = "PO_PROTECTED_PIPELINE";

export type Deployer = { access_level: number } | { user_id: number } | { group_id: number };

/** The scopes each variable must have: one variable per scope, nothing else. */
export function desiredScopes(stacks: StackCiSettings[], extraCredentials: string[] = []): Map<string, string[]> {
  const environments = stacks.map((s) => s.environment);
  const scopes = new Map<string, string[]>();
  for (const key of [...DEPLOY_CREDENTIALS, ...extraCredentials]) scopes.set(key, environments);
  scopes.set(NOTES_TOKEN, [NOTES_ENVIRONMENT]);
  for (const key of RELEASE_CREDENTIALS) scopes.set(key, [RELEASE_ENVIRONMENT]);
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

export interface SetupOptions extends GitlabProject {
  dryRun: boolean;
  deployers: Deployer[];
  /** The release bot's user id (release-setup.ts). */
  releaseBotUserId?: number;
  extraCredentials: string[];
  projectDir: string;
  log: (line: string) => void;
}

const sameDeployer = (a: AccessLevel, d: Deployer) =>
  ("access_level" in d && a.access_level === d.access_level && a.user_id === null && a.group_id === null) ||
  ("user_id" in d && a.user_id === d.user_id) ||
  ("group_id" in d && a.group_id === d.group_id);
const describeDeployer = (d: Deployer) => ("access_level" in d ? `access level ${d.access_level}` : "user_id" in d ? `user ${d.user_id}` : `group ${d.group_id}`);

/** Returns the changes made (or, in a dry run, that would be made), and what this run cannot do and a person must. */
export async function gitlabSetup(opts: SetupOptions): Promise<{ changes: string[]; pending: string[] }> {
  const call = <T>(method: string, path: string, body?: unknown) => gitlabCall<T>(opts, method, path, body, true);
  const stacks = allStackCiSettings(opts.projectDir);
  const changes: string[] = [];
  const pending: string[] = [];
  const change = async (what: string, act: () => Promise<unknown>) => {
    changes.push(what);
    opts.log(`${opts.dryRun ? "would " : ""}${what}`);
    if (!opts.dryRun) await act();
  };

  // 1. Resource groups.
  for (const s of stacks) {
    const path = `/resource_groups/${encodeURIComponent(s.stack)}`;
    const { status, data } = await call<{ key: string; process_mode: string }>("GET", path);
    if (status === 404) {
      pending.push(`resource group ${s.stack} does not exist yet (GitLab creates it when a pipeline first uses it): run gitlab:setup again after the first deploy of ${s.stack}`);
    } else if (data?.process_mode !== "oldest_first") {
      await change(`set resource group ${s.stack} from ${data?.process_mode} to oldest_first`, () => call("PUT", path, { process_mode: "oldest_first" }));
    } else opts.log(`ok: resource group ${s.stack} is oldest_first`);
  }

  // 2. Protected environments.
  for (const s of stacks.filter((x) => x.dataProtected)) {
    const path = `/protected_environments/${encodeURIComponent(s.environment)}`;
    const { status, data } = await call<{ name: string; deploy_access_levels: AccessLevel[] }>("GET", path);
    const present = data?.deploy_access_levels ?? [];
    const missing = opts.deployers.filter((d) => !present.some((a) => sameDeployer(a, d)));
    const extra = present.filter((a) => !opts.deployers.some((d) => sameDeployer(a, d)));
    if (status === 404) {
      await change(`protect environment ${s.environment}, allowed to deploy: ${opts.deployers.map(describeDeployer).join(", ")}`, () =>
        call("POST", "/protected_environments", { name: s.environment, deploy_access_levels: opts.deployers }),
      );
    } else if (missing.length || extra.length) {
      await change(`update environment ${s.environment}'s deployers: add ${missing.map(describeDeployer).join(", ") || "none"}, remove ${extra.length}`, () =>
        call("PUT", path, { deploy_access_levels: [...missing, ...extra.map((a) => ({ id: a.id, _destroy: true }))] }),
      );
    } else opts.log(`ok: environment ${s.environment} is protected with the given deployers`);
  }

  // 3. Variable scopes.
  const variables = await gitlabList<ProjectVariable>(opts, "/variables");
  for (const [key, scopes] of desiredScopes(stacks, opts.extraCredentials)) {
    const mine = variables.filter((v) => v.key === key);
    if (mine.length === 0) {
      if (key !== "PULUMI_CONFIG_PASSPHRASE_FILE" && key !== "PULUMI_CONFIG_PASSPHRASE" && !key.startsWith("AWS_")) {
        pending.push(`${key} is not set: add it (protected) for environment(s) ${scopes.join(", ")}`);
      }
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

  // 4. The marker the pipeline's rules read.
  const marker = variables.find((v) => v.key === MARKER && v.environment_scope === "*");
  if (!marker) {
    await change(`create ${MARKER}=true (protected, every scope, not secret)`, () =>
      call("POST", "/variables", { key: MARKER, value: "true", variable_type: "env_var", protected: true, masked: false, raw: true, environment_scope: "*" }),
    );
  } else if (!marker.protected || marker.value !== "true") {
    await change(`set ${MARKER} to true and protected`, () =>
      call("PUT", `/variables/${MARKER}?filter%5Benvironment_scope%5D=*`, { value: "true", protected: true }),
    );
  }

  // 5. Release requests.
  await releaseRequestSetup({ call, change, pending, log: opts.log, projectDir: opts.projectDir, releaseBotUserId: opts.releaseBotUserId });

  for (const p of pending) opts.log(`todo: ${p}`);
  opts.log(changes.length ? `${changes.length} change(s) ${opts.dryRun ? "to make (dry run: nothing changed)" : "made"}.` : "nothing to change.");
  return { changes, pending };
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
  if (!apiUrl || !project || !token) throw new Error("set GITLAB_API_URL (…/api/v4), GITLAB_PROJECT (id or group/name) and GITLAB_SETUP_TOKEN (Maintainer, api scope)");
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
