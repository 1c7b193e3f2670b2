/**
 * The restic repository of one environment. RESTIC_REPOSITORY and
 * RESTIC_PASSWORD (and a backend's keys) travel in the environment only.
 */
import { BACKUP_TAGS } from "../model/naming";
import { run } from "./exec";
import { forgetArgs, type Retention } from "./retention";

export interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  tags?: string[];
  paths: string[];
  /** Set when `restic tag` rewrote the snapshot: the id it had before. */
  original?: string;
}

export interface ResticRepository {
  repository: string;
  /** RESTIC_PASSWORD and any backend credentials. */
  env: NodeJS.ProcessEnv;
  /**
   * Read without locking (`--no-lock`): the drill, which may hold a key that can only read. restic's
   * `snapshots`, `ls`, `dump` and `restore` otherwise write a lock file first (cmd/restic: openWithReadLock
   * honours gopts.NoLock), which a read-only key cannot.
   */
  readOnly?: boolean;
}

/**
 * How long a command that locks waits for another's lock before it fails. restic never skips a lock it
 * does not own: a stale one (over 30 minutes old, or of a dead process on the same host) is removed only
 * by `restic unlock`, which removes nothing else without --remove-all (internal/repository/lock_file.go: checkForOtherLocks refuses on any exclusive lock, stale or not; cmd/restic/cmd_unlock.go), so every
 * run starts with `unlock`; a live one (the weekly check, an operator's restore) is waited for.
 * `--retry-lock` came in restic 0.16.0 (CHANGELOG, #719); the image's restic is newer, older ones just fail at once.
 */
export const RETRY_LOCK = "10m";

/** restic's version as [major, minor], from `restic version` ("restic 0.18.0 compiled with ..."). */
export function parseResticVersion(out: string): [number, number] {
  const m = /restic (\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read restic's version from: ${out.slice(0, 80)}`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * What restic needs from this process's own environment besides the
 * repository's variables: where programs, the home (restic's cache lives under
 * it unless RESTIC_CACHE_DIR says otherwise), temporary files, the time zone
 * and a proxy are. Nothing else is passed on: in CI the job's environment also
 * holds the Pulumi state backend's AWS_* keys, and restic reads AWS_* for an
 * s3: repository (https://restic.readthedocs.io/en/latest/075_scripting.html#environment-variables),
 * so a repository configured without keys of its own would silently use those.
 */
const PROCESS_BASICS = ["PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "XDG_CACHE_HOME", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"];

/** restic's whole environment: the basics above from this process, then the repository's own variables. */
export function resticProcessEnv(repo: ResticRepository, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const basics = Object.fromEntries(PROCESS_BASICS.filter((k) => from[k] !== undefined).map((k) => [k, from[k]]));
  return { ...basics, ...repo.env, RESTIC_REPOSITORY: repo.repository };
}

/** The last JSON object restic printed (its `--json` output is one object per line). */
function lastJson<T>(out: string, pick: (o: Record<string, unknown>) => boolean): T {
  const objects = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter(pick);
  if (objects.length === 0) throw new Error("restic printed no result");
  return objects[objects.length - 1] as T;
}

/** Commands that only read the repository: run with `--no-lock` for a read-only repository. */
const READS = new Set(["snapshots", "ls", "dump", "restore", "cat"]);

export class Restic {
  private lockArgs?: Promise<string[]>;

  constructor(private readonly repo: ResticRepository) {}

  /** `--retry-lock` where this restic has it (0.16+). */
  private retryLock(): Promise<string[]> {
    this.lockArgs ??= run(["restic", "version"], { env: resticProcessEnv(this.repo) }).then((out) => {
      const [major, minor] = parseResticVersion(out);
      return major > 0 || minor >= 16 ? ["--retry-lock", RETRY_LOCK] : [];
    });
    return this.lockArgs;
  }

  private async args(args: string[]): Promise<string[]> {
    if (READS.has(args[0]) && this.repo.readOnly) return ["--no-lock", ...args];
    if (READS.has(args[0]) || args[0] === "version" || args[0] === "init" || args[0] === "unlock") return args;
    return [...(await this.retryLock()), ...args];
  }

  private async run(args: string[], stdoutFile?: string, cwd?: string) {
    return run(["restic", ...(await this.args(args))], { env: resticProcessEnv(this.repo), stdoutFile, cwd });
  }

  /** Removes the locks of runs that died (killed, out of memory, redeployed), and only those: see RETRY_LOCK. */
  async unlock(): Promise<void> {
    await this.run(["unlock"]);
  }

  /** Creates the repository unless one answers with this password already. */
  async ensureInitialised(): Promise<void> {
    try {
      await this.run(["cat", "config"]);
    } catch {
      await this.run(["init"]);
    }
  }

  /** Backs up the contents of `dir` (paths stored relative to it) as a `staging` snapshot; returns its id. */
  async backupStaging(dir: string, env: string, time?: Date, extraPaths: string[] = []): Promise<string> {
    const args = ["backup", "--json", "--tag", `${BACKUP_TAGS.environment(env)},${BACKUP_TAGS.staging}`, "--host", `portugal-odyssey-${env}`];
    if (time) args.push("--time", time.toISOString().slice(0, 19).replace("T", " "));
    // `.` stores the staged files at the snapshot's root; extra paths (volumes) keep their absolute path.
    const out = await this.run([...args, ".", ...extraPaths], undefined, dir);
    return lastJson<{ snapshot_id: string }>(out, (o) => o.message_type === "summary").snapshot_id;
  }

  /** Marks a staged snapshot complete; restic rewrites it under a new id, which is returned. `id` may be a short id (backup --json prints one). */
  async markComplete(id: string, env: string): Promise<string> {
    await this.run(["tag", "--add", BACKUP_TAGS.complete, "--remove", BACKUP_TAGS.staging, id]);
    const rewritten = (await this.snapshots(env, BACKUP_TAGS.complete)).find((s) => s.original?.startsWith(id) || s.id.startsWith(id));
    if (!rewritten) throw new Error(`snapshot ${id.slice(0, 8)} was tagged but cannot be found as complete`);
    return rewritten.id;
  }

  async snapshots(env: string, tag?: string): Promise<ResticSnapshot[]> {
    const tags = [BACKUP_TAGS.environment(env), ...(tag ? [tag] : [])].join(",");
    const out = await this.run(["snapshots", "--json", "--tag", tags]);
    return (JSON.parse(out || "[]") as ResticSnapshot[]).sort((a, b) => a.time.localeCompare(b.time));
  }

  /** Every snapshot, whatever its tags: to see whose repository this is. */
  async allSnapshots(): Promise<ResticSnapshot[]> {
    return JSON.parse((await this.run(["snapshots", "--json"])) || "[]") as ResticSnapshot[];
  }

  async listFiles(id: string): Promise<string[]> {
    const out = await this.run(["ls", "--json", id]);
    return out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { struct_type?: string; type?: string; path?: string })
      .filter((o) => o.struct_type === "node" && o.type === "file")
      .map((o) => o.path!.replace(/^\//, ""));
  }

  async dumpFile(id: string, path: string, to: string): Promise<void> {
    await this.run(["dump", id, path], to);
  }

  async restore(id: string, target: string): Promise<void> {
    await this.run(["restore", id, "--target", target]);
  }

  async forget(env: string, policy: Retention): Promise<void> {
    await this.run(["forget", "--tag", `${BACKUP_TAGS.environment(env)},${BACKUP_TAGS.complete}`, "--group-by", "host", ...forgetArgs(policy), "--prune"]);
  }

  /** Drops snapshots that never became complete (a run that died after `restic backup`). */
  async forgetStaging(env: string): Promise<number> {
    const stale = await this.snapshots(env, BACKUP_TAGS.staging);
    if (stale.length > 0) await this.run(["forget", ...stale.map((s) => s.id)]);
    return stale.length;
  }

  async check(subset: string): Promise<void> {
    await this.run(["check", `--read-data-subset=${subset}`]);
  }

  async version(): Promise<string> {
    return (await this.run(["version"])).trim();
  }
}
