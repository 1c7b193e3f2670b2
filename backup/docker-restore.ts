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
 * - Elasticsearch: `curl` inside the live node's container calls its own API
 *   (elasticsearch.ts) on the repository the backup registered; when that lacks
 *   the snapshot, a helper container with the snapshots volume mounted and no
 *   network receives the backup's copy of the repository in a directory of its
 *   own, the node reads it as a temporary repository (restoreFromCopy), and a
 *   second helper removes it.
 * - Uploads: Strapi is stopped; a helper container of Strapi's image, with the
 *   uploads volume mounted and no network, receives the restored files beside
 *   the old ones and swaps them in (REPLACE_DIR_SCRIPT); Strapi is started again.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import type Docker from "dockerode";
import { SERVICES } from "../catalog/services";
import { STORES } from "../catalog/stores";
import { BACKUP_STAGING } from "../model/backup";
import { names } from "../model/naming";
import { execIn } from "../host/exec";
import { tarDirectory, tarOne } from "./docker-drill";
import { curlApi, repositoryHolds, restoreFromCopy, restoreIntoLive, type RepositoryCopy } from "./elasticsearch";
import { INSTALL_RDB_SCRIPT } from "./redis";
import type { RestoreStores } from "./restore";

const REDIS_DATA = STORES.redis.volumes.find((v) => v.volume === "redis-data")!.path;
const UPLOADS = SERVICES["strapi-cms"].volumes!.find((v) => v.volume === "strapi-uploads")!.path;
const ES = STORES.elasticsearch;
const ES_PATH_REPO = String(ES.env["path.repo"]);

/**
 * Run in the uploads directory ($1) once the restored files are unpacked in its
 * subdirectory $2: they take the directory's owner (what Strapi writes as),
 * everything else goes, then they move up. Nothing is deleted before the
 * restored copy is complete on the volume.
 */
export const REPLACE_DIR_SCRIPT = [
  "set -eu",
  'cd "$1"',
  'owner=$(stat -c %u:%g .)',
  'chown -R "$owner" "$2"',
  'find . -mindepth 1 -maxdepth 1 ! -name "$2" -exec rm -rf {} \\;',
  'find "$2" -mindepth 1 -maxdepth 1 -exec mv {} . \\;',
  'rmdir "$2"',
].join("\n");

/**
 * Runs `script` (with `args`) in a helper container of `image` with `volume`
 * at `mountPath` and no network: as `user` (root unless given) with only the
 * capabilities in `capAdd`. `archive`, when given, is unpacked into the volume
 * first: made only then, so that a failure to read it reaches the upload; the
 * helper is removed whatever happened.
 */
async function onVolume(
  docker: Docker,
  o: {
    name: string;
    image: string;
    user?: string;
    volume: string;
    mountPath: string;
    script: string;
    args: string[];
    capAdd: string[];
    archive?: () => NodeJS.ReadableStream | Promise<Buffer>;
    what: string;
    after: string;
  },
): Promise<void> {
  const helper = await docker.createContainer({
    name: o.name,
    Image: o.image,
    User: o.user ?? "0:0",
    Entrypoint: ["sh", "-c", o.script, "sh", ...o.args],
    Cmd: [],
    HostConfig: {
      NetworkMode: "none",
      Binds: [`${o.volume}:${o.mountPath}`],
      CapDrop: ["ALL"],
      CapAdd: o.capAdd,
      SecurityOpt: ["no-new-privileges:true"],
    },
  });
  try {
    if (o.archive) await helper.putArchive(await o.archive(), { path: o.mountPath });
    await helper.start();
    const { StatusCode } = (await helper.wait()) as { StatusCode: number };
    if (StatusCode !== 0) {
      const logs = (await helper.logs({ stdout: true, stderr: true })).toString().trim().split("\n").slice(-3).join(" ");
      throw new Error(`${o.what} exited with ${StatusCode} (${logs}); ${o.after}`);
    }
  } finally {
    await helper.remove({ force: true }).catch(() => undefined);
  }
}

/**
 * Replaces the content of `volume` (seen at `mountPath`) with the files of
 * `restoredDir`: the helper may hand the files to the directory's owner and
 * remove what any user wrote.
 */
export async function replaceVolumeContent(docker: Docker, o: { volume: string; image: string; mountPath: string; restoredDir: string; name: string }): Promise<void> {
  const staging = `.po-restore-${randomBytes(4).toString("hex")}`;
  await onVolume(docker, {
    ...o,
    script: REPLACE_DIR_SCRIPT,
    args: [o.mountPath, staging],
    capAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
    archive: () => tarDirectory(o.restoredDir, staging),
    what: "replacing the volume's files",
    after: `${o.volume} may hold a partial ${staging}; run the restore again`,
  });
}

/**
 * Run in path.repo ($1) once the copy is unpacked in $2: a leftover of an
 * earlier attempt at $3 goes only now that the copy is complete, and the copy
 * takes its name in one rename.
 */
export const INSTALL_COPY_SCRIPT = ["set -eu", 'cd "$1"', 'rm -rf "$3"', 'mv "$2" "$3"'].join("\n");

/**
 * The backup's copy of the snapshot repository (`restoredDir`) put into
 * `location` under path.repo on the snapshots `volume`, and removed again, by
 * helpers of `image` named after `name`. The files arrive owned by the node's
 * user (the archive carries it, as the image expects), so the helpers need no
 * more than to write in directories that user owns.
 */
export function repositoryCopyOnVolume(docker: Docker, o: { volume: string; image: string; restoredDir: string; repository: string; location: string; name: string }): RepositoryCopy {
  const staging = `.po-restore-${randomBytes(4).toString("hex")}`;
  const helper = { image: o.image, volume: o.volume, mountPath: ES_PATH_REPO, capAdd: ["DAC_OVERRIDE"], args: [ES_PATH_REPO, staging, o.location] };
  return {
    repository: o.repository,
    location: o.location,
    put: () =>
      onVolume(docker, {
        ...helper,
        name: `${o.name}-copy`,
        script: INSTALL_COPY_SCRIPT,
        archive: () => tarDirectory(o.restoredDir, staging, ES.user),
        what: "copying the snapshot repository onto the volume",
        after: "nothing was restored",
      }),
    remove: () => onVolume(docker, { ...helper, name: `${o.name}-remove`, script: 'rm -rf "$1/$2" "$1/$3"', what: `removing ${o.location}`, after: `remove ${o.location} from ${o.volume} by hand` }),
  };
}

export function dockerRestoreStores(docker: Docker, env: string): RestoreStores {
  const esApi = () => curlApi(async (argv) => (await execIn(docker, names.container("elasticsearch", env), argv)).output);
  return {
    redis: async (rdbFile) => {
      const live = docker.getContainer(names.container("redis", env));
      const { Config } = await live.inspect();
      await live.stop().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e; // 304: already stopped
      });
      // As Redis's own user, with no capability: the helper only writes files that user owns.
      await onVolume(docker, {
        name: `${names.container("redis", env)}-restore-${randomBytes(3).toString("hex")}`,
        image: Config.Image,
        user: STORES.redis.user,
        volume: names.volume("redis-data", env),
        mountPath: REDIS_DATA,
        script: INSTALL_RDB_SCRIPT,
        args: [REDIS_DATA],
        capAdd: [],
        archive: () => tarOne("dump.rdb.restoring", readFileSync(rdbFile), STORES.redis.user),
        what: "loading the RDB",
        after: `${names.container("redis", env)} is left stopped`,
      });
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
    elasticsearchHasSnapshot: (manifest) => repositoryHolds(esApi(), manifest.repository ?? names.elasticsearchSnapshotRepository(env), manifest.snapshot),
    elasticsearch: async (manifest, repositoryCopy, log) => {
      if (!repositoryCopy) return restoreIntoLive(esApi(), manifest, manifest.repository ?? names.elasticsearchSnapshotRepository(env), log);
      const node = names.container("elasticsearch", env);
      const copy = repositoryCopyOnVolume(docker, {
        volume: names.volume("elasticsearch-snapshots", env),
        image: (await docker.getContainer(node).inspect()).Config.Image,
        restoredDir: repositoryCopy,
        repository: names.elasticsearchRestoreRepository(env),
        location: names.elasticsearchRestoreLocation(manifest.snapshot),
        name: `${node}-restore-${randomBytes(3).toString("hex")}`,
      });
      return restoreFromCopy(esApi(), manifest, copy, log);
    },
    uploads: async (restoredDir) => {
      if (!(await stat(restoredDir).then((s) => s.isDirectory(), () => false))) throw new Error(`the snapshot has no uploads directory (${restoredDir})`);
      const strapi = docker.getContainer(names.container("strapi-cms", env));
      const { Config, State } = await strapi.inspect();
      if (State.Running) await strapi.stop();
      await replaceVolumeContent(docker, {
        volume: names.volume("strapi-uploads", env),
        image: Config.Image,
        mountPath: UPLOADS,
        restoredDir,
        name: `${names.container("strapi-cms", env)}-restore-${randomBytes(3).toString("hex")}`,
      }).catch((e: Error) => {
        throw new Error(`${e.message}${State.Running ? `; ${names.container("strapi-cms", env)} is left stopped` : ""}`);
      });
      if (State.Running) await strapi.start();
    },
  };
}
