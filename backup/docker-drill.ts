/**
 * The drill's throwaway servers on a real Docker engine: one `internal: true`
 * network of the drill's own (no gateway off the host, no live container on
 * it), and containers of the stores' own catalog images attached to it alone,
 * with no published port. Files go in with the archive API and commands run by
 * `docker exec`, so nothing needs a route to them. Everything is removed at the
 * end, whatever happened.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, readFileSync, readdirSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import type Docker from "dockerode";
import * as tar from "tar-stream";
import { STORES } from "../catalog/stores";
import { elasticsearchHeapMb } from "../model/resources";
import { LABELS, PROJECT, names } from "../model/naming";
import { execIn } from "../host/exec";
import type { DrillTarget } from "./drill";
import { curlApi } from "./elasticsearch";

/** Marks what a drill created: only that is ever removed by it. */
export const DRILL_LABEL = "pt.portugalodyssey.drill";

/** A one-file tar archive, as the Engine's archive API takes it. */
/** `owner` ("uid:gid"): who the file belongs to once unpacked; Docker keeps the archive's owner. */
export async function tarOne(name: string, content: Buffer, owner?: string): Promise<Buffer> {
  const pack = tar.pack();
  const [uid, gid] = owner ? owner.split(":").map(Number) : [0, 0];
  pack.entry({ name, mode: 0o644, uid, gid }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A directory as a tar stream under `prefix` (its own entry first, then every
 * directory and file below it in path order), files read as streams one at a
 * time: a snapshot repository or the uploads can be larger than memory. Only
 * `prefix` itself and what is below it get entries, so unpacking never changes
 * the owner or mode of a directory that is already there above it.
 */
export function tarDirectory(dir: string, prefix: string, owner?: string): NodeJS.ReadableStream {
  const pack = tar.pack();
  const [uid, gid] = owner ? owner.split(":").map(Number) : [0, 0];
  const fill = async () => {
    pack.entry({ name: prefix, type: "directory", mode: 0o755, uid, gid });
    const entries = (await readdir(dir, { withFileTypes: true, recursive: true })).map((e) => ({ e, rel: relative(dir, join(e.parentPath, e.name)) }));
    for (const { e, rel } of entries.sort((a, b) => (a.rel < b.rel ? -1 : 1))) {
      const name = `${prefix}/${rel}`;
      const full = join(dir, rel);
      if (e.isDirectory()) pack.entry({ name, type: "directory", mode: 0o755, uid, gid });
      else if (e.isFile()) {
        const { size, mode } = await stat(full);
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ name, size, mode: mode & 0o777, uid, gid }, (err) => (err ? reject(err) : resolve()));
          createReadStream(full).on("error", reject).pipe(entry);
        });
      }
    }
    pack.finalize();
  };
  fill().catch((e: Error) => pack.destroy(e));
  // A streamx stream: it pipes like Node's, which is all the Engine's archive upload does with it (docker-modem).
  return pack as unknown as NodeJS.ReadableStream;
}

export interface DockerDrill {
  target: DrillTarget;
  network: string;
  containers: string[];
  /** Removes the drill's containers and network. */
  cleanUp(): Promise<void>;
  /**
   * Creates and starts the throwaway Elasticsearch with `snapshotsDir` copied in as its path.repo, and returns its
   * name without waiting for it to answer (`target.elasticsearch` waits): the e2e's stand-in image is no Elasticsearch.
   */
  startElasticsearch(snapshotsDir: string): Promise<string>;
}

const ES = STORES.elasticsearch;
/** Where the image reads snapshots from: the catalog's path.repo. */
export const DRILL_ES_PATH_REPO = String(ES.env["path.repo"]);

/**
 * The throwaway node's settings (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docker.html):
 * single-node discovery (no cluster to form, and the production bootstrap checks are not enforced,
 * https://www.elastic.co/guide/en/elasticsearch/reference/8.15/bootstrap-checks.html, development mode);
 * no security (it is reached only by `docker exec` on a network that leads nowhere); a heap fixed at half the
 * container's memory, as the live node's (model/resources.ts), and the catalog's memory: it holds what the live one held.
 */
export function drillElasticsearchEnv(memoryMb = ES.resources.memoryMb): string[] {
  const heap = elasticsearchHeapMb(memoryMb);
  return ["discovery.type=single-node", "xpack.security.enabled=false", `ES_JAVA_OPTS=-Xms${heap}m -Xmx${heap}m`, `path.repo=${DRILL_ES_PATH_REPO}`];
}

/** The throwaway stores a drill may start, each with its catalog memory limit. */
const DRILL_STORES = ["postgres", "redis", "elasticsearch"] as const;

/** Memory the drill's containers reserve together, MiB: their memory limits, as the host budget counts a stack's. */
export const drillMemoryMb = () => DRILL_STORES.reduce((sum, store) => sum + STORES[store].resources.memoryMb, 0);

export class DrillRefused extends Error {}

/**
 * Refuses to start a drill that would take the host over `host.memoryBudgetMb`: what this project's
 * running containers reserve (their memory limits, read from the daemon: a rollout's second revision
 * included), plus `host.reservedMb` (Traefik, the webapp, the OS), plus the drill's own containers
 * (a 2 GiB Elasticsearch among them), must fit, as config/ holds the stacks to it at deploy time.
 * On a swarm DOCKER_HOST names the stores' node: its daemon lists only its own containers, and a task's
 * container carries its service's containerSpec labels (components/swarm/service.ts taskLabels: the
 * project's among them) and the service's memory limit (moby daemon/cluster/executor/container/container.go
 * `labels`, `resources`), so this counts that node's tasks against `host.memoryBudgetMb`, each node's
 * budget there. Swarm's scheduler does not see the drill's plain containers: a task it moves to that node
 * meanwhile is placed as if their memory were free.
 */
export async function assertDrillFits(docker: Docker, host: { memoryBudgetMb: number; reservedMb: number }): Promise<void> {
  const running = await docker.listContainers({ filters: { label: [`${LABELS.project}=${PROJECT}`], status: ["running"] } });
  let liveMb = 0;
  for (const c of running) liveMb += Math.ceil(((await docker.getContainer(c.Id).inspect()).HostConfig.Memory ?? 0) / (1024 * 1024));
  const drillMb = drillMemoryMb();
  const total = liveMb + host.reservedMb + drillMb;
  if (total > host.memoryBudgetMb) {
    throw new DrillRefused(
      `refusing to start the drill: it would take the host to ${total} MiB (this project's ${running.length} running containers: ${liveMb}, host.reservedMb: ${host.reservedMb}, the drill's PostgreSQL, Redis and Elasticsearch: ${drillMb}), over host.memoryBudgetMb of ${host.memoryBudgetMb} MiB; run it when a stack is down or scaled down, or raise host.memoryBudgetMb if the host has the memory`,
    );
  }
}

/** Runs `argv` in a drill container and returns its output; a non-zero exit throws. */
export async function exec(docker: Docker, container: string, argv: string[], env: string[] = []): Promise<string> {
  return (await execIn(docker, container, argv, { env })).output;
}

/**
 * Starts the throwaway PostgreSQL and Redis of a drill for `env`. `image`
 * overrides every image (the e2e's stand-in); otherwise the catalog's.
 */
export async function startDockerDrill(
  docker: Docker,
  env: string,
  opts: { image?: string; runId?: string; labels?: Record<string, string> } = {},
): Promise<DockerDrill> {
  const runId = opts.runId ?? randomBytes(4).toString("hex");
  // Not the project's labels: nothing that finds the live environment by label may ever find a drill container.
  const labels = { ...opts.labels, [DRILL_LABEL]: `${env}-${runId}` };
  const network = `${names.drillNetwork(env)}-${runId}`;
  const created: string[] = [];
  const cleanUp = async () => {
    for (const name of created) await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
    await docker.getNetwork(network).remove().catch(() => undefined);
  };
  try {
    // internal: Docker gives it no gateway, so its containers reach nothing beyond it.
    await docker.createNetwork({ Name: network, Driver: "bridge", Internal: true, CheckDuplicate: true, Labels: labels });
    const start = async (
      store: "postgres" | "redis" | "elasticsearch",
      envVars: string[],
      cmd?: string[],
      files: { path: string; content: Buffer }[] = [],
      more: { user?: string; capAdd?: string[]; archive?: { stream: NodeJS.ReadableStream; path: string } } = {},
    ) => {
      const name = `${names.drillContainer(store, env)}-${runId}`;
      const c = await docker.createContainer({
        name,
        Image: opts.image ?? STORES[store].image,
        Env: envVars,
        Cmd: cmd,
        User: more.user,
        Labels: labels,
        HostConfig: {
          NetworkMode: network,
          CapDrop: ["ALL"],
          CapAdd: more.capAdd ?? ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
          SecurityOpt: ["no-new-privileges:true"],
          Memory: STORES[store].resources.memoryMb * 1024 * 1024,
        },
      });
      created.push(name);
      for (const f of files) await c.putArchive(await tarOne(basename(f.path), f.content), { path: f.path.slice(0, f.path.lastIndexOf("/")) || "/" });
      if (more.archive) await c.putArchive(more.archive.stream, { path: more.archive.path });
      await c.start();
      return name;
    };
    // Runs as the image's own user (uid 1000, group 0) with no capability: its entrypoint needs none.
    const startElasticsearch = (snapshotsDir: string) =>
      start("elasticsearch", drillElasticsearchEnv(), undefined, [], {
        user: ES.user,
        capAdd: [],
        // The restored volume becomes path.repo, owned by the node's user; `/` so no directory above it is touched.
        archive: { stream: tarDirectory(snapshotsDir, DRILL_ES_PATH_REPO.replace(/^\//, ""), ES.user), path: "/" },
      });
    // Its password never leaves this process: psql runs inside the container over the local socket.
    const postgres = await start("postgres", ["POSTGRES_USER=portugal_odyssey", `POSTGRES_PASSWORD=${randomBytes(16).toString("hex")}`, "POSTGRES_DB=postgres"]);
    for (let i = 0; ; i++) {
      if (await exec(docker, postgres, ["pg_isready", "-U", "portugal_odyssey"]).then(() => true, () => false)) break;
      if (i > 120) throw new Error("the drill's PostgreSQL did not become ready in 120 s");
      await new Promise((r) => setTimeout(r, 1000));
    }
    const target: DrillTarget = {
      stage: async (dir) => {
        // Each file of the snapshot's postgres folder, into /drill in the container.
        for (const f of readdirSync(`${dir}/postgres`)) {
          await docker.getContainer(postgres).putArchive(await tarOne(`postgres/${f}`, readFileSync(`${dir}/postgres/${f}`)), { path: "/tmp" });
        }
        return "/tmp";
      },
      postgres: (argv) => exec(docker, postgres, argv, ["PGUSER=portugal_odyssey"]),
      redisKeys: async (rdb) => {
        const redis = await start("redis", [], ["redis-server", "--dir", "/data", "--save", ""], [{ path: "/data/dump.rdb", content: readFileSync(rdb) }]);
        for (let i = 0; ; i++) {
          const out = await exec(docker, redis, ["redis-cli", "dbsize"]).catch(() => "");
          if (/^\d+\s*$/.test(out)) return Number(out.trim());
          if (i > 60) throw new Error("the drill's Redis did not load the RDB in 60 s");
          await new Promise((r) => setTimeout(r, 1000));
        }
      },
      elasticsearch: async (snapshotsDir) => {
        const es = await startElasticsearch(snapshotsDir);
        const api = curlApi((argv) => exec(docker, es, argv));
        // Yellow: every primary shard is allocated; a single node never allocates replicas.
        for (let i = 0; ; i++) {
          if (await api("GET", "/_cluster/health?wait_for_status=yellow&timeout=5s").then(() => true, () => false)) return api;
          if (i > 180) throw new Error("the drill's Elasticsearch did not become ready in 180 s");
          await new Promise((r) => setTimeout(r, 1000));
        }
      },
    };
    return { target, network, containers: created, cleanUp, startElasticsearch };
  } catch (e) {
    await cleanUp();
    throw e;
  }
}
