/**
 * On `runtime: swarm` the backup service is given each credential as a Docker
 * secret file and `<NAME>_FILE=/run/secrets/<NAME>` instead of `<NAME>`
 * (components/swarm/service.ts, docs/swarm.md "Secrets"). The backup program
 * reads those files itself when its container starts, before anything reads
 * its environment, so the rest of it (and restic, pg_dump, redis-cli, which it
 * hands the values to) sees the environment of the docker runtime.
 *
 * Only the backup's own secret variables (model/backup.ts BACKUP_SECRET_ENV):
 * `_FILE` is also a setting of the programs it runs (restic reads
 * RESTIC_PASSWORD_FILE itself), so a name it does not know is left alone, and a
 * test holds the list to what the swarm renderer turns into files.
 *
 * A file's content is the value, byte for byte: the renderer sends the value's
 * own UTF-8 bytes, base64'd with nothing added (service.ts asFile), and the
 * engine writes the secret's data as it is (moby daemon/container_operations_unix.go
 * setupSecretDir, os.WriteFile). Nothing is trimmed: a trailing newline would be
 * part of the value, as it would be in the docker runtime's env.
 */
import { readFileSync } from "node:fs";

export class SecretFileError extends Error {}

/**
 * Replaces each `<NAME>_FILE` of `names` in `env` by `<NAME>`, holding the
 * file's content, and removes the `_FILE` variable, so nothing it starts sees
 * both. Refuses, naming the variable, a `<NAME>_FILE` beside a `<NAME>` (which
 * one is meant?) and a file it cannot read; changes nothing then. Returns the
 * names it read.
 */
export function resolveSecretFiles(names: readonly string[], env: NodeJS.ProcessEnv = process.env, read: (path: string) => string = (path) => readFileSync(path, "utf8")): string[] {
  const values: Record<string, string> = {};
  for (const name of names) {
    const fileVar = `${name}_FILE`;
    const path = env[fileVar];
    if (path === undefined) continue;
    if (env[name] !== undefined) {
      throw new SecretFileError(`${fileVar} and ${name} are both set; the backup takes a secret from one of them only: unset ${name} (runtime: swarm gives the file) or ${fileVar}`);
    }
    try {
      values[name] = read(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new SecretFileError(`${fileVar}: cannot read the secret file "${path}" (${code}); on runtime: swarm it is the service's Docker secret, mounted at /run/secrets/${name}`);
    }
  }
  for (const [name, value] of Object.entries(values)) {
    env[name] = value;
    delete env[`${name}_FILE`];
  }
  return Object.keys(values);
}
