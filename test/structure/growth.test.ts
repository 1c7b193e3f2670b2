/**
 * The catalog and the stack files are where the project grows: a new service is
 * one catalog entry (plus the docs the project generates from it), a new stack
 * is one Pulumi.<stack>.yaml. Here both happen in a copy of the repository,
 * and the suites that read the catalog, the model, config and stack files
 * (the CI pipeline's included: it is generated from the stack files) run there
 * unchanged. Not run there: e2e, which needs the shared Docker host, and the
 * Docker-transport suites, which read neither.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { REPOSITORY_ROOT } from "../harness/stack-config";

const SUITES = ["test/catalog", "test/config", "test/model", "test/components", "test/tools", "test/gitlab-ci", "test/structure/imports"];
const NEW_SERVICE = "loyalty-service";
// Routed, with stores and a peer, so that networks, env wiring, Traefik labels and the rollout all have something new to do.
const ENTRY = `  "${NEW_SERVICE}": {
    urlVar: "LOYALTY_SERVICE",
    stores: ["postgres", "redis"],
    peers: ["user-management"],
    route: { subdomain: "loyalty", middlewares: ["secure-headers", "retry"] },
  },
`;
// A small third stack of its own domain, small enough to fit beside qual and prod in the host budget (the budget check refuses one that does not).
const DEMO_STACK = "config:\n  portugal-odyssey:domain: demo.portugalodyssey.pt\n  portugal-odyssey:edgeSubnet: 172.16.103.0/24\n  portugal-odyssey:resources:\n    scale: 0.2\n";
const SKIP = new Set(["node_modules", ".git", ".pulumi-local", ".pulumi-home", "coverage", "bin"]);

/** Every file under `dir` (relative path → contents), as the copy and the original are compared. */
function files(dir: string, under = ""): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(join(dir, under), { withFileTypes: true })) {
    const path = join(under, entry.name);
    if (SKIP.has(entry.name)) continue;
    if (entry.isDirectory()) for (const [p, text] of files(dir, path)) found.set(p, text);
    else if (entry.isFile()) found.set(path, readFileSync(join(dir, path), "latin1"));
  }
  return found;
}

const run = (cwd: string, command: string, args: string[]) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, CI: "true" }, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
};

let copy: string;
let changedByNewService: string[];
let docs: ReturnType<typeof run>;
let suites: ReturnType<typeof run>;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), "po-growth-"));
  cpSync(REPOSITORY_ROOT, copy, { recursive: true, filter: (src) => !SKIP.has(relative(REPOSITORY_ROOT, src).split("/")[0]) });
  symlinkSync(join(REPOSITORY_ROOT, "node_modules"), join(copy, "node_modules"), "dir");

  const catalog = join(copy, "catalog", "services.ts");
  const source = readFileSync(catalog, "utf8");
  const end = source.lastIndexOf("} satisfies Record<string, ServiceEntry>;");
  writeFileSync(catalog, source.slice(0, end) + ENTRY + source.slice(end));
  docs = run(copy, "npm", ["run", "--silent", "docs"]);
  const before = files(REPOSITORY_ROOT);
  const after = files(copy);
  changedByNewService = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p)).sort();

  writeFileSync(join(copy, "Pulumi.demo.yaml"), DEMO_STACK);
  suites = run(copy, process.execPath, [require.resolve("jest/bin/jest"), ...SUITES, "--maxWorkers=1", "--ci"]);
}, 900_000);

afterAll(() => rmSync(copy, { recursive: true, force: true }));

test("a new service is one entry in catalog/services.ts; the project's docs command regenerates the rest", () => {
  expect(docs.status).toBe(0);
  expect(changedByNewService).toContain("catalog/services.ts");
  const others = changedByNewService.filter((p) => p !== "catalog/services.ts");
  expect(others.length).toBeGreaterThan(0);
  for (const path of others) expect(path).toMatch(/^(README|docs\/.+)\.md$/);
  expect(others.some((path) => readFileSync(join(copy, path), "utf8").includes(`| ${NEW_SERVICE} |`))).toBe(true);
});

test("with that service and a Pulumi.demo.yaml added, every suite that reads the catalog or the stack files passes unchanged", () => {
  const summary = suites.output.split("\n").filter((line) => /^(Tests|Test Suites):|✕|● /.test(line.trim()));
  expect({ status: suites.status, summary }).toEqual({ status: 0, summary: expect.arrayContaining([expect.stringMatching(/Tests:\s+\d+ passed, \d+ total/)]) });
});
