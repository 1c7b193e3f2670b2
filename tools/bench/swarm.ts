/**
 * Figures on the lab swarm (.ci/swarm.sh up): how long a fresh environment
 * takes to converge, a rolling update per stateless service, and recovery from
 * a drained node. The qual stack with `runtime: swarm` is applied by
 * testing/swarm/applier.ts with the e2e stand-in image, measured, and removed.
 * Without the lab swarm it says so and measures nothing.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import Docker from "dockerode";
import { swarmNames } from "../../model/naming";
import { buildImageFrom } from "../../testing/images";
import { runProgram, type RegisteredResource } from "../../testing/mock-engine";
import { SWARM_TYPES, SwarmApplier, removeSwarmLabelled } from "../../testing/swarm/applier";
import { holdLab, lab, labStatus, loadImages, running, setAvailability, setNodeLabels, tasksOf, until, type Lab } from "../../testing/swarm/lab";
import { PROJECT_DIR } from "../run-cli";

const STACK = "qual";
const STORES_NODE = "n1";

const seconds = (since: number) => Number(((Date.now() - since) / 1000).toFixed(1));

export async function swarmFigures(): Promise<string | Record<string, unknown>[]> {
  const status = labStatus();
  if (!status.up) return `skipped: ${status.reason}`;
  // The stores' node label, the drain and the fixed service names are the lab suites' too: one at a time.
  const release = await holdLab("bench");
  try {
    return await measure(lab());
  } finally {
    release();
  }
}

async function measure(L: Lab): Promise<Record<string, unknown>[]> {
  const host = new Docker();
  const standinTag = execFileSync("bash", [join(PROJECT_DIR, "test", "e2e", "standin", "build.sh")], { encoding: "utf8" }).trim();
  const standin = (await host.getImage(standinTag).inspect()).Id;
  const variantTag = `po-standin-bench:${process.pid}`;
  // Another image ID with the stand-in's behaviour: what each rolling update moves to.
  const variant = await buildImageFrom(host, standinTag, { ref: variantTag, labels: { "pt.portugalodyssey.bench-variant": variantTag } });
  loadImages([standinTag, variantTag]);
  const runId = `bench-${process.pid}-${Date.now().toString(36)}`;
  const applier = new SwarmApplier(L, runId, () => standin);
  const storesLabel = swarmNames.storesNodeLabel(STACK);
  const rows: Record<string, unknown>[] = [];
  try {
    await setNodeLabels(L, STORES_NODE, { [storesLabel]: "true" });
    const run = await runProgram({
      stack: STACK,
      projectDir: PROJECT_DIR,
      // Without the backup: its health check reads the status file of a real backup run, which the stand-in never writes.
      config: { runtime: "swarm", swarm: { nodes: L.nodes.length }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] }, backup: undefined },
    });
    const services = run.resources.filter((r) => r.type === SWARM_TYPES.service);
    // The existing Traefik the edge's connect command attaches, a container on the manager.
    await (await L.manager.createContainer({ name: "traefik", Image: standin, Labels: applier.labels })).start();
    let started = Date.now();
    await applier.apply(run);
    await applier.waitConverged();
    rows.push({ figure: `fresh ${STACK} environment converged (${services.length} services)`, seconds: seconds(started) });

    const stateless = services.filter((s: RegisteredResource) => s.inputs.updateConfig.order === "start-first");
    const updated = stateless.slice(0, 3);
    for (const s of updated) {
      started = Date.now();
      await applier.updateImage(s.inputs.name, variant);
      await until(() => `update of ${s.inputs.name}`, async () => (((await L.manager.getService(s.inputs.name).inspect()) as { UpdateStatus?: { State?: string } }).UpdateStatus?.State === "completed" ? true : undefined), 600_000);
      rows.push({ figure: `rolling update of ${s.inputs.name} (${s.inputs.mode.replicated.replicas} replicas)`, seconds: seconds(started) });
    }

    const drained = "n2";
    started = Date.now();
    await setAvailability(L, drained, "drain");
    await until(
      () => `tasks still on ${drained}`,
      async () => {
        for (const s of services) {
          const tasks = running(await tasksOf(L.manager, s.inputs.name));
          if (tasks.length !== s.inputs.mode.replicated.replicas || tasks.some((t) => t.labNode === drained)) return undefined;
        }
        return true;
      },
      600_000,
    );
    rows.push({ figure: `every service back at its replicas after draining ${drained}`, seconds: seconds(started) });
  } finally {
    await setAvailability(L, "n2", "active");
    await removeSwarmLabelled(L, runId);
    await setNodeLabels(L, STORES_NODE, { [storesLabel]: undefined });
    await host.getImage(variantTag).remove({ force: true }).catch(() => undefined);
  }
  return rows;
}
