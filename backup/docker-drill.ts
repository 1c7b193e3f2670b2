/**
 * The drill's throwaway servers on a real Docker engine: one `internal: true`
 * network of the drill's own (no gateway off the host, no live container on
 * it), and containers of the stores' own catalog images attached to it alone,
 * with no published port. Files go in with the archive API and commands run by
 * `docker exec`, so nothing needs a route to them. Everything is removed at the
 * end, whatever happened.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { basename } from "node:path";
import type Docker from "dockerode";
import * as tar from "tar-stream";
import { STORES } from "../catalog/stores";
import { names } from "../model/naming";
import { execIn } from "../host/exec";
import type { DrillTarget } from "./drill";

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

export interface DockerDrill {
  target: DrillTarget;
  network: string;
  containers: string[];
  /** Removes the drill's containers and network. */
  cleanUp(): Promise<void>;
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
    const start = async (store: "postgres" | "redis", envVars: string[], cmd?: string[], files: { path: string; content: Buffer }[] = []) => {
      const name = `${names.drillContainer(store, env)}-${runId}`;
      const c = await docker.createContainer({
        name,
        Image: opts.image ?? STORES[store].image,
        Env: envVars,
        Cmd: cmd,
        Labels: labels,
        HostConfig: { NetworkMode: network, CapDrop: ["ALL"], CapAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"], SecurityOpt: ["no-new-privileges:true"], Memory: STORES[store].resources.memoryMb * 1024 * 1024 },
      });
      created.push(name);
      for (const f of files) await c.putArchive(await tarOne(basename(f.path), f.content), { path: f.path.slice(0, f.path.lastIndexOf("/")) || "/" });
      await c.start();
      return name;
    };
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
    };
    return { target, network, containers: created, cleanUp };
  } catch (e) {
    await cleanUp();
    throw e;
  }
}
