/**
 * restic's environment is built, not inherited: the basics a process needs and
 * the repository's own variables, nothing else. In CI the job's environment
 * holds the Pulumi state backend's AWS_* keys; they must never reach restic.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resticEnv } from "../../backup/cli";
import { Restic, resticProcessEnv } from "../../backup/restic";

const STRAY = { AWS_ACCESS_KEY_ID: "STATE-BACKEND-KEY", AWS_SECRET_ACCESS_KEY: "state-backend-secret", PULUMI_BACKEND_URL: "s3://state", CI_JOB_TOKEN: "job-token" };
let work: string;
const saved = { ...process.env };

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "po-restic-env-"));
  Object.assign(process.env, STRAY);
});
afterEach(() => {
  for (const k of Object.keys(STRAY)) delete process.env[k];
  process.env.PATH = saved.PATH;
  rmSync(work, { recursive: true, force: true });
});

/** A `restic` first on PATH that writes the environment it was given to a file, then runs the real one. */
function dumpingRestic(): string {
  const bin = join(work, "bin");
  mkdirSync(bin);
  const dump = join(work, "env.dump");
  // The dump's path is written into the script: no variable of ours could carry it across.
  writeFileSync(join(bin, "restic"), `#!/bin/sh\nenv > '${dump}'\nexec /usr/bin/restic "$@"\n`);
  chmodSync(join(bin, "restic"), 0o755);
  process.env.PATH = `${bin}:${process.env.PATH}`;
  return dump;
}
const parse = (file: string) => Object.fromEntries(readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

test("a repository without keys of its own gets none of the job's AWS_* keys or other variables, and still works", async () => {
  const dump = dumpingRestic();
  const repository = join(work, "repo", "qual");
  const restic = new Restic({ repository, env: { RESTIC_PASSWORD: "pw-0000" } });
  await restic.ensureInitialised();
  expect(await restic.allSnapshots()).toEqual([]);
  const seen = parse(dump);
  for (const k of Object.keys(STRAY)) expect(seen[k]).toBeUndefined();
  expect(seen).toMatchObject({ RESTIC_PASSWORD: "pw-0000", RESTIC_REPOSITORY: repository, PATH: process.env.PATH, HOME: process.env.HOME });
});

test("a repository's own AWS_* keys are the ones restic gets", () => {
  const env = resticProcessEnv({ repository: "s3:https://s3.example/bucket/qual", env: { RESTIC_PASSWORD: "pw", AWS_ACCESS_KEY_ID: "BACKUP-KEY", AWS_SECRET_ACCESS_KEY: "backup-secret" } });
  expect(env.AWS_ACCESS_KEY_ID).toBe("BACKUP-KEY");
  expect(env.AWS_SECRET_ACCESS_KEY).toBe("backup-secret");
  expect(env.PULUMI_BACKEND_URL).toBeUndefined();
});

describe("the repository's credentials, by where the command runs", () => {
  const job = { RESTIC_PASSWORD: "repo-password", ...STRAY, BACKUP_AWS_ACCESS_KEY_ID: "BACKUP-KEY", BACKUP_AWS_SECRET_ACCESS_KEY: "backup-secret" };

  test("an operator's shell or CI job gives restic the BACKUP_AWS_* keys under restic's names, never the state backend's AWS_*", () => {
    const env = resticEnv("operator", job);
    expect(env).toEqual({ RESTIC_PASSWORD: "repo-password", AWS_ACCESS_KEY_ID: "BACKUP-KEY", AWS_SECRET_ACCESS_KEY: "backup-secret" });
  });

  test("a CI job without BACKUP_AWS_* keys gives restic no S3 key at all rather than the state backend's", () => {
    const { BACKUP_AWS_ACCESS_KEY_ID: _id, BACKUP_AWS_SECRET_ACCESS_KEY: _secret, ...withoutBackupKeys } = job;
    expect(Object.keys(resticEnv("operator", withoutBackupKeys))).toEqual(["RESTIC_PASSWORD"]);
  });

  test("inside the backup container, whose env is the repository's alone, restic's own AWS_* names are the repository's keys", () => {
    expect(resticEnv("backup-container", { RESTIC_PASSWORD: "p", AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S" })).toEqual({ RESTIC_PASSWORD: "p", AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S" });
  });

  test("without RESTIC_PASSWORD nothing runs, and the message names the secret", () => {
    expect(() => resticEnv("operator", {})).toThrow(/RESTIC_PASSWORD is not set/);
  });
});
