/**
 * `npm run release` against a real registry (Debian's docker-registry with
 * htpasswd basic auth) and the real Docker daemon: what the daemon pushed is
 * what the manifest pins, digest for digest.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Docker from "dockerode";
import { SERVICES, SERVICE_NAMES } from "../../../catalog/services";
import { main } from "../../../tools/release/cli";
import { readManifest } from "../../../tools/release/manifest";
import { buildMarkerImage, pushImage, removeImages } from "../../harness/images";
import { startRegistry, type RunningRegistry } from "../../../testing/servers/registry";
import { REPOSITORY_ROOT as PROJECT_DIR } from "../../harness/stack-config";

jest.setTimeout(120_000);

const docker = new Docker();
const STACK = "qual";
const [FIRST, SECOND] = SERVICE_NAMES;
const repoOf = (base: string, service: string) => `${base}/${SERVICES[service as keyof typeof SERVICES].repository ?? service}`;
const COMMIT = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39";
const PIPELINE = "https://gitlab.example/portugal-odyssey/app/-/pipelines/4242";

let registry: RunningRegistry;
let project: string;
let base: string;
const made: string[] = [];

function capture() {
  let text = "";
  const stream = new Writable({ write: (chunk, _enc, done) => ((text += chunk), done()) });
  return { stream, text: () => text };
}

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const out = capture();
  const err = capture();
  const code = await main(["--stack", STACK, "--commit", COMMIT, "--pipeline", PIPELINE, ...args], env, out.stream, err.stream, project);
  return { code, out: out.text(), err: err.text() };
}

beforeAll(async () => {
  registry = await startRegistry();
  base = `${registry.host}/po-release-test-${process.pid}/platform`;
  project = mkdtempSync(join(tmpdir(), "po-release-project-"));
  copyFileSync(join(PROJECT_DIR, "Pulumi.qual.yaml"), join(project, "Pulumi.qual.yaml"));
  writeFileSync(join(project, "Pulumi.yaml"), readFileSync(join(PROJECT_DIR, "Pulumi.yaml"), "utf8").replace(/registry:\n\s+value: \S+/, `registry:\n    value: ${base}`));
  mkdirSync(join(project, "releases"));
  copyFileSync(join(PROJECT_DIR, "releases", `${STACK}.yaml`), join(project, "releases", `${STACK}.yaml`));
});

afterAll(async () => {
  await removeImages(docker, made);
  await registry?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

const login = () => ({ PO_REGISTRY_USERNAME: registry.username, PO_REGISTRY_PASSWORD: registry.password });

test("two pushes under one tag resolve each to its own digest, the one the daemon reports in RepoDigests", async () => {
  const ref = `${repoOf(base, FIRST)}:candidate`;
  made.push(ref);
  const pins: string[] = [];
  for (const build of ["build one", "build two"]) {
    await buildMarkerImage(docker, ref, build);
    const repoDigests = await pushImage(docker, ref, { ...registry, host: registry.host });
    const result = await run(["--service", FIRST, "--tag", "candidate"], login());
    expect(result).toEqual({ code: 0, out: expect.stringContaining(`${FIRST}: `), err: "" });
    const pinned = readManifest(project, STACK)[FIRST];
    expect(repoDigests).toContain(pinned.image);
    expect(pinned).toEqual({ image: expect.stringMatching(/@sha256:[0-9a-f]{64}$/), commit: COMMIT, pipeline: PIPELINE });
    made.push(pinned.image);
    pins.push(pinned.image);
  }
  expect(pins[0]).not.toBe(pins[1]);
});

test("several services from one tag resolve in one run, and a second run with the same tag changes nothing", async () => {
  for (const service of [FIRST, SECOND]) {
    const ref = `${repoOf(base, service)}:1.4.2`;
    made.push(ref);
    await buildMarkerImage(docker, ref, `${service} 1.4.2`);
    await pushImage(docker, ref, registry);
  }
  const first = await run(["--service", FIRST, "--service", SECOND, "--tag", "1.4.2"], login());
  expect(first.code).toBe(0);
  expect(first.out).toMatch(new RegExp(`${FIRST}: sha256:.*→ sha256:`));
  expect(first.out).toMatch(new RegExp(`${SECOND}: \\(not pinned\\) → sha256:`));
  const again = await run(["--service", FIRST, "--service", SECOND, "--tag", "1.4.2"], login());
  expect(again.out).toContain("nothing changes");
});

test("a wrong password is one clear message, and the manifest is left byte for byte unchanged", async () => {
  const before = readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8");
  const result = await run(["--service", FIRST, "--service", SECOND, "--tag", "1.4.2"], { ...login(), PO_REGISTRY_PASSWORD: "not-the-password" });
  expect(result.code).toBe(1);
  expect(result.err.trim().split("\n")).toEqual([`release: ${registry.host} refused the login of ${registry.username} (HTTP 401); check the registry credentials`, "releases/qual.yaml is unchanged."]);
  expect(result.err).not.toContain("not-the-password");
  expect(readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8")).toBe(before);
});

test("an unknown tag names the repository and tag, and leaves the manifest unchanged", async () => {
  const before = readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8");
  const result = await run(["--service", FIRST, "--tag", "no-such-tag"], login());
  expect(result.code).toBe(1);
  expect(result.err).toContain(`${repoOf(base, FIRST)}:no-such-tag: no such tag in the registry`);
  expect(readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8")).toBe(before);
});

test("an unreachable registry is one message naming it, and the manifest is left unchanged", async () => {
  const before = readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8");
  const stopped = await startRegistry();
  const host = stopped.host;
  await stopped.stop();
  writeFileSync(join(project, "Pulumi.qual.yaml"), `${readFileSync(join(project, "Pulumi.qual.yaml"), "utf8")}  portugal-odyssey:registry: ${host}/po/platform\n`);
  try {
    const result = await run(["--all", "--tag", "1.4.2"], login());
    expect(result.code).toBe(1);
    expect(result.err.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^release: cannot reach the registry ${host} \\(http://${host}\\): `)), "releases/qual.yaml is unchanged."]);
    expect(readFileSync(join(project, "releases", `${STACK}.yaml`), "utf8")).toBe(before);
  } finally {
    copyFileSync(join(PROJECT_DIR, "Pulumi.qual.yaml"), join(project, "Pulumi.qual.yaml"));
  }
});
