/**
 * The Docker Engine API client. dockerode's modem reads DOCKER_HOST itself:
 * unix://, tcp:// (with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) and ssh://user@host
 * (it runs `docker system dial-stdio` on the remote over ssh2, authenticating
 * with the agent at SSH_AUTH_SOCK). We only fill in what it leaves out for
 * ssh: a user name when the URL has none, and a key file when no agent runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";

export class DockerUnavailableError extends Error {}

export interface SshSettings {
  username?: string;
  sshOptions: { agent?: string; privateKey?: Buffer };
}

/** What to add to the modem's defaults for an ssh:// DOCKER_HOST; undefined for any other. */
export function sshSettings(env: NodeJS.ProcessEnv = process.env, home = homedir()): SshSettings | undefined {
  const host = env.DOCKER_HOST;
  if (!host?.startsWith("ssh://")) return undefined;
  const url = new URL(host);
  const settings: SshSettings = { username: url.username || userInfo().username, sshOptions: {} };
  if (env.SSH_AUTH_SOCK) {
    settings.sshOptions.agent = env.SSH_AUTH_SOCK;
    return settings;
  }
  const keyFile = env.PO_SSH_KEY ?? ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home, ".ssh", k)).find((p) => existsSync(p));
  if (!keyFile) {
    throw new DockerUnavailableError(
      `DOCKER_HOST=${host} needs an ssh agent (SSH_AUTH_SOCK) or a key (PO_SSH_KEY, or ~/.ssh/id_ed25519|id_ecdsa|id_rsa); none found`,
    );
  }
  settings.sshOptions.privateKey = readFileSync(keyFile);
  return settings;
}

export function dockerClient(env: NodeJS.ProcessEnv = process.env): Docker {
  const ssh = sshSettings(env);
  return ssh ? new Docker({ username: ssh.username, sshOptions: ssh.sshOptions } as Docker.DockerOptions) : new Docker();
}

/** Fails with where it looked when no daemon answers. */
export async function assertDaemon(docker: Docker, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const version = await docker.version();
    return version.Version;
  } catch (err) {
    throw new DockerUnavailableError(
      `no Docker daemon answers at ${env.DOCKER_HOST ?? "unix:///var/run/docker.sock"}: ${(err as Error).message}`,
    );
  }
}
