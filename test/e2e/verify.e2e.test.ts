/**
 * End to end, on a real Docker daemon: both stacks' programs run on the mock
 * engine, what they register is applied to the daemon (stand-in image, all
 * else as registered), beside a stand-in Traefik and the webapp neighbour, and
 * `verify` must pass, measure zero cross-environment connections in isolated
 * mode, report the leaks in shared mode, and catch each injected fault.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createHash } from "node:crypto";
import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { EMPTY_HOST, TYPES, mockImageId, runProgram, type ProgramRun } from "../harness/program";
import { readEngineFacts } from "../../host/inventory";
import { pushImage, removeImages } from "../harness/images";
import { buildImageFrom } from "../../testing/images";
import { startRegistry, type RunningRegistry } from "../../testing/servers/registry";
import { readStackConfig } from "../harness/stack-config";
import { verify, type VerifyReport } from "../../tools/verify";
import type { IsolationSummary } from "../../tools/verify/isolation";
import { parseOutputs, type StackOutputs } from "../../tools/verify/outputs";
import { Applier, assertNamesFree, removeLabelled, runCommand } from "./applier";
import { TRAEFIK_CONTAINER, TRAEFIK_NETWORK, WEBAPP, assertNotADeploymentHost, buildStandinImage, dockerStatus, standUpNeighbours } from "./host";

jest.setTimeout(240_000);

const ROOT = join(__dirname, "..", "..");
const STACKS = ["qual", "prod"] as const;
const status = dockerStatus();
const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;
const docker = new Docker();

interface World {
  runs: Record<string, ProgramRun>;
  outputs: Record<string, StackOutputs>;
  stacks: { stack: string; outputs: StackOutputs }[];
  applier: Applier;
  image: string;
  releases: Releases;
}

/**
 * The app images as a registry serves them: the stand-in pushed under every
 * service's repository (so each has its own `repository@sha256:…`, as pulled
 * images do), and a variant of it (another digest, same behaviour) standing for
 * a different build.
 */
interface Releases {
  registry: RunningRegistry;
  base: string;
  /** The manifest both stacks run: every service pinned to the stand-in. */
  manifest: { services: Record<string, { image: string; commit: string; pipeline: string }> };
  /** Service → the variant's pinned reference. */
  variant: Record<string, string>;
  variantId: string;
  references: string[];
}

const VARIANT_SERVICES = ["booking-service", "public-fo"] as const;
const COMMIT = (build: string) => createHash("sha1").update(build).digest("hex");

async function publishReleases(image: string): Promise<Releases> {
  const registry = await startRegistry();
  const base = `${registry.host}/${runId}/platform`;
  const repoOf = (service: string) => `${base}/${SERVICES[service as keyof typeof SERVICES].repository ?? service}`;
  const references: string[] = [];
  const pinOf = async (ref: string, service: string) => {
    references.push(ref);
    const digests = await pushImage(docker, ref, registry);
    const pin = digests.find((d) => d.startsWith(`${repoOf(service)}@`))!;
    references.push(pin);
    return pin;
  };
  const services: Releases["manifest"]["services"] = {};
  for (const service of SERVICE_NAMES) {
    const [repo, tag] = [repoOf(service), "e2e"];
    await docker.getImage(image).tag({ repo, tag });
    services[service] = { image: await pinOf(`${repo}:${tag}`, service), commit: COMMIT("e2e"), pipeline: "https://gitlab.example/po/platform/-/pipelines/1" };
  }
  const variantId = await buildImageFrom(docker, image, { labels: { "pt.portugalodyssey.e2e-variant": runId } });
  const variant: Record<string, string> = {};
  for (const service of VARIANT_SERVICES) {
    await docker.getImage(variantId).tag({ repo: repoOf(service), tag: "variant" });
    variant[service] = await pinOf(`${repoOf(service)}:variant`, service);
  }
  return { registry, base, manifest: { services }, variant, variantId, references };
}

/** The releases a run pulls, mapped for the applier: mock image ID → local pinned reference. */
function mapPins(applier: Applier, pins: string[]) {
  for (const pin of pins) applier.pinned.set(mockImageId(pin), pin);
}

// Never skipped: without a daemon these tests fail and say how to get one.
const requireDaemon = () => {
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
};

// PO_E2E_SUFFIX=x names everything po-*-qualx/prodx: for a daemon where the real names are taken.
const suffix = (stack: string) => (process.env.PO_E2E_SUFFIX ? { suffix: `${stack}${process.env.PO_E2E_SUFFIX}` } : {});

async function standUp(edge: "isolated" | "shared"): Promise<World> {
  requireDaemon();
  await assertNotADeploymentHost(docker);
  const image = buildStandinImage();
  // An aborted earlier run may have left labelled objects behind; only those are removed.
  for (const problem of await removeLabelled(docker)) console.warn(`e2e: an earlier run's leftover stays: ${problem}`);
  const releases = await publishReleases(image);
  const runs: Record<string, ProgramRun> = {};
  // The program fitted to this very daemon, as index.ts fits it to the host it previews against.
  const engine = await readEngineFacts(docker);
  for (const stack of STACKS) {
    runs[stack] = await runProgram({
      stack,
      config: { ...suffix(stack), registry: releases.base, ...(edge === "shared" ? { edge: "shared" } : {}) },
      release: releases.manifest,
      inventory: { ...EMPTY_HOST, engine },
    });
  }
  const all = Object.values(runs).flatMap((r) => r.resources);
  await assertNamesFree(
    docker,
    [TRAEFIK_CONTAINER, WEBAPP, ...all.filter((r) => r.type === TYPES.container).map((r) => r.inputs.name)],
    [TRAEFIK_NETWORK, ...all.filter((r) => r.type === TYPES.network).map((r) => r.inputs.name)],
    all.filter((r) => r.type === TYPES.volume).map((r) => r.inputs.name),
  );
  const applier = new Applier(docker, runId, image);
  mapPins(applier, [...Object.values(releases.manifest.services).map((e) => e.image), ...Object.values(releases.variant)]);
  await standUpNeighbours(applier);
  for (const stack of STACKS) await applier.apply(runs[stack], engine);
  await applier.waitHealthy();
  const outputs = Object.fromEntries(STACKS.map((s) => [s, parseOutputs(runs[s].outputs, `${s} program outputs`)]));
  return { runs, outputs, stacks: STACKS.map((stack) => ({ stack, outputs: outputs[stack] })), applier, image, releases };
}

async function tearDown(world: World | undefined) {
  if (world) for (const run of Object.values(world.runs)) for (const c of run.resources.filter((r) => r.type === TYPES.command)) runCommand(c, "delete");
  const problems = await removeLabelled(docker, runId);
  if (world) {
    // Only the references this run added: the stand-in image itself stays for the next run.
    await removeImages(docker, world.releases.references);
    await removeImages(docker, [world.releases.variantId]);
    await world.releases.registry.stop();
  }
  if (problems.length > 0) throw new Error(`e2e cleanup left objects behind: ${problems.join("; ")}`);
}

const figures = (s: IsolationSummary) =>
  `${s.environment} (${s.edgeMode}): cross-environment ${s.crossEnvironment.attempted}/${s.crossEnvironment.succeeded}/${s.crossEnvironment.expected}, ` +
  `neighbour ${s.neighbour.attempted}/${s.neighbour.succeeded}/${s.neighbour.expected}, ` +
  `dependency ${s.dependency.attempted}/${s.dependency.succeeded}/${s.dependency.expected}, ` +
  `total ${s.total.attempted}/${s.total.succeeded}/${s.total.expected} (attempted/succeeded/expected)`;

const check = (report: VerifyReport, id: string) => {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}; have ${report.checks.map((c) => c.id).join(", ")}`);
  return found;
};

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), join(ROOT, "tools", "verify", "cli.ts"), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}


describe("verify on a real Docker host, isolated edge (default)", () => {
  let world: World;
  beforeAll(async () => {
    world = await standUp("isolated");
  });
  afterAll(() => tearDown(world));

  const containerName = (stack: string, service: string) => world.outputs[stack].containers[service];
  /** The environment (suffix) a stack's names and check ids carry. */
  const E = (stack: string) => world.outputs[stack].environment;

  test("a second up changes nothing: every container, network and volume of both stacks reads back from the daemon as the provider would store it, equal to what was sent", async () => {
    const diffs = (await Promise.all(STACKS.map((stack) => world.applier.readBackDiffs(world.runs[stack])))).flat();
    expect(diffs).toEqual([]);
    // Every one of them was read: the rules cover each type the program creates.
    const read = STACKS.flatMap((stack) => world.runs[stack].resources.filter((r) => [TYPES.container, TYPES.network, TYPES.volume].includes(r.type as never)));
    expect(read.length).toBeGreaterThan(2 * SERVICE_NAMES.length);
  });

  /** The first test's report, measured with exec probes: the sidecar test compares against it (or measures its own when run alone). */
  let execReport: VerifyReport | undefined;

  test("every checklist item passes for both stacks, and no container reaches the other environment", async () => {
    const report = await verify({ stacks: world.stacks, docker, probe: {} });
    execReport = report;
    expect(report.failed).toEqual([]);
    expect(report.ok).toBe(true);
    for (const stack of STACKS) {
      for (const service of Object.keys(world.outputs[stack].topology)) {
        for (const item of ["exists", "running", "healthy", "networks", "labels"]) expect(check(report, `container.${E(stack)}.${service}.${item}`).ok).toBe(true);
      }
      // Every app container runs the image its release pins, by digest.
      expect(Object.keys(world.outputs[stack].images).sort()).toEqual([...SERVICE_NAMES].sort());
      for (const service of SERVICE_NAMES) expect(check(report, `image.${E(stack)}.${service}`).ok).toBe(true);
      for (const key of Object.keys(world.outputs[stack].volumes)) expect(check(report, `volume.${E(stack)}.${key}`).ok).toBe(true);
      expect(check(report, `edge.${E(stack)}.traefik-attached`).ok).toBe(true);
      expect(check(report, `edge.${E(stack)}.subnet`).ok).toBe(true);
    }
    expect(check(report, "network.traefik").ok).toBe(true);
    expect(check(report, `neighbour.${WEBAPP}`).ok).toBe(true);
    expect(check(report, "traefik.routers-unique").ok).toBe(true);
    expect(check(report, "traefik.definitions-agree").ok).toBe(true);

    expect(report.isolation).toHaveLength(2);
    for (const s of report.isolation) {
      console.log(`isolation ${figures(s)}`);
      expect(s.sources).toBe(18);
      expect(s.crossEnvironment.attempted).toBeGreaterThan(18 * 18);
      expect(s.crossEnvironment.succeeded).toBe(0);
      expect(s.neighbour.attempted).toBeGreaterThan(0);
      expect(s.neighbour.succeeded).toBe(0);
      expect(s.dependency.attempted).toBeGreaterThan(0);
      expect(s.dependency.succeeded).toBe(s.dependency.expected);
      expect(s.dependency.expected).toBe(s.dependency.attempted);
      expect(s.errors).toEqual([]);
    }
  });

  test("sidecar probes (for images without a shell) measure exactly what exec probes measure, and leave no probe container behind", async () => {
    const exec = execReport ?? (await verify({ stacks: world.stacks, docker, probe: {} }));
    const sidecar = await verify({ stacks: world.stacks, docker, probe: { mode: "sidecar", image: world.image, labels: world.applier.labels } });
    const counts = (r: VerifyReport) => r.isolation.map((s) => [s.environment, s.crossEnvironment, s.neighbour, s.dependency, s.errors]);
    expect(counts(sidecar)).toEqual(counts(exec));
    expect(sidecar.failed).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: ["pt.portugalodyssey.verify-probe"] } })).toEqual([]);
  });

  test("the CLI with --json exits 0 and reports every check passed, and --json-out keeps the same report beside the table", async () => {
    const dir = mkdtempSync(join(tmpdir(), "po-verify-"));
    try {
      const args = STACKS.flatMap((s) => {
        const file = join(dir, `${s}.json`);
        writeFileSync(file, JSON.stringify(world.runs[s].outputs));
        return ["--stack", s, "--outputs", file];
      });
      const { code, stdout, stderr } = await runCli([...args, "--json"]);
      expect(stderr).not.toMatch(/verify:/);
      const report = JSON.parse(stdout) as VerifyReport;
      expect(report.failed).toEqual([]);
      expect(code).toBe(0);
      expect(report.stacks).toEqual(["qual", "prod"]);
      expect(report.isolation.map((s) => s.crossEnvironment.succeeded)).toEqual([0, 0]);
      expect(report.isolation.map((s) => s.environment)).toEqual(STACKS.map(E));
      expect(report.checks.length).toBeGreaterThan(200);

      const kept = join(dir, "verify.json");
      const table = await runCli([...args, "--no-probe", "--json-out", kept]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^verify: qual, prod on /);
      const written = JSON.parse(readFileSync(kept, "utf8")) as VerifyReport;
      expect(written.ok).toBe(true);
      expect(written.checks.map((c) => c.id)).toEqual(report.checks.map((c) => c.id).filter((id) => !id.startsWith("isolation.")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a stopped container fails its running check, and only that", async () => {
    const name = containerName("qual", "booking-service");
    await docker.getContainer(name).stop({ t: 1 });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`container.${E("qual")}.booking-service.running`, `container.${E("qual")}.booking-service.healthy`]);
      expect(check(report, `container.${E("qual")}.booking-service.running`).evidence).toMatch(new RegExp(`none running: ${name} \\(exited`));
    } finally {
      await docker.getContainer(name).start();
      await world.applier.waitHealthy();
    }
  });

  test("an unhealthy container fails its healthy check", async () => {
    const resource = world.runs.prod.resources.find((r) => r.type === TYPES.container && r.inputs.name === containerName("prod", "file-service"))!;
    await docker.getContainer(resource.inputs.name).remove({ force: true });
    // Same container, but a healthcheck that fails at once (the registered one needs 5 x 10 s to give up).
    await world.applier.createRegistered(resource, { Healthcheck: { Test: ["CMD", "false"], Interval: 1e9, Timeout: 1e9, Retries: 1 } });
    try {
      for (let i = 0; i < 30; i++) {
        const info = await docker.getContainer(resource.inputs.name).inspect();
        if (info.State.Health?.Status === "unhealthy") break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`container.${E("prod")}.file-service.healthy`]);
      expect(check(report, `container.${E("prod")}.file-service.healthy`).evidence).toBe(`not healthy: ${resource.inputs.name} (unhealthy)`);
    } finally {
      await docker.getContainer(resource.inputs.name).remove({ force: true });
      await world.applier.createRegistered(resource);
      await world.applier.waitHealthy();
    }
  });

  test("a qual container attached to a prod network fails its networks check, and the probes measure the leak", async () => {
    const name = containerName("qual", "file-service");
    const network = world.outputs.prod.networks.postgres;
    await docker.getNetwork(network).connect({ Container: name });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: {} });
      expect(check(report, `container.${E("qual")}.file-service.networks`).evidence).toBe(`${name}: attached to unexpected ${network}`);
      const qual = report.isolation.find((s) => s.environment === E("qual"))!;
      const leaks = qual.leaks.filter((l) => l.kind === "cross-environment");
      expect(leaks.length).toBeGreaterThan(0);
      expect(leaks.every((l) => l.from === name && l.network === network && l.shared)).toBe(true);
      expect(leaks.map((l) => l.to)).toContain(containerName("prod", "postgres"));
      expect(report.failed).toEqual(expect.arrayContaining([`container.${E("qual")}.file-service.networks`, `isolation.${E("qual")}.cross-environment`, `isolation.${E("prod")}.cross-environment`]));
      // Both sides see it: qual's container is on a network it should not be on, and prod's network holds a stranger.
      expect(report.failed.filter((id) => !id.startsWith("isolation."))).toEqual([`container.${E("qual")}.file-service.networks`, `network.${E("prod")}.postgres.members`]);
      expect(check(report, `network.${E("prod")}.postgres.members`).evidence).toContain(`${name} on ${network} (environment ${E("qual")}, service file-service)`);
      console.log(`fault "qual on a prod network": ${figures(qual)}`);
    } finally {
      await docker.getNetwork(network).disconnect({ Container: name, Force: true });
    }
  });

  test("a foreign container without our labels on prod's internal network fails prod's members check, naming it and the network", async () => {
    const network = world.outputs.prod.networks.internal;
    const name = "po-e2e-foreign-on-internal";
    await world.applier.createContainer({ Image: world.image, name, HostConfig: { NetworkMode: network } });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`network.${E("prod")}.internal.members`]);
      expect(check(report, `network.${E("prod")}.internal.members`).evidence).toBe(`INTRUDERS: ${name} on ${network} (not this project's)`);
    } finally {
      await docker.getContainer(name).remove({ force: true });
    }
  });

  test("a container attached to both environments' internal networks (a pivot) fails both members checks", async () => {
    const [qualInternal, prodInternal] = [world.outputs.qual.networks.internal, world.outputs.prod.networks.internal];
    const name = "po-e2e-pivot";
    await world.applier.createContainer({ Image: world.image, name, HostConfig: { NetworkMode: qualInternal } }, [{ network: prodInternal, endpoint: { Aliases: [] } }]);
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`network.${E("qual")}.internal.members`, `network.${E("prod")}.internal.members`]);
      expect(check(report, `network.${E("qual")}.internal.members`).evidence).toContain(`${name} on ${qualInternal}`);
      expect(check(report, `network.${E("prod")}.internal.members`).evidence).toContain(`${name} on ${prodInternal}`);
    } finally {
      await docker.getContainer(name).remove({ force: true });
    }
  });

  test("an extra container declaring a router name or Host already taken fails router uniqueness, naming both", async () => {
    const base = { Image: world.image, HostConfig: { NetworkMode: TRAEFIK_NETWORK } };
    const router = world.outputs.qual.topology["public-fo"].router!;
    await world.applier.createContainer({ ...base, name: "po-e2e-router-thief", Labels: { [`traefik.http.routers.${router}.rule`]: "Host(`elsewhere.example.net`)" } });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      // Traefik would also drop the router, defined two ways.
      expect(report.failed).toEqual(["traefik.routers-unique", "traefik.definitions-agree"]);
      expect(check(report, "traefik.definitions-agree").evidence).toContain(`http/routers/${router} defined differently by`);
      const evidence = check(report, "traefik.routers-unique").evidence;
      expect(evidence).toContain(`router http/${router} declared by`);
      expect(evidence).toContain("po-e2e-router-thief [container po-e2e-router-thief, running]");
      expect(evidence).toContain(`${containerName("qual", "public-fo")} [portugal-odyssey/${E("qual")}/public-fo, running]`);
    } finally {
      await docker.getContainer("po-e2e-router-thief").remove({ force: true });
    }
    await world.applier.createContainer({ ...base, name: "po-e2e-host-thief", Labels: { "traefik.http.routers.mine.rule": "Host(`portugalodyssey.pt`)" } });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual(["traefik.routers-unique"]);
      expect(check(report, "traefik.routers-unique").evidence).toMatch(/^host portugalodyssey\.pt declared by .*po-e2e-host-thief/);
    } finally {
      await docker.getContainer("po-e2e-host-thief").remove({ force: true });
    }
  });

  test("a container swapped for another digest of its image fails its image check, naming the container, and only that", async () => {
    const resource = world.runs.qual.resources.find((r) => r.type === TYPES.container && r.inputs.name === containerName("qual", "booking-service"))!;
    await docker.getContainer(resource.inputs.name).remove({ force: true });
    await world.applier.createRegistered(resource, { Image: world.releases.variant["booking-service"] });
    try {
      await world.applier.waitHealthy();
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`image.${E("qual")}.booking-service`]);
      const evidence = check(report, `image.${E("qual")}.booking-service`).evidence;
      expect(evidence).toContain(`${resource.inputs.name} runs image ${world.releases.variantId.slice(0, 19)}`);
      expect(evidence).toContain(`but the release pins ${world.outputs.qual.images["booking-service"].image}`);
      // The same service in prod still runs its pin.
      expect(check(report, `image.${E("prod")}.booking-service`).ok).toBe(true);
    } finally {
      await docker.getContainer(resource.inputs.name).remove({ force: true });
      await world.applier.createRegistered(resource);
      await world.applier.waitHealthy();
    }
  });

  test("a new revision with changed Traefik labels starts beside the old one, turns healthy, and shares its service, with no name defined two ways", async () => {
    // What the program registers after a new digest and an entrypoint change: the same service under a new revision name and a new router.
    const traefik = { ...(readStackConfig("qual")["portugal-odyssey:traefik"] as object), entrypoint: "websecure-next" };
    const release = structuredClone(world.releases.manifest);
    release.services["public-fo"].image = world.releases.variant["public-fo"];
    const nextRun = await runProgram({ stack: "qual", config: { ...suffix("qual"), registry: world.releases.base, traefik }, release });
    const next = nextRun.resources.find((r) => r.type === TYPES.container && r.name.endsWith("-public-fo-container"))!;
    const old = containerName("qual", "public-fo");
    expect(next.inputs.name).not.toBe(old);
    expect(nextRun.outputs.topology["public-fo"].router).not.toBe(world.outputs.qual.topology["public-fo"].router);
    await world.applier.createRegistered(next);
    try {
      await world.applier.waitHealthy(60_000);
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(check(report, "traefik.routers-unique").ok).toBe(true);
      expect(check(report, "traefik.definitions-agree").ok).toBe(true);
      expect(check(report, `container.${E("qual")}.public-fo.healthy`).ok).toBe(true);
      expect(check(report, `container.${E("qual")}.public-fo.exists`).evidence).toContain(next.inputs.name);
      expect((await docker.getContainer(old).inspect()).State.Running).toBe(true);
    } finally {
      await docker.getContainer(next.inputs.name).remove({ force: true });
    }
  });

  test("a missing traefik network fails its check", async () => {
    for (const c of [TRAEFIK_CONTAINER, WEBAPP]) await docker.getNetwork(TRAEFIK_NETWORK).disconnect({ Container: c, Force: true });
    await docker.getNetwork(TRAEFIK_NETWORK).remove();
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual(["network.traefik"]);
      expect(check(report, "network.traefik").evidence).toBe("no network named traefik on the host; Traefik and the webapp need it");
    } finally {
      await world.applier.createNetwork(TRAEFIK_NETWORK);
      for (const c of [TRAEFIK_CONTAINER, WEBAPP]) await docker.getNetwork(TRAEFIK_NETWORK).connect({ Container: c });
    }
  });

  test("a stopped neighbour fails its check", async () => {
    await docker.getContainer(WEBAPP).stop({ t: 1 });
    try {
      const report = await verify({ stacks: world.stacks, docker, probe: false });
      expect(report.failed).toEqual([`neighbour.${WEBAPP}`]);
      expect(check(report, `neighbour.${WEBAPP}`).evidence).toMatch(new RegExp(`^${WEBAPP} \\(exited`));
    } finally {
      await docker.getContainer(WEBAPP).start();
    }
  });

  test("after every fault is undone, verify passes again (checks only)", async () => {
    const report = await verify({ stacks: world.stacks, docker, probe: false });
    expect(report.failed).toEqual([]);
  });
});

describe("verify on a real Docker host, shared edge (config edge: shared)", () => {
  let world: World;
  beforeAll(async () => {
    world = await standUp("shared");
  });
  afterAll(() => tearDown(world));

  test("every container check passes, and the isolation probes report each leak over the shared traefik network", async () => {
    const report = await verify({ stacks: world.stacks, docker, probe: {} });
    const nonIsolation = report.failed.filter((id) => !id.startsWith("isolation."));
    expect(nonIsolation).toEqual([]);
    expect(report.failed).toEqual(
      expect.arrayContaining(STACKS.flatMap((x) => [`isolation.${world.outputs[x].environment}.cross-environment`, `isolation.${world.outputs[x].environment}.neighbours`])),
    );
    expect(report.ok).toBe(false);
    const routed = (stack: string) => Object.values(world.outputs[stack].topology).filter((t) => t.router).length;
    for (const s of report.isolation) {
      console.log(`isolation ${figures(s)}; leaks by network ${JSON.stringify(s.leaksByNetwork)}`);
      const stack = STACKS.find((x) => world.outputs[x].environment === s.environment)!;
      const other = STACKS.find((x) => x !== stack)!;
      // Each routed service reaches each routed service of the other environment, on the traefik network only.
      expect(s.crossEnvironment.succeeded).toBe(routed(stack) * routed(other));
      expect(Object.keys(s.leaksByNetwork)).toEqual([TRAEFIK_NETWORK]);
      expect(s.leaks.every((l) => l.network === TRAEFIK_NETWORK && l.shared)).toBe(true);
      expect(s.dependency.succeeded).toBe(s.dependency.expected);
      expect(check(report, `isolation.${s.environment}.cross-environment`).evidence).toMatch(/LEAKS \(shared edge, \d+ over traefik\)/);
    }
  });
});
