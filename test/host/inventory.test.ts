/** Reads a real Docker engine (the one .ci/docker.sh starts, or DOCKER_HOST's). */
import { randomBytes } from "node:crypto";
import { dockerClient } from "../../host/docker";
import { readDockerInventory } from "../../host/inventory";

const docker = dockerClient();
const tag = `po-inventory-test-${randomBytes(4).toString("hex")}`;

afterAll(async () => {
  await docker.getVolume(`${tag}-volume`).remove().catch(() => undefined);
  await docker.getNetwork(`${tag}-network`).remove().catch(() => undefined);
});

test("lists the host's volumes and networks with their labels and subnets, as the collision check needs them", async () => {
  // A random /24 far from Docker's default pools, so it is free on a shared daemon.
  const subnet = `10.254.${randomBytes(1)[0]}.0/24`;
  await docker.createVolume({ Name: `${tag}-volume`, Labels: { "pt.portugalodyssey.environment": "qual" } });
  await docker.createNetwork({ Name: `${tag}-network`, Labels: { owner: "someone-else" }, IPAM: { Driver: "default", Config: [{ Subnet: subnet }] } });
  const inventory = await readDockerInventory(docker);
  expect(inventory.volumes).toContainEqual({ name: `${tag}-volume`, labels: { "pt.portugalodyssey.environment": "qual" } });
  expect(inventory.networks).toContainEqual({ name: `${tag}-network`, labels: { owner: "someone-else" }, subnets: [subnet] });
  expect(inventory.networks.map((n) => n.name)).toContain("bridge");
});

test("reads the engine's API version and swap accounting, and its json-file log defaults with a probe container it removes again", async () => {
  const [inventory, version, info] = await Promise.all([readDockerInventory(docker), docker.version(), docker.info()]);
  expect(inventory.engine.apiVersion).toBe(version.ApiVersion);
  expect(inventory.engine.swapLimit).toBe(info.SwapLimit === true);
  expect(typeof inventory.engine.jsonFileLogDefaults).toBe("object");
  const probes = await docker.listContainers({ all: true, filters: { label: ["pt.portugalodyssey.project.log-defaults-probe"] } });
  expect(probes).toEqual([]);
});
