/**
 * How `npm run restore` reaches a running environment's Redis and RabbitMQ on
 * the Docker host (DOCKER_HOST), with no port published and no secret passed:
 *
 * - Redis: the live container is stopped; a helper container of the same image,
 *   with the data volume mounted and no network, receives the RDB and runs
 *   INSTALL_RDB_SCRIPT (the RDB loaded, the AOF rewritten from it); the live
 *   container is started again and loads that AOF.
 * - RabbitMQ: the definitions file is copied into the backup container's staging
 *   volume, and the backup container, which is on RabbitMQ's network and holds
 *   its credentials in its env, imports it through the management API
 *   (`cli.ts backup import-rabbitmq`).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type Docker from "dockerode";
import { STORES } from "../catalog/stores";
import { BACKUP_STAGING } from "../model/backup";
import { names } from "../model/naming";
import { execIn } from "../host/exec";
import { tarOne } from "./docker-drill";
import { INSTALL_RDB_SCRIPT } from "./redis";
import type { RestoreStores } from "./restore";

const REDIS_DATA = STORES.redis.volumes.find((v) => v.volume === "redis-data")!.path;

export function dockerRestoreStores(docker: Docker, env: string): RestoreStores {
  return {
    redis: async (rdbFile) => {
      const live = docker.getContainer(names.container("redis", env));
      const { Config } = await live.inspect();
      await live.stop().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e; // 304: already stopped
      });
      const helper = await docker.createContainer({
        name: `${names.container("redis", env)}-restore-${randomBytes(3).toString("hex")}`,
        Image: Config.Image,
        User: STORES.redis.user,
        Entrypoint: ["sh", "-c", INSTALL_RDB_SCRIPT, "sh", REDIS_DATA],
        Cmd: [],
        HostConfig: { NetworkMode: "none", Binds: [`${names.volume("redis-data", env)}:${REDIS_DATA}`], CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges:true"] },
      });
      try {
        await helper.putArchive(await tarOne("dump.rdb.restoring", readFileSync(rdbFile), STORES.redis.user), { path: REDIS_DATA });
        await helper.start();
        const { StatusCode } = (await helper.wait()) as { StatusCode: number };
        if (StatusCode !== 0) {
          const logs = (await helper.logs({ stdout: true, stderr: true })).toString().trim().split("\n").slice(-3).join(" ");
          throw new Error(`loading the RDB exited with ${StatusCode} (${logs}); ${names.container("redis", env)} is left stopped`);
        }
      } finally {
        await helper.remove({ force: true }).catch(() => undefined);
      }
      await live.start();
    },
    rabbitmq: async (definitionsFile) => {
      const backup = names.backupContainer(env);
      const file = `definitions-restore-${randomBytes(3).toString("hex")}.json`;
      await docker.getContainer(backup).putArchive(await tarOne(file, readFileSync(definitionsFile)), { path: BACKUP_STAGING });
      try {
        await execIn(docker, backup, ["node_modules/.bin/tsx", "backup/cli.ts", "backup", "import-rabbitmq", `${BACKUP_STAGING}/${file}`]);
      } finally {
        await execIn(docker, backup, ["rm", "-f", `${BACKUP_STAGING}/${file}`]).catch(() => undefined);
      }
    },
  };
}
