/**
 * On `runtime: swarm` the backup is given its credentials as secret files
 * (`<NAME>_FILE`); it reads them back into `<NAME>` itself when a `backup`
 * command starts, so the backup service starts with the same environment as
 * the docker runtime's container, and refuses, with one message naming the
 * variable, an ambiguous or unreadable secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../backup/cli";
import { resolveSecretFiles, SecretFileError } from "../../backup/secret-files";
import { BACKUP_SECRET_ENV, BACKUP_WEBHOOK_ENV } from "../../model/backup";
import { names } from "../../model/naming";
import { secretFile } from "../../model/swarm";
import { TYPES, ofType, runProgram } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "po-secret-files-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const fileWith = (name: string, content: string | Buffer) => {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
};

test("each <NAME>_FILE of the backup's becomes <NAME>, its content byte for byte (a trailing newline and non-ASCII kept), and the _FILE variable goes", () => {
  const env: NodeJS.ProcessEnv = {
    RESTIC_PASSWORD_FILE: fileWith("restic", "pässwörd with spaces \n"),
    PGPASSWORD_FILE: fileWith("pg", "p@ss=word"),
    PGHOST: "postgres-qual",
  };
  expect(resolveSecretFiles(BACKUP_SECRET_ENV, env).sort()).toEqual(["PGPASSWORD", "RESTIC_PASSWORD"]);
  expect(env).toEqual({ RESTIC_PASSWORD: "pässwörd with spaces \n", PGPASSWORD: "p@ss=word", PGHOST: "postgres-qual" });
});

test("a _FILE variable that is not one of the backup's secrets is left as it is", () => {
  const env: NodeJS.ProcessEnv = { SOME_TOOL_FILE: fileWith("other", "x"), RESTIC_CACHE_DIR: "/cache" };
  expect(resolveSecretFiles(BACKUP_SECRET_ENV, env)).toEqual([]);
  expect(env).toEqual({ SOME_TOOL_FILE: join(work, "other"), RESTIC_CACHE_DIR: "/cache" });
});

test("a _FILE beside its plain variable is refused, naming both, and nothing changes", () => {
  const env: NodeJS.ProcessEnv = { PGPASSWORD_FILE: fileWith("pg", "from-file"), REDISCLI_AUTH_FILE: fileWith("redis", "r"), REDISCLI_AUTH: "plain" };
  const before = { ...env };
  expect(() => resolveSecretFiles(BACKUP_SECRET_ENV, env)).toThrow(SecretFileError);
  expect(() => resolveSecretFiles(BACKUP_SECRET_ENV, env)).toThrow(/^REDISCLI_AUTH_FILE and REDISCLI_AUTH are both set; .* unset REDISCLI_AUTH .* or REDISCLI_AUTH_FILE$/);
  expect(env).toEqual(before);
});

test("a secret file that cannot be read is refused, naming the variable and the path, and nothing changes", () => {
  const missing = join(work, "not-there");
  const env: NodeJS.ProcessEnv = { RESTIC_PASSWORD_FILE: fileWith("restic", "r"), RABBITMQ_PASSWORD_FILE: missing };
  const before = { ...env };
  expect(() => resolveSecretFiles(BACKUP_SECRET_ENV, env)).toThrow(`RABBITMQ_PASSWORD_FILE: cannot read the secret file "${missing}" (ENOENT)`);
  expect(env).toEqual(before);
  // A directory where the file should be.
  expect(() => resolveSecretFiles(BACKUP_SECRET_ENV, { RESTIC_PASSWORD_FILE: work })).toThrow(`RESTIC_PASSWORD_FILE: cannot read the secret file "${work}" (EISDIR)`);
});

test("`backup ...` in the container refuses an unreadable secret file with its message before it runs anything", async () => {
  const saved = process.env.PGPASSWORD_FILE;
  process.env.PGPASSWORD_FILE = join(work, "absent");
  try {
    await expect(main(["backup", "run"])).rejects.toThrow(SecretFileError);
  } finally {
    if (saved === undefined) delete process.env.PGPASSWORD_FILE;
    else process.env.PGPASSWORD_FILE = saved;
  }
});

describe("against what the program registers", () => {
  // An s3: repository and a webhook: every secret the backup can be given.
  const config = { backup: { repository: "s3:https://s3.example.com/bucket" } };
  const secrets = { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: "https://hooks.example.com/T0/secret-token" };
  const SWARM = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };

  test("the backup service on swarm, its secret files read back, has exactly the docker runtime container's environment", async () => {
    const onDocker = await runProgram({ stack: "qual", config, secrets });
    const onSwarm = await runProgram({ stack: "qual", config: { ...config, ...SWARM }, secrets });
    const container = ofType(onDocker, TYPES.container).find((c) => c.inputs.name === names.backupContainer("qual"))!;
    const service = ofType(onSwarm, "docker:index/service:Service").find((s) => s.inputs.name === names.backupContainer("qual"))!;
    const spec = service.inputs.taskSpec.containerSpec;
    // Each secret file as the engine writes it: the provider's `data`, base64-decoded.
    const data = new Map(ofType(onSwarm, "docker:index/secret:Secret").map((s) => [s.inputs.name as string, Buffer.from(s.inputs.data as string, "base64").toString("utf8")]));
    const files = new Map((spec.secrets as { secretName: string; fileName: string }[]).map((r) => [r.fileName, data.get(r.secretName)!]));
    const fileVars = Object.keys(spec.env).filter((k) => k.endsWith("_FILE"));
    expect(fileVars.map((k) => k.slice(0, -"_FILE".length)).sort()).toEqual([...BACKUP_SECRET_ENV].sort());
    expect(files.get(secretFile(BACKUP_WEBHOOK_ENV))).toBe(secrets.backupWebhookUrl);

    const env: NodeJS.ProcessEnv = { ...spec.env };
    resolveSecretFiles(BACKUP_SECRET_ENV, env, (path) => {
      if (!files.has(path)) throw Object.assign(new Error(`no secret mounted at ${path}`), { code: "ENOENT" });
      return files.get(path)!;
    });
    const dockerEnv = Object.fromEntries((container.inputs.envs as string[]).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(env).toEqual(dockerEnv);
  });
});
