/**
 * The nightly backup of an environment with filled stores in its production container
 * (testing/servers/backup-environment.ts: the locally built backup image, the
 * registered container's user, read-only root, tmpfs, capabilities and memory
 * limit, stores with the official images' file owners): its wall time, from
 * container start to exit, and its peak memory against the container's limit: the
 * working set as `docker stats` counts it, and the cgroup's max usage with page cache. Needs a Docker
 * daemon, debootstrap and Debian's postgresql, redis-server and rabbitmq-server
 * (`make docker packages`); says so and measures nothing otherwise.
 */
import Docker from "dockerode";
import { buildBackupImage, runToExit, startBackupEnvironment, type StoreFill } from "../../testing/servers/backup-environment";
import { PROJECT_DIR } from "../run-cli";

/** A night's data for a small environment: the rows, keys and uploads the backup reads. */
export const BENCH_FILL: StoreFill = { rows: 200_000, redisKeys: 20_000, uploadFiles: 20, uploadBytes: 10 * 1024 * 1024 };

export interface BackupFigures {
  data: string;
  exit: number;
  wallSeconds: number;
  peakWorkingSetMb?: number;
  peakWithCacheMb?: number;
  limitMb: number;
  imageBuildSeconds: number;
}

export async function measureBackup(fill: StoreFill = BENCH_FILL): Promise<BackupFigures | string> {
  const docker = new Docker();
  if (!(await docker.ping().then(() => true, () => false))) return "no Docker daemon answers: backup figures not measured (make docker)";
  const building = Date.now();
  const image = buildBackupImage();
  const imageBuildSeconds = (Date.now() - building) / 1000;
  const runId = `po-backup-bench-${process.pid}`;
  const environment = await startBackupEnvironment(docker, { runId, image, fill, projectDir: PROJECT_DIR });
  try {
    const name = `${runId}-backup`;
    await docker.createContainer(environment.containerBody(name, ["node_modules/.bin/tsx", "backup/cli.ts", "backup", "run"]));
    const run = await runToExit(docker, name);
    return {
      data: `${fill.rows} rows, ${fill.redisKeys} Redis keys, ${fill.uploadFiles} x ${fill.uploadBytes / 1024 / 1024} MiB uploads`,
      exit: run.exitCode,
      wallSeconds: Math.round(run.wallSeconds * 10) / 10,
      peakWorkingSetMb: run.peakWorkingSetMb,
      peakWithCacheMb: run.peakWithCacheMb,
      limitMb: run.limitMb,
      imageBuildSeconds: Math.round(imageBuildSeconds * 10) / 10,
    };
  } finally {
    await environment.cleanUp();
  }
}
