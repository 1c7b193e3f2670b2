/**
 * gitlab:setup against a stand-in GitLab: a local HTTP server that keeps a
 * project's resource groups, protected environments and variables, and
 * refuses any request whose method, path, query or body does not match the
 * shapes in GitLab's REST API docs (docs.gitlab.com/api/resource_groups,
 * /api/protected_environments, /api/project_level_variables, /api/protected_branches,
 * /api/projects (edit a project), /api/pipeline_triggers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { allStackCiSettings } from "../../../config/gitlab-settings";
import { SERVICES, SERVICE_NAMES } from "../../../catalog/services";
import { DEPLOY_CREDENTIALS, MARKER, NOTES_ENVIRONMENT, NOTES_TOKEN, gitlabSetup, parseSetupArgs } from "../../../tools/ci/gitlab-setup";
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
  resourceGroups = new Map<string, string>();
  protectedEnvironments = new Map<string, Array<{ id: number; access_level: number | null; user_id: number | null; group_id: number | null }>>();
  variables: Variable[] = [];
  protectedBranches = new Map<string, { push_access_level: number; merge_access_level: number }>();
  settings = { restrict_user_defined_variables: false, ci_pipeline_variables_minimum_override_role: "developer" };
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
    // The project path must arrive URL-encoded (group%2Fname), as the API docs require.
    const prefix = `/api/v4/projects/${encodeURIComponent(PROJECT)}`;
    if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return refuse("not under the URL-encoded project path");
    const path = decodeURIComponent(url.pathname.slice(prefix.length));
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
    if (req.method !== "GET") this.writes.push(`${req.method} ${path}${url.search}`);
    let m: RegExpExecArray | null;
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
    if (path === "" && req.method === "GET") return send(200, { id: 1, path_with_namespace: PROJECT, ...this.settings });
    if (path === "" && req.method === "PUT") {
      const b = check(z.strictObject({ restrict_user_defined_variables: z.boolean().optional(), ci_pipeline_variables_minimum_override_role: z.enum(["no_one_allowed", "developer", "maintainer", "owner"]).optional() }));
      if (!b) return;
      Object.assign(this.settings, b);
      return send(200, { id: 1, ...this.settings });
    }
    if ((m = /^\/protected_branches\/(.+)$/.exec(path)) && req.method === "GET") {
      const b = this.protectedBranches.get(m[1]);
      return b ? send(200, { name: m[1], push_access_levels: [{ access_level: b.push_access_level }], merge_access_levels: [{ access_level: b.merge_access_level }] }) : send(404, { message: "404 Not found" });
    }
    if (path === "/protected_branches" && req.method === "POST") {
      const b = check(z.strictObject({ name: z.string(), push_access_level: z.number().int(), merge_access_level: z.number().int(), allow_force_push: z.boolean().optional() }));
      if (!b) return;
      if (this.protectedBranches.has(b.name)) return send(409, { message: "Protected branch already exists" });
      this.protectedBranches.set(b.name, b);
      return send(201, b);
    }
    if (path === "/triggers" && req.method === "GET") return send(200, this.triggers);
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

describe("gitlab:setup against a stand-in GitLab that checks every request", () => {
  let gitlab: FakeGitlab;
  let apiUrl: string;
  const lines: string[] = [];
  const run = (dryRun: boolean) =>
    gitlabSetup({ apiUrl, project: PROJECT, token: TOKEN, dryRun, deployers: [{ access_level: 40 }], extraCredentials: [], projectDir: PROJECT_DIR, fetch, log: (l) => lines.push(l) });

  beforeEach(async () => {
    gitlab = new FakeGitlab();
    apiUrl = await gitlab.start();
    lines.length = 0;
    // What a project looks like before: every group unordered, credentials for every environment ("*").
    for (const s of STACKS) gitlab.resourceGroups.set(s.stack, "unordered");
    gitlab.resourceGroups.set(RELEASE_RESOURCE_GROUP, "unordered");
    gitlab.variables = [...DEPLOY_CREDENTIALS.filter((k) => k !== "PULUMI_CONFIG_PASSPHRASE_FILE"), NOTES_TOKEN, ...RELEASE_CREDENTIALS].map((k) => variable(k));
  });
  afterEach(() => gitlab.stop());

  it("a dry run lists every change and sends no write request", async () => {
    const { changes } = await run(true);
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.writes).toEqual([]);
    expect(changes.length).toBeGreaterThan(0);
    for (const s of STACKS) expect(lines).toContain(`would set resource group ${s.stack} from unordered to oldest_first`);
    expect(lines.at(-1)).toMatch(/dry run: nothing changed/);
  });

  it("sets oldest_first, protects the protected stacks' environments and scopes the credentials to the stacks' environments only", async () => {
    await run(false);
    expect(gitlab.violations).toEqual([]);
    for (const s of STACKS) expect(gitlab.resourceGroups.get(s.stack)).toBe("oldest_first");
    const protectedEnvs = STACKS.filter((s) => s.dataProtected).map((s) => s.environment);
    expect(protectedEnvs.length).toBeGreaterThan(0);
    expect([...gitlab.protectedEnvironments.keys()]).toEqual(protectedEnvs);
    for (const env of protectedEnvs) expect(gitlab.protectedEnvironments.get(env)!.map((l) => l.access_level)).toEqual([40]);
    const environments = STACKS.map((s) => s.environment).sort();
    for (const key of DEPLOY_CREDENTIALS.filter((k) => k !== "PULUMI_CONFIG_PASSPHRASE_FILE")) {
      const copies = gitlab.variables.filter((v) => v.key === key);
      expect({ key, scopes: copies.map((v) => v.environment_scope).sort() }).toEqual({ key, scopes: environments });
      for (const c of copies) expect([c.value, c.protected, c.variable_type]).toEqual([secret(key), true, key.startsWith("SSH_") ? "file" : "env_var"]);
    }
    expect(gitlab.variables.filter((v) => v.key === NOTES_TOKEN).map((v) => v.environment_scope)).toEqual([NOTES_ENVIRONMENT]);
    expect(gitlab.variables.find((v) => v.key === MARKER)).toMatchObject({ value: "true", protected: true, environment_scope: "*" });
    // No value ever reaches the log.
    for (const v of gitlab.variables.filter((x) => x.key !== MARKER)) expect(lines.join("\n")).not.toContain(v.value!);
  });

  it("is idempotent: a second run sends no write request and reports nothing to change", async () => {
    await run(false);
    gitlab.writes = [];
    lines.length = 0;
    const { changes } = await run(false);
    expect(changes).toEqual([]);
    expect(gitlab.writes).toEqual([]);
    expect(lines.at(-1)).toBe("nothing to change.");
  });

  it("replaces deployers that differ, and leaves a resource group that does not exist yet for the next run", async () => {
    const prod = STACKS.find((s) => s.dataProtected)!;
    gitlab.protectedEnvironments.set(prod.environment, [{ id: 99, access_level: 30, user_id: null, group_id: null }]);
    gitlab.resourceGroups.delete(prod.stack);
    const { pending } = await run(false);
    expect(gitlab.violations).toEqual([]);
    expect(gitlab.protectedEnvironments.get(prod.environment)!.map((l) => l.access_level)).toEqual([40]);
    expect(pending).toContainEqual(expect.stringMatching(new RegExp(`resource group ${prod.stack} does not exist yet`)));
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
  const RELEASE_BOT = 4242;
  /** `null`: no release bot given. */
  const run = (releaseBot: number | null = RELEASE_BOT) =>
    gitlabSetup({ apiUrl, project: PROJECT, token: TOKEN, dryRun: false, deployers: [{ access_level: 40 }], releaseBotUserId: releaseBot ?? undefined, extraCredentials: [], projectDir: PROJECT_DIR, fetch, log: (l) => lines.push(l) });
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
    expect(gitlab.protectedBranches.get(PROTECTED_BRANCH_WILDCARD)).toMatchObject({ push_access_level: 30, merge_access_level: 30 });
    expect(gitlab.settings).toEqual({ restrict_user_defined_variables: true, ci_pipeline_variables_minimum_override_role: "no_one_allowed" });
    expect(gitlab.resourceGroups.get(RELEASE_RESOURCE_GROUP)).toBe("oldest_first");
  });

  it("scopes the release credentials to the release-requests environment, which only the release bot may use", async () => {
    await run();
    for (const key of RELEASE_CREDENTIALS) expect(gitlab.variables.filter((v) => v.key === key).map((v) => v.environment_scope)).toEqual([RELEASE_ENVIRONMENT]);
    expect(gitlab.protectedEnvironments.get(RELEASE_ENVIRONMENT)!.map((l) => [l.user_id, l.access_level])).toEqual([[RELEASE_BOT, null]]);
  });

  it("without the release bot's user id, leaves the environment as it is and says what to pass", async () => {
    const { pending } = await run(null);
    expect(gitlab.protectedEnvironments.has(RELEASE_ENVIRONMENT)).toBe(false);
    expect(pending).toContainEqual(expect.stringMatching(/--release-bot-user-id/));
  });

  it("says which building project has no trigger token to ask with", async () => {
    const { pending } = await run();
    for (const builder of new Set(SERVICE_NAMES.map((s) => SERVICES[s].builtBy))) {
      expect(pending).toContainEqual(expect.stringMatching(new RegExp(`^${builder} builds catalog services but cannot ask for releases`)));
    }
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
