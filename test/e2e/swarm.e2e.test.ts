/**
 * End to end on the lab swarm (.ci/swarm.sh: three dockerd, each in its own
 * network namespace): qual and prod, both `runtime: swarm`, run on the mock
 * engine through the Swarm renderer and are applied by testing/swarm/applier.ts
 * (the stand-in image for every service, all else as registered). Then:
 * replicas spread across nodes, every dependency reachable across nodes, no
 * connection between environments, a rolling update of a routed service with
 * a request loop through the edge network that never fails, a bad image
 * rolled back by Swarm, a drained node whose tasks move, and stores that stay.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Docker from "dockerode";
import { SERVICES, type ServiceName } from "../../catalog/services";
import { swarmNames } from "../../model/naming";
import { runProgram, type ProgramRun } from "../harness/program";
import { SWARM_TYPES, SwarmApplier, RUN_LABEL, removeSwarmLabelled } from "../../testing/swarm/applier";
import { LAB_NODE_LABEL, execInTask, lab, labStatus, loadImages, running, tasksOf, until, type Lab, type TaskView } from "../../testing/swarm/lab";
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

interface World {
  L: Lab;
  runs: Record<string, ProgramRun>;
  applier: SwarmApplier;
  images: { standin: string; variant: string; bad: string };
}

/** An image FROM the stand-in with one more Dockerfile line: another ID on every node after `swarm.sh load`. */
async function derive(base: string, line: string, marker: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "po-swarm-image-"));
  try {
    writeFileSync(join(dir, "Dockerfile"), `FROM ${base}\nLABEL pt.portugalodyssey.e2e-variant=${marker}\n${line}\n`);
    const stream = await host.buildImage({ context: dir, src: ["Dockerfile"] }, { t: `po-standin-${marker}:${runId}`, labels: { [RUN_LABEL]: runId }, rm: true });
    await new Promise((resolve, reject) => host.modem.followProgress(stream, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))));
    return (await host.getImage(`po-standin-${marker}:${runId}`).inspect()).Id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function setNodeLabels(L: Lab, node: string, labels: Record<string, string | undefined>) {
  const nodes = await L.manager.listNodes();
  const target = nodes.find((n: any) => n.Spec.Labels?.[LAB_NODE_LABEL] === node) as any;
  const spec = { ...target.Spec, Labels: { ...target.Spec.Labels, ...labels } };
  for (const [k, v] of Object.entries(labels)) if (v === undefined) delete spec.Labels[k];
  await L.manager.getNode(target.ID).update({ version: target.Version.Index, ...spec });
}

async function setAvailability(L: Lab, node: string, availability: "active" | "drain") {
  const target = (await L.manager.listNodes()).find((n: any) => n.Spec.Labels?.[LAB_NODE_LABEL] === node) as any;
  await L.manager.getNode(target.ID).update({ version: target.Version.Index, ...target.Spec, Availability: availability });
}

let world: World | undefined;
const W = () => world!;

beforeAll(async () => {
  if (!status.up) throw new Error(status.reason);
  const L = lab();
  const standinTag = buildStandinImage();
  const standin = (await host.getImage(standinTag).inspect()).Id;
  const variant = await derive(standinTag, "", "variant");
  // Starts, then exits 1 at once: what a broken release looks like to Swarm.
  const bad = await derive(standinTag, 'ENTRYPOINT ["/bin/false"]', "bad");
  loadImages([standinTag, `po-standin-variant:${runId}`, `po-standin-bad:${runId}`]);
  await removeSwarmLabelled(L);
  const storesLabels = Object.fromEntries(STACKS.map((s) => [swarmNames.storesNodeLabel(s), "true"]));
  await setNodeLabels(L, STORES_NODE, storesLabels);
  const runs: Record<string, ProgramRun> = {};
  for (const stack of STACKS) runs[stack] = await runProgram({ stack, config: SWARM_CONFIG });
  const applier = new SwarmApplier(L, runId, () => standin);
  // The existing Traefik, a container on the manager: the edge's connect command attaches it to each edge overlay.
  const traefik = await L.manager.createContainer({ name: TRAEFIK, Image: standin, Labels: applier.labels });
  await traefik.start();
  const started = Date.now();
  for (const stack of STACKS) await applier.apply(runs[stack]);
  await applier.waitConverged();
  console.log(`swarm e2e: both environments converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  world = { L, runs, applier, images: { standin, variant, bad } };
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
  for (const ref of [`po-standin-variant:${runId}`, `po-standin-bad:${runId}`]) await host.getImage(ref).remove({ force: true }).catch(() => undefined);
});

const servicesOf = (stack: string) => W().runs[stack].resources.filter((r) => r.type === SWARM_TYPES.service);
const replicasOf = (stack: string, name: string) => servicesOf(stack).find((s) => s.inputs.name === name)!.inputs.mode.replicated.replicas as number;
const pinned = (stack: string, name: string) => (servicesOf(stack).find((s) => s.inputs.name === name)!.inputs.taskSpec.placement?.constraints ?? []).length > 0;
const topology = (stack: string) => W().runs[stack].outputs.topology as Record<string, { role: string; port: number; dependencies: string[] }>;
const serviceName = (stack: string, entry: string) => W().runs[stack].outputs.containers[entry] as string;
const runningOf = async (name: string) => running(await tasksOf(W().L.manager, name));

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
  test("every check passes for both stacks but the image check, which sees the stand-in instead of each release's digest", async () => {
    const nodes = new Map<string, Docker>();
    for (const node of W().L.nodes) nodes.set(((await node.info()) as { Swarm: { NodeID: string } }).Swarm.NodeID, node);
    const stacks = STACKS.map((stack) => ({ stack, outputs: parseOutputs(W().runs[stack].outputs, `${stack} program outputs`) }));
    const report = await verifySwarm({ stacks, manager: W().L.manager, nodes });
    const images = report.checks.filter((c) => /^service\.[a-z0-9]+\.[a-z0-9-]+\.image$/.test(c.id));
    // The applier runs the stand-in by ID (no registry here): exactly the image checks must notice.
    expect(images.length).toBeGreaterThan(0);
    expect(report.failed.sort()).toEqual(images.map((c) => c.id).sort());
    for (const c of images) expect(c.evidence).toContain(W().images.standin);
    for (const stack of STACKS) {
      for (const entry of Object.keys(topology(stack))) {
        for (const item of ["exists", "replicas", "networks", "labels"]) expect(report.checks.find((c) => c.id === `service.${stack}.${entry}.${item}`)?.ok).toBe(true);
        expect(report.checks.find((c) => c.id === `isolation.${stack}.${entry}.cross-environment`)?.ok).toBe(true);
        expect(report.checks.find((c) => c.id === `isolation.${stack}.${entry}.dependencies`)?.ok).toBe(true);
      }
    }
    expect(report.checks.find((c) => c.id === "traefik.definitions-agree")?.ok).toBe(true);
  });

  test("npm run verify, given the manager as DOCKER_HOST and the other nodes with --node, checks both swarm stacks: only the image checks fail, and every route resolves", async () => {
    const { code, table, errors, report } = await verifyOnLab(["/run/po-swarm/n2.sock", "/run/po-swarm/n3.sock"]);
    console.log(`swarm e2e: npm run verify exited ${code}: ${table.trim().split("\n").slice(-2).join(" ")}`);
    expect(errors).toBe("");
    expect(code).toBe(1);
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    const images = report.checks.filter((c) => /^service\.[a-z0-9]+\.[a-z0-9-]+\.image$/.test(c.id));
    expect(images.length).toBeGreaterThan(0);
    expect([...report.failed].sort()).toEqual(images.map((c) => c.id).sort());
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
    expect(table).toContain(`${report.failed.length} of ${report.checks.length} checks FAILED`);
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

/** A routed, stateless service of qual: what a rolling update must keep answering. */
const routed = () => {
  const entry = (Object.keys(SERVICES) as ServiceName[]).find((s) => SERVICES[s].route && !SERVICES[s].singleton && SERVICES[s].volumes.length === 0)!;
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

async function execOnTraefik(script: string): Promise<string> {
  const c = W().L.manager.getContainer(TRAEFIK);
  const exec = await c.exec({ Cmd: ["bash", "-c", script], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on("data", (d: Buffer) => chunks.push(d));
  await new Promise((r) => stream.on("end", r));
  // Multiplexed stream frames: an 8-byte header per chunk; the text lines survive it.
  return Buffer.concat(chunks).toString("latin1");
}

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
