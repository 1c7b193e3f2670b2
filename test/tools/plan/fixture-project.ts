/**
 * A throw-away project folder for the plan tests: a Pulumi.yaml with the base
 * config every stack needs, the stack files a test asks for, and their release manifests.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { testRelease } from "../../../testing/release";

const BASE_CONFIG = {
  registry: { value: "registry.example.test/po" },
  traefik: { value: { network: "traefik", container: "traefik", entrypoint: "websecure", certResolver: "letsencrypt" } },
  host: { value: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: ["webapp"] } },
};

export interface FixtureProject {
  dir: string;
  remove: () => void;
}

/** `stacks` maps a stack name to its file's `config:` (keys without the project prefix are namespaced by Pulumi). */
export function fixtureProject(stacks: Record<string, Record<string, unknown>>): FixtureProject {
  const dir = mkdtempSync(join(tmpdir(), "po-plan-"));
  writeFileSync(join(dir, "Pulumi.yaml"), stringify({ name: "portugal-odyssey", runtime: "nodejs", config: BASE_CONFIG }));
  mkdirSync(join(dir, "releases"));
  Object.entries(stacks).forEach(([stack, config], i) => {
    // An isolated stack names its own edge subnet; each fixture stack gets a distinct one unless it sets its own.
    const edgeSubnet = { "portugal-odyssey:edgeSubnet": `172.16.${200 + i}.0/24` };
    writeFileSync(join(dir, `Pulumi.${stack}.yaml`), stringify({ config: { ...edgeSubnet, ...config } }));
    // Every app image pinned, as `npm run release` leaves a manifest.
    writeFileSync(join(dir, "releases", `${stack}.yaml`), stringify(testRelease(dir, stack)));
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
