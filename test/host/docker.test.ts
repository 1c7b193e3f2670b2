import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerUnavailableError, dockerClient, dockerClientFor, knownHostsFiles, sshSettings } from "../../host/docker";

const fixtures = join(__dirname, "..", "fixtures", "known-hosts");
const pub = (name: string) => readFileSync(join(fixtures, name), "utf8").trim().split(" ").slice(0, 2).join(" ");
const keyA = Buffer.from(pub("host-a.pub").split(" ")[1], "base64");
const keyB = Buffer.from(pub("host-b.pub").split(" ")[1], "base64");

describe("DOCKER_HOST over ssh", () => {
  const home = mkdtempSync(join(tmpdir(), "home-"));
  const etcSsh = mkdtempSync(join(tmpdir(), "etc-ssh-"));

  test("other schemes are left to dockerode's own DOCKER_HOST handling", () => {
    expect(sshSettings({}, home, etcSsh)).toBeUndefined();
    expect(sshSettings({ DOCKER_HOST: "tcp://10.0.0.1:2375" }, home, etcSsh)).toBeUndefined();
  });

  test("uses the agent at SSH_AUTH_SOCK and the URL's user, host and port", () => {
    expect(sshSettings({ DOCKER_HOST: "ssh://deploy@host.example:2222", SSH_AUTH_SOCK: "/run/agent.sock" }, home, etcSsh)).toMatchObject({
      host: "host.example",
      port: 2222,
      username: "deploy",
      sshOptions: { agent: "/run/agent.sock" },
    });
  });

  test("without an agent, falls back to PO_SSH_KEY or a default key file, and says so when there is none", () => {
    expect(() => sshSettings({ DOCKER_HOST: "ssh://deploy@host.example" }, home, etcSsh)).toThrow(DockerUnavailableError);
    mkdirSync(join(home, ".ssh"), { recursive: true });
    writeFileSync(join(home, ".ssh", "id_ed25519"), "KEY");
    expect(sshSettings({ DOCKER_HOST: "ssh://deploy@host.example" }, home, etcSsh)?.sshOptions.privateKey?.toString()).toBe("KEY");
  });

  test("reads the user's and the system's known_hosts, as OpenSSH's client does by default", () => {
    expect(knownHostsFiles("/home/ci", "/etc/ssh")).toEqual([
      "/home/ci/.ssh/known_hosts",
      "/home/ci/.ssh/known_hosts2",
      "/etc/ssh/ssh_known_hosts",
      "/etc/ssh/ssh_known_hosts2",
    ]);
  });
});

describe("the dockerode client for an ssh:// DOCKER_HOST", () => {
  const home = mkdtempSync(join(tmpdir(), "home-"));
  const etcSsh = mkdtempSync(join(tmpdir(), "etc-ssh-"));
  mkdirSync(join(home, ".ssh"));
  writeFileSync(join(home, ".ssh", "known_hosts"), `[docker.example.test]:2222 ${pub("host-a.pub")}\n`);
  writeFileSync(join(etcSsh, "ssh_known_hosts"), `docker.example.test ${pub("host-b.pub")}\n`);
  const env = { SSH_AUTH_SOCK: "/run/agent.sock" };

  // What docker-modem hands to ssh2's connect: its sshOptions plus host, port and username.
  const modemOf = (dockerHost: string) => dockerClient({ ...env, DOCKER_HOST: dockerHost }, home, etcSsh).modem as any;

  test("dials the DOCKER_HOST it was given, over ssh, with a host key verifier", () => {
    const modem = modemOf("ssh://deploy@docker.example.test:2222");
    expect(modem).toMatchObject({ protocol: "ssh", host: "docker.example.test", port: 2222, username: "deploy" });
    expect(typeof modem.sshOptions.hostVerifier).toBe("function");
  });

  test("the verifier accepts only the key on file for that host and port", () => {
    const onPort2222 = modemOf("ssh://deploy@docker.example.test:2222").sshOptions.hostVerifier;
    expect(onPort2222(keyA)).toBe(true);
    expect(onPort2222(keyB)).toBe(false);
    const onPort22 = modemOf("ssh://deploy@docker.example.test").sshOptions.hostVerifier;
    expect(onPort22(keyB)).toBe(true);
    expect(onPort22(keyA)).toBe(false);
    expect(modemOf("ssh://deploy@stranger.example.test").sshOptions.hostVerifier(keyA)).toBe(false);
  });
});

describe("a client for a DOCKER_HOST other than the process's (a swarm node's)", () => {
  const home = mkdtempSync(join(tmpdir(), "home-"));
  const etcSsh = mkdtempSync(join(tmpdir(), "etc-ssh-"));
  const saved = process.env.DOCKER_HOST;
  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  // docker-modem merges its defaults, read from process.env.DOCKER_HOST, under the options: none may leak through.
  test.each(["tcp://10.0.0.1:2375", "ssh://deploy@manager.example.test", "unix:///run/manager.sock"])("with the process on %s, a unix:// node is dialed on its own socket", (processHost) => {
    process.env.DOCKER_HOST = processHost;
    const modem = dockerClientFor("unix:///run/po-swarm/n2.sock", { SSH_AUTH_SOCK: "/run/agent.sock" }, home, etcSsh).modem as any;
    expect(modem).toMatchObject({ socketPath: "/run/po-swarm/n2.sock", host: undefined, protocol: "http" });
  });

  test("tcp:// is read as docker-modem reads it: TLS on port 2376 or with DOCKER_TLS_VERIFY=1", () => {
    process.env.DOCKER_HOST = "unix:///run/manager.sock";
    const modem = dockerClientFor("tcp://10.0.0.3:2375", {}).modem as any;
    expect(modem).toMatchObject({ host: "10.0.0.3", port: "2375", protocol: "http" });
    expect(modem.socketPath).toBeUndefined();
    expect(dockerClientFor("tcp://10.0.0.3:2376", {}).modem).toMatchObject({ protocol: "https" });
    expect(dockerClientFor("tcp://10.0.0.3:2375", { DOCKER_TLS_VERIFY: "1" }).modem).toMatchObject({ protocol: "https" });
  });

  test("ssh:// gets the same host key check and key as DOCKER_HOST's own client", () => {
    process.env.DOCKER_HOST = "unix:///run/manager.sock";
    const modem = dockerClientFor("ssh://deploy@node.example.test:2222", { SSH_AUTH_SOCK: "/run/agent.sock" }, home, etcSsh).modem as any;
    expect(modem).toMatchObject({ protocol: "ssh", host: "node.example.test", port: 2222, username: "deploy" });
    expect(typeof modem.sshOptions.hostVerifier).toBe("function");
  });

  test("a value that is no DOCKER_HOST is refused with what was expected", () => {
    expect(() => dockerClientFor("node.example.test")).toThrow(DockerUnavailableError);
    expect(() => dockerClientFor("node.example.test")).toThrow("expected unix:///path/to/docker.sock, tcp://host:port or ssh://[user@]host[:port]");
  });
});
