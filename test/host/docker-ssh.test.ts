/**
 * The whole ssh path through dockerode, docker-modem and ssh2, against an
 * ssh2 server on 127.0.0.1 that answers `docker system dial-stdio` with a
 * canned Engine API reply. No Docker daemon is involved.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, utils } from "ssh2";
import { HostKeyRefusedError, assertDaemon, dockerClient } from "../../host/docker";

const hostKey = utils.generateKeyPairSync("ed25519");
const otherKey = utils.generateKeyPairSync("ed25519");
const userKey = utils.generateKeyPairSync("ed25519");

const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
  client.on("authentication", (ctx) => ctx.accept());
  client.on("error", () => undefined);
  client.on("session", (accept) => {
    accept().on("exec", (acceptExec, _reject, info) => {
      const stream = acceptExec();
      if (info.command !== "docker system dial-stdio") return stream.exit(127), stream.end();
      stream.once("data", () => {
        const body = JSON.stringify({ Version: "0.0.0-fake" });
        stream.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
    });
  });
});

let port: number;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A home with a client key and the given known_hosts, and an empty /etc/ssh. */
function clientWith(knownHosts: string) {
  const home = mkdtempSync(join(tmpdir(), "home-"));
  mkdirSync(join(home, ".ssh"));
  writeFileSync(join(home, ".ssh", "id_ed25519"), userKey.private);
  writeFileSync(join(home, ".ssh", "known_hosts"), knownHosts);
  const env = { DOCKER_HOST: `ssh://deploy@127.0.0.1:${port}` };
  return { docker: dockerClient(env, home, mkdtempSync(join(tmpdir(), "etc-ssh-"))), env, home };
}

describe("ssh:// DOCKER_HOST against a live ssh server", () => {
  test("talks to the daemon when known_hosts lists the host's key for that port", async () => {
    const { docker, env } = clientWith(`[127.0.0.1]:${port} ${hostKey.public}\n`);
    await expect(assertDaemon(docker, env)).resolves.toBe("0.0.0-fake");
  });

  test("an unknown host is refused with the host, the files read and the ssh-keyscan fix", async () => {
    const { docker, env, home } = clientWith("");
    const failure = assertDaemon(docker, env);
    await expect(failure).rejects.toThrow(HostKeyRefusedError);
    await expect(failure).rejects.toThrow(`ssh host key check failed for [127.0.0.1]:${port}`);
    await expect(failure).rejects.toThrow(`known_hosts read: ${join(home, ".ssh", "known_hosts")}`);
    await expect(failure).rejects.toThrow(`ssh-keyscan -p ${port} 127.0.0.1 >> ~/.ssh/known_hosts`);
  });

  test("a host presenting a different key than the one on file is refused, on every API call", async () => {
    const { docker } = clientWith(`[127.0.0.1]:${port} ${otherKey.public}\n`);
    await expect(docker.listVolumes()).rejects.toThrow(/does not match the key\(s\) on file at .*known_hosts:1/);
    await expect(docker.listNetworks()).rejects.toThrow(HostKeyRefusedError);
  });
});
