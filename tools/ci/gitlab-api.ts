/**
 * GitLab's REST API for one project (docs.gitlab.com/api/rest): JSON in and
 * out, the token in the PRIVATE-TOKEN header. A failure names the request and
 * GitLab's answer ({"message": …}), never the token.
 */

/** The part of `fetch` the tools use, so tests can stand in for GitLab. */
export type FetchLike = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<Pick<Response, "ok" | "status" | "json" | "text"> & { headers: Pick<Headers, "get"> }>;

export interface GitlabProject {
  /** `https://gitlab.example.com/api/v4`. */
  apiUrl: string;
  /** Its numeric id or `group/name`. */
  project: string;
  token: string;
  fetch: FetchLike;
}

/** GitLab refused a request; `status` is its HTTP status. */
export class GitlabApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** One request under `/projects/:id`, with the parsed body of a success as `data`; a 404 is an answer (no data) when `allow404`, an error otherwise. */
export function gitlabCall<T>(p: GitlabProject, method: string, path: string, body?: unknown, allow404 = false) {
  return gitlabApiCall<T>(p, method, `/projects/${encodeURIComponent(p.project)}${path}`, body, allow404);
}

/** The same for any path of the API (`/groups/:id/…`). */
export async function gitlabApiCall<T>(
  p: GitlabProject,
  method: string,
  path: string,
  body?: unknown,
  allow404 = false,
): Promise<{ status: number; data?: T; headers: Pick<Headers, "get"> }> {
  const response = await p.fetch(`${p.apiUrl.replace(/\/+$/, "")}${path}`, {
    method,
    headers: { "PRIVATE-TOKEN": p.token, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && !(allow404 && response.status === 404)) {
    throw new GitlabApiError(`GitLab answered ${method} ${path.split("?")[0]} with HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`, response.status);
  }
  // A DELETE's 204 has no body to parse.
  const data = response.ok ? ((await response.json().catch(() => undefined)) as T | undefined) : undefined;
  return { status: response.status, data, headers: response.headers };
}

/** Every item of a paginated list, page after page as GitLab's x-next-page header says. */
export async function gitlabList<T>(p: GitlabProject, path: string, query: Record<string, string> = {}): Promise<T[]> {
  const all: T[] = [];
  for (let page = "1"; page; ) {
    const { data, headers } = await gitlabCall<T[]>(p, "GET", `${path}?${new URLSearchParams({ ...query, per_page: "100", page })}`);
    all.push(...(data ?? []));
    page = (data?.length && headers.get("x-next-page")) || "";
  }
  return all;
}
