import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerUnavailableError, sshSettings } from "../../host/docker";

describe("DOCKER_HOST over ssh", () => {
  const home = mkdtempSync(join(tmpdir(), "home-"));

  test("other schemes are left to dockerode's own DOCKER_HOST handling", () => {
    expect(sshSettings({}, home)).toBeUndefined();
    expect(sshSettings({ DOCKER_HOST: "tcp://10.0.0.1:2375" }, home)).toBeUndefined();
  });

  test("uses the agent at SSH_AUTH_SOCK and the URL's user", () => {
    expect(sshSettings({ DOCKER_HOST: "ssh://deploy@host.example", SSH_AUTH_SOCK: "/run/agent.sock" }, home)).toEqual({
      username: "deploy",
      sshOptions: { agent: "/run/agent.sock" },
    });
  });

  test("without an agent, falls back to PO_SSH_KEY or a default key file, and says so when there is none", () => {
    expect(() => sshSettings({ DOCKER_HOST: "ssh://deploy@host.example" }, home)).toThrow(DockerUnavailableError);
    mkdirSync(join(home, ".ssh"));
    writeFileSync(join(home, ".ssh", "id_ed25519"), "KEY");
    expect(sshSettings({ DOCKER_HOST: "ssh://deploy@host.example" }, home)?.sshOptions.privateKey?.toString()).toBe("KEY");
  });
});
