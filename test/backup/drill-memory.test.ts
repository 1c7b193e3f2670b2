/**
 * The drill's throwaway stores (a 2 GiB Elasticsearch among them) run on the
 * shared host: a drill that would take it over host.memoryBudgetMb refuses to
 * start, with one message that gives the numbers, before it creates anything.
 * On a swarm it runs on the stores' node and counts that node's tasks.
 */
import type Docker from "dockerode";
import { STORES } from "../../catalog/stores";
import { assertDrillFits, DrillRefused, drillMemoryMb } from "../../backup/docker-drill";
import { LABELS, PROJECT, names } from "../../model/naming";
import { ofType, runProgram } from "../harness/program";

const MiB = 1024 * 1024;

/** A daemon that lists these running containers of the project, with their memory limits, and records anything else asked of it. */
function daemon(limitsMb: number[]) {
  const asked: string[] = [];
  const containers = limitsMb.map((mb, i) => ({ Id: `c${i}`, mb }));
  const docker = {
    listContainers: async (opts: { filters: { label: string[]; status: string[] } }) => {
      asked.push(`list ${JSON.stringify(opts.filters)}`);
      return containers.map((c) => ({ Id: c.Id }));
    },
    getContainer: (id: string) => ({ inspect: async () => ({ HostConfig: { Memory: containers.find((c) => c.Id === id)!.mb * MiB } }) }),
    createNetwork: async () => asked.push("createNetwork"),
    createContainer: async () => asked.push("createContainer"),
  };
  return { docker: docker as unknown as Docker, asked };
}

test("the drill's memory is the catalog limits of its PostgreSQL, Redis and Elasticsearch", () => {
  expect(drillMemoryMb()).toBe(STORES.postgres.resources.memoryMb + STORES.redis.resources.memoryMb + STORES.elasticsearch.resources.memoryMb);
});

test("a drill that fits beside the running containers and the reserve may start; one MiB more is refused with the numbers", async () => {
  const live = [1024, 512, 300];
  const liveMb = live.reduce((a, b) => a + b, 0);
  const reservedMb = 700;
  const exact = liveMb + reservedMb + drillMemoryMb();
  const fits = daemon(live);
  await expect(assertDrillFits(fits.docker, { memoryBudgetMb: exact, reservedMb })).resolves.toBeUndefined();
  // Only this project's running containers are counted.
  expect(fits.asked).toEqual([`list ${JSON.stringify({ label: [`${LABELS.project}=${PROJECT}`], status: ["running"] })}`]);

  const over = daemon(live);
  const refused = assertDrillFits(over.docker, { memoryBudgetMb: exact - 1, reservedMb });
  await expect(refused).rejects.toThrow(DrillRefused);
  await expect(refused).rejects.toThrow(
    `refusing to start the drill: it would take the host to ${exact} MiB (this project's ${live.length} running containers: ${liveMb}, host.reservedMb: ${reservedMb}, the drill's PostgreSQL, Redis and Elasticsearch: ${drillMemoryMb()}), over host.memoryBudgetMb of ${exact - 1} MiB`,
  );
  expect(over.asked.filter((a) => !a.startsWith("list"))).toEqual([]);
});

describe("on a swarm node", () => {
  // The prod stack as the swarm renderer registers it; the drill runs with DOCKER_HOST on the stores' node.
  const SWARM = {
    runtime: "swarm",
    swarm: { nodes: 3 },
    host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] },
    backup: { repository: "s3:https://s3.example.com/bucket" },
  };
  const SERVICE = "docker:index/service:Service";
  type Listed = { Id: string; Labels: Record<string, string>; State: string; node: string; mb: number; task: boolean };

  /**
   * The containers of a three-node swarm, each node's daemon listing only its own, filtered as the Engine
   * filters (`label=k=v` an exact match, `status` the state). A task's container carries its service's
   * containerSpec labels and the `com.docker.swarm.*` labels the executor adds (moby
   * daemon/cluster/executor/container/container.go `labels`), and its memory limit is the service's
   * limits.memoryBytes (`resources`).
   */
  async function swarmNodes() {
    const run = await runProgram({ stack: "prod", config: SWARM });
    const containers: Listed[] = [];
    let spread = 0;
    for (const s of ofType(run, SERVICE)) {
      const spec = s.inputs.taskSpec;
      const labels = Object.fromEntries((spec.containerSpec.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
      const pinned = (spec.placement?.constraints ?? []).length > 0;
      for (let slot = 1; slot <= s.inputs.mode.replicated.replicas; slot++) {
        // Pinned tasks on the stores' node (n1), the others spread over the three.
        const node = pinned ? "n1" : `n${(spread++ % 3) + 1}`;
        const task = { ...labels, "com.docker.swarm.task": "", "com.docker.swarm.service.name": s.inputs.name, "com.docker.swarm.node.id": node };
        containers.push({ Id: `${s.inputs.name}.${slot}`, Labels: task, State: "running", node, mb: spec.resources.limits.memoryBytes / MiB, task: true });
        // Swarm keeps a slot's earlier tasks' containers, exited, on the node (task history).
        containers.push({ Id: `${s.inputs.name}.${slot}.old`, Labels: task, State: "exited", node, mb: spec.resources.limits.memoryBytes / MiB, task: true });
      }
    }
    // Traefik, not the project's: host.reservedMb counts it.
    containers.push({ Id: "traefik", Labels: {}, State: "running", node: "n1", mb: 256, task: false });
    const daemonOf = (node: string) =>
      ({
        listContainers: async (opts: { filters: { label: string[]; status: string[] } }) =>
          containers
            .filter((c) => c.node === node && opts.filters.status.includes(c.State))
            .filter((c) => opts.filters.label.every((f) => (f.includes("=") ? c.Labels[f.slice(0, f.indexOf("="))] === f.slice(f.indexOf("=") + 1) : f in c.Labels))),
        getContainer: (id: string) => ({ inspect: async () => ({ HostConfig: { Memory: containers.find((c) => c.Id === id)!.mb * MiB } }) }),
      }) as unknown as Docker;
    return { containers, daemonOf };
  }

  test("counts the project's running task containers on its own node, by the labels the swarm renderer gives them, and not other nodes'", async () => {
    const { containers, daemonOf } = await swarmNodes();
    const onNode = (node: string) => containers.filter((c) => c.node === node && c.State === "running" && c.task);
    const storesNodeMb = onNode("n1").reduce((sum, c) => sum + c.mb, 0);
    const elsewhereMb = [...onNode("n2"), ...onNode("n3")].reduce((sum, c) => sum + c.mb, 0);
    expect(onNode("n1").map((c) => c.Labels["com.docker.swarm.service.name"])).toContain(names.backupContainer("prod"));
    expect(elsewhereMb).toBeGreaterThan(0);
    const reservedMb = 700;
    const exact = storesNodeMb + reservedMb + drillMemoryMb();
    // host.memoryBudgetMb is each node's budget on a swarm.
    await expect(assertDrillFits(daemonOf("n1"), { memoryBudgetMb: exact, reservedMb })).resolves.toBeUndefined();
    await expect(assertDrillFits(daemonOf("n1"), { memoryBudgetMb: exact - 1, reservedMb })).rejects.toThrow(
      `(this project's ${onNode("n1").length} running containers: ${storesNodeMb}, host.reservedMb: ${reservedMb}`,
    );
  });
});
