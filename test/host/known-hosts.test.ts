import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkHostKey, describeRefusal, fingerprint, knownHostsName, parseKnownHosts } from "../../host/known-hosts";

// Two real ed25519 host public keys made with ssh-keygen; no private key is kept.
const fixtures = join(__dirname, "..", "fixtures", "known-hosts");
const pub = (name: string) => readFileSync(join(fixtures, name), "utf8").trim().split(" ").slice(0, 2).join(" ");
const A = pub("host-a.pub");
const B = pub("host-b.pub");
const blob = (line: string) => Buffer.from(line.split(" ")[1], "base64");
const keyA = blob(A);
const keyB = blob(B);

const check = (text: string, host: string, port: number, key: Buffer) =>
  checkHostKey(parseKnownHosts(text, "known_hosts"), knownHostsName(host, port), key);

describe("known_hosts matching", () => {
  test("a plain line accepts its key for that host and nothing else", () => {
    const file = `docker.example.test ${A}\n`;
    expect(check(file, "docker.example.test", 22, keyA)).toEqual({ accepted: true, source: "known_hosts:1" });
    expect(check(file, "other.example.test", 22, keyA)).toMatchObject({ accepted: false, reason: "unknown" });
  });

  test("host names compare case-insensitively, as ssh lowercases the name it was given", () => {
    expect(check(`Docker.Example.Test ${A}`, "DOCKER.example.test", 22, keyA)).toMatchObject({ accepted: true });
  });

  test("each name of a comma-separated list is matched, and a negated one vetoes the line", () => {
    const file = `alias.example.test,10.0.0.5 ${A}\n*.example.test,!blocked.example.test ${B}\n`;
    expect(check(file, "10.0.0.5", 22, keyA)).toMatchObject({ accepted: true });
    expect(check(file, "alias.example.test", 22, keyA)).toMatchObject({ accepted: true });
    expect(check(file, "web.example.test", 22, keyB)).toMatchObject({ accepted: true });
    expect(check(file, "blocked.example.test", 22, keyB)).toMatchObject({ accepted: false, reason: "unknown" });
  });

  test("a non-22 port only matches a [host]:port line, and port 22 only the bare name", () => {
    const file = `[docker.example.test]:2222 ${B}\ndocker.example.test ${A}\n`;
    expect(check(file, "docker.example.test", 2222, keyB)).toEqual({ accepted: true, source: "known_hosts:1" });
    expect(check(file, "docker.example.test", 2222, keyA)).toMatchObject({ accepted: false, reason: "changed" });
    expect(check(file, "docker.example.test", 22, keyB)).toMatchObject({ accepted: false, reason: "changed" });
    expect(check(file, "docker.example.test", 2200, keyB)).toMatchObject({ accepted: false, reason: "unknown" });
  });

  test("lines hashed by ssh-keygen -H match their host and port, and no other", () => {
    const file = readFileSync(join(fixtures, "hashed"), "utf8");
    expect(check(file, "hashed.example.test", 22, keyA)).toMatchObject({ accepted: true, source: "known_hosts:3" });
    expect(check(file, "hashed.example.test", 2222, keyB)).toMatchObject({ accepted: true, source: "known_hosts:4" });
    expect(check(file, "hashed.example.test", 22, keyB)).toMatchObject({ accepted: false, reason: "changed" });
    expect(check(file, "other.example.test", 22, keyA)).toMatchObject({ accepted: false, reason: "unknown" });
  });

  test("a key other than the one on file is refused, naming the line it contradicts", () => {
    expect(check(`# ours\ndocker.example.test ${A}\n`, "docker.example.test", 22, keyB)).toMatchObject({
      accepted: false,
      reason: "changed",
      known: [{ source: "known_hosts:2" }],
    });
  });

  test("any line for the host with the presented key is enough, as sshd(8) says", () => {
    expect(check(`docker.example.test ${A}\ndocker.example.test ${B}\n`, "docker.example.test", 22, keyB)).toEqual({
      accepted: true,
      source: "known_hosts:2",
    });
  });

  test("a @revoked key is refused even when another line vouches for it", () => {
    const file = `docker.example.test ${A}\n@revoked * ${A}\n`;
    expect(check(file, "docker.example.test", 22, keyA)).toEqual({ accepted: false, reason: "revoked", source: "known_hosts:2" });
  });

  test("@cert-authority lines vouch for no key, and the refusal says they were seen", () => {
    const verdict = check(`@cert-authority *.example.test ${A}\n`, "docker.example.test", 22, keyA);
    expect(verdict).toMatchObject({ accepted: false, reason: "unknown", certAuthorities: [{ source: "known_hosts:1" }] });
  });

  test("comments, blank lines, unknown markers and malformed lines are skipped without shifting line numbers", () => {
    const file = ["# comment", "", "   ", "@nonsense docker.example.test " + A, "docker.example.test ssh-ed25519", `\tdocker.example.test ${A} a comment`].join("\n");
    const lines = parseKnownHosts(file, "f");
    expect(lines.map((l) => l.source)).toEqual(["f:6"]);
    expect(lines[0].key.equals(keyA)).toBe(true);
  });
});

describe("refusal message", () => {
  const files = [
    { path: "/home/ci/.ssh/known_hosts", found: true },
    { path: "/etc/ssh/ssh_known_hosts", found: false },
  ];

  test("an unknown host gets the host, the files and the ssh-keyscan line with its port", () => {
    const message = describeRefusal({ accepted: false, reason: "unknown", certAuthorities: [] }, { host: "docker.example.test", port: 2222, files, key: keyA });
    expect(message).toContain("[docker.example.test]:2222");
    expect(message).toContain(`presented ssh-ed25519 ${fingerprint(keyA)}`);
    expect(message).toContain("known_hosts read: /home/ci/.ssh/known_hosts; absent or unreadable: /etc/ssh/ssh_known_hosts");
    expect(message).toContain("out of band");
    expect(message).toContain("ssh-keyscan -p 2222 docker.example.test >> ~/.ssh/known_hosts");
  });

  test("a changed key names the line on file and how to replace it", () => {
    const [line] = parseKnownHosts(`docker.example.test ${A}`, "/home/ci/.ssh/known_hosts");
    const message = describeRefusal({ accepted: false, reason: "changed", known: [line] }, { host: "docker.example.test", port: 22, files, key: keyB });
    expect(message).toContain("/home/ci/.ssh/known_hosts:1");
    expect(message).toContain("ssh-keygen -R 'docker.example.test' && ssh-keyscan docker.example.test >> ~/.ssh/known_hosts");
  });

  test("the fingerprint is the one ssh-keygen -l prints", () => {
    // What `ssh-keygen -lf test/fixtures/known-hosts/host-a.pub` printed.
    expect(fingerprint(keyA)).toBe("SHA256:7fL459mt8Dwge9V17r8s4CwmpypNfwvnqqQEww97qtQ");
  });
});
