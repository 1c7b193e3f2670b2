/**
 * The Docker Engine API client. dockerode's modem reads DOCKER_HOST itself:
 * unix://, tcp:// (with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) and ssh://user@host
 * (it runs `docker system dial-stdio` on the remote over ssh2, authenticating
 * with the agent at SSH_AUTH_SOCK). For ssh we fill in what it leaves out: a
 * user name when the URL has none, a key file when no agent runs, and a host
 * key check, because ssh2 accepts any host key unless given a hostVerifier.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { checkHostKey, describeRefusal, knownHostsName, parseKnownHosts, type KnownHostLine } from "./known-hosts";

export class DockerUnavailableError extends Error {}

/** The ssh host key was not vouched for; the message says what to do about it. */
export class HostKeyRefusedError extends DockerUnavailableError {}

/** The files OpenSSH's client reads by default (UserKnownHostsFile, GlobalKnownHostsFile). */
export function knownHostsFiles(home: string, etcSsh = "/etc/ssh"): string[] {
  return [
    join(home, ".ssh", "known_hosts"),
    join(home, ".ssh", "known_hosts2"),
    join(etcSsh, "ssh_known_hosts"),
    join(etcSsh, "ssh_known_hosts2"),
  ];
}

/**
 * ssh2 only lets a verifier say yes or no, and reports no as a bare "Host
 * denied (verification failed)"; so the check keeps its own explanation for
 * the client to report instead.
 */
export class HostKeyCheck {
  refusal?: string;
  private readonly files: { path: string; found: boolean }[] = [];
  private readonly lines: KnownHostLine[] = [];

  constructor(
    readonly host: string,
    readonly port: number,
    paths: string[],
  ) {
    for (const path of paths) {
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch {
        // Like ssh: a missing or unreadable file vouches for nothing, and the refusal lists it.
        this.files.push({ path, found: false });
        continue;
      }
      this.files.push({ path, found: true });
      this.lines.push(...parseKnownHosts(text, path));
    }
  }

  /** ssh2's hostVerifier: gets the raw key blob the server presented. */
  readonly verify = (key: Buffer): boolean => {
    const verdict = checkHostKey(this.lines, knownHostsName(this.host, this.port), key);
    if (verdict.accepted) return true;
    this.refusal = describeRefusal(verdict, { host: this.host, port: this.port, files: this.files, key });
    return false;
  };
}

export interface SshSettings {
  host: string;
  port: number;
  username: string;
  sshOptions: { agent?: string; privateKey?: Buffer; hostVerifier: (key: Buffer) => boolean };
  hostKeys: HostKeyCheck;
}

/** What to add to the modem's defaults for an ssh:// DOCKER_HOST; undefined for any other. */
export function sshSettings(env: NodeJS.ProcessEnv = process.env, home = homedir(), etcSsh = "/etc/ssh"): SshSettings | undefined {
  const dockerHost = env.DOCKER_HOST;
  if (!dockerHost?.startsWith("ssh://")) return undefined;
  const url = new URL(dockerHost);
  const port = url.port ? Number(url.port) : 22;
  const hostKeys = new HostKeyCheck(url.hostname, port, knownHostsFiles(home, etcSsh));
  const settings: SshSettings = {
    host: url.hostname,
    port,
    username: url.username || userInfo().username,
    sshOptions: { hostVerifier: hostKeys.verify },
    hostKeys,
  };
  if (env.SSH_AUTH_SOCK) {
    settings.sshOptions.agent = env.SSH_AUTH_SOCK;
    return settings;
  }
  const keyFile = env.PO_SSH_KEY ?? ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home, ".ssh", k)).find((p) => existsSync(p));
  if (!keyFile) {
    throw new DockerUnavailableError(
      `DOCKER_HOST=${dockerHost} needs an ssh agent (SSH_AUTH_SOCK) or a key (PO_SSH_KEY, or ~/.ssh/id_ed25519|id_ecdsa|id_rsa); none found`,
    );
  }
  settings.sshOptions.privateKey = readFileSync(keyFile);
  return settings;
}

export function dockerClient(env: NodeJS.ProcessEnv = process.env, home = homedir(), etcSsh = "/etc/ssh"): Docker {
  const ssh = sshSettings(env, home, etcSsh);
  if (!ssh) return new Docker();
  // host and port from `env` too, so the modem dials the host whose key we check.
  const docker = new Docker({ protocol: "ssh", host: ssh.host, port: ssh.port, username: ssh.username, sshOptions: ssh.sshOptions });
  reportRefusals(docker, ssh.hostKeys);
  return docker;
}

/** What is wrong with a DOCKER_HOST value, or undefined: the forms dockerode and the docker CLI both read. */
export function dockerHostProblem(value: string): string | undefined {
  const expected = "expected unix:///path/to/docker.sock, tcp://host:port or ssh://[user@]host[:port]";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${value} is not a URL: ${expected}`;
  }
  if (url.protocol === "unix:") return url.host === "" && url.pathname.length > 1 ? undefined : `${value} has no socket path: ${expected}`;
  if (url.protocol === "tcp:") return url.hostname && url.port ? undefined : `${value} needs a host and a port: ${expected}`;
  if (url.protocol === "ssh:") return url.hostname && (url.pathname === "" || url.pathname === "/") ? undefined : `${value} needs a host and no path: ${expected}`;
  return `${value} has scheme ${url.protocol.replace(/:$/, "")}: ${expected}`;
}

/**
 * A client for a DOCKER_HOST other than the process's own (a swarm node's,
 * for verify). docker-modem merges defaults read from process.env.DOCKER_HOST
 * under whatever options it is given (lib/modem.js `defaultOpts`, `Modem`):
 * a unix socket is only used when no host is set, and the protocol defaults
 * to the process's. So every key those defaults may set is given here, and
 * none of the process's DOCKER_HOST leaks into this client. tcp:// follows
 * docker-modem's own reading: TLS with DOCKER_TLS_VERIFY=1 or port 2376, the
 * certificates from DOCKER_CERT_PATH.
 */
export function dockerClientFor(dockerHost: string, env: NodeJS.ProcessEnv = process.env, home = homedir(), etcSsh = "/etc/ssh"): Docker {
  const problem = dockerHostProblem(dockerHost);
  if (problem) throw new DockerUnavailableError(problem);
  const url = new URL(dockerHost);
  if (url.protocol === "ssh:") return dockerClient({ ...env, DOCKER_HOST: dockerHost }, home, etcSsh);
  const none = { socketPath: undefined, host: undefined, port: undefined, username: undefined, ca: undefined, cert: undefined, key: undefined };
  if (url.protocol === "unix:") return new Docker({ ...none, socketPath: url.pathname, protocol: "http" });
  const certs = env.DOCKER_CERT_PATH;
  const read = (file: string) => readFileSync(join(certs!, file));
  return new Docker({
    ...none,
    host: url.hostname,
    port: url.port,
    protocol: env.DOCKER_TLS_VERIFY === "1" || url.port === "2376" ? "https" : "http",
    ...(certs ? { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") } : {}),
  });
}

/**
 * Every API call goes through modem.dial. Once the host's key has been
 * refused, nothing on this client can succeed, so any failure is reported
 * as that refusal, with ssh2's own error kept as the cause.
 */
function reportRefusals(docker: Docker, check: HostKeyCheck): void {
  const modem = docker.modem;
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) =>
    dial(
      options,
      callback &&
        ((err, result) => callback(err && check.refusal ? new HostKeyRefusedError(check.refusal, { cause: err }) : err, result)),
    );
}

/** Fails with where it looked when no daemon answers. */
export async function assertDaemon(docker: Docker, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const version = await docker.version();
    return version.Version;
  } catch (err) {
    // A refused host key did answer; saying "no daemon" would send people looking in the wrong place.
    if (err instanceof HostKeyRefusedError) throw err;
    throw new DockerUnavailableError(
      `no Docker daemon answers at ${env.DOCKER_HOST ?? "unix:///var/run/docker.sock"}: ${(err as Error).message}`,
    );
  }
}
