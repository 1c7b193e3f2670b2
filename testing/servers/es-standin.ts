/**
 * A stand-in for an Elasticsearch node, for the client side only: there is no
 * Elasticsearch server on this machine (not in Debian, no registry to pull the
 * image from), so this answers the few calls the backup, drill and restore make,
 * with the request and response shapes of the 8.15 reference (create and delete
 * snapshot repository, create/get/list/delete/restore snapshot, close index,
 * refresh, cat indices, root info). It keeps what a node would (open and closed indices,
 * snapshots) and records every request, so a test can hold the client to the
 * documented calls. It proves nothing about Elasticsearch itself.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, relative, resolve } from "node:path";
import type { RepositoryCopy } from "../../backup/elasticsearch";
import { names } from "../../model/naming";

/** Where the stand-in keeps an fs repository's snapshots in its directory (a node writes index-N, snap-*.dat and the like). */
export const STANDIN_REPOSITORY_FILE = "standin-snapshots.json";

export interface Call {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

export class EsStandin {
  /** Open indices and their documents. */
  indices: Record<string, number> = {};
  closed = new Set<string>();
  repositories: Record<string, { type: string; settings: Record<string, unknown> }> = {};
  snapshots: Record<string, Record<string, number>> = {};
  /**
   * path.repo, when set: an fs repository then holds what its directory holds (the snapshots, in STANDIN_REPOSITORY_FILE,
   * written there as a node writes its repository), so a test sees which directory was read and which was written.
   */
  pathRepo?: string;
  calls: Call[] = [];
  /** When each snapshot started, by name: a counter, so the order of creation is the order of start times. */
  startTimes: Record<string, number> = {};
  private clock = 1_700_000_000_000;
  /** Runs while a snapshot is taken: how a test has writes land meanwhile. */
  duringSnapshot?: () => void;
  /**
   * How long a snapshot takes, in seconds of the stand-in's own clock, which only `advance` moves; 0: it is
   * done when created. Until then the get snapshot API says IN_PROGRESS, and a create call made with
   * wait_for_completion=true gets no answer at all, as a node answers it only when the snapshot is done.
   */
  snapshotSeconds = 0;
  private seconds = 0;
  private running: Record<string, { repository: string; taken: Record<string, number>; doneAt: number }> = {};
  private unanswered: (() => void)[] = [];
  /** The longest any request waited for its answer, in real milliseconds. */
  longestAnswerMs = 0;

  /** Moves the stand-in's clock on: snapshots due by then are done, and answers held for them are sent. */
  advance(ms: number): void {
    this.seconds += ms / 1000;
    this.settle();
  }

  private settle(): void {
    for (const [name, r] of Object.entries(this.running)) {
      if (r.doneAt > this.seconds) continue;
      delete this.running[name];
      this.write(r.repository, name, r.taken);
    }
    if (Object.keys(this.running).length === 0) for (const send of this.unanswered.splice(0)) send();
  }
  private server?: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (c: Buffer) => (raw += c.toString()));
      req.on("end", () => {
        const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
        this.calls.push({ method: req.method!, path: req.url!, body });
        const asked = Date.now();
        const url = new URL(req.url!, "http://x");
        const [status, answer] = this.answer(req.method!, url, body);
        const send = () => {
          this.longestAnswerMs = Math.max(this.longestAnswerMs, Date.now() - asked);
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(answer));
        };
        if (url.searchParams.get("wait_for_completion") === "true" && Object.keys(this.running).length > 0) this.unanswered.push(send);
        else send();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server?.close(() => r()) ?? r());
  }

  private error(status: number, type: string, reason: string): [number, unknown] {
    return [status, { error: { root_cause: [{ type, reason }], type, reason }, status }];
  }

  /** The directory of a registered repository under path.repo; undefined when the stand-in keeps snapshots in memory. */
  private directory(repository: string): string | undefined {
    return this.pathRepo && resolve(this.pathRepo, String(this.repositories[repository].settings.location));
  }

  private held(repository: string): Record<string, Record<string, number>> {
    const dir = this.directory(repository);
    if (!dir) return this.snapshots;
    const file = join(dir, STANDIN_REPOSITORY_FILE);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, number>>) : {};
  }

  private write(repository: string, snapshot: string, indices: Record<string, number>): void {
    this.startTimes[snapshot] = this.clock++;
    this.replace(repository, { ...this.held(repository), [snapshot]: indices });
  }

  private replace(repository: string, held: Record<string, Record<string, number>>): void {
    const dir = this.directory(repository);
    if (!dir) return void (this.snapshots = held);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, STANDIN_REPOSITORY_FILE), JSON.stringify(held));
  }

  private answer(method: string, url: URL, body?: Record<string, unknown>): [number, unknown] {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (method === "GET" && parts.length === 0) return [200, { name: "standin", version: { number: "8.15.3" } }];
    if (method === "POST" && parts[0] === "_refresh") return [200, { _shards: { total: 1, successful: 1, failed: 0 } }];
    if (method === "GET" && parts[0] === "_cat" && parts[1] === "indices") {
      return [200, Object.entries(this.indices).filter(([i]) => !this.closed.has(i)).map(([index, n]) => ({ index, "docs.count": String(n) }))];
    }
    if (parts[0] === "_snapshot" && parts.length === 2 && method === "PUT") {
      const repository = body as { type: string; settings: Record<string, unknown> };
      // A location outside path.repo is refused (shared file system repository, 8.15).
      if (this.pathRepo && relative(this.pathRepo, resolve(this.pathRepo, String(repository.settings.location))).startsWith("..")) {
        return this.error(500, "repository_exception", `[${parts[1]}] location [${String(repository.settings.location)}] doesn't match any of the locations specified by path.repo`);
      }
      this.repositories[parts[1]] = repository;
      return [200, { acknowledged: true }];
    }
    if (parts[0] === "_snapshot" && !this.repositories[parts[1]]) return this.error(404, "repository_missing_exception", `[${parts[1]}] missing`);
    if (parts[0] === "_snapshot" && parts.length === 2 && method === "DELETE") {
      // Unregisters only: the files stay where they are (delete snapshot repository API).
      delete this.repositories[parts[1]];
      return [200, { acknowledged: true }];
    }
    if (parts[0] === "_snapshot" && parts.length === 3 && method === "PUT") {
      if (this.repositories[parts[1]].settings.readonly) return this.error(500, "repository_exception", `[${parts[1]}] cannot create snapshot in a readonly repository`);
      const taken = Object.fromEntries(Object.entries(this.indices).filter(([i]) => !i.startsWith(".")));
      this.duringSnapshot?.();
      if (this.snapshotSeconds > 0) this.running[parts[2]] = { repository: parts[1], taken, doneAt: this.seconds + this.snapshotSeconds };
      else this.write(parts[1], parts[2], taken);
      if (url.searchParams.get("wait_for_completion") !== "true") return [200, { accepted: true }];
      return [200, { snapshot: { snapshot: parts[2], indices: Object.keys(taken), state: "SUCCESS", failures: [] } }];
    }
    if (parts[0] === "_snapshot" && parts[2] === "_all" && method === "GET") {
      const snapshots = Object.entries(this.held(parts[1])).map(([snapshot, indices]) => ({
        snapshot,
        indices: Object.keys(indices),
        state: "SUCCESS",
        start_time_in_millis: this.startTimes[snapshot] ?? 0,
      }));
      return [200, { snapshots, total: snapshots.length, remaining: 0 }];
    }
    if (parts[0] === "_snapshot" && parts.length === 3 && method === "DELETE") {
      const held = { ...this.held(parts[1]) };
      const names = parts[2].split(",");
      const missing = names.find((n) => !(n in held));
      if (missing) return this.error(404, "snapshot_missing_exception", `[${parts[1]}:${missing}] is missing`);
      for (const n of names) delete held[n];
      this.replace(parts[1], held);
      return [200, { acknowledged: true }];
    }
    if (parts[0] === "_snapshot" && parts.length === 3 && method === "GET" && this.running[parts[2]]?.repository === parts[1]) {
      return [200, { snapshots: [{ snapshot: parts[2], indices: Object.keys(this.running[parts[2]].taken), state: "IN_PROGRESS" }], total: 1, remaining: 0 }];
    }
    if (parts[0] === "_snapshot" && parts.length === 3 && method === "GET") {
      const snap = this.held(parts[1])[parts[2]];
      if (!snap && url.searchParams.get("ignore_unavailable") !== "true") return this.error(404, "snapshot_missing_exception", `[${parts[1]}:${parts[2]}] is missing`);
      return [200, { snapshots: snap ? [{ snapshot: parts[2], indices: Object.keys(snap), state: "SUCCESS" }] : [], total: snap ? 1 : 0, remaining: 0 }];
    }
    if (parts[0] === "_snapshot" && parts[3] === "_restore" && method === "POST") {
      const snap = this.held(parts[1])[parts[2]];
      if (!snap) return this.error(404, "snapshot_restore_exception", `[${parts[1]}:${parts[2]}] snapshot does not exist`);
      const wanted = String(body?.indices ?? "*").split(",");
      const picked = Object.keys(snap).filter((i) => wanted.includes(i) || (wanted.includes("*") && !i.startsWith(".")));
      const missing = wanted.filter((w) => !w.includes("*") && !(w in snap));
      if (missing.length > 0) return this.error(404, "index_not_found_exception", `no such index [${missing[0]}]`);
      const open = picked.find((i) => i in this.indices && !this.closed.has(i));
      if (open) return this.error(500, "snapshot_restore_exception", `cannot restore index [${open}] because an open index with same name already exists in the cluster`);
      for (const i of picked) {
        this.indices[i] = snap[i];
        this.closed.delete(i);
      }
      return [200, { snapshot: { snapshot: parts[2], indices: picked, shards: { total: picked.length, failed: 0, successful: picked.length } } }];
    }
    if (parts[1] === "_close" && method === "POST") {
      for (const i of parts[0].split(",")) {
        if (i in this.indices) this.closed.add(i);
        else if (url.searchParams.get("ignore_unavailable") !== "true") return this.error(404, "index_not_found_exception", `no such index [${i}]`);
      }
      return [200, { acknowledged: true, shards_acknowledged: true, indices: {} }];
    }
    return this.error(400, "standin", `the stand-in does not answer ${method} ${url.pathname}`);
  }
}

/** The restore's copy of a repository as plain directories: `restoredDir` copied to its location under `pathRepo`, and removed. */
export function localRepositoryCopy(restoredDir: string, pathRepo: string, env: string, snapshot: string): RepositoryCopy {
  const location = names.elasticsearchRestoreLocation(snapshot);
  return {
    repository: names.elasticsearchRestoreRepository(env),
    location,
    put: async () => cpSync(restoredDir, join(pathRepo, location), { recursive: true }),
    remove: async () => rmSync(join(pathRepo, location), { recursive: true, force: true }),
  };
}
