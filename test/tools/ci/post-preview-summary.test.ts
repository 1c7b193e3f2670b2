import { MARKER, type FetchLike, buildSummaryMarkdown, loadPreviews, main, parseInputs, targetFromEnv, upsertSummaryNote } from "../../../tools/ci/post-preview-summary";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, loadPreview } from "./fixtures";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** A fake GitLab notes API: pages of notes, records every call. */
function fakeGitLab(pages: Array<Array<{ id: number; body: string; system?: boolean }>>) {
  const calls: Call[] = [];
  const fetchFn: FetchLike = async (url, init = {}) => {
    const method = init.method ?? "GET";
    calls.push({ url, method, headers: init.headers ?? {}, body: init.body ? JSON.parse(init.body) : undefined });
    const page = Number(new URL(url).searchParams.get("page") ?? "1");
    const payload = method === "GET" ? pages[page - 1] ?? [] : method === "POST" ? { id: 999 } : {};
    return {
      ok: true,
      status: 200,
      headers: { get: (h: string) => (h.toLowerCase() === "x-next-page" && method === "GET" && page < pages.length ? String(page + 1) : null) },
      json: async () => payload,
      text: async () => JSON.stringify(payload),
    };
  };
  return { calls, fetchFn };
}

const target = { apiUrl: "https://gitlab.example.com/api/v4", project: "42", mergeRequestIid: "7", token: "glpat-test-token" };

describe("buildSummaryMarkdown", () => {
  const md = buildSummaryMarkdown(
    [
      { stack: "qual", exitCode: 0, digest: loadPreview("preview-qual-update.json") },
      // Pulumi refused the protected volume: an engine error, its generic exit code 1 (pkg/cmd/pulumi/cmd/exit_codes.go).
      { stack: "prod", exitCode: 1, digest: loadPreview("preview-prod-replace-postgres.json") },
    ],
    { pipelineUrl: "https://gitlab.example.com/po/infra/-/pipelines/1", commitSha: "0123456789abcdef0123" },
  );

  it("starts with the hidden marker so the note can be found again", () => expect(md.startsWith(MARKER)).toBe(true));

  it("has one row per stack with creates, updates, replaces, deletes and unchanged", () => {
    expect(md).toContain("| qual | :white_check_mark: passed | 1 | 2 | 1 | 1 | 1 | not protected |");
    expect(md).toMatch(/\| prod \| :x: failed \(exit 1\) \| 0 \| 1 \| 2 \| 0 \| 3 \| :no_entry: blocked \(2\) \|/);
  });

  it("names the prod data resources the gate blocks", () => {
    expect(md).toContain("replace of data volume prod-volume-postgres-data [docker:index/volume:Volume]");
    expect(md).toContain("replace of data store prod-postgres-container [docker:index/container:Container]");
  });

  it("says Pulumi refused the protected volume and quotes its error on one line", () => {
    expect(md).toContain("prod-volume-postgres-data [docker:index/volume:Volume] (because of: driverOpts); Pulumi refused it too: the resource is marked protect");
    expect(md).toMatch(/:x: \*\*prod\*\* preview error: error: unable to replace resource "urn:pulumi:prod::[^"]+::prod-volume-postgres-data" as it is currently marked for protection\./);
  });

  it("lists changed resources with the keys that cause the change", () => {
    expect(md).toContain("| update | `qual-keycloak-container` | `docker:index/container:Container` | memory |");
    expect(md).toContain("| delete | `qual-volume-elasticsearch-data` | `docker:index/volume:Volume` |  |");
  });

  it("links the pipeline and the short commit", () => {
    expect(md).toContain("commit `0123456789ab`");
    expect(md).toContain("[pipeline](https://gitlab.example.com/po/infra/-/pipelines/1)");
  });

  it("reports a missing preview instead of failing", () => {
    const text = buildSummaryMarkdown([{ stack: "prod", exitCode: 255, missing: "preview-prod.json was not produced" }]);
    expect(text).toContain("| prod | :x: failed (exit 255) | – | – | – | – | – | :warning: no preview: preview-prod.json was not produced |");
  });

  it("marks a clean protected stack as passed", () => {
    expect(buildSummaryMarkdown([{ stack: "prod", exitCode: 0, digest: loadPreview("preview-prod-app-changes.json") }])).toMatch(/\| prod \| :white_check_mark: passed \|[^\n]*\| :white_check_mark: passed \|/);
  });

  // Pulumi's exit codes (pkg/cmd/pulumi/cmd/exit_codes.go): 1 generic error, 3 authentication, 6 stack not found, 255 internal.
  it.each([1, 3, 6, 255])("says failed whenever the preview exited %i, even with a digest whose counts and gate look clean", (code) => {
    const text = buildSummaryMarkdown([{ stack: "prod", exitCode: code, digest: loadPreview("preview-prod-app-changes.json") }]);
    expect(text).toMatch(new RegExp(`\\| prod \\| :x: failed \\(exit ${code}\\) \\|`));
    expect(text).toContain(`:x: **prod**: the preview failed (pulumi exited ${code})`);
    expect(text).not.toMatch(/\| prod \| :white_check_mark: passed/);
  });

  it("says failed when no exit code was recorded: a pass is never assumed", () => {
    expect(buildSummaryMarkdown([{ stack: "qual", digest: loadPreview("preview-no-changes.json") }])).toMatch(/\| qual \| :x: failed \(no exit code\) \|/);
  });

  it("reads each stack's protection from the project folder it is given", () => {
    const dir = mkdtempSync(join(tmpdir(), "po-summary-"));
    try {
      writeFileSync(join(dir, "Pulumi.yaml"), "name: portugal-odyssey\nruntime: nodejs\n");
      writeFileSync(join(dir, "Pulumi.prod.yaml"), "config:\n  portugal-odyssey:data:\n    protect: false\n");
      const text = buildSummaryMarkdown([{ stack: "prod", digest: loadPreview("preview-prod-replace-postgres.json") }], { projectDir: dir });
      expect(text).toMatch(/\| prod \|[^\n]*\| not protected \|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("upsertSummaryNote", () => {
  it("creates a note with POST when none carries the marker, sending the token as PRIVATE-TOKEN", async () => {
    const { calls, fetchFn } = fakeGitLab([[{ id: 1, body: "LGTM" }]]);
    expect(await upsertSummaryNote(fetchFn, target, `${MARKER}\nhello`)).toEqual({ action: "created", id: 999 });
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.url).toBe("https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes");
    expect(post.headers["PRIVATE-TOKEN"]).toBe("glpat-test-token");
    expect(post.body).toEqual({ body: `${MARKER}\nhello` });
  });

  it("edits the earlier note with PUT when it is found on a later page", async () => {
    const { calls, fetchFn } = fakeGitLab([[{ id: 1, body: "first" }], [{ id: 2, body: `${MARKER} old` }]]);
    expect(await upsertSummaryNote(fetchFn, target, `${MARKER} new`)).toEqual({ action: "updated", id: 2 });
    expect(calls.map((c) => c.method)).toEqual(["GET", "GET", "PUT"]);
    expect(calls[2].url).toBe("https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes/2");
  });

  it("ignores system notes that quote the marker", async () => {
    const { fetchFn } = fakeGitLab([[{ id: 5, body: MARKER, system: true }]]);
    expect((await upsertSummaryNote(fetchFn, target, MARKER)).action).toBe("created");
  });

  it("fails with GitLab's status and without the token in the message", async () => {
    const fetchFn: FetchLike = async () => ({ ok: false, status: 401, headers: { get: () => null }, json: async () => ({}), text: async () => '{"message":"401 Unauthorized"}' });
    const error = await upsertSummaryNote(fetchFn, target, "x").catch((e: Error) => e);
    expect(String(error)).toMatch(/401/);
    expect(String(error)).not.toContain("glpat-test-token");
  });
});

describe("inputs and environment", () => {
  it("takes the stack from stack=file or from a preview-<stack>.json name", () => {
    expect(parseInputs(["qual=a.json", "out/preview-prod.json"])).toEqual([
      { stack: "qual", file: "a.json" },
      { stack: "prod", file: "out/preview-prod.json" },
    ]);
    expect(() => parseInputs(["a.json"])).toThrow(/cannot tell the stack/);
  });

  it("reads the exit code the preview job wrote beside the digest", () => {
    const dir = mkdtempSync(join(tmpdir(), "po-summary-exit-"));
    try {
      writeFileSync(join(dir, "preview-prod.json"), readFileSync(fixture("preview-prod-app-changes.json")));
      writeFileSync(join(dir, "preview-prod.exit"), "1\n");
      writeFileSync(join(dir, "preview-qual.json"), readFileSync(fixture("preview-no-changes.json")));
      writeFileSync(join(dir, "preview-qual.exit"), "0\n");
      expect(loadPreviews(parseInputs([join(dir, "preview-prod.json"), join(dir, "preview-qual.json")])).map((p) => [p.stack, p.exitCode])).toEqual([
        ["prod", 1],
        ["qual", 0],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("turns a file that is missing into a 'missing' preview", () => {
    expect(loadPreviews([{ stack: "prod", file: "/nonexistent/preview-prod.json" }])[0].missing).toMatch(/was not produced/);
  });

  it("requires the merge-request variables and GITLAB_API_TOKEN", () => {
    expect(() => targetFromEnv({ CI_API_V4_URL: "https://x/api/v4", CI_PROJECT_ID: "1" })).toThrow(/CI_MERGE_REQUEST_IID, GITLAB_API_TOKEN/);
  });

  it("main posts one note built from both previews", async () => {
    const { calls, fetchFn } = fakeGitLab([[]]);
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
    const env = { CI_API_V4_URL: "https://gitlab.example.com/api/v4/", CI_PROJECT_ID: "po/infra", CI_MERGE_REQUEST_IID: "7", GITLAB_API_TOKEN: "t" };
    await expect(main([`qual=${fixture("preview-qual-update.json")}`, `prod=${fixture("preview-prod-replace-postgres.json")}`], env, fetchFn)).resolves.toBe(0);
    log.mockRestore();
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.url).toBe("https://gitlab.example.com/api/v4/projects/po%2Finfra/merge_requests/7/notes");
    expect((post.body as { body: string }).body).toContain("| prod |");
  });
});
