/**
 * Elasticsearch: a snapshot into a shared-filesystem repository registered on
 * this environment's cluster alone, on a volume of its own (`path.repo`,
 * https://www.elastic.co/guide/en/elasticsearch/reference/8.15/snapshots-filesystem-repository.html).
 * The backup container reads that volume and sends it to restic with the rest.
 */
export interface ElasticsearchConnection {
  url: string;
  repository: string;
  /** The repository's location inside path.repo, as the cluster sees it. */
  location: string;
}

export interface ElasticsearchManifest {
  snapshot: string;
  /** Documents per index at snapshot time (system and hidden indices left out). */
  indices: Record<string, number>;
  serverVersion: string;
}

async function call<T>(url: string, method = "GET", body?: unknown): Promise<T> {
  const res = await fetch(url, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`Elasticsearch ${method} ${new URL(url).pathname} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export async function docCounts(url: string): Promise<Record<string, number>> {
  const rows = await call<{ index: string; "docs.count": string }[]>(`${url}/_cat/indices?format=json&h=index,docs.count&expand_wildcards=open`);
  return Object.fromEntries(rows.filter((r) => !r.index.startsWith(".")).map((r) => [r.index, Number(r["docs.count"])]));
}

export async function backupElasticsearch(c: ElasticsearchConnection, name: string): Promise<ElasticsearchManifest> {
  await call(`${c.url}/_snapshot/${c.repository}`, "PUT", { type: "fs", settings: { location: c.location } });
  const indices = await docCounts(c.url);
  const result = await call<{ snapshot: { state: string; failures?: unknown[] } }>(
    `${c.url}/_snapshot/${c.repository}/${name}?wait_for_completion=true`,
    "PUT",
    { indices: "*,-.*", include_global_state: false },
  );
  if (result.snapshot.state !== "SUCCESS") throw new Error(`Elasticsearch snapshot ${name} ended ${result.snapshot.state}`);
  const version = (await call<{ version: { number: string } }>(c.url)).version.number;
  return { snapshot: name, indices, serverVersion: version };
}
