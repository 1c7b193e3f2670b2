/**
 * End to end on the lab swarm (.ci/swarm.sh: three dockerd, each in its own
 * network namespace, and a registry with a login on their LAN): qual and prod,
 * both `runtime: swarm`, run on the mock engine through the Swarm renderer and
 * are applied by testing/swarm/applier.ts, every input as registered. The app
 * services run their release's digests: a release image built on node 1 from
 * the stand-in (one more label: an image no other node holds), pushed into the
 * lab registry under every app repository, pinned by the manifest digests the
 * pushes returned, and pulled by the other nodes only with the login the
 * manager hands out. The stores stay on the stand-in by image ID: their
 * upstream images are in no registry here, and they are pinned to node 1,
 * where `swarm.sh load` put it. Then: the pulls went through the login and an
 * anonymous one is refused, replicas spread across nodes, every dependency
 * reachable across nodes, no connection between environments, verify passes
 * whole, the task containers carry the hardening their spec promises, a
 * rolling update to another digest with a request loop through the edge
 * network that never fails, a bad digest rolled back by Swarm, a drained node
 * whose tasks move, and stores that stay.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Docker from "dockerode";
import { SERVICE_NAMES, SERVICES, type ServiceName } from "../../catalog/services";
import { LABELS, swarmNames } from "../../model/naming";
import { planEnvironment } from "../../model/environment";
import { imageRepository, stackRegistry } from "../../tools/release/manifest";
import { runProgram, type ProgramRun } from "../harness/program";
import { FIXTURE_PROJECT, TEST_EXTERNAL_SECRETS, settingsOf } from "../harness/stack-config";
import { pushImage, removeImages } from "../harness/images";
import { buildImageFrom } from "../../testing/images";
import { testEntry } from "../../testing/release";
import { execIn } from "../../host/exec";
import { SWARM_TYPES, SwarmApplier, RUN_LABEL, removeSwarmLabelled } from "../../testing/swarm/applier";
import {
  containerOfTask,
  execInTask,
  holdLab,
  lab,
  labRegistry,
  labStatus,
  loadImages,
  registryStatus,
  running,
  setAvailability,
  setNodeLabels,
  tasksOf,
  until,
  type Lab,
  type LabRegistry,
  type TaskView,
} from "../../testing/swarm/lab";
import { buildStandinImage } from "./host";
import { verifySwarm } from "../../tools/verify/swarm";
import { parseOutputs } from "../../tools/verify/outputs";
import { main as verifyCli } from "../../tools/verify/cli";
import type { VerifyReport } from "../../tools/verify/index";

jest.setTimeout(900_000);

const STACKS = ["qual", "prod"] as const;
const status = labStatus();
const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;
const host = new Docker();
const SWARM_CONFIG = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
/** The node the stores' volumes live on: the first manager, as DOCKER_HOST names it (docs/swarm.md). */
const STORES_NODE = "n1";
const TRAEFIK = "traefik";

/** The media type a node asks for when it pulls a manifest by digest (what `docker push` of Docker 20.10 writes). */
const MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json";

interface World {
  L: Lab;
  runs: Record<string, ProgramRun>;
  applier: SwarmApplier;
  registry: LabRegistry;
  /**
   * The stand-in's ID (stores, Traefik), the release image's ID (its config blob's digest), and the
   * routed service's other digests in the lab registry (`repository@sha256:…`).
   */
  images: { standin: string; release: string; variant: string; bad: string };
  /** Before any service existed: what n2 and n3 held of the lab registry's references and of the release image, and what an anonymous pull got. */
  before: { heldByWorkers: string[]; releaseOnWorkers: number; anonymousStatus: number; loginStatus: number; anonymousPull: string };
  /** The registry log's length before the services were created: the pulls are what follows. */
  logOffset: number;
}

/** The lab registry's references (tags and digests) a node holds. */
async function registryReferences(node: Docker, registry: LabRegistry): Promise<string[]> {
  const images = await node.listImages();
  return images.flatMap((i) => [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])]).filter((ref) => ref.startsWith(`${registry.address}/`));
}

/** An image FROM the stand-in with one more label and any further Dockerfile lines, built on node 1 (which pushes it): another digest in the registry. */
async function derive(node: Docker, base: string, marker: string, lines: string[] = []): Promise<string> {
  const ref = `po-standin-${marker}:${runId}`;
  await buildImageFrom(node, base, { ref, labels: { [RUN_LABEL]: runId, "pt.portugalodyssey.e2e-variant": marker }, lines });
  return ref;
}

/** Tags `image` on node 1 as `repository:tag`, pushes it with the lab login, and returns the pin the push recorded. */
async function pushFromManager(L: Lab, registry: LabRegistry, image: string, repository: string, tag: string): Promise<string> {
  await L.manager.getImage(image).tag({ repo: repository, tag });
  const digests = await pushImage(L.manager, `${repository}:${tag}`, { username: registry.username, password: registry.password, host: registry.address });
  const pin = digests.find((d) => d.startsWith(`${repository}@sha256:`));
  if (!pin) throw new Error(`pushing ${repository}:${tag} recorded no digest (${digests.join(", ")})`);
  return pin;
}

/** The catalog's first routed, stateless service: the rolling update's and the rollback's subject. */
function routedEntry(): ServiceName {
  return (Object.keys(SERVICES) as ServiceName[]).find((s) => SERVICES[s].route && !SERVICES[s].singleton && SERVICES[s].volumes.length === 0)!;
}

let world: World | undefined;
const W = () => world!;
let releaseLab: (() => void) | undefined;

/** The registry each stack pulls from: the stack's own repository path, on the lab registry. */
const labRegistryOf = (registry: LabRegistry, stack: string) => `${registry.address}/${stackRegistry(FIXTURE_PROJECT, stack).split("/").slice(1).join("/")}`;

beforeAll(async () => {
  if (!status.up) throw new Error(status.reason);
  releaseLab = await holdLab("swarm");
  const L = lab();
  const registry = labRegistry();
  const standinTag = buildStandinImage();
  const standin = (await host.getImage(standinTag).inspect()).Id;
  loadImages([standinTag]);
  await removeSwarmLabelled(L);
  // No node may hold a lab registry image from an earlier run: the workers must pull every one of them.
  for (const node of L.nodes) await removeImages(node, await registryReferences(node, registry));

  // One push of the release image per app repository, from node 1; every stack pins the digests the pushes returned.
  const releaseTag = await derive(L.manager, standinTag, "release");
  const release = (await L.manager.getImage(releaseTag).inspect()).Id;
  const pins = new Map<string, string>();
  for (const stack of STACKS) {
    for (const service of SERVICE_NAMES) {
      const repository = imageRepository(labRegistryOf(registry, stack), service);
      if (!pins.has(repository)) pins.set(repository, await pushFromManager(L, registry, releaseTag, repository, "e2e"));
    }
  }
  // The routed service's other releases: the variant, and one that starts then exits 1 at once (what a broken release looks like to Swarm).
  const routedRepository = imageRepository(labRegistryOf(registry, "qual"), routedEntry());
  const variant = await pushFromManager(L, registry, await derive(L.manager, standinTag, "variant"), routedRepository, "e2e-variant");
  const bad = await pushFromManager(L, registry, await derive(L.manager, standinTag, "bad", ['ENTRYPOINT ["/bin/false"]']), routedRepository, "e2e-bad");

  // Before any service exists: what the workers hold, and what the registry and a worker's daemon answer without the login.
  const [, n2, n3] = L.nodes;
  const heldByWorkers = [...(await registryReferences(n2, registry)), ...(await registryReferences(n3, registry))];
  let releaseOnWorkers = 0;
  for (const node of [n2, n3]) releaseOnWorkers += await node.getImage(release).inspect().then(() => 1, () => 0);
  const anyPin = pins.values().next().value!;
  const manifestPath = `/v2/${anyPin.slice(registry.address.length + 1).replace("@", "/manifests/")}`;
  const anonymousStatus = registryStatus(registry, manifestPath, { login: false, accept: MANIFEST_V2 });
  const loginStatus = registryStatus(registry, manifestPath, { login: true, accept: MANIFEST_V2 });
  const anonymousPull = await new Promise<string>((resolve) => {
    n2.pull(anyPin, (err: Error | null, stream: NodeJS.ReadableStream) => {
      if (err) return resolve(err.message);
      n2.modem.followProgress(stream, (e: Error | null, events: { error?: string }[]) => resolve(e?.message ?? events.find((x) => x.error)?.error ?? "pulled"));
    });
  });
  const logOffset = statSync(registry.logFile).size;

  const storesLabels = Object.fromEntries(STACKS.map((s) => [swarmNames.storesNodeLabel(s), "true"]));
  await setNodeLabels(L, STORES_NODE, storesLabels);
  const runs: Record<string, ProgramRun> = {};
  for (const stack of STACKS) {
    const services = Object.fromEntries(SERVICE_NAMES.map((s) => [s, { ...testEntry(FIXTURE_PROJECT, stack, s), image: pins.get(imageRepository(labRegistryOf(registry, stack), s))! }]));
    runs[stack] = await runProgram({
      stack,
      config: { ...SWARM_CONFIG, registry: labRegistryOf(registry, stack) },
      secrets: { ...TEST_EXTERNAL_SECRETS, registryUsername: registry.username, registryPassword: registry.password },
      release: { services },
    });
  }
  // App images as registered (the lab registry holds them); the stores' upstream images as the stand-in, by ID.
  const applier = new SwarmApplier(L, runId, (ref) => (ref.startsWith(`${registry.address}/`) ? ref : standin));
  // The existing Traefik, a container on the manager: the edge's connect command attaches it to each edge overlay.
  const traefik = await L.manager.createContainer({ name: TRAEFIK, Image: standin, Labels: applier.labels });
  await traefik.start();
  const started = Date.now();
  for (const stack of STACKS) await applier.apply(runs[stack]);
  await applier.waitConverged();
  console.log(`swarm e2e: both environments converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  world = {
    L,
    runs,
    applier,
    registry,
    images: { standin, release, variant, bad },
    before: { heldByWorkers, releaseOnWorkers, anonymousStatus, loginStatus, anonymousPull },
    logOffset,
  };
});

afterAll(async () => {
  if (!status.up) return;
  const L = world?.L ?? lab();
  for (const stack of STACKS) {
    for (const c of (world?.runs[stack].resources ?? []).filter((r) => r.name.endsWith("-traefik-attachment"))) world!.applier.runCommand(c, "delete");
  }
  await removeSwarmLabelled(L, runId);
  await setNodeLabels(L, STORES_NODE, Object.fromEntries(STACKS.map((s) => [swarmNames.storesNodeLabel(s), undefined])));
  for (const node of ["n2", "n3"]) await setAvailability(L, node, "active");
  // What this run pushed or pulled stays in the registry (content-addressed, shared layers), not on the nodes.
  const registry = world?.registry ?? labRegistry();
  for (const node of L.nodes) await removeImages(node, await registryReferences(node, registry));
  await removeImages(L.manager, ["release", "variant", "bad"].map((marker) => `po-standin-${marker}:${runId}`));
  releaseLab?.();
});

const servicesOf = (stack: string) => W().runs[stack].resources.filter((r) => r.type === SWARM_TYPES.service);
const replicasOf = (stack: string, name: string) => servicesOf(stack).find((s) => s.inputs.name === name)!.inputs.mode.replicated.replicas as number;
const pinned = (stack: string, name: string) => (servicesOf(stack).find((s) => s.inputs.name === name)!.inputs.taskSpec.placement?.constraints ?? []).length > 0;
const topology = (stack: string) => W().runs[stack].outputs.topology as Record<string, { role: string; port: number; dependencies: string[] }>;
const serviceName = (stack: string, entry: string) => W().runs[stack].outputs.containers[entry] as string;
const runningOf = async (name: string) => running(await tasksOf(W().L.manager, name));

/** The app services' registered specs, each with its registered `auth`. */
const appServices = (stack: string) => servicesOf(stack).filter((s) => s.inputs.auth !== undefined);

/** Requests in the registry's access log (`<client> - <user> [<time>] "<method> <uri> HTTP/…" <status> …`) since `offset`. */
function registryRequests(registry: LabRegistry, offset: number): { client: string; method: string; uri: string; status: number }[] {
  const text = readFileSync(registry.logFile).subarray(offset).toString("utf8");
  return [...text.matchAll(/^(\S+) - \S+ \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) /gm)].map((m) => ({ client: m[1], method: m[2], uri: m[3], status: Number(m[4]) }));
}

describe("images: the release's digests, pulled with the login the manager hands out", () => {
  test("every app service runs its release's digest, and the manager resolved each with the registered login", () => {
    expect(W().before.loginStatus).toBe(200);
    for (const stack of STACKS) {
      const images = W().runs[stack].outputs.images as Record<string, { image: string }>;
      for (const s of appServices(stack)) {
        expect({ serverAddress: s.inputs.auth.serverAddress, username: s.inputs.auth.username }).toEqual({ serverAddress: W().registry.address, username: W().registry.username });
        // Compared, never printed: a failed expectation would show both values.
        expect(s.inputs.auth.password === W().registry.password).toBe(true);
        expect(s.inputs.taskSpec.containerSpec.image).toBe(images[s.inputs.labels.find((l: { label: string }) => l.label === LABELS.service).value].image);
        expect(W().applier.warnings.get(s.inputs.name)).toBeUndefined();
      }
    }
  });

  test("the registry refuses a pull without the login (401), and so does a worker's daemon", () => {
    expect(W().before.anonymousStatus).toBe(401);
    expect(W().before.anonymousPull).toMatch(/no basic auth credentials|unauthorized|401/i);
  });

  test("n2 and n3 held none of the images, and now hold each their tasks run, fetched from the registry with the login", async () => {
    expect(W().before.heldByWorkers).toEqual([]);
    expect(W().before.releaseOnWorkers).toBe(0);
    const requests = registryRequests(W().registry, W().logOffset);
    let pulled = 0;
    for (const node of W().L.nodes.slice(1)) {
      const info = (await node.info()) as { Swarm: { NodeID: string; NodeAddr: string } };
      const fromNode = requests.filter((r) => r.client === info.Swarm.NodeAddr && r.status === 200);
      // The image itself came from the registry: its config blob, fetched by this node.
      expect({ node: info.Swarm.NodeAddr, configFetched: fromNode.some((r) => r.method === "GET" && r.uri.endsWith(`/blobs/${W().images.release}`)) }).toEqual({
        node: info.Swarm.NodeAddr,
        configFetched: true,
      });
      const held = new Set((await node.listImages()).flatMap((i) => i.RepoDigests ?? []));
      for (const stack of STACKS) {
        for (const s of appServices(stack)) {
          const image: string = s.inputs.taskSpec.containerSpec.image;
          const tasks = (await runningOf(s.inputs.name)).filter((t) => t.node === info.Swarm.NodeID);
          if (tasks.length === 0) continue;
          // A digest reference only a pull records: this node pushed nothing, and no image was loaded under this name.
          expect(held).toContain(image);
          // The registry answers an anonymous manifest request with 401: a 200 to this node's address means the login came with it.
          // Docker 20.10 GETs a manifest once; for another repository's pin of a digest it holds, it asks the registry with a HEAD
          // whether that repository has it (moby v20.10.24 distribution/manifest.go, manifestStore.getLocal).
          const manifest = `/v2/${image.slice(W().registry.address.length + 1).replace("@", "/manifests/")}`;
          expect({ image, node: info.Swarm.NodeAddr, fetched: fromNode.some((r) => r.uri === manifest) }).toEqual({ image, node: info.Swarm.NodeAddr, fetched: true });
          pulled++;
        }
      }
    }
    // Replicas spread over the nodes: some app tasks must have landed on the workers.
    expect(pulled).toBeGreaterThan(0);
    console.log(`swarm e2e: n2 and n3 pulled ${pulled} app images with the handed-out login; an anonymous request got ${W().before.anonymousStatus}`);
  });
});

describe("both environments on the lab swarm", () => {
  test("every service runs its replicas; stateless ones spread over distinct nodes, pinned ones on the stores' node", async () => {
    for (const stack of STACKS) {
      for (const s of servicesOf(stack)) {
        const tasks = await runningOf(s.inputs.name);
        expect(tasks).toHaveLength(replicasOf(stack, s.inputs.name));
        if (pinned(stack, s.inputs.name)) expect(new Set(tasks.map((t) => t.labNode))).toEqual(new Set([STORES_NODE]));
        else expect(new Set(tasks.map((t) => t.labNode)).size).toBe(tasks.length);
      }
    }
  });

  test("every dependency is reachable from every task, across nodes", async () => {
    let crossNode = 0;
    for (const stack of STACKS) {
      const placed = new Map<string, TaskView[]>();
      for (const entry of Object.keys(topology(stack))) placed.set(entry, await runningOf(serviceName(stack, entry)));
      for (const [entry, { dependencies }] of Object.entries(topology(stack))) {
        for (const task of placed.get(entry)!) {
          const script = dependencies.map((d) => `(port-open ${d.split(":")[1]} ${d.split(":")[0]} || echo "unreachable ${d}") &`).join("\n") + "\nwait";
          const { output } = await execInTask(W().L, task, script);
          expect(output).not.toMatch(/unreachable/);
          for (const d of dependencies) {
            const target = d.split(":")[0].replace(new RegExp(`-${stack}$`), "");
            if (placed.get(target)?.some((t) => t.labNode !== task.labNode)) crossNode++;
          }
        }
      }
    }
    // The point is the overlays between nodes: some dependencies must have been reached on another node.
    expect(crossNode).toBeGreaterThan(0);
  });

  test("no task of one environment reaches any service of the other", async () => {
    for (const [from, to] of [["qual", "prod"], ["prod", "qual"]] as const) {
      const targets = Object.entries(topology(to)).flatMap(([entry, t]) => [`${entry}-${to}:${t.port}`, `${serviceName(to, entry)}:${t.port}`]);
      // In parallel: a name the task cannot resolve costs the whole 2 s timeout.
      const script = targets.map((d) => `(port-open ${d.split(":")[1]} ${d.split(":")[0]} && echo "reached ${d}") &`).join("\n") + "\nwait";
      for (const entry of Object.keys(topology(from))) {
        const [task] = await runningOf(serviceName(from, entry));
        const { output } = await execInTask(W().L, task, script);
        expect(output).not.toMatch(/reached/);
      }
    }
  });
});

/** `npm run verify` for both stacks, their outputs written from the program runs, on the lab's first manager and the given nodes. */
async function verifyOnLab(nodeSockets: string[]): Promise<{ code: number; table: string; errors: string; report: VerifyReport }> {
  const dir = mkdtempSync(join(tmpdir(), "po-swarm-verify-"));
  const args = STACKS.flatMap((stack) => {
    const file = join(dir, `outputs-${stack}.json`);
    writeFileSync(file, JSON.stringify(W().runs[stack].outputs));
    return ["--stack", stack, "--outputs", file];
  });
  let table = "";
  let errors = "";
  const out = new Writable({ write: (chunk, _enc, done) => ((table += chunk), done()) });
  const err = new Writable({ write: (chunk, _enc, done) => ((errors += chunk), done()) });
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = "unix:///run/po-swarm/n1.sock";
  try {
    const nodes = nodeSockets.flatMap((socket) => ["--node", `unix://${socket}`]);
    const code = await verifyCli([...args, ...nodes, "--json-out", join(dir, "verify.json")], out, err);
    return { code, table, errors, report: JSON.parse(readFileSync(join(dir, "verify.json"), "utf8")) as VerifyReport };
  } finally {
    if (previous === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = previous;
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("verify, adapted to services and tasks", () => {
  test("every check passes for both stacks", async () => {
    const nodes = new Map<string, Docker>();
    for (const node of W().L.nodes) nodes.set(((await node.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID, node);
    const stacks = STACKS.map((stack) => ({ stack, outputs: parseOutputs(W().runs[stack].outputs, `${stack} program outputs`) }));
    const report = await verifySwarm({ stacks, manager: W().L.manager, nodes });
    expect(report.failed).toEqual([]);
    expect(report.ok).toBe(true);
    // The image check ran for every pinned service: the digests are the release's, not a stand-in's.
    const images = report.checks.filter((c) => /^service\.[a-z0-9]+\.[a-z0-9-]+\.image$/.test(c.id));
    expect(images).toHaveLength(stacks.reduce((n, s) => n + Object.keys(s.outputs.images).length, 0));
    for (const stack of STACKS) {
      for (const entry of Object.keys(topology(stack))) {
        for (const item of ["exists", "replicas", "networks", "labels"]) expect(report.checks.find((c) => c.id === `service.${stack}.${entry}.${item}`)?.ok).toBe(true);
        expect(report.checks.find((c) => c.id === `isolation.${stack}.${entry}.cross-environment`)?.ok).toBe(true);
        expect(report.checks.find((c) => c.id === `isolation.${stack}.${entry}.dependencies`)?.ok).toBe(true);
      }
    }
    expect(report.checks.find((c) => c.id === "traefik.definitions-agree")?.ok).toBe(true);
  });

  test("npm run verify, given the manager as DOCKER_HOST and the other nodes with --node, passes both swarm stacks whole: images, probes and every route", async () => {
    const { code, table, errors, report } = await verifyOnLab(["/run/po-swarm/n2.sock", "/run/po-swarm/n3.sock"]);
    console.log(`swarm e2e: npm run verify exited ${code}: ${table.trim().split("\n").slice(-2).join(" ")}`);
    expect(errors).toBe("");
    expect(report.failed).toEqual([]);
    expect(code).toBe(0);
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    const images = report.checks.filter((c) => /^service\.[a-z0-9]+\.[a-z0-9-]+\.image$/.test(c.id));
    expect(images).toHaveLength(STACKS.reduce((n, stack) => n + Object.keys(W().runs[stack].outputs.images).length, 0));
    for (const stack of STACKS) {
      for (const [entry, spec] of Object.entries(W().runs[stack].outputs.topology as Record<string, { router?: string }>)) {
        for (const item of ["exists", "replicas", "networks", "labels"]) expect(byId.get(`service.${stack}.${entry}.${item}`)?.ok).toBe(true);
        // Every service, wherever its tasks run: the node clients reach each of them.
        for (const item of ["dependencies", "cross-environment"]) expect(byId.get(`isolation.${stack}.${entry}.${item}`)?.ok).toBe(true);
        for (const item of ["router", "service", "port", "network", "traefik-network"]) expect(byId.get(`route.${stack}.${entry}.${item}`)?.ok).toBe(spec.router ? true : undefined);
      }
    }
    const routes = STACKS.flatMap((stack) => Object.values(W().runs[stack].outputs.topology as Record<string, { router?: string }>).filter((t) => t.router));
    expect(routes.length).toBeGreaterThan(0);
    expect(report.checks.filter((c) => c.id.startsWith("route.")).length).toBe(routes.length * 5);
    expect(table).toContain(`${report.checks.length} checks passed`);
  });

  test("npm run verify with the manager's client only: a service with no task on the manager fails its probe checks, naming its nodes and --node; the others are probed", async () => {
    const { report } = await verifyOnLab([]);
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    const manager = ((await W().L.manager.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID;
    let unprobed = 0;
    for (const stack of STACKS) {
      for (const entry of Object.keys(topology(stack))) {
        const tasks = await runningOf(serviceName(stack, entry));
        const elsewhere = tasks.every((t) => t.node !== manager);
        for (const item of ["dependencies", "cross-environment"]) {
          const c = byId.get(`isolation.${stack}.${entry}.${item}`)!;
          expect([c.id, c.ok]).toEqual([c.id, !elsewhere]);
          if (!elsewhere) continue;
          for (const t of tasks) expect(c.evidence).toContain(`(node ${t.node.slice(0, 12)})`);
          expect(c.evidence).toContain("pass --node <that node's DOCKER_HOST>");
        }
        if (elsewhere) unprobed++;
      }
    }
    // The stores are on the manager; stateless tasks spread over all three nodes, so some services avoid it entirely.
    expect(unprobed).toBeGreaterThan(0);
    console.log(`swarm e2e: with the manager's client only, ${unprobed} services unprobed: ${report.checks.find((c) => c.id.startsWith("isolation.") && !c.ok)!.evidence}`);
  });
});

/** Linux capability numbers (linux/capability.h), to read a task's bounding set (/proc/1/status CapBnd). */
const CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
  "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
  "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE",
  "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
];
const capabilityMask = (names: string[]) => names.reduce((mask, n) => mask | (1n << BigInt(CAPABILITIES.indexOf(n))), 0n);

/** A tmpfs size as /proc/mounts prints it (`size=65536k`) in bytes. */
const mountSizeBytes = (options: string[]) => {
  const m = /^size=(\d+)([kmg]?)$/.exec(options.find((o) => o.startsWith("size=")) ?? "");
  return m ? Number(m[1]) * { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2] as "" | "k" | "m" | "g"] : undefined;
};

describe("hardening on the real tasks", () => {
  test("one task container of every service is what its spec promised: read-only root, user, capabilities, tmpfs, limits, no published port, secrets as files", async () => {
    const applied = new Set<string>();
    for (const stack of STACKS) {
      const plan = planEnvironment(settingsOf(stack, SWARM_CONFIG));
      for (const s of servicesOf(stack)) {
        const c = s.inputs.taskSpec.containerSpec;
        const limits = s.inputs.taskSpec.resources.limits;
        const planned = plan.containers.find((p) => p.name === (s.inputs.labels.find((l: { label: string }) => l.label === LABELS.service).value as string))!;
        const [task] = await runningOf(s.inputs.name);
        const { container } = await containerOfTask(W().L, task);
        const info = await container.inspect();
        const where = `${s.inputs.name} (task ${task.id} on ${task.labNode})`;

        expect({ where, readOnly: info.HostConfig.ReadonlyRootfs }).toEqual({ where, readOnly: c.readOnly ?? false });
        expect({ where, user: info.Config.User }).toEqual({ where, user: c.user ?? "" });
        expect({ where, drop: info.HostConfig.CapDrop ?? [], add: info.HostConfig.CapAdd ?? [] }).toEqual({ where, drop: c.capDrops ?? [], add: c.capAdds ?? [] });
        expect({ where, memory: info.HostConfig.Memory, nanoCpus: info.HostConfig.NanoCpus }).toEqual({ where, memory: limits.memoryBytes, nanoCpus: limits.nanoCpus });
        // No published port: none in the spec, none on the service's endpoint, none bound on the node.
        expect(s.inputs.endpointSpec.ports).toBeUndefined();
        expect(((await W().L.manager.getService(s.inputs.name).inspect()) as any).Endpoint?.Ports ?? []).toEqual([]);
        expect({ where, bindings: Object.values(info.HostConfig.PortBindings ?? {}).flat() }).toEqual({ where, bindings: [] });

        const tmpfs = (c.mounts ?? []).filter((m: { type: string }) => m.type === "tmpfs");
        const secrets = c.secrets ?? [];
        const script = [
          // The root mount's first option (ro or rw): what the kernel enforces, whatever the user may write.
          `awk '$2 == "/" { split($4, o, ","); root = o[1] } END { print "@@root " root "@@" }' /proc/mounts`,
          `echo "@@uid $(id -u) gid $(id -g)@@"`,
          `echo "@@capbnd $(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/1/status)@@"`,
          ...tmpfs.map((m: { target: string }) => `awk '$2 == "${m.target}" { print "@@mount " $2 " " $3 " " $4 "@@" }' /proc/mounts`),
          ...secrets.map((f: { fileName: string }) => `stat -c '@@secret %n %F %a %u %g@@' ${f.fileName}`),
        ].join("\n");
        const { output } = await execInTask(W().L, task, script);
        const lines = [...output.matchAll(/@@([^@]+)@@/g)].map((m) => m[1]);

        expect({ where, root: lines.find((l) => l.startsWith("root ")) }).toEqual({ where, root: c.readOnly ? "root ro" : "root rw" });
        if (c.user) {
          const [uid, gid] = (c.user as string).split(":");
          const ids = / ?uid (\d+) gid (\d+)/.exec(lines.find((l) => l.startsWith("uid ")) ?? "");
          expect({ where, uid: ids?.[1], gid: gid === undefined ? undefined : ids?.[2] }).toEqual({ where, uid, gid });
        }
        const capbnd = BigInt(`0x${lines.find((l) => l.startsWith("capbnd "))!.slice("capbnd ".length)}`);
        expect({ where, capbnd }).toEqual({ where, capbnd: capabilityMask(c.capAdds ?? []) });
        for (const m of tmpfs as { target: string; tmpfsOptions: { sizeBytes: number } }[]) {
          const line = lines.find((l) => l.startsWith(`mount ${m.target} `));
          expect({ where, target: m.target, fstype: line?.split(" ")[2] }).toEqual({ where, target: m.target, fstype: "tmpfs" });
          const options = line!.split(" ")[3].split(",");
          expect({ where, target: m.target, size: mountSizeBytes(options) }).toEqual({ where, target: m.target, size: m.tmpfsOptions.sizeBytes });
          // Swarm carries only the size; the plan's flags (noexec, nosuid) must still be in force.
          const flags = planned.security.tmpfs[m.target].split(",").filter((o) => !o.startsWith("size="));
          expect({ where, target: m.target, missing: flags.filter((f) => !options.includes(f)) }).toEqual({ where, target: m.target, missing: [] });
          applied.add(options.filter((o) => !o.startsWith("size=")).join(","));
        }
        for (const f of secrets as { fileName: string; fileUid: string; fileGid: string; fileMode: number }[]) {
          expect({ where, secret: lines.find((l) => l.startsWith(`secret ${f.fileName} `)) }).toEqual({
            where,
            secret: `secret ${f.fileName} regular file ${f.fileMode.toString(8)} ${f.fileUid} ${f.fileGid}`,
          });
        }
      }
    }
    // What Docker applies to a swarm tmpfs mount besides its size, recorded for docs/swarm.md.
    console.log(`swarm e2e: tmpfs mounts of the tasks carry ${[...applied].join(" | ")}`);
    expect(applied.size).toBeGreaterThan(0);
  });
});

/** A routed, stateless service of qual: what a rolling update must keep answering. */
const routed = () => {
  const entry = routedEntry();
  return { entry, name: serviceName("qual", entry), port: SERVICES[entry].port };
};

/**
 * Requests from the Traefik stand-in on the edge overlay, as Traefik sends
 * them, each to a fresh lookup of the service name (dnsrr): bounded by count,
 * one every 100 ms, until `stop` exists. Prints one line per request.
 */
const REQUEST_LOOP = (name: string, port: number, maxRequests: number) => `
for i in $(seq 1 ${maxRequests}); do
  [ -e /tmp/stop-requests ] && break
  if exec 3<>/dev/tcp/${name}/${port} 2>/dev/null; then
    printf 'GET /health HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3
    read -r status <&3 || status=none
    exec 3<&- 3>&-
  else
    status=refused
  fi
  case "$status" in *" 200 "*) echo ok ;; *) echo "fail $status" ;; esac
  sleep 0.1
done`;

const execOnTraefik = async (script: string) => (await execIn(W().L.manager, TRAEFIK, ["bash", "-c", script], { allowFailure: true })).output;

const updateState = async (name: string) => ((await W().L.manager.getService(name).inspect()) as any).UpdateStatus?.State as string | undefined;

describe("rolling updates on the lab swarm", () => {
  test("a rolling update of a routed service answers every request of a bounded loop, and ends on the new image", async () => {
    const { name, port } = routed();
    await execOnTraefik("rm -f /tmp/stop-requests");
    const loop = execOnTraefik(REQUEST_LOOP(name, port, 3000));
    await new Promise((r) => setTimeout(r, 2000));
    const started = Date.now();
    await W().applier.updateImage(name, W().images.variant);
    await until(() => `update of ${name} did not complete`, async () => ((await updateState(name)) === "completed" ? true : undefined), 600_000);
    console.log(`swarm e2e: rolling update of ${name} (${replicasOf("qual", name)} replicas) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await execOnTraefik("touch /tmp/stop-requests");
    const lines = (await loop).split("\n").filter((l) => /\b(ok|fail)\b/.test(l));
    const failed = lines.filter((l) => /\bfail\b/.test(l));
    console.log(`swarm e2e: ${lines.length} requests during the update, ${failed.length} failed`);
    expect(lines.length).toBeGreaterThan(50);
    expect(failed).toEqual([]);
    const tasks = await runningOf(name);
    expect(tasks).toHaveLength(replicasOf("qual", name));
    for (const t of tasks) expect(t.image).toBe(W().images.variant);
  });

  test("a release whose tasks fail is rolled back by Swarm, and the service keeps running the previous image", async () => {
    const { name } = routed();
    const previous = (await runningOf(name))[0].image;
    await W().applier.updateImage(name, W().images.bad);
    await until(() => `no rollback of ${name}`, async () => ((await updateState(name)) === "rollback_completed" ? true : undefined), 600_000);
    const tasks = await runningOf(name);
    expect(tasks).toHaveLength(replicasOf("qual", name));
    for (const t of tasks) expect(t.image).toBe(previous);
  });
});

describe("a drained node", () => {
  test("its stateless tasks move to the other nodes, and the stores stay on theirs, untouched", async () => {
    const all = STACKS.flatMap((stack) => servicesOf(stack).map((s) => ({ stack, name: s.inputs.name as string })));
    const before = new Map<string, TaskView[]>();
    for (const s of all) before.set(s.name, await runningOf(s.name));
    const drained = ["n2", "n3"].find((n) => [...before.values()].flat().some((t) => t.labNode === n))!;
    const moving = [...before.values()].flat().filter((t) => t.labNode === drained);
    expect(moving.length).toBeGreaterThan(0);
    const started = Date.now();
    await setAvailability(W().L, drained, "drain");
    await until(
      () => `tasks still on ${drained} or services not back to their replicas`,
      async () => {
        for (const s of all) {
          const tasks = await runningOf(s.name);
          if (tasks.length !== replicasOf(s.stack, s.name) || tasks.some((t) => t.labNode === drained)) return undefined;
        }
        return true;
      },
      600_000,
    );
    console.log(`swarm e2e: ${moving.length} tasks moved off ${drained} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const s of all.filter((x) => pinned(x.stack, x.name))) {
      // Same task, same node: a store is never moved or restarted by a drain elsewhere.
      expect((await runningOf(s.name)).map((t) => [t.id, t.labNode])).toEqual(before.get(s.name)!.map((t) => [t.id, t.labNode]));
    }
    await setAvailability(W().L, drained, "active");
  });
});
