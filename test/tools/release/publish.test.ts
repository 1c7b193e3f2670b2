/** publish: the GitLab API calls that commit a rewritten manifest, or open a merge request with it. */
import { createHash } from "node:crypto";
import { publish, type PublishOptions } from "../../../tools/release/publish";

const ORIGINAL = "services: {}\n";
const CONTENT = "services:\n  booking-service: {}\n";

function fakeGitLab(fileSha = createHash("sha256").update(ORIGINAL).digest("hex")) {
  const calls: { method: string; url: string; body?: any; token?: string }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    calls.push({ method: init.method!, url, body: init.body ? JSON.parse(String(init.body)) : undefined, token: (init.headers as Record<string, string>)["PRIVATE-TOKEN"] });
    const answer = init.method === "GET" ? { content_sha256: fileSha, last_commit_id: "abc123" } : url.endsWith("/merge_requests") ? { web_url: "https://gitlab.example/mr/9" } : { id: "0123456789abcdef" };
    return new Response(JSON.stringify(answer), { status: 200 });
  }) as unknown as typeof globalThis.fetch;
  return { calls, fetch };
}

const options = (over: Partial<PublishOptions>): PublishOptions => ({
  apiUrl: "https://gitlab.example/api/v4",
  project: "portugal-odyssey/infra",
  token: "pat",
  branch: "main",
  stack: "qual",
  message: "Release x to qual",
  mergeRequest: false,
  content: CONTENT,
  original: ORIGINAL,
  ...over,
});

test("commits the manifest to main, guarded by the file's last commit ID", async () => {
  const gitlab = fakeGitLab();
  expect(await publish(options({ fetch: gitlab.fetch }))).toBe("committed 01234567 to main: Release x to qual");
  expect(gitlab.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
    "GET https://gitlab.example/api/v4/projects/portugal-odyssey%2Finfra/repository/files/releases%2Fqual.yaml?ref=main",
    "POST https://gitlab.example/api/v4/projects/portugal-odyssey%2Finfra/repository/commits",
  ]);
  expect(gitlab.calls[1].body).toEqual({
    branch: "main",
    commit_message: "Release x to qual",
    actions: [{ action: "update", file_path: "releases/qual.yaml", content: CONTENT, last_commit_id: "abc123" }],
  });
  expect(gitlab.calls.every((c) => c.token === "pat")).toBe(true);
});

test("with a merge request, commits to a new branch from main and opens the MR against main", async () => {
  const gitlab = fakeGitLab();
  expect(await publish(options({ fetch: gitlab.fetch, mergeRequest: true }))).toBe("opened merge request https://gitlab.example/mr/9");
  const [, commit, mr] = gitlab.calls;
  expect(commit.body).toMatchObject({ branch: expect.stringMatching(/^release\/qual-/), start_branch: "main" });
  expect(mr.body).toEqual({ source_branch: commit.body.branch, target_branch: "main", title: "Release x to qual", remove_source_branch: true });
});

test("refuses when main's manifest changed since the clone, committing nothing", async () => {
  const gitlab = fakeGitLab("0".repeat(64));
  await expect(publish(options({ fetch: gitlab.fetch }))).rejects.toThrow("releases/qual.yaml changed on main since this job cloned it; retry the job");
  expect(gitlab.calls.map((c) => c.method)).toEqual(["GET"]);
});

test("commits nothing when the release changed nothing", async () => {
  const gitlab = fakeGitLab();
  expect(await publish(options({ fetch: gitlab.fetch, content: ORIGINAL }))).toContain("nothing committed");
  expect(gitlab.calls).toEqual([]);
});
