/**
 * `npm run backup|drill|restore -- ...`: the backup container's scheduler and
 * one-shot job, the nightly drill (CI), and the operator's restore.
 *
 *   backup daemon                 in the backup container: the nightly backup at backup.schedule (UTC), the weekly check
 *   backup run                    one backup now (in the backup container)
 *   drill --stack S [--out F]     CI: restore the newest complete backup into throwaway containers, check it
 *   restore --stack S --snapshot <id|latest> [--only postgres:<service>|redis|rabbitmq|elasticsearch|uploads] [--yes] [--confirm-prod]
 *   backup import-rabbitmq FILE   in the backup container (the restore runs it there): POST the definitions to RabbitMQ
 *
 * Repository credentials come from the environment only: RESTIC_PASSWORD, and
 * for an s3: repository BACKUP_AWS_ACCESS_KEY_ID / BACKUP_AWS_SECRET_ACCESS_KEY
 * (BACKUP_AWS_DEFAULT_REGION), never the bare AWS_* names: in a CI job those are
 * the state backend's. Inside the backup container, whose env holds nothing
 * else, the bare names are the repository's own. The failure webhook is
 * PO_BACKUP_WEBHOOK. None is ever printed. In the backup container on
 * `runtime: swarm` each of them is a secret file named by `<NAME>_FILE`, read
 * back into `<NAME>` before a `backup` command starts (secret-files.ts).
 */
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import { backupSchema, stackConfigSchema } from "../config/schema";
import { dockerClient } from "../host/docker";
import { readStackFileConfig } from "../config/stack-files";
import { BACKUP_SECRET_ENV, BACKUP_STATUS_FILE, BACKUP_WEBHOOK_ENV } from "../model/backup";
import { PROJECT, SUFFIX_PATTERN, names } from "../model/naming";
import { assertDrillFits, DrillRefused, startDockerDrill } from "./docker-drill";
import { notify, runDrill, type DrillResult } from "./drill";
import { runBackup, RefusedError } from "./job";
import { Restic, type ResticRepository } from "./restic";
import { dockerRestoreStores } from "./docker-restore";
import { importRabbitmqDefinitions } from "./rabbitmq";
import { RestoreRefused, restore, type RestorePlan } from "./restore";
import { resolveSecretFiles, SecretFileError } from "./secret-files";

const PROJECT_DIR = join(__dirname, "..");

class UsageError extends Error {}

/** restic's S3 variables (https://restic.readthedocs.io/en/stable/030_preparing_a_new_repo.html#amazon-s3). */
const S3_VARIABLES = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"] as const;

/**
 * The credentials restic is given, and nothing else. `where` says whose
 * environment this is: the backup container's own (its S3 keys under restic's
 * names), or an operator's shell or CI job (under BACKUP_ names, so that the
 * state backend's AWS_* keys in the same job are never taken for the backup
 * repository's).
 */
export function resticEnv(where: "backup-container" | "operator", env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (!env.RESTIC_PASSWORD) throw new UsageError("RESTIC_PASSWORD is not set (the stack's resticPassword config secret)");
  const prefix = where === "operator" ? "BACKUP_" : "";
  const picked: NodeJS.ProcessEnv = { RESTIC_PASSWORD: env.RESTIC_PASSWORD };
  if (env.RESTIC_CACHE_DIR) picked.RESTIC_CACHE_DIR = env.RESTIC_CACHE_DIR;
  for (const name of S3_VARIABLES) if (env[prefix + name]) picked[name] = env[prefix + name];
  return picked;
}

/** A stack's suffix and backup settings from its committed stack file: what the drill and restore need, no secrets. */
export function stackBackupSettings(stack: string, projectDir = PROJECT_DIR) {
  const raw = readStackFileConfig(projectDir, stack);
  const value = (key: string) => {
    const v = raw[`${PROJECT}:${key}`];
    return typeof v === "string" && /^\s*[{[]/.test(v) ? JSON.parse(v) : v;
  };
  const env = (value("suffix") as string | undefined) ?? stack;
  if (!SUFFIX_PATTERN.test(env)) throw new UsageError(`stack ${stack} has no usable suffix`);
  const parsed = backupSchema.safeParse(value("backup"));
  if (!parsed.success) throw new UsageError(`stack ${stack}: backup config is invalid (${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}); run npm run preview -- --stack ${stack}`);
  const host = stackConfigSchema.shape.host.safeParse(value("host"));
  if (!host.success) throw new UsageError(`stack ${stack}: host config is invalid (${host.error.issues[0].path.join(".")}: ${host.error.issues[0].message}); run npm run preview -- --stack ${stack}`);
  const runtime = stackConfigSchema.shape.runtime.safeParse(value("runtime"));
  if (!runtime.success) throw new UsageError(`stack ${stack}: runtime is invalid (${runtime.error.issues[0].message}); run npm run preview -- --stack ${stack}`);
  return { env, backup: parsed.data, host: host.data, runtime: runtime.data, repository: names.backupRepository(parsed.data.repository, env) };
}

function writeStatus(dir: string, patch: Record<string, string>) {
  const file = join(dir, BACKUP_STATUS_FILE);
  let status: Record<string, string> = {};
  try {
    status = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    // first run
  }
  writeFileSync(file, JSON.stringify({ ...status, ...patch }, null, 2));
}

/** One backup, configured by the env the backup container is given (model/backup.ts). */
async function backupOnce(): Promise<boolean> {
  const e = process.env;
  const env = e.PO_ENV!;
  const staging = e.PO_BACKUP_STAGING!;
  try {
    const { snapshotId, manifest } = await runBackup({
      env,
      restic: { repository: e.RESTIC_REPOSITORY!, env: resticEnv("backup-container") },
      retention: JSON.parse(e.PO_BACKUP_RETENTION!),
      stagingRoot: join(staging, "runs"),
      postgres: { host: e.PGHOST!, port: Number(e.PGPORT), user: e.PGUSER!, password: e.PGPASSWORD! },
      redis: { host: e.REDIS_HOST!, port: Number(e.REDIS_PORT ?? 6379), password: e.REDISCLI_AUTH! },
      rabbitmq: { api: e.RABBITMQ_API!, user: e.RABBITMQ_USER!, password: e.RABBITMQ_PASSWORD! },
      elasticsearch: { url: e.ELASTICSEARCH_URL!, repository: e.ELASTICSEARCH_SNAPSHOT_REPOSITORY!, location: env, snapshotsDir: e.ELASTICSEARCH_SNAPSHOTS! },
      uploadsDir: e.STRAPI_UPLOADS,
    });
    writeStatus(staging, { lastSuccess: new Date().toISOString(), lastSnapshot: snapshotId });
    console.log(`backup ${env}: snapshot ${snapshotId.slice(0, 8)} complete (${manifest.postgres.databases.length} databases)`);
    return true;
  } catch (err) {
    const message = (err as Error).message;
    writeStatus(staging, { lastFailure: new Date().toISOString(), lastError: message });
    console.error(`backup ${env} FAILED: ${message}`);
    await notify(e[BACKUP_WEBHOOK_ENV], { ok: false, env, problems: [`backup failed: ${message}`] }).catch((w: Error) => console.error(`webhook: ${w.message}`));
    return false;
  }
}

const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** Milliseconds until the next HH:MM UTC. */
export function msUntil(schedule: string, now = new Date()): number {
  const [h, m] = schedule.split(":").map(Number);
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m));
  if (next <= now) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

async function daemon(): Promise<never> {
  const e = process.env;
  mkdirSync(e.PO_BACKUP_STAGING!, { recursive: true });
  writeStatus(e.PO_BACKUP_STAGING!, { startedAt: new Date().toISOString() });
  for (;;) {
    const wait = msUntil(e.PO_BACKUP_SCHEDULE!);
    console.log(`next backup of ${e.PO_ENV} in ${Math.round(wait / 60000)} min`);
    await new Promise((r) => setTimeout(r, wait));
    const ok = await backupOnce();
    if (ok && WEEKDAYS[new Date().getUTCDay()] === e.PO_BACKUP_CHECK_DAY) {
      await new Restic({ repository: e.RESTIC_REPOSITORY!, env: resticEnv("backup-container") })
        .check(e.PO_BACKUP_CHECK_SUBSET!)
        .then(() => console.log("restic check: ok"))
        .catch(async (err: Error) => {
          console.error(`restic check FAILED: ${err.message}`);
          writeStatus(e.PO_BACKUP_STAGING!, { lastFailure: new Date().toISOString(), lastError: `restic check: ${err.message}` });
          await notify(e[BACKUP_WEBHOOK_ENV], { ok: false, env: e.PO_ENV!, problems: [`restic check failed: ${err.message}`] }).catch(() => undefined);
        });
    }
  }
}

async function drill(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { stack: { type: "string" }, out: { type: "string" } } });
  if (!values.stack) throw new UsageError("drill needs --stack <stack>");
  const settings = stackBackupSettings(values.stack);
  // Read-only: the drill may hold a key that can only read (docs/backups.md).
  const repo: ResticRepository = { repository: process.env.RESTIC_REPOSITORY ?? settings.repository, env: resticEnv("operator"), readOnly: true };
  // DOCKER_HOST as the deploys use it (ssh:// in CI), with the host key checked against known_hosts.
  const docker = dockerClient();
  await assertDrillFits(docker, settings.host);
  const started = await startDockerDrill(docker, settings.env);
  let result: DrillResult;
  try {
    result = await runDrill({ env: settings.env, restic: repo, target: started.target, rpoHours: settings.backup.rpoHours });
  } finally {
    await started.cleanUp();
  }
  const out = values.out ?? names.drillResultFile(values.stack);
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(`drill ${settings.env}: ${result.ok ? "PASSED" : "FAILED"}; backup age ${result.backupAgeHours ?? "?"} h (RPO ${result.rpoHours} h), restore ${result.rtoSeconds ?? "?"} s; result in ${out}`);
  for (const p of result.problems) console.error(`  - ${p}`);
  await notify(process.env[BACKUP_WEBHOOK_ENV], result).catch((w: Error) => console.error(`webhook: ${w.message}`));
  return result.ok ? 0 : 1;
}

/**
 * Prints what the restore will overwrite and asks for the environment's name
 * (unless `yes`); true only when it is typed exactly.
 */
export async function confirmOnTerminal(plan: RestorePlan, yes: boolean, input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<boolean> {
  for (const line of plan.summary) output.write(`${line}\n`);
  if (yes) return true;
  const rl = createInterface({ input, output });
  try {
    const answer = await rl.question(`Type the environment name (${plan.env}) to go on: `);
    return answer.trim() === plan.env;
  } finally {
    rl.close();
  }
}

export async function restoreCommand(args: string[], confirm = confirmOnTerminal, projectDir = PROJECT_DIR): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { stack: { type: "string" }, snapshot: { type: "string" }, only: { type: "string" }, yes: { type: "boolean" }, "confirm-prod": { type: "boolean" } },
  });
  if (!values.stack || !values.snapshot) throw new UsageError("restore needs --stack <stack> --snapshot <id|latest>");
  const settings = stackBackupSettings(values.stack, projectDir);
  // It addresses the docker runtime's fixed container names and stops containers that Swarm would start
  // again: refused before anything is read or touched, rather than half done (docs/backups.md).
  if (settings.runtime === "swarm") {
    throw new RestoreRefused(`stack ${values.stack} runs on runtime: swarm, which npm run restore does not support yet; nothing was changed (docs/backups.md)`);
  }
  if (settings.env === "prod" && !values["confirm-prod"]) {
    throw new RestoreRefused("refusing to restore into prod without --confirm-prod: it overwrites production data");
  }
  const docker = dockerClient();
  await restore({
    docker,
    stores: dockerRestoreStores(docker, settings.env),
    repo: { repository: process.env.RESTIC_REPOSITORY ?? settings.repository, env: resticEnv("operator") },
    env: settings.env,
    snapshot: values.snapshot,
    only: values.only,
    log: (l) => console.log(l),
    confirm: (plan) => confirm(plan, values.yes ?? false),
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  // The backup container's commands (the drill and the restore run in an operator's shell or CI job, with no secret files).
  if (command === "backup") resolveSecretFiles(BACKUP_SECRET_ENV);
  if (command === "backup" && sub === "daemon") return daemon();
  if (command === "backup" && sub === "run") return (await backupOnce()) ? 0 : 1;
  if (command === "backup" && sub === "import-rabbitmq") {
    const e = process.env;
    if (!rest[0]) throw new UsageError("backup import-rabbitmq needs the definitions file");
    await importRabbitmqDefinitions({ api: e.RABBITMQ_API!, user: e.RABBITMQ_USER!, password: e.RABBITMQ_PASSWORD! }, rest[0]);
    console.log(`imported ${rest[0]} into ${e.RABBITMQ_API}`);
    return 0;
  }
  if (command === "drill") return drill([sub, ...rest].filter((a): a is string => a !== undefined));
  if (command === "restore") return restoreCommand([sub, ...rest].filter((a): a is string => a !== undefined));
  throw new UsageError("usage: backup daemon | backup run | drill --stack S [--out F] | restore --stack S --snapshot <id|latest> [--only postgres:<service>|redis|rabbitmq|elasticsearch|uploads] [--yes] [--confirm-prod]");
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      const known = err instanceof UsageError || err instanceof RestoreRefused || err instanceof RefusedError || err instanceof DrillRefused || err instanceof SecretFileError;
      console.error(known ? err.message : `failed: ${err.message}`);
      process.exit(known ? 2 : 1);
    },
  );
}
