/**
 * Elasticsearch: a snapshot into a shared-filesystem repository registered on
 * this environment's cluster alone, on a volume of its own (`path.repo`,
 * https://www.elastic.co/guide/en/elasticsearch/reference/8.15/snapshots-filesystem-repository.html).
 * The backup container reads that volume and sends it to restic with the rest.
 *
 * The REST calls go through an `EsApi`: `fetch` where this process reaches the
 * cluster (the backup container, on its network), `curl` run inside a container
 * where nothing else does (the drill's throwaway node, the live node on restore).
 */
export interface ElasticsearchConnection {
  url: string;
  repository: string;
  /** The repository's location inside path.repo, as the cluster sees it. */
  location: string;
}

export interface ElasticsearchManifest {
  snapshot: string;
  /** Documents per index just before the snapshot (system and hidden indices left out). */
  indices: Record<string, number>;
  /** Documents per index just after it, where that differs: writes landed while it ran, so either count may be in it. */
  indicesAfter?: Record<string, number>;
  serverVersion: string;
  /** The repository's name and location (relative to path.repo). Absent in backups older than them: the environment's defaults. */
  repository?: string;
  location?: string;
}

/** One REST call: the parsed JSON answer, or an error naming the call and the status. */
export type EsApi = <T>(method: string, path: string, body?: unknown) => Promise<T>;

export class EsError extends Error {
  constructor(
    message: string,
    /** The HTTP status Elasticsearch answered, when it answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * How long one REST call may take. Each call is short: a snapshot is started and then polled, never
 * awaited in one request, because Node's fetch (undici) abandons a request whose answer has no headers
 * after 300 s (undici lib/dispatcher/client.js, headersTimeout default 300e3), and a snapshot of a
 * large index takes longer. This explicit limit is shorter than undici's, so it is the one that applies.
 */
export const ES_REQUEST_TIMEOUT_MS = 120_000;

export function fetchApi(url: string, timeoutMs = ES_REQUEST_TIMEOUT_MS): EsApi {
  return async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((e: Error) => {
      throw new EsError(`Elasticsearch ${method} ${path.split("?")[0]} failed: ${e.name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : e.message}`);
    });
    return answer<T>(method, path, res.status, await res.text());
  };
}

/** How the backup waits for a snapshot: its poll interval, and how long it waits at most. */
export interface SnapshotWait {
  pollMs: number;
  timeoutMs: number;
  /** Waits `ms` between polls (a test passes its own clock). */
  sleep?: (ms: number) => Promise<void>;
}

export const SNAPSHOT_WAIT: SnapshotWait = { pollMs: 5_000, timeoutMs: 6 * 3_600_000 };

/**
 * The same calls made by `curl` next to the node (`exec` runs argv in its
 * container: the official image has curl, its healthcheck uses it). The status
 * comes after the body on a line of its own (`-w`), so an error body is kept.
 */
export function curlApi(exec: (argv: string[]) => Promise<string>, base = "http://127.0.0.1:9200"): EsApi {
  return async <T>(method: string, path: string, body?: unknown) => {
    const argv = ["curl", "-sS", "-X", method, "-H", "content-type: application/json", "-w", "\n%{http_code}"];
    if (body !== undefined) argv.push("--data-raw", JSON.stringify(body));
    const out = (await exec([...argv, `${base}${path}`])).replace(/\n$/, "");
    const cut = out.lastIndexOf("\n");
    return answer<T>(method, path, Number(out.slice(cut + 1)), out.slice(0, Math.max(cut, 0)));
  };
}

function answer<T>(method: string, path: string, status: number, text: string): T {
  if (!(status >= 200 && status < 300)) throw new EsError(`Elasticsearch ${method} ${path.split("?")[0]} answered ${status || "nothing"}: ${text.slice(0, 300)}`, status || undefined);
  return JSON.parse(text) as T;
}

/**
 * Documents per open index, leaving out system and hidden ones (a leading dot).
 * `docs.count` of the cat indices API is Lucene's count (nested documents
 * included, https://www.elastic.co/guide/en/elasticsearch/reference/8.15/cat-indices.html),
 * over what the last refresh made visible: hence a `_refresh` first
 * (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/indices-refresh.html).
 * The backup and the drill count the same way, so the two compare.
 */
export async function docCounts(api: EsApi): Promise<Record<string, number>> {
  await api("POST", "/_refresh?expand_wildcards=open");
  const rows = await api<{ index: string; "docs.count": string }[]>("GET", "/_cat/indices?format=json&h=index,docs.count&expand_wildcards=open");
  return Object.fromEntries(rows.filter((r) => !r.index.startsWith(".")).map((r) => [r.index, Number(r["docs.count"])]));
}

/**
 * Starts the snapshot (without wait_for_completion the create call answers once it has started,
 * https://www.elastic.co/guide/en/elasticsearch/reference/8.15/create-snapshot-api.html) and polls
 * the get snapshot API until its state is no longer IN_PROGRESS
 * (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/get-snapshot-api.html).
 */
async function takeSnapshot(api: EsApi, repository: string, name: string, wait: SnapshotWait): Promise<string> {
  await api("PUT", `/_snapshot/${repository}/${name}?wait_for_completion=false`, { indices: "*,-.*", include_global_state: false });
  const sleep = wait.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let waited = 0; ; waited += wait.pollMs) {
    const { snapshots } = await api<{ snapshots: { snapshot: string; state: string }[] }>("GET", `/_snapshot/${repository}/${name}`);
    const state = snapshots.find((s) => s.snapshot === name)?.state ?? "MISSING";
    if (state !== "IN_PROGRESS") return state;
    if (waited >= wait.timeoutMs) throw new Error(`Elasticsearch snapshot ${name} still IN_PROGRESS after ${wait.timeoutMs / 1000} s`);
    await sleep(wait.pollMs);
  }
}

export async function backupElasticsearch(c: ElasticsearchConnection, name: string, api: EsApi = fetchApi(c.url), wait: SnapshotWait = SNAPSHOT_WAIT): Promise<ElasticsearchManifest> {
  await api("PUT", `/_snapshot/${c.repository}`, { type: "fs", settings: { location: c.location } });
  const indices = await docCounts(api);
  const state = await takeSnapshot(api, c.repository, name, wait);
  if (state !== "SUCCESS") throw new Error(`Elasticsearch snapshot ${name} ended ${state}`);
  const after = await docCounts(api);
  const changed = Object.keys({ ...indices, ...after }).filter((i) => indices[i] !== after[i]);
  const version = (await api<{ version: { number: string } }>("GET", "/")).version.number;
  return {
    snapshot: name,
    indices,
    ...(changed.length > 0 ? { indicesAfter: after } : {}),
    serverVersion: version,
    repository: c.repository,
    location: c.location,
  };
}

/**
 * How many snapshots the live repository keeps. They are a restore's fast path
 * (restoreIntoLive); each one has already gone to restic with the repository's
 * files, so an older one is still restorable from there (restoreFromCopy).
 */
export const LIVE_SNAPSHOTS_KEPT = 3;

/**
 * Deletes the live repository's snapshots older than its newest `keep`
 * successful ones, in one call; without this the snapshots volume only grows.
 * Elasticsearch deletes only the files no remaining snapshot uses, and a
 * snapshot still in progress is never named (deleting it would abort it):
 * https://www.elastic.co/guide/en/elasticsearch/reference/8.15/delete-snapshot-api.html.
 * With fewer than `keep` successful snapshots nothing is deleted. Returns the names deleted.
 */
export async function pruneLiveSnapshots(api: EsApi, repository: string, keep = LIVE_SNAPSHOTS_KEPT): Promise<string[]> {
  type Listed = { snapshot: string; state: string; start_time_in_millis: number };
  const { snapshots } = await api<{ snapshots: Listed[] }>("GET", `/_snapshot/${repository}/_all`);
  const finished = snapshots.filter((s) => s.state !== "IN_PROGRESS").sort((a, b) => b.start_time_in_millis - a.start_time_in_millis);
  const kept = finished.filter((s) => s.state === "SUCCESS").slice(0, keep);
  if (kept.length < keep) return [];
  const oldestKept = kept[kept.length - 1].start_time_in_millis;
  const old = finished.filter((s) => s.start_time_in_millis < oldestKept).map((s) => s.snapshot);
  if (old.length > 0) await api("DELETE", `/_snapshot/${repository}/${old.join(",")}`);
  return old;
}

/** The documents each index of the manifest may hold after a restore: its count, or between its two counts when writes landed during the snapshot. */
export function expectedCounts(m: ElasticsearchManifest): Record<string, { min: number; max: number }> {
  return Object.fromEntries(
    Object.entries(m.indices).map(([index, before]) => {
      const after = m.indicesAfter?.[index] ?? before;
      return [index, { min: Math.min(before, after), max: Math.max(before, after) }];
    }),
  );
}

/** Every index of the manifest against the counts found after a restore: one named problem per missing index or count out of range. */
export function compareDocCounts(m: ElasticsearchManifest, found: Record<string, number>): string[] {
  const problems: string[] = [];
  for (const [index, { min, max }] of Object.entries(expectedCounts(m))) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    if (!(index in found)) problems.push(`elasticsearch index ${index}: missing after restore (manifest: ${expected} documents)`);
    else if (found[index] < min || found[index] > max) problems.push(`elasticsearch index ${index}: ${found[index]} documents restored, manifest says ${expected}`);
  }
  return problems;
}

interface RestoreAnswer {
  snapshot: { snapshot: string; indices: string[]; shards: { total: number; failed: number; successful: number } };
}

/**
 * Restores `indices` of the snapshot and waits for it: with
 * `wait_for_completion` the call returns once every shard is recovered, with
 * their counts (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/restore-snapshot-api.html).
 * Only the indices: the cluster's global state (templates, settings, ILM) stays the cluster's.
 */
async function restoreIndices(api: EsApi, repository: string, snapshot: string, indices: string[]): Promise<void> {
  const res = await api<RestoreAnswer>("POST", `/_snapshot/${repository}/${snapshot}/_restore?wait_for_completion=true`, {
    indices: indices.join(","),
    include_global_state: false,
    include_aliases: true,
  });
  const shards = res.snapshot?.shards;
  if (!shards || shards.failed > 0) throw new Error(`restoring Elasticsearch snapshot ${snapshot}: ${shards ? `${shards.failed} of ${shards.total} shards failed` : "no restore result"}`);
}

/**
 * Registers the fs repository at `location` (under path.repo) `readonly`: a
 * cluster that only reads a repository must not write it, and only one cluster
 * may write a repository
 * (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/snapshots-filesystem-repository.html#filesystem-repository-settings).
 */
function registerReadonly(api: EsApi, repository: string, location: string): Promise<unknown> {
  return api("PUT", `/_snapshot/${repository}`, { type: "fs", settings: { location, readonly: true } });
}

/**
 * The drill's restore, into an empty throwaway node whose path.repo holds the
 * restored repository directory: registered read-only, the manifest's indices
 * restored, then counted.
 */
export async function restoreForDrill(api: EsApi, m: ElasticsearchManifest, env: string, repository: string): Promise<Record<string, number>> {
  await registerReadonly(api, repository, m.location ?? env);
  // Every index the snapshot holds, not the manifest's list: one it lacks is then named missing by the comparison.
  if (Object.keys(m.indices).length > 0) await restoreIndices(api, repository, m.snapshot, ["*", "-.*"]);
  return docCounts(api);
}

/**
 * Whether `repository` holds `snapshot`, complete. A repository the cluster
 * does not know (a new host before its first backup) holds nothing.
 */
export async function repositoryHolds(api: EsApi, repository: string, snapshot: string): Promise<boolean> {
  const found = await api<{ snapshots?: { snapshot: string; state: string }[] }>("GET", `/_snapshot/${repository}/${snapshot}?ignore_unavailable=true`).catch((e: Error) => {
    if (e instanceof EsError && e.status === 404) return { snapshots: [] };
    throw e;
  });
  return Boolean(found.snapshots?.some((s) => s.snapshot === snapshot && s.state === "SUCCESS"));
}

/**
 * The manifest's indices restored from `repository` into the live node. An
 * existing index can only be restored over when it is closed (restore snapshot
 * API); closed, not deleted: if the restore fails, its data is still there, and
 * `POST /<index>/_open` brings it back.
 */
async function closeAndRestore(api: EsApi, m: ElasticsearchManifest, repository: string, log: (line: string) => void): Promise<Record<string, number>> {
  const indices = Object.keys(m.indices);
  if (indices.length === 0) return {};
  const list = indices.map(encodeURIComponent).join(",");
  // ignore_unavailable: an index the cluster does not have yet is simply created by the restore.
  await api("POST", `/${list}/_close?ignore_unavailable=true&expand_wildcards=open,closed`);
  log(`closed ${indices.join(", ")}`);
  try {
    await restoreIndices(api, repository, m.snapshot, indices);
  } catch (e) {
    throw new EsError(`${(e as Error).message}; ${indices.join(", ")} may be left closed: POST /${list}/_open reopens them`);
  }
  return docCounts(api);
}

/** The operator's restore into the live node from the repository the backup registered, which must still hold the snapshot. */
export async function restoreIntoLive(api: EsApi, m: ElasticsearchManifest, repository: string, log: (line: string) => void): Promise<Record<string, number>> {
  if (!(await repositoryHolds(api, repository, m.snapshot))) throw new EsError(`snapshot ${m.snapshot} is not in the live cluster's repository ${repository}`);
  return closeAndRestore(api, m, repository, log);
}

/** A copy of the snapshot repository, from the restic snapshot, in a directory of its own under the live node's path.repo. */
export interface RepositoryCopy {
  /** The temporary repository's name, and its directory relative to path.repo. */
  repository: string;
  location: string;
  /** Puts the files there; `remove` takes them away again, and whatever part of them arrived. */
  put(): Promise<void>;
  remove(): Promise<void>;
}

/**
 * The restore when the live repository lacks the snapshot (a new host, a lost
 * volume): the restic snapshot's copy of the repository goes into a directory
 * of its own, never into the live repository's, which this cluster writes: a
 * repository has one writer, or it can be corrupted
 * (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/snapshots-filesystem-repository.html).
 * It is registered read-only as a temporary repository, restored from
 * as the live path restores, then unregistered, which leaves the files
 * (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/delete-snapshot-repo-api.html),
 * and its directory removed: whatever happened.
 */
export async function restoreFromCopy(api: EsApi, m: ElasticsearchManifest, copy: RepositoryCopy, log: (line: string) => void): Promise<Record<string, number>> {
  let registering = false;
  try {
    await copy.put();
    log(`copied the snapshot repository from the backup into ${copy.location}`);
    registering = true;
    await registerReadonly(api, copy.repository, copy.location);
    if (!(await repositoryHolds(api, copy.repository, m.snapshot))) throw new EsError(`snapshot ${m.snapshot} is not in the backup's copy of the repository either`);
    return await closeAndRestore(api, m, copy.repository, log);
  } finally {
    if (registering) {
      await api("DELETE", `/_snapshot/${copy.repository}`).catch((e: Error) => {
        if (!(e instanceof EsError && e.status === 404)) log(`WARNING the temporary repository ${copy.repository} is still registered: ${e.message}`);
      });
    }
    await copy.remove().then(
      () => log(`removed ${copy.location}`),
      (e: Error) => log(`WARNING ${copy.location} is still on the snapshots volume: ${e.message}`),
    );
  }
}
