/**
 * gitlab:setup against a stand-in GitLab: a local HTTP server that keeps a
 * project's settings, protected branches, resource groups, protected
 * environments, variables, schedules and members, and refuses any request
 * whose method, path, query or body does not match the shapes in GitLab's REST
 * API docs (docs.gitlab.com/api/projects, /api/protected_branches,
 * /api/resource_groups, /api/protected_environments, /api/project_level_variables,
 * /api/pipeline_schedules, /api/members, /api/pipeline_triggers).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { SERVICES, SERVICE_NAMES } from "../../../catalog/services";
import { allStackCiSettings } from "../../../config/gitlab-settings";
import { REQUESTERS_FILE } from "../../../config/release";
import {
  BACKUP_REGISTRY_CREDENTIALS,
  BACKUP_REGISTRY_ENVIRONMENT,
  DEPLOY_CREDENTIALS,
  MARKER,
  NOTES_ENVIRONMENT,
  NOTES_TOKEN,
  PROJECT_SETTINGS,
  PROTECTED_BRANCHES,
  SCHEDULE,
  type Deployer,
  gitlabSetup,
  parseSetupArgs,
} from "../../../tools/ci/gitlab-setup";
import { PROTECTED_BRANCH_WILDCARD, RELEASE_CREDENTIALS, RELEASE_ENVIRONMENT, RELEASE_RESOURCE_GROUP } from "../../../tools/ci/release-setup";

const PROJECT_DIR = join(__dirname, "..", "..", "..");
const PROJECT = "portugal-odyssey/infra";
const TOKEN = "glpat-setup-token";
const STACKS = allStackCiSettings(PROJECT_DIR);

const processMode = z.enum(["unordered", "oldest_first", "newest_first", "newest_ready_first"]);
const deployer = z.union([
  z.strictObject({ access_level: z.union([z.literal(30), z.literal(40), z.literal(60)]) }),
  z.strictObject({ user_id: z.number().int() }),
  z.strictObject({ group_id: z.number().int() }),
]);
const variableBody = z.strictObject({
  key: z.string().regex(/^[A-Za-z0-9_]+$/),
  value: z.string(),
  variable_type: z.enum(["env_var", "file"]).optional(),
  protected: z.boolean().optional(),
  masked: z.boolean().optional(),
  raw: z.boolean().optional(),
  environment_scope: z.string().optional(),
  description: z.string().optional(),
});
const variableUpdate = variableBody.partial().extend({ value: z.string() });
// PUT /projects/:id: the attributes the docs list, each with its documented type (docs.gitlab.com/api/projects/#edit-a-project).
const projectUpdate = z
  .strictObject({
    resource_group_default_process_mode: processMode,
    ci_forward_deployment_enabled: z.boolean(),
    protect_merge_request_pipelines: z.boolean(),
    auto_cancel_pending_pipelines: z.enum(["enabled", "disabled"]),
    only_allow_merge_if_pipeline_succeeds: z.boolean(),
    restrict_user_defined_variables: z.boolean(),
    ci_pipeline_variables_minimum_override_role: z.enum(["no_one_allowed", "developer", "maintainer", "owner"]),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, "at least one attribute");
/** GitLab shows these to Owners (and administrators) only (docs.gitlab.com/api/projects, "Get a single project"). */
const OWNER_ONLY = ["ci_forward_deployment_enabled", "auto_cancel_pending_pipelines"];
const branchLevel = z.union([z.literal(0), z.literal(30), z.literal(40), z.literal(60)]);
/** The release bot: the owner of the trigger tokens, so the only deployer of the release-requests environment. */
const RELEASE_BOT = 4242;
const BUILDERS = [...new Set(SERVICE_NAMES.map((s) => SERVICES[s].builtBy))].sort();

/**
 * A copy of the project's stack files whose requesters file lists every project that builds a catalog service,
 * each with a trigger token `gitlab` has: the setup then has nothing left to report about release requests.
 */
function projectWhereEveryBuilderHasATrigger(gitlab: FakeGitlab): string {
  const dir = mkdtempSync(join(tmpdir(), "po-setup-"));
  for (const file of readdirSync(PROJECT_DIR).filter((f) => /^Pulumi(\.[^.]+)?\.yaml$/.test(f))) copyFileSync(join(PROJECT_DIR, file), join(dir, file));
  const requesters = Object.fromEntries(BUILDERS.map((builder, i) => [builder, { trigger: `t${String(i).padStart(3, "0")}` }]));
  mkdirSync(join(dir, REQUESTERS_FILE, ".."), { recursive: true });
  writeFileSync(join(dir, REQUESTERS_FILE), stringify({ requesters }));
  gitlab.triggers = BUILDERS.map((builder, i) => ({ id: i + 1, description: `release-request:${builder}`, token: `glptt-${requesters[builder].trigger}` }));
  return dir;
}

/** The token's user: a schedule created with the token belongs to it. */
const TOKEN_USER = { id: 1, username: "setup-bot" };

interface Variable {
  key: string;
  value: string | null;
  variable_type: "env_var" | "file";
  protected: boolean;
  masked: boolean;
  hidden: boolean;
  raw: boolean;
  environment_scope: string;
  description: string | null;
}

class FakeGitlab {
  /** What a project created before GitLab 18.1 has (docs.gitlab.com/api/projects; protect_merge_request_pipelines: gitlab!188008). */
  settings: Record<string, unknown> = {
    default_branch: "main",
    resource_group_default_process_mode: "unordered",
    ci_forward_deployment_enabled: true,
    protect_merge_request_pipelines: false,
    auto_cancel_pending_pipelines: "enabled",
    only_allow_merge_if_pipeline_succeeds: false,
    restrict_user_defined_variables: false,
    ci_pipeline_variables_minimum_override_role: "developer",
  };
  /** false: the token is a Maintainer's, which does not see the Owner-only attributes. */
  ownerToken = true;
  /** `pushUsers`: users allowed to push besides the level (Premium's allowed_to_push). */
  protectedBranches = new Map<string, { push_access_level: number; merge_access_level: number; pushUsers?: number[] }>();
  schedules: Array<{ id: number; description: string; ref: string; cron: string; cron_timezone: string; active: boolean; owner: { id: number; username: string } }> = [];
  /** user id -> access level in the project (members/all), and group id -> member user ids. */
  members = new Map<number, number>([[TOKEN_USER.id, 50]]);
  groups = new Map<number, number[]>();
  resourceGroups = new Map<string, string>();
  protectedEnvironments = new Map<string, Array<{ id: number; access_level: number | null; user_id: number | null; group_id: number | null }>>();
  variables: Variable[] = [];
  /** Pipeline trigger tokens; other users' show only their first four characters (docs.gitlab.com/api/pipeline_triggers). */
  triggers: Array<{ id: number; description: string; token: string }> = [];
  violations: string[] = [];
  writes: string[] = [];
  private nextId = 1;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v4`;
  }
  stop = () => new Promise<void>((r) => this.server?.close(() => r()));

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url!, "http://x");
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(body === undefined ? "" : JSON.stringify(body));
    };
    const refuse = (why: string) => {
      this.violations.push(`${req.method} ${url.pathname}${url.search}: ${why}`);
      send(400, { message: why });
    };
    if (req.headers["private-token"] !== TOKEN) return refuse("no PRIVATE-TOKEN header with the token");
    let body: unknown;
    if (raw) {
      if (req.headers["content-type"] !== "application/json") return refuse("body without Content-Type application/json");
      body = JSON.parse(raw);
    }
    const check = <T>(schema: z.ZodType<T>): T | undefined => {
      const parsed = schema.safeParse(body);
      if (!parsed.success) {
        refuse(`body does not match the API: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
        return undefined;
      }
      return parsed.data;
    };
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/v4\/groups\/(\d+)\/members\/all\/(\d+)$/.exec(url.pathname)) && req.method === "GET") {
      return this.groups.get(Number(m[1]))?.includes(Number(m[2])) ? send(200, { id: Number(m[2]), access_level: 30 }) : send(404, { message: "404 Not found" });
    }
    // The project path must arrive URL-encoded (group%2Fname), as the API docs require.
    const projectPath = `/api/v4/projects/${encodeURIComponent(PROJECT)}`;
    if (req.url === projectPath || req.url!.startsWith(`${projectPath}?`)) {
      if (req.method === "GET") return send(200, Object.fromEntries(Object.entries(this.settings).filter(([k]) => this.ownerToken || !OWNER_ONLY.includes(k))));
      if (req.method === "PUT") {
        this.writes.push(`PUT /projects/:id ${raw}`);
        const b = check(projectUpdate);
        if (!b) return;
        Object.assign(this.settings, b);
        return send(200, this.settings);
      }
    }
    const prefix = `${projectPath}/`;
    if (!req.url!.startsWith(prefix)) return refuse("not under the URL-encoded project path");
    // GitLab routes each path parameter as one URL-encoded segment (a wildcard branch `infra/*` as `infra%2F*`,
    // docs.gitlab.com/api/rest/#namespaced-paths): a name sent with a bare slash finds no route on it.
    const [resource, ...rest] = url.pathname.slice(prefix.length).split("/");
    if (["protected_branches", "protected_environments", "resource_groups", "variables"].includes(resource) && rest.length > 1) {
      return refuse("a name with an unencoded slash: GitLab would answer 404");
    }
    const path = decodeURIComponent(url.pathname.slice(prefix.length - 1));
    if (req.method !== "GET") this.writes.push(`${req.method} ${path}${url.search}`);
    if ((m = /^\/protected_branches\/(.+)$/.exec(path)) && req.method === "GET") {
      const b = this.protectedBranches.get(m[1]);
      const users = (b?.pushUsers ?? []).map((user_id) => ({ access_level: 40, user_id, group_id: null }));
      return b
        ? send(200, { name: m[1], push_access_levels: [{ access_level: b.push_access_level, user_id: null, group_id: null }, ...users], merge_access_levels: [{ access_level: b.merge_access_level }] })
        : send(404, { message: "404 Not found" });
    }
    // Update a protected branch (docs.gitlab.com/api/protected_branches, Premium): an entry without an id is added.
    if ((m = /^\/protected_branches\/(.+)$/.exec(path)) && req.method === "PATCH") {
      const b = check(z.strictObject({ allowed_to_push: z.array(z.strictObject({ user_id: z.number() })) }));
      if (!b) return;
      const branch = this.protectedBranches.get(m[1]);
      if (!branch) return send(404, { message: "404 Not found" });
      branch.pushUsers = [...(branch.pushUsers ?? []), ...b.allowed_to_push.map((a) => a.user_id)];
      return send(200, { name: m[1] });
    }
    if (path === "/protected_branches" && req.method === "POST") {
      const b = check(z.strictObject({ name: z.string(), push_access_level: branchLevel.optional(), merge_access_level: branchLevel.optional(), allow_force_push: z.boolean().optional() }));
      if (!b) return;
      if (this.protectedBranches.has(b.name)) return send(409, { message: "Protected branch already exists" });
      this.protectedBranches.set(b.name, { push_access_level: b.push_access_level ?? 40, merge_access_level: b.merge_access_level ?? 40 });
      return send(201, { name: b.name });
    }
    if (path === "/triggers" && req.method === "GET") return send(200, this.triggers, { "x-next-page": "" });
    if (path === "/pipeline_schedules" && req.method === "GET") return send(200, this.schedules, { "x-next-page": "" });
    if (path === "/pipeline_schedules" && req.method === "POST") {
      const b = check(z.strictObject({ description: z.string(), ref: z.string(), cron: z.string(), cron_timezone: z.string().optional(), active: z.boolean().optional() }));
      if (!b) return;
      this.schedules.push({ id: this.nextId++, cron_timezone: "UTC", active: true, ...b, owner: TOKEN_USER });
      return send(201, this.schedules.at(-1));
    }
    if ((m = /^\/members\/all\/(\d+)$/.exec(path)) && req.method === "GET") {
      const level = this.members.get(Number(m[1]));
      return level === undefined ? send(404, { message: "404 Not found" }) : send(200, { id: Number(m[1]), access_level: level });
    }
    if ((m = /^\/resource_groups\/([^/]+)$/.exec(path))) {
      const key = m[1];
      if (!this.resourceGroups.has(key)) return send(404, { message: "404 Not found" });
      if (req.method === "GET") return send(200, { id: 3, key, process_mode: this.resourceGroups.get(key), created_at: "2026-11-01T08:00:00Z", updated_at: "2026-11-01T08:00:00Z" });
      if (req.method === "PUT") {
        const b = check(z.strictObject({ process_mode: processMode }));
        if (!b) return;
        this.resourceGroups.set(key, b.process_mode);
        return send(200, { id: 3, key, process_mode: b.process_mode });
      }
    }
    if (path === "/protected_environments" && req.method === "POST") {
      const b = check(z.strictObject({ name: z.string(), deploy_access_levels: z.array(deployer).min(1), required_approval_count: z.number().optional() }));
      if (!b) return;
      if (this.protectedEnvironments.has(b.name)) return send(409, { message: "Protected environment already exists" });
      this.protectedEnvironments.set(b.name, b.deploy_access_levels.map((d) => ({ id: this.nextId++, access_level: null, user_id: null, group_id: null, ...d })));
      return send(201, { name: b.name, deploy_access_levels: this.protectedEnvironments.get(b.name) });
    }
    if ((m = /^\/protected_environments\/(.+)$/.exec(path))) {
      const levels = this.protectedEnvironments.get(m[1]);
      if (!levels) return send(404, { message: "404 Not found" });
      if (req.method === "GET") return send(200, { name: m[1], deploy_access_levels: levels, required_approval_count: 0 });
      if (req.method === "PUT") {
        const b = check(z.strictObject({ deploy_access_levels: z.array(z.union([deployer, z.strictObject({ id: z.number(), _destroy: z.literal(true) })])) }));
        if (!b) return;
        for (const d of b.deploy_access_levels) {
          if ("_destroy" in d) levels.splice(levels.findIndex((l) => l.id === d.id), 1);
          else levels.push({ id: this.nextId++, access_level: null, user_id: null, group_id: null, ...d });
        }
        return send(200, { name: m[1], deploy_access_levels: levels });
      }
    }
    if (path === "/variables" && req.method === "GET") {
      const perPage = Number(url.searchParams.get("per_page") ?? 20);
      const page = Number(url.searchParams.get("page") ?? 1);
      const slice = this.variables.slice((page - 1) * perPage, page * perPage).map((v) => ({ ...v, value: v.hidden ? null : v.value }));
      return send(200, slice, page * perPage < this.variables.length ? { "x-next-page": String(page + 1) } : { "x-next-page": "" });
    }
    if (path === "/variables" && req.method === "POST") {
      const b = check(variableBody);
      if (!b) return;
      const scope = b.environment_scope ?? "*";
      if (this.variables.some((v) => v.key === b.key && v.environment_scope === scope)) return send(400, { message: { key: [`(${b.key}) has already been taken`] } });
      this.variables.push({ variable_type: "env_var", protected: false, masked: false, hidden: false, raw: false, description: null, ...b, environment_scope: scope });
      return send(201, b);
    }
    if ((m = /^\/variables\/([A-Za-z0-9_]+)$/.exec(path))) {
      const scope = url.searchParams.get("filter[environment_scope]");
      if (scope === null) return refuse("a key with several scopes needs filter[environment_scope]");
      const i = this.variables.findIndex((v) => v.key === m![1] && v.environment_scope === scope);
      if (i < 0) return send(404, { message: "404 Variable Not Found" });
      if (req.method === "DELETE") {
        this.variables.splice(i, 1);
        return send(204);
      }
      if (req.method === "PUT") {
        const b = check(variableUpdate);
        if (!b) return;
        Object.assign(this.variables[i], b);
        return send(200, this.variables[i]);
      }
    }
    refuse("no such endpoint in the API docs");
  }
}

const secret = (key: string) => `value-of-${key}-${"x".repeat(12)}`;
const variable = (key: string, over: Partial<Variable> = {}): Variable => ({
  key,
  value: secret(key),
  variable_type: key.startsWith("SSH_") ? "file" : "env_var",
  protected: true,
  masked: !key.startsWith("SSH_"),
  hidden: false,
  raw: false,
  environment_scope: "*",
  description: null,
  ...over,
});

const STACK_ENVIRONMENTS = STACKS.map((s) => s.environment);
const REQUIRED_CREDENTIALS = DEPLOY_CREDENTIALS.filter((k) => k !== "PULUMI_CONFIG_PASSPHRASE_FILE");

describe("gitlab:setup against a stand-in GitLab that checks every request", () => {
  let gitlab: FakeGitlab;
  let apiUrl: string;
  const lines: string[] = [];
  const run = (dryRun: boolean, deployers: Deployer[] = [{ access_level: 40 }], projectDir = PROJECT_DIR) =>
    gitlabSetup({ apiUrl, project: PROJECT, token: TOKEN, dryRun, deployers, releaseBotUserId: RELEASE_BOT, extraCredentials: [], projectDir, fetch, log: (l) => lines.push(l) });

  beforeEach(async () => {
    gitlab = new FakeGitlab();
    apiUrl = await gitlab.start();
    lines.length = 0;
    // What a project looks like before: every group unordered, credentials (the registry's too) for every environment ("*").
    for (const s of STACKS) gitlab.resourceGroups.set(s.stack, "unordered");
    gitlab.resourceGroups.set(RELEASE_RESOURCE_GROUP, "unordered");
    gitlab.variables = [...REQUIRED_CREDENTIALS, NOTES_TOKEN, ...BACKUP_REGISTRY_CREDENTIALS, ...RELEASE_CREDENTIALS].map((k) => variable(k));
  });
  afterEach(() => gitlab.stop());

  it("a dry run reads everything, lists every change it would make and sends no write request", async () => {
    const { changes } = await run(true);
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.writes).toEqual([]);
    expect(changes.length).toBeGreaterThan(0);
    expect(lines).toContain('would set resource_group_default_process_mode from "unordered" to "oldest_first", protect_merge_request_pipelines from false to true, only_allow_merge_if_pipeline_succeeds from false to true, restrict_user_defined_variables from false to true, ci_pipeline_variables_minimum_override_role from "developer" to "no_one_allowed"');
    for (const group of [...STACKS.map((s) => s.stack), RELEASE_RESOURCE_GROUP]) expect(lines).toContain(`would set resource group ${group} from unordered to oldest_first`);
    for (const env of [...STACK_ENVIRONMENTS, BACKUP_REGISTRY_ENVIRONMENT]) expect(lines).toContain(`would protect environment ${env}, allowed to deploy: access level 40`);
    expect(lines.at(-1)).toMatch(/dry run: nothing changed/);
  });

  it("sets the project settings the pipeline relies on in one PUT /projects/:id, with the documented attribute names and types", async () => {
    await run(false);
    expect(gitlab.violations).toEqual([]);
    for (const s of PROJECT_SETTINGS) expect({ [s.attribute]: gitlab.settings[s.attribute] }).toEqual({ [s.attribute]: s.value });
    expect(gitlab.writes.filter((w) => w.startsWith("PUT /projects/:id"))).toEqual([
      'PUT /projects/:id {"resource_group_default_process_mode":"oldest_first","protect_merge_request_pipelines":true,"only_allow_merge_if_pipeline_succeeds":true,"restrict_user_defined_variables":true,"ci_pipeline_variables_minimum_override_role":"no_one_allowed"}',
    ]);
  });

  it("protects every stack's environment (qual as much as prod) and backup-registry with the deployers, release-requests for the release bot alone, and leaves preview-notes open", async () => {
    await run(false);
    expect(gitlab.violations).toEqual([]);
    expect([...gitlab.protectedEnvironments.keys()].sort()).toEqual([...STACK_ENVIRONMENTS, BACKUP_REGISTRY_ENVIRONMENT, RELEASE_ENVIRONMENT].sort());
    for (const [name, levels] of gitlab.protectedEnvironments) {
      expect({ name, levels: levels.map((l) => l.access_level ?? `user ${l.user_id}`) }).toEqual({ name, levels: [name === RELEASE_ENVIRONMENT ? `user ${RELEASE_BOT}` : 40] });
    }
    expect(gitlab.protectedEnvironments.has(NOTES_ENVIRONMENT)).toBe(false);
  });

  it("scopes the deploy credentials to the stacks' environments, the registry login to backup-registry and the notes token to preview-notes, nothing else", async () => {
    await run(false);
    expect(gitlab.violations).toEqual([]);
    for (const key of REQUIRED_CREDENTIALS) {
      const copies = gitlab.variables.filter((v) => v.key === key);
      expect({ key, scopes: copies.map((v) => v.environment_scope).sort() }).toEqual({ key, scopes: [...STACK_ENVIRONMENTS].sort() });
      for (const c of copies) expect([c.value, c.protected, c.variable_type]).toEqual([secret(key), true, key.startsWith("SSH_") ? "file" : "env_var"]);
    }
    for (const key of BACKUP_REGISTRY_CREDENTIALS) expect(gitlab.variables.filter((v) => v.key === key).map((v) => [v.environment_scope, v.protected])).toEqual([[BACKUP_REGISTRY_ENVIRONMENT, true]]);
    expect(gitlab.variables.filter((v) => v.key === NOTES_TOKEN).map((v) => v.environment_scope)).toEqual([NOTES_ENVIRONMENT]);
    expect(gitlab.variables.find((v) => v.key === MARKER)).toMatchObject({ value: "true", protected: true, environment_scope: "*" });
    // No value ever reaches the log.
    for (const v of gitlab.variables.filter((x) => x.key !== MARKER)) expect(lines.join("\n")).not.toContain(v.value!);
  });

  it("protects the default branch and the infra/* wildcard when missing, and keeps the levels of one a person already protected", async () => {
    gitlab.protectedBranches.set("infra/*", { push_access_level: 40, merge_access_level: 40 });
    await run(false);
    expect(gitlab.violations).toEqual([]);
    // Maintainers, and the release bot besides them (release-setup.ts).
    expect(gitlab.protectedBranches.get("main")).toEqual({ push_access_level: 40, merge_access_level: 40, pushUsers: [RELEASE_BOT] });
    expect(gitlab.protectedBranches.get("infra/*")).toEqual({ push_access_level: 40, merge_access_level: 40 });
    expect(PROTECTED_BRANCHES.map((b) => b.name)).toEqual(["default", "infra/*"]);
  });

  it("creates the schedule on the default branch when there is none; the token's user owns it", async () => {
    await run(false);
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.schedules).toEqual([expect.objectContaining({ ref: "main", cron: SCHEDULE.cron, active: true, owner: TOKEN_USER })]);
  });

  it("says when the schedule runs as someone who is not a deployer, by role, user or group: drift checks and drills would fail (gitlab#300784)", async () => {
    gitlab.schedules = [{ id: 5, description: "nightly", ref: "main", cron: "0 6 * * *", cron_timezone: "UTC", active: true, owner: { id: 7, username: "dev" } }];
    gitlab.members.set(7, 30);
    const todo = /schedule "nightly" runs as dev, who is not a deployer of .*take/;
    expect((await run(true)).pending).toContainEqual(expect.stringMatching(todo));
    expect((await run(true, [{ access_level: 30 }])).pending).not.toContainEqual(expect.stringMatching(todo));
    expect((await run(true, [{ user_id: 7 }])).pending).not.toContainEqual(expect.stringMatching(todo));
    gitlab.groups.set(9, [7]);
    expect((await run(true, [{ group_id: 9 }])).pending).not.toContainEqual(expect.stringMatching(todo));
    expect(gitlab.violations).toEqual([]);
  });

  it("is idempotent with an Owner's token: a second run sends no write request and reports nothing to change or do", async () => {
    const projectDir = projectWhereEveryBuilderHasATrigger(gitlab);
    await run(false, undefined, projectDir);
    gitlab.writes = [];
    lines.length = 0;
    const { changes, pending } = await run(false, undefined, projectDir);
    expect(changes).toEqual([]);
    expect(pending).toEqual([]);
    expect(gitlab.writes).toEqual([]);
    expect(lines.at(-1)).toBe("nothing to change.");
  });

  it("with a token that cannot read the Owner-only settings, sets them and lists each for a person to check, with where it is in the UI", async () => {
    gitlab.ownerToken = false;
    const { pending } = await run(false);
    expect(gitlab.violations).toEqual([]);
    const hidden = PROJECT_SETTINGS.filter((s) => ["ci_forward_deployment_enabled", "auto_cancel_pending_pipelines"].includes(s.attribute));
    for (const s of hidden) {
      expect(gitlab.settings[s.attribute]).toBe(s.value);
      expect(pending).toContain(`${s.attribute} could not be confirmed (this token cannot read it, or this GitLab does not have it): check ${s.ui} is ${JSON.stringify(s.value)}`);
    }
  });

  it("replaces deployers that differ, and needs no second run for a resource group GitLab has not created yet", async () => {
    const prod = STACKS.find((s) => s.dataProtected)!;
    gitlab.protectedEnvironments.set(prod.environment, [{ id: 99, access_level: 30, user_id: null, group_id: null }]);
    gitlab.resourceGroups.delete(prod.stack);
    const { pending } = await run(false);
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.protectedEnvironments.get(prod.environment)!.map((l) => l.access_level)).toEqual([40]);
    expect(gitlab.settings.resource_group_default_process_mode).toBe("oldest_first");
    expect(pending.filter((p) => p.includes("resource group"))).toEqual([]);
  });

  it("keeps a hidden variable where it is and says to re-create it by hand, instead of deleting the only copy", async () => {
    gitlab.variables = gitlab.variables.map((v) => (v.key === "PULUMI_CONFIG_PASSPHRASE" ? { ...v, hidden: true } : v));
    const { pending } = await run(false);
    expect(gitlab.variables.filter((v) => v.key === "PULUMI_CONFIG_PASSPHRASE").map((v) => v.environment_scope)).toEqual(["*"]);
    expect(pending.filter((p) => p.startsWith("PULUMI_CONFIG_PASSPHRASE is hidden"))).toHaveLength(STACKS.length);
  });
});

describe("gitlab:setup for release requests", () => {
  let gitlab: FakeGitlab;
  let apiUrl: string;
  const lines: string[] = [];
  /** `null`: no release bot given. */
  const run = (releaseBot: number | null = RELEASE_BOT, projectDir = PROJECT_DIR) =>
    gitlabSetup({ apiUrl, project: PROJECT, token: TOKEN, dryRun: false, deployers: [{ access_level: 40 }], releaseBotUserId: releaseBot ?? undefined, extraCredentials: [], projectDir, fetch, log: (l) => lines.push(l) });
  beforeEach(async () => {
    gitlab = new FakeGitlab();
    apiUrl = await gitlab.start();
    lines.length = 0;
    gitlab.resourceGroups.set(RELEASE_RESOURCE_GROUP, "unordered");
    gitlab.variables = RELEASE_CREDENTIALS.map((k) => variable(k));
  });
  afterEach(() => gitlab.stop());

  it("protects the infra/* wildcard release merge requests push to, switches pipeline variables off, and serialises every release oldest first", async () => {
    await run();
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.protectedBranches.has(PROTECTED_BRANCH_WILDCARD)).toBe(true);
    expect(gitlab.settings).toMatchObject({ restrict_user_defined_variables: true, ci_pipeline_variables_minimum_override_role: "no_one_allowed" });
    expect(gitlab.resourceGroups.get(RELEASE_RESOURCE_GROUP)).toBe("oldest_first");
  });

  it("lets the release bot push to main, where GitLab starts its trigger tokens' pipelines only if it may push or merge", async () => {
    await run();
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.protectedBranches.get("main")).toMatchObject({ push_access_level: 40, pushUsers: [RELEASE_BOT] });
    gitlab.writes = [];
    await run();
    expect(gitlab.writes.filter((w) => w.includes("protected_branches"))).toEqual([]);
  });

  it("scopes the release credentials to the release-requests environment, which only the release bot may use", async () => {
    await run();
    expect(gitlab.violations).toEqual([]);
    for (const key of RELEASE_CREDENTIALS) expect(gitlab.variables.filter((v) => v.key === key).map((v) => v.environment_scope)).toEqual([RELEASE_ENVIRONMENT]);
    expect(gitlab.protectedEnvironments.get(RELEASE_ENVIRONMENT)!.map((l) => [l.user_id, l.access_level])).toEqual([[RELEASE_BOT, null]]);
  });

  it("without the release bot's user id, leaves the environment as it is and says what to pass", async () => {
    const { pending } = await run(null);
    expect(gitlab.protectedEnvironments.has(RELEASE_ENVIRONMENT)).toBe(false);
    expect(pending).toContainEqual(expect.stringMatching(/--release-bot-user-id/));
  });

  it("recognises a listed trigger token shown as its short token or in full with an instance token prefix, and says when two tokens share one", async () => {
    const projectDir = projectWhereEveryBuilderHasATrigger(gitlab);
    const [first] = gitlab.triggers;
    const short = first.token.slice("glptt-".length);
    // As the API shows another user's token (Ci::TriggerPresenter), and its own user's under an instance-wide prefix.
    for (const shown of [short, `acme-glptt-${short}`]) {
      first.token = shown;
      expect((await run(RELEASE_BOT, projectDir)).pending.filter((p) => p.includes("trigger"))).toEqual([]);
    }
    gitlab.triggers.push({ id: 99, description: "nightly rebuild", token: `glptt-${short}ffff` });
    expect((await run(RELEASE_BOT, projectDir)).pending).toContainEqual(expect.stringMatching(new RegExp(`^2 trigger tokens .*nightly rebuild.* have the short token ${short}… listed for ${BUILDERS[0]}`)));
  });

  it("says which building project has no trigger token to ask with", async () => {
    const { pending } = await run();
    for (const builder of BUILDERS) expect(pending).toContainEqual(expect.stringMatching(new RegExp(`^${builder} builds catalog services but cannot ask for releases`)));
  });
});

describe("parseSetupArgs", () => {
  const env = { GITLAB_API_URL: "https://gitlab.example.com/api/v4", GITLAB_PROJECT: PROJECT, GITLAB_SETUP_TOKEN: TOKEN };
  it("defaults the allowed deployers to Maintainers", () => expect(parseSetupArgs([], env).deployers).toEqual([{ access_level: 40 }]));
  it("takes users, groups and access levels", () =>
    expect(parseSetupArgs(["--deployer-user-id", "7", "--deployer-group-id", "9", "--deployer-access-level", "60"], env).deployers).toEqual([{ access_level: 60 }, { user_id: 7 }, { group_id: 9 }]));
  it("takes the release bot's user id, and refuses one that is not a number", () => {
    expect(parseSetupArgs(["--release-bot-user-id", "4242"], env).releaseBotUserId).toBe(4242);
    expect(() => parseSetupArgs(["--release-bot-user-id", "bot"], env)).toThrow(/--release-bot-user-id expects a number/);
  });
  it("refuses an access level GitLab does not know, and a missing token", () => {
    expect(() => parseSetupArgs(["--deployer-access-level", "50"], env)).toThrow(/30 \(Developer\), 40 \(Maintainer\) or 60/);
    expect(() => parseSetupArgs([], { ...env, GITLAB_SETUP_TOKEN: undefined })).toThrow(/GITLAB_SETUP_TOKEN/);
  });
});
