/**
 * Restores a complete snapshot into the running environment: PostgreSQL
 * databases through `docker exec` into the environment's own postgres
 * container (pg_restore --clean, the dump streamed on stdin), roles first.
 * It says what it will overwrite and asks before it touches anything.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { SERVICE_NAMES, type ServiceName } from "../../catalog/services";
import { BACKUP_TAGS, names } from "../../model/naming";
import { demux } from "../verify/isolation";
import { MANIFEST_FILE, type Manifest } from "./job";
import { Restic, type ResticRepository, type ResticSnapshot } from "./restic";

export class RestoreRefused extends Error {}

/** `latest` or an id (full or short) of a complete snapshot of this environment; anything else is refused. */
export async function pickSnapshot(restic: Restic, env: string, wanted: string): Promise<ResticSnapshot> {
  const complete = await restic.snapshots(env, BACKUP_TAGS.complete);
  if (complete.length === 0) throw new RestoreRefused(`no complete backup of ${env} in the repository`);
  if (wanted === "latest") return complete[complete.length - 1];
  const found = complete.find((s) => s.id.startsWith(wanted));
  if (!found) throw new RestoreRefused(`snapshot ${wanted} is not a complete backup of ${env}; complete ones: ${complete.map((s) => `${s.short_id} (${s.time.slice(0, 16)})`).join(", ")}`);
  return found;
}

/** `postgres:<service>` or `postgres:<database>` → the databases to restore; none given: all of them. */
export function databasesToRestore(manifest: Manifest, env: string, only?: string): string[] {
  const all = manifest.postgres.databases.map((d) => d.database);
  if (!only) return all;
  const [part, name] = only.split(":", 2);
  if (part !== "postgres" || !name) throw new RestoreRefused(`--only expects postgres:<service or database>, got ${only}`);
  const database = (SERVICE_NAMES as readonly string[]).includes(name) ? names.serviceDatabase(name as ServiceName, env) : name;
  if (!all.includes(database)) throw new RestoreRefused(`the snapshot has no database ${database}; it has: ${all.join(", ")}`);
  return [database];
}

export interface RestorePlan {
  env: string;
  snapshot: ResticSnapshot;
  databases: string[];
  container: string;
  /** What will be overwritten, in words, before anything is. */
  summary: string[];
}

export function describeRestore(env: string, snapshot: ResticSnapshot, manifest: Manifest, databases: string[]): RestorePlan {
  const container = names.container("postgres", env);
  const summary = [
    `Restore snapshot ${snapshot.short_id} of ${env} (taken ${snapshot.time}) into the RUNNING environment ${env}.`,
    `The roles are re-applied from the backup, and in container ${container} these databases are OVERWRITTEN (every object dropped and recreated from the backup):`,
    ...databases.map((db) => {
      const m = manifest.postgres.databases.find((d) => d.database === db)!;
      return `  - ${db}: ${m.tables.length} tables, ${m.tables.reduce((n, t) => n + t.rows, 0)} rows in the backup`;
    }),
    "Writes made since the backup are lost in these databases.",
  ];
  return { env, snapshot, databases, container, summary };
}

async function execWithStdin(docker: Docker, container: string, argv: string[], file?: string): Promise<string> {
  const e = await docker.getContainer(container).exec({ Cmd: argv, AttachStdin: Boolean(file), AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: Boolean(file) });
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => stream.on("end", r));
  if (file) createReadStream(file).pipe(stream as unknown as NodeJS.WritableStream);
  await ended;
  const out = demux(Buffer.concat(chunks));
  const { ExitCode } = await e.inspect();
  if (ExitCode !== 0) throw new Error(`${argv[0]} in ${container} exited with ${ExitCode}: ${out.trim().split("\n").slice(-3).join(" ")}`);
  return out;
}

/** Fetches the snapshot, then restores roles and each planned database into the live container. */
export async function restore(opts: {
  docker: Docker;
  repo: ResticRepository;
  env: string;
  snapshot: string;
  only?: string;
  confirm: (plan: RestorePlan) => Promise<boolean>;
  log: (line: string) => void;
}): Promise<void> {
  const restic = new Restic(opts.repo);
  const snapshot = await pickSnapshot(restic, opts.env, opts.snapshot);
  const dir = await mkdtemp(join(tmpdir(), "po-restore-"));
  try {
    await restic.restore(snapshot.id, dir);
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as Manifest;
    if (manifest.env !== opts.env) throw new RestoreRefused(`snapshot ${snapshot.short_id} holds environment ${manifest.env}'s data, not ${opts.env}'s`);
    const plan = describeRestore(opts.env, snapshot, manifest, databasesToRestore(manifest, opts.env, opts.only));
    if (!(await opts.confirm(plan))) throw new RestoreRefused("not confirmed; nothing was changed");
    const psql = ["psql", "-X", "-q", "-U", "portugal_odyssey", "-d", "postgres"];
    // Roles already there make CREATE ROLE fail; their ALTER ROLE lines still apply, so errors do not stop it.
    await execWithStdin(opts.docker, plan.container, [...psql, "-f", "-"], join(dir, manifest.postgres.globals)).catch((e: Error) => opts.log(`roles: ${e.message}`));
    for (const db of plan.databases) {
      const file = manifest.postgres.databases.find((d) => d.database === db)!.file;
      opts.log(`restoring ${db} ...`);
      await execWithStdin(opts.docker, plan.container, ["pg_restore", "-U", "portugal_odyssey", "--clean", "--if-exists", "--exit-on-error", "--dbname", db], join(dir, file));
      opts.log(`restored ${db}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
