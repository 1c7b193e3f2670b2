/**
 * The Elasticsearch side of the backup, the drill and the restore, as a client:
 * the calls it makes (against a stand-in node, es-standin.ts, since no
 * Elasticsearch runs here), over `fetch` and over `curl` as it runs inside a
 * container, and the drill's comparison of restored document counts with the
 * manifest.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkElasticsearch } from "../../backup/drill";
import {
  backupElasticsearch,
  compareDocCounts,
  curlApi,
  docCounts,
  fetchApi,
  LIVE_SNAPSHOTS_KEPT,
  pruneLiveSnapshots,
  repositoryHolds,
  restoreForDrill,
  restoreFromCopy,
  restoreIntoLive,
  type EsApi,
  type ElasticsearchManifest,
} from "../../backup/elasticsearch";
import { run } from "../../backup/exec";
import { names } from "../../model/naming";
import { EsStandin, localRepositoryCopy, STANDIN_REPOSITORY_FILE } from "../../testing/servers/es-standin";

const ENV = "qual";
const REPO = names.elasticsearchSnapshotRepository(ENV);
const LIVE = { experiences: 120, bookings: 45, ".kibana_1": 3 };

let es: EsStandin;
beforeEach(async () => {
  es = await new EsStandin().start();
  es.indices = { ...LIVE };
});
afterEach(() => es.stop());

const backup = () => backupElasticsearch({ url: es.url, repository: REPO, location: ENV }, "qual-snap-1");
const userIndices = Object.fromEntries(Object.entries(LIVE).filter(([i]) => !i.startsWith(".")));

describe("backup", () => {
  it("registers the repository, refreshes before counting, and records the counts, repository and location", async () => {
    const m = await backup();
    expect(m).toMatchObject({ snapshot: "qual-snap-1", indices: userIndices, repository: REPO, location: ENV, serverVersion: "8.15.3" });
    expect(m.indicesAfter).toBeUndefined();
    const order = es.calls.map((c) => `${c.method} ${c.path.split("?")[0]}`);
    expect(order.indexOf("POST /_refresh")).toBeLessThan(order.indexOf("GET /_cat/indices"));
    expect(es.repositories[REPO]).toEqual({ type: "fs", settings: { location: ENV } });
  });

  it("records the counts after the snapshot too when writes landed while it ran", async () => {
    es.duringSnapshot = () => (es.indices.experiences += 5);
    const m = await backup();
    expect(m.indices.experiences).toBe(LIVE.experiences);
    expect(m.indicesAfter?.experiences).toBe(LIVE.experiences + 5);
  });
});

describe("a snapshot that takes longer than undici's 300 s headers timeout", () => {
  it("succeeds: it is started, then polled, and no request waits for the snapshot to finish", async () => {
    // Node's fetch abandons an answer without headers after 300 s (undici headersTimeout 300e3); this snapshot takes 301.
    es.snapshotSeconds = 301;
    const polls: number[] = [];
    const wait = { pollMs: 5_000, timeoutMs: 3_600_000, sleep: async (ms: number) => void (polls.push(ms), es.advance(ms)) };
    const m = await backupElasticsearch({ url: es.url, repository: REPO, location: ENV }, "qual-slow", fetchApi(es.url), wait);
    expect(m).toMatchObject({ snapshot: "qual-slow", indices: userIndices });
    expect(polls.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(301_000);
    expect(Object.keys(es.snapshots)).toEqual(["qual-slow"]);
    // The stand-in answers a create call with wait_for_completion=true only when the snapshot is done: none was made.
    expect(es.calls.filter((c) => c.path.includes("wait_for_completion=true"))).toEqual([]);
    expect(es.longestAnswerMs).toBeLessThan(10_000);
  });

  it("fails with the snapshot's name when it is still in progress at the end of the wait", async () => {
    es.snapshotSeconds = 120;
    const wait = { pollMs: 30_000, timeoutMs: 60_000, sleep: async (ms: number) => es.advance(ms) };
    await expect(backupElasticsearch({ url: es.url, repository: REPO, location: ENV }, "qual-stuck", fetchApi(es.url), wait)).rejects.toThrow(
      "Elasticsearch snapshot qual-stuck still IN_PROGRESS after 60 s",
    );
  });
});

describe("the live repository's old snapshots", () => {
  const takeSnapshots = async (count: number) => {
    const names = Array.from({ length: count }, (_, i) => `qual-night-${i + 1}`);
    for (const name of names) await backupElasticsearch({ url: es.url, repository: REPO, location: ENV }, name);
    return names;
  };

  it("keeps the newest snapshots and deletes the older ones in one call", async () => {
    const names = await takeSnapshots(LIVE_SNAPSHOTS_KEPT + 2);
    const deleted = await pruneLiveSnapshots(fetchApi(es.url), REPO);
    expect([...deleted].sort()).toEqual(names.slice(0, 2));
    expect(Object.keys(es.snapshots).sort()).toEqual(names.slice(2).sort());
    const deletes = es.calls.filter((c) => c.method === "DELETE").map((c) => c.path);
    expect(deletes).toHaveLength(1);
    expect(deletes[0].startsWith(`/_snapshot/${REPO}/`)).toBe(true);
    expect(deletes[0].slice(`/_snapshot/${REPO}/`.length).split(",").sort()).toEqual(names.slice(0, 2));
  });

  it("deletes nothing while the repository holds no more than it keeps", async () => {
    await takeSnapshots(LIVE_SNAPSHOTS_KEPT);
    expect(await pruneLiveSnapshots(fetchApi(es.url), REPO)).toEqual([]);
    expect(Object.keys(es.snapshots)).toHaveLength(LIVE_SNAPSHOTS_KEPT);
    expect(es.calls.some((c) => c.method === "DELETE")).toBe(false);
  });

  /** A node's answer to GET _snapshot/<repo>/_all, newest first in `states`; records the DELETE it is sent. */
  const listing = (states: string[]) => {
    const deletes: string[] = [];
    const api: EsApi = async <T>(method: string, path: string) => {
      if (method === "DELETE") deletes.push(path);
      const snapshots = states.map((state, i) => ({ snapshot: `s${i}`, state, start_time_in_millis: 1000 - i }));
      return (method === "GET" ? { snapshots } : { acknowledged: true }) as T;
    };
    return { api, deletes };
  };

  it("counts only successful snapshots as kept, never names one in progress, and deletes failed ones older than the oldest kept", async () => {
    const { api, deletes } = listing(["IN_PROGRESS", "FAILED", "SUCCESS", "PARTIAL", "SUCCESS", "SUCCESS", "FAILED", "SUCCESS"]);
    expect(await pruneLiveSnapshots(api, REPO, 3)).toEqual(["s6", "s7"]);
    expect(deletes).toEqual([`/_snapshot/${REPO}/s6,s7`]);
  });

  it("deletes nothing when fewer snapshots than it keeps succeeded", async () => {
    const { api, deletes } = listing(["FAILED", "SUCCESS", "FAILED", "SUCCESS", "PARTIAL"]);
    expect(await pruneLiveSnapshots(api, REPO, 3)).toEqual([]);
    expect(deletes).toEqual([]);
  });
});

describe("the drill's comparison", () => {
  const m: ElasticsearchManifest = { snapshot: "s", indices: { experiences: 120, bookings: 45 }, serverVersion: "8.15.3" };

  it("passes when every index of the manifest is back with its count, and ignores indices the manifest does not list", () => {
    expect(compareDocCounts(m, { experiences: 120, bookings: 45, other: 1 })).toEqual([]);
  });

  it("names a missing index and an index with another count", () => {
    expect(compareDocCounts(m, { experiences: 119 })).toEqual([
      "elasticsearch index experiences: 119 documents restored, manifest says 120",
      "elasticsearch index bookings: missing after restore (manifest: 45 documents)",
    ]);
  });

  it("accepts any count between the two a snapshot with concurrent writes recorded, and nothing outside", () => {
    const moving = { ...m, indicesAfter: { experiences: 125, bookings: 45 } };
    expect(compareDocCounts(moving, { experiences: 123, bookings: 45 })).toEqual([]);
    expect(compareDocCounts(moving, { experiences: 126, bookings: 45 })).toEqual(["elasticsearch index experiences: 126 documents restored, manifest says 120 to 125"]);
  });
});

describe("the drill's restore into an empty node", () => {
  /** An empty node holding the live node's snapshots, as the drill's throwaway one does. */
  async function emptyNodeWith(snapshots: Record<string, Record<string, number>>) {
    const node = await new EsStandin().start();
    node.snapshots = snapshots;
    return node;
  }

  it("registers the repository read-only at the manifest's location, restores with wait_for_completion, and counts", async () => {
    const m = await backup();
    const node = await emptyNodeWith(es.snapshots);
    try {
      const counts = await restoreForDrill(fetchApi(node.url), m, ENV, REPO);
      expect(node.repositories[REPO]).toEqual({ type: "fs", settings: { location: ENV, readonly: true } });
      const restore = node.calls.find((c) => c.path.includes("/_restore"))!;
      expect(restore.path).toBe(`/_snapshot/${REPO}/${m.snapshot}/_restore?wait_for_completion=true`);
      expect(restore.body).toMatchObject({ include_global_state: false });
      expect(compareDocCounts(m, counts)).toEqual([]);
    } finally {
      await node.stop();
    }
  });

  it("a snapshot that lacks an index, or holds fewer documents, fails the drill naming the index", async () => {
    const m = await backup();
    const node = await emptyNodeWith({ [m.snapshot]: { experiences: 100 } });
    try {
      const problems = await checkElasticsearch({ ...m, path: "/unused" }, "/unused", ENV, async () => fetchApi(node.url));
      expect(problems).toEqual([
        "elasticsearch index experiences: 100 documents restored, manifest says 120",
        "elasticsearch index bookings: missing after restore (manifest: 45 documents)",
      ]);
    } finally {
      await node.stop();
    }
  });

  it("a node that does not start, or a snapshot that is not there, is a named problem, not a crash", async () => {
    const m = { ...(await backup()), path: "/unused" };
    expect(await checkElasticsearch(m, "/unused", ENV, () => Promise.reject(new Error("did not become ready in 180 s")))).toEqual([
      `elasticsearch: snapshot ${m.snapshot} does not restore: did not become ready in 180 s`,
    ]);
    const node = await emptyNodeWith({});
    try {
      const [problem] = await checkElasticsearch(m, "/unused", ENV, async () => fetchApi(node.url));
      expect(problem).toMatch(new RegExp(`^elasticsearch: snapshot ${m.snapshot} does not restore: Elasticsearch POST /_snapshot/${REPO}/${m.snapshot}/_restore answered 404`));
    } finally {
      await node.stop();
    }
  });
});

describe("curl inside a container", () => {
  // `run` stands in for `docker exec`: the same argv, run by the machine's own curl.
  const viaCurl = () => curlApi((argv) => run(argv), es.url);

  it("makes the same calls as fetch and reads the same answers", async () => {
    expect(await docCounts(viaCurl())).toEqual(userIndices);
    await viaCurl()("PUT", `/_snapshot/${REPO}`, { type: "fs", settings: { location: ENV, readonly: true } });
    expect(es.repositories[REPO].settings).toEqual({ location: ENV, readonly: true });
  });

  it("turns an error status into an error that keeps Elasticsearch's reason", async () => {
    await expect(viaCurl()("GET", `/_snapshot/${REPO}/nothing`)).rejects.toThrow(`Elasticsearch GET /_snapshot/${REPO}/nothing answered 404: {"error"`);
  });
});

describe("restore into the live node", () => {
  it("closes exactly the snapshot's indices, restores them over the live ones, and leaves the others open", async () => {
    const m = await backup();
    es.indices.experiences = 7; // data lost since the backup
    es.indices.unrelated = 9;
    const lines: string[] = [];
    const counts = await restoreIntoLive(fetchApi(es.url), m, REPO, (l) => lines.push(l));
    const close = es.calls.find((c) => c.path.includes("/_close"))!;
    expect(close.path.split("/")[1].split(",").sort()).toEqual(Object.keys(userIndices).sort());
    expect(compareDocCounts(m, counts)).toEqual([]);
    expect(counts.unrelated).toBe(9);
    expect(es.closed.size).toBe(0);
    expect(lines.join("\n")).toContain("closed");
  });

  it("refuses a snapshot the live repository no longer holds, before it closes anything", async () => {
    const m = await backup();
    delete es.snapshots[m.snapshot];
    await expect(restoreIntoLive(fetchApi(es.url), m, REPO, () => undefined)).rejects.toThrow(`snapshot ${m.snapshot} is not in the live cluster's repository ${REPO}`);
    expect(es.calls.some((c) => c.path.includes("/_close"))).toBe(false);
    expect(es.closed.size).toBe(0);
  });
});

describe("restore from the backup's copy of the repository (the live one lacks the snapshot)", () => {
  let pathRepo: string;
  let restored: string;
  let m: ElasticsearchManifest;
  const TEMP = names.elasticsearchRestoreRepository(ENV);
  /** Every API call and copy step, in order. */
  let steps: string[];
  const recording = (): EsApi => {
    const api = fetchApi(es.url);
    return (method, path, body) => (steps.push(`${method} ${path.split("?")[0]}`), api(method, path, body));
  };
  const copy = () => {
    const c = localRepositoryCopy(restored, pathRepo, ENV, m.snapshot);
    return { ...c, put: () => (steps.push("put"), c.put()), remove: () => (steps.push("remove"), c.remove()) };
  };
  /** The live repository's directory, file by file: what must not change. */
  const liveFiles = () => readdirSync(join(pathRepo, ENV)).map((f) => `${f}:${readFileSync(join(pathRepo, ENV, f), "utf8")}`);

  beforeEach(async () => {
    steps = [];
    pathRepo = mkdtempSync(join(tmpdir(), "po-es-path-repo-"));
    restored = mkdtempSync(join(tmpdir(), "po-es-restored-"));
    es.pathRepo = pathRepo;
    m = await backup();
    // What restic brings back of the repository; then the volume is lost and the live repository starts over, empty.
    cpSync(join(pathRepo, ENV), restored, { recursive: true });
    rmSync(join(pathRepo, ENV), { recursive: true });
    mkdirSync(join(pathRepo, ENV));
    writeFileSync(join(pathRepo, ENV, STANDIN_REPOSITORY_FILE), "{}");
    es.indices.experiences = 7;
  });
  afterEach(() => {
    rmSync(pathRepo, { recursive: true, force: true });
    rmSync(restored, { recursive: true, force: true });
  });

  it("registers the copy read-only in a directory of its own, restores from it as the live path does, then unregisters it and removes the directory; the live repository is not written", async () => {
    expect(await repositoryHolds(fetchApi(es.url), REPO, m.snapshot)).toBe(false);
    const before = liveFiles();
    const counts = await restoreFromCopy(recording(), m, copy(), () => undefined);
    expect(compareDocCounts(m, counts)).toEqual([]);
    const location = names.elasticsearchRestoreLocation(m.snapshot);
    expect(es.calls.find((c) => c.method === "PUT" && c.path === `/_snapshot/${TEMP}`)?.body).toEqual({ type: "fs", settings: { location, readonly: true } });
    expect(steps).toEqual([
      "put",
      `PUT /_snapshot/${TEMP}`,
      `GET /_snapshot/${TEMP}/${m.snapshot}`,
      `POST /${Object.keys(m.indices).join(",")}/_close`,
      `POST /_snapshot/${TEMP}/${m.snapshot}/_restore`,
      "POST /_refresh",
      "GET /_cat/indices",
      `DELETE /_snapshot/${TEMP}`,
      "remove",
    ]);
    expect(Object.keys(es.repositories)).toEqual([REPO]);
    expect(readdirSync(pathRepo)).toEqual([ENV]);
    expect(liveFiles()).toEqual(before);
  });

  it("a restore that fails still unregisters the temporary repository and removes its directory, and says which indices stay closed", async () => {
    // The copied snapshot lacks an index the manifest lists: the restore call fails after the indices were closed.
    const file = join(restored, STANDIN_REPOSITORY_FILE);
    const held = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, number>>;
    delete held[m.snapshot].bookings;
    writeFileSync(file, JSON.stringify(held));
    const before = liveFiles();
    await expect(restoreFromCopy(recording(), m, copy(), () => undefined)).rejects.toThrow(/answered 404.*may be left closed: POST \/.*\/_open reopens them/s);
    expect(steps.slice(-2)).toEqual([`DELETE /_snapshot/${TEMP}`, "remove"]);
    expect(Object.keys(es.repositories)).toEqual([REPO]);
    expect(readdirSync(pathRepo)).toEqual([ENV]);
    expect(liveFiles()).toEqual(before);
  });

  it("a copy without the snapshot fails before any index is closed, and is cleaned up too", async () => {
    writeFileSync(join(restored, STANDIN_REPOSITORY_FILE), "{}");
    await expect(restoreFromCopy(recording(), m, copy(), () => undefined)).rejects.toThrow(`snapshot ${m.snapshot} is not in the backup's copy of the repository either`);
    expect(steps.some((s) => s.endsWith("/_close"))).toBe(false);
    expect(steps.slice(-2)).toEqual([`DELETE /_snapshot/${TEMP}`, "remove"]);
    expect(es.closed.size).toBe(0);
    expect(readdirSync(pathRepo)).toEqual([ENV]);
  });

  it("a repository the cluster does not know, as on a new host before its first backup, holds no snapshot", async () => {
    delete es.repositories[REPO];
    expect(await repositoryHolds(fetchApi(es.url), REPO, m.snapshot)).toBe(false);
  });
});
