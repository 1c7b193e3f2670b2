/**
 * The drill's throwaway stores (a 2 GiB Elasticsearch among them) run on the
 * shared host: a drill that would take it over host.memoryBudgetMb refuses to
 * start, with one message that gives the numbers, before it creates anything.
 */
import type Docker from "dockerode";
import { STORES } from "../../catalog/stores";
import { assertDrillFits, DrillRefused, drillMemoryMb } from "../../backup/docker-drill";
import { LABELS, PROJECT } from "../../model/naming";

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
