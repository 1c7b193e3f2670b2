/**
 * The infra side of a release request against a stand-in GitLab that keeps a real history of
 * releases/qual.yaml and refuses a commit whose `last_commit_id` is stale, as GitLab's Commits API
 * does (Files::MultiService: "The file has changed since you started editing it: <path>"), and
 * refuses a body that is not of the API's shape (docs.gitlab.com/api/commits, /api/merge_requests);
 * and a stand-in registry that answers each tag's digest.
 */
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICES, SERVICE_NAMES } from "../../../catalog/services";
import { BACKUP_IMAGE, REQUESTERS_FILE, releaseFileName } from "../../../config/release";
import type { FetchLike } from "../../../tools/ci/gitlab-api";
import { type RequestInputs, handleRequest, main } from "../../../tools/release/request";
import { imageRepository, parseManifest, stackRegistry } from "../../../tools/release/manifest";
import { REPOSITORY_ROOT } from "../../harness/stack-config";
import { z } from "zod";

const commitBody = z.strictObject({
  branch: z.string(),
  start_branch: z.string().optional(),
  commit_message: z.string().min(1),
  // Only the manifest, only an update, always guarded by the file's last commit.
  actions: z.tuple([z.strictObject({ action: z.literal("update"), file_path: z.literal(releaseFileName("qual")), content: z.string(), last_commit_id: z.string() })]),
});
const mergeRequestBody = z.strictObject({ source_branch: z.string(), target_branch: z.string(), title: z.string(), remove_source_branch: z.boolean() });

const STACK = "qual";
const FILE = releaseFileName(STACK);
const PLATFORM = SERVICES[SERVICE_NAMES[0]].builtBy;
const BUILT_BY_PLATFORM = SERVICE_NAMES.filter((s) => SERVICES[s].builtBy === PLATFORM);
/** A project listed as a requester that builds no catalog service. */
const STRANGER = "portugal-odyssey/not-a-builder";
const SERVER = "https://gitlab.example";
const COMMIT = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39";
const digestOf = (repository: string, tag: string) => `sha256:${createHash("sha256").update(`${repository}:${tag}`).digest("hex")}`;

/** Lets every other pending request run first, so concurrent requests interleave as they would against a server. */
const yieldTurn = () => new Promise((r) => setImmediate(r));

function standInGitlab(initial: string) {
  let file = { content: initial, lastCommitId: "c0" };
  const commits: { id: string; message: string; content: string; branch: string }[] = [];
  const conflicts: string[] = [];
  const answer = (status: number, body: unknown) => ({
    ok: status < 300,
    status,
    headers: { get: () => null },
    json: async () => body,
    text: async () => JSON.stringify(body),
  });
  const fetchFn: FetchLike = async (url, init = {}) => {
    await yieldTurn();
    const path = decodeURIComponent(new URL(url).pathname.replace(/^\/api\/v4\/projects\/[^/]+/, ""));
    const method = init.method ?? "GET";
    if (init.headers?.["PRIVATE-TOKEN"] !== "release-credential") return answer(401, { message: "401 Unauthorized" });
    // GitLab's Jobs API tells nothing about the trigger token (lib/api/entities/ci/job_basic.rb, job.rb): who asked is
    // read from the job's CI_TRIGGER_SHORT_TOKEN, never from here.
    if (method === "GET" && /^\/jobs\/\d+$/.test(path)) return answer(200, { id: Number(path.slice("/jobs/".length)), status: "running", name: "release-request", ref: "main" });
    if (method === "GET" && path === `/repository/files/${FILE}`) {
      return answer(200, { file_path: FILE, content: Buffer.from(file.content).toString("base64"), encoding: "base64", last_commit_id: file.lastCommitId });
    }
    if (method === "POST" && path === "/repository/commits") {
      const parsed = commitBody.safeParse(JSON.parse(init.body!));
      if (!parsed.success) return answer(400, { message: `not the Commits API's shape: ${parsed.error.message}` });
      const body = parsed.data;
      const [action] = body.actions;
      if (body.branch === "main" && action.last_commit_id !== file.lastCommitId) {
        conflicts.push(body.commit_message);
        return answer(400, { message: `The file has changed since you started editing it: ${action.file_path}` });
      }
      const id = `c${commits.length + 1}`;
      commits.push({ id, message: body.commit_message, content: action.content, branch: body.branch });
      if (body.branch === "main") file = { content: action.content, lastCommitId: id };
      return answer(201, { id });
    }
    if (method === "POST" && path === "/merge_requests" && mergeRequestBody.safeParse(JSON.parse(init.body!)).success) return answer(201, { web_url: `${SERVER}/po/infra/-/merge_requests/1` });
    return answer(404, { message: `no stand-in for ${method} ${path}` });
  };
  return { fetchFn, commits, conflicts, file: () => file.content };
}

/** A registry that knows every tag and answers its digest on HEAD, as registry.ts asks. */
const registryFetch = (async (url: string | URL) => {
  const m = /^https?:\/\/([^/]+)\/v2\/(.+)\/manifests\/([^/]+)$/.exec(String(url))!;
  return new Response(null, {
    status: 200,
    headers: { "docker-content-digest": digestOf(`${m[1]}/${m[2]}`, decodeURIComponent(m[3])), "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });
}) as typeof fetch;

let project: string;
beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), "po-request-"));
  for (const f of ["Pulumi.yaml", `Pulumi.${STACK}.yaml`]) copyFileSync(join(REPOSITORY_ROOT, f), join(project, f));
  mkdirSync(join(project, "releases"));
  writeFileSync(join(project, REQUESTERS_FILE), `requesters:\n  ${PLATFORM}: { trigger: "plat" }\n  ${STRANGER}: { trigger: "strg" }\n`);
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

/** What the stand-in registry's digest of `service` at `tag` is pinned as. */
const pinOf = (service: string, tag: string) => {
  const repository = imageRepository(stackRegistry(project, STACK), service);
  return `${repository}@${digestOf(repository, tag)}`;
};

const INITIAL = readFileSync(join(REPOSITORY_ROOT, FILE), "utf8");
const request = (over: Partial<RequestInputs> = {}): RequestInputs => ({
  stack: STACK,
  services: [],
  tag: "1.0.0",
  commit: COMMIT,
  pipeline: `${SERVER}/${PLATFORM}/-/pipelines/77`,
  mergeRequest: false,
  ...over,
});

/** The job of pipeline `9<n>`, started by the trigger token whose short token is `shortToken` (null: no trigger token started it). */
function context(gitlab: ReturnType<typeof standInGitlab>, shortToken: string | null, n = "1", log: string[] = []) {
  return {
    gitlab: { apiUrl: `${SERVER}/api/v4`, project: "1", token: "release-credential", fetch: gitlab.fetchFn },
    // As GitLab sets them for the job (predefined variables; CI_TRIGGER_SHORT_TOKEN only in a trigger pipeline).
    trigger: shortToken === null ? { source: "push", shortToken: undefined } : { source: "trigger", shortToken },
    pipelineId: `9${n}`,
    defaultBranch: "main",
    serverUrl: SERVER,
    login: undefined,
    registryFetch,
    projectDir: project,
    log: (l: string) => log.push(l),
  };
}

describe("concurrent release requests", () => {
  // Several app pipelines asking at once, each for its own service; the stand-in lets them interleave.
  const services = BUILT_BY_PLATFORM.slice(0, 6);

  test("all land on main, each in one commit that changes only its own service, retried on a stale file", async () => {
    const gitlab = standInGitlab(INITIAL);
    const results = await Promise.all(services.map((s, i) => handleRequest(request({ services: [s], tag: `t-${s}` }), context(gitlab, "plat", String(i + 1)))));
    expect(results.every((r) => r.startsWith("committed"))).toBe(true);
    expect(gitlab.conflicts.length).toBeGreaterThan(0);
    expect(gitlab.commits).toHaveLength(services.length);
    // Commit by commit: exactly one service changes, and each service is changed by exactly one commit.
    let previous = parseManifest(INITIAL, STACK);
    const changedBy: string[] = [];
    for (const c of gitlab.commits) {
      const next = parseManifest(c.content, STACK);
      const changed = Object.keys(next).filter((s) => JSON.stringify(next[s]) !== JSON.stringify(previous[s]));
      expect(changed).toHaveLength(1);
      expect(Object.keys(previous).every((s) => s in next)).toBe(true);
      changedBy.push(changed[0]);
      previous = next;
    }
    expect([...changedBy].sort()).toEqual([...services].sort());
    const final = parseManifest(gitlab.file(), STACK);
    for (const s of services) expect(final[s].image).toBe(pinOf(s, `t-${s}`));
    // The header comment of the file survives every rewrite.
    expect(gitlab.file().startsWith(INITIAL.slice(0, INITIAL.indexOf("\n")))).toBe(true);
  });

  test("requests for one service land in the order their jobs ran: the later tag wins", async () => {
    const gitlab = standInGitlab(INITIAL);
    const [service] = BUILT_BY_PLATFORM;
    await handleRequest(request({ services: [service], tag: "first" }), context(gitlab, "plat", "1"));
    await handleRequest(request({ services: [service], tag: "second" }), context(gitlab, "plat", "2"));
    expect(gitlab.commits).toHaveLength(2);
    expect(parseManifest(gitlab.file(), STACK)[service].image).toBe(pinOf(service, "second"));
  });

  test("a request that pins what main already pins commits nothing", async () => {
    const gitlab = standInGitlab(INITIAL);
    const [service] = BUILT_BY_PLATFORM;
    await handleRequest(request({ services: [service] }), context(gitlab, "plat", "1"));
    expect(await handleRequest(request({ services: [service] }), context(gitlab, "plat", "2"))).toMatch(/nothing changes/);
    expect(gitlab.commits).toHaveLength(1);
  });
});

describe("who may ask for what", () => {
  test("no service named: every service the requester builds, from the same tag", async () => {
    const gitlab = standInGitlab(INITIAL);
    await handleRequest(request(), context(gitlab, "plat", "1"));
    expect(Object.keys(parseManifest(gitlab.file(), STACK)).sort()).toEqual([...BUILT_BY_PLATFORM].sort());
  });

  test.each([
    ["a service the requesting project does not build", "strg", [SERVICE_NAMES[0]], /not-a-builder builds no catalog service/],
    ["the backup image", "plat", [BACKUP_IMAGE], /refused: backup; the backup image is built and released by this repository alone/],
    ["a name that is no catalog service", "plat", ["no-such-service"], /refused: no-such-service/],
    ["any service, from a pipeline no trigger token started", null, [SERVICE_NAMES[0]], /not started with a pipeline trigger token/],
    ["any service, with a trigger token releases/requesters.yaml does not list", "zzzz", [SERVICE_NAMES[0]], /zzzz… .* is not listed in releases\/requesters.yaml/],
  ])("refuses %s, and commits nothing", async (_what, token, services, message) => {
    const gitlab = standInGitlab(INITIAL);
    await expect(handleRequest(request({ services }), context(gitlab, token))).rejects.toThrow(message);
    expect(gitlab.commits).toEqual([]);
  });

  test("refuses a building pipeline that is not the requester's own", async () => {
    const gitlab = standInGitlab(INITIAL);
    await expect(handleRequest(request({ pipeline: `${SERVER}/someone/else/-/pipelines/5` }), context(gitlab, "plat", "1"))).rejects.toThrow(/is not one of/);
    expect(gitlab.commits).toEqual([]);
  });
});

describe("release merge requests", () => {
  test("commit to a branch under the protected infra/* wildcard and open a merge request, main untouched", async () => {
    const gitlab = standInGitlab(INITIAL);
    expect(await handleRequest(request({ mergeRequest: true }), context(gitlab, "plat", "1"))).toMatch(/^opened merge request/);
    expect(gitlab.commits.map((c) => c.branch)).toEqual(["infra/release-qual-91"]);
    expect(gitlab.file()).toBe(INITIAL);
  });
});

describe("the command line's exit codes", () => {
  const env = {
    CI_API_V4_URL: `${SERVER}/api/v4`,
    CI_PROJECT_ID: "1",
    CI_PIPELINE_ID: "91",
    CI_PIPELINE_SOURCE: "trigger",
    CI_TRIGGER_SHORT_TOKEN: "plat",
    CI_DEFAULT_BRANCH: "main",
    CI_SERVER_URL: SERVER,
    PO_RELEASE_API_TOKEN: "release-credential",
  };
  const args = (over: string[] = []) => ["--stack", STACK, "--services", SERVICE_NAMES[0], "--tag", "1.0.0", "--commit", COMMIT, "--pipeline", `${SERVER}/${PLATFORM}/-/pipelines/77`, ...over];
  const quiet = () => [jest.spyOn(process.stdout, "write").mockImplementation(() => true), jest.spyOn(process.stderr, "write").mockImplementation(() => true)];

  test("3 when the request is refused, 2 without the release credential; nothing is committed", async () => {
    const mocks = quiet();
    try {
      const refused = standInGitlab(INITIAL);
      expect(await main(args(), { ...env, CI_TRIGGER_SHORT_TOKEN: "strg" }, refused.fetchFn, project)).toBe(3);
      // A short token in a pipeline no trigger token started (a pushed main, say) is no requester.
      expect(await main(args(), { ...env, CI_PIPELINE_SOURCE: "push" }, refused.fetchFn, project)).toBe(3);
      expect(await main(["--stack", STACK, "--tag", "not a tag", "--commit", COMMIT, "--pipeline", "7"], env, refused.fetchFn, project)).toBe(3);
      expect(await main(args(), { ...env, PO_RELEASE_API_TOKEN: "" }, refused.fetchFn, project)).toBe(2);
      expect(refused.commits).toEqual([]);
    } finally {
      for (const m of mocks) m.mockRestore();
    }
  });

  test("0 and one commit: the requester is the job's CI_TRIGGER_SHORT_TOKEN, which GitLab's Jobs API does not repeat", async () => {
    const mocks = quiet();
    try {
      const gitlab = standInGitlab(INITIAL);
      expect(await main(args(), { ...env, PO_RELEASE_REGISTRY_USER: "", PO_RELEASE_REGISTRY_PASSWORD: "" }, gitlab.fetchFn, project, registryFetch)).toBe(0);
      expect(gitlab.commits).toHaveLength(1);
      expect(parseManifest(gitlab.file(), STACK)[SERVICE_NAMES[0]].image).toBe(pinOf(SERVICE_NAMES[0], "1.0.0"));
    } finally {
      for (const m of mocks) m.mockRestore();
    }
  });

  test("1 when GitLab refuses the credential", async () => {
    const mocks = quiet();
    try {
      const gitlab = standInGitlab(INITIAL);
      expect(await main(args(), { ...env, PO_RELEASE_API_TOKEN: "wrong" }, gitlab.fetchFn, project)).toBe(1);
    } finally {
      for (const m of mocks) m.mockRestore();
    }
  });
});
