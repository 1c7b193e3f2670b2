import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataIsProtected } from "../../config/data-protection";
import { allStackCiSettings, stackCiSettings } from "../../config/gitlab-settings";

/** A project folder with the given stack files' `config` blocks (YAML lines under `config:`). */
function project(stacks: Record<string, string[]>): string {
  const dir = mkdtempSync(join(tmpdir(), "gitlab-settings-"));
  writeFileSync(join(dir, "Pulumi.yaml"), "name: portugal-odyssey\nruntime: nodejs\n");
  for (const [stack, lines] of Object.entries(stacks)) writeFileSync(join(dir, `Pulumi.${stack}.yaml`), `config:\n${lines.map((l) => `  ${l}\n`).join("")}`);
  return dir;
}

describe("a stack's CI settings come from its stack file", () => {
  it("reads environment, tier and deploy mode from the gitlab: keys", () => {
    const dir = project({ prod: ["gitlab:environment: production", "gitlab:tier: production", "gitlab:deploy: manual"] });
    expect(stackCiSettings(dir, "prod")).toEqual({ stack: "prod", environment: "production", tier: "production", deploy: "manual", dataProtected: true });
  });

  it("a stack file that says nothing deploys by hand, to an environment named after the stack, with its data protected", () => {
    expect(stackCiSettings(project({ demo: ["portugal-odyssey:domain: demo.example.net"] }), "demo")).toEqual({
      stack: "demo",
      environment: "demo",
      tier: "other",
      deploy: "manual",
      dataProtected: true,
    });
  });

  it("follows data.protect for protection", () => {
    const dir = project({ qual: ["portugal-odyssey:data:", "  protect: false"] });
    expect(dataIsProtected(dir, "qual")).toBe(false);
    expect(stackCiSettings(dir, "qual").dataProtected).toBe(false);
  });

  it("names the key, what was expected and the file for a bad value", () => {
    expect(() => stackCiSettings(project({ x: ["gitlab:deploy: sometimes"] }), "x")).toThrow("Pulumi.x.yaml: gitlab:deploy: expected automatic or manual");
    expect(() => stackCiSettings(project({ x: ["gitlab:colour: blue"] }), "x")).toThrow(/Pulumi\.x\.yaml: gitlab:.*colour/);
  });

  it("refuses two stacks in one GitLab environment: their credentials and deployments would mix", () => {
    const dir = project({ a: ["gitlab:environment: shared"], b: ["gitlab:environment: shared"] });
    expect(() => allStackCiSettings(dir)).toThrow("Pulumi.a.yaml and Pulumi.b.yaml both name GitLab environment shared");
  });
});
