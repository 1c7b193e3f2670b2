/**
 * On a real Docker daemon: the restore drill's throwaway containers sit on an
 * `internal` network of their own and reach nothing live, neither a container
 * of a running environment (by name or by address) nor anything off the host;
 * and the drill removes what it created. The stand-in image plays the stores.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { STORES } from "../../catalog/stores";
import { DRILL_ES_PATH_REPO, DRILL_LABEL, exec, startDockerDrill, type DockerDrill } from "../../backup/docker-drill";
import { elasticsearchHeapMb } from "../../model/resources";
import { names } from "../../model/naming";
import { Applier } from "./applier";
import { assertNotADeploymentHost, buildStandinImage, dockerStatus } from "./host";

jest.setTimeout(180_000);

const status = dockerStatus();
const docker = new Docker();
const runId = `e2e-drill-${process.pid}-${Date.now().toString(36)}`;
const ENV = "qual";

let drill: DockerDrill | undefined;
let applier: Applier;
const live = { network: `${runId}-live`, container: `${runId}-live-postgres` };

beforeAll(async () => {
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  await assertNotADeploymentHost(docker);
  const image = buildStandinImage();
  applier = new Applier(docker, runId, image);
  // A live store: on an ordinary network, answering on 5432 like the environment's postgres.
  await applier.createNetwork(live.network, { labels: {} });
  await applier.createContainer({ name: live.container, Image: image, HostConfig: { NetworkMode: live.network } });
  drill = await startDockerDrill(docker, ENV, { image, runId: runId.slice(-8), labels: applier.labels });
});

afterAll(async () => {
  await drill?.cleanUp();
  await docker.getContainer(live.container).remove({ force: true }).catch(() => undefined);
  await docker.getNetwork(live.network).remove().catch(() => undefined);
});

const reaches = (from: string, host: string, port: number) =>
  exec(docker, from, ["port-open", String(port), host]).then(
    () => true,
    () => false,
  );

test("the drill's network is internal and holds only the drill's own containers", async () => {
  const net = await docker.getNetwork(drill!.network).inspect();
  expect(net.Name.startsWith(names.drillNetwork(ENV))).toBe(true);
  expect(net.Internal).toBe(true);
  const attached = Object.values(net.Containers ?? {}).map((c) => (c as { Name: string }).Name).sort();
  expect(attached).toEqual([...drill!.containers].sort());
  for (const name of drill!.containers) {
    const info = await docker.getContainer(name).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([drill!.network]);
    expect(info.HostConfig.PortBindings ?? {}).toEqual({});
  }
});

test("a drill container reaches no live container, by name or address, and nothing off the host", async () => {
  const [postgres] = drill!.containers;
  // The probe works: the drill container reaches its own server.
  expect(await reaches(postgres, "127.0.0.1", 5432)).toBe(true);
  const liveInfo = await docker.getContainer(live.container).inspect();
  const liveAddress = liveInfo.NetworkSettings.Networks[live.network].IPAddress;
  expect(liveAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  // And the live store answers from its own network, so a miss below is the drill network's doing.
  expect(await reaches(live.container, "127.0.0.1", 5432)).toBe(true);
  expect(await reaches(postgres, liveAddress, 5432)).toBe(false);
  expect(await reaches(postgres, live.container, 5432)).toBe(false);
  const gateway = (await docker.getNetwork(live.network).inspect()).IPAM?.Config?.[0]?.Gateway;
  if (gateway) expect(await reaches(postgres, gateway, 5432)).toBe(false);
  expect(await reaches(postgres, "1.1.1.1", 53)).toBe(false);
});

test("the drill's Elasticsearch: on the internal network only, no port, labelled, the catalog's memory and half of it as heap, single-node, and the snapshots at path.repo", async () => {
  // The restored volume as restic brings it back: the repository under its location.
  const dir = mkdtempSync(join(tmpdir(), "po-drill-es-"));
  mkdirSync(join(dir, ENV, "indices", "abc", "0"), { recursive: true });
  writeFileSync(join(dir, ENV, "index-0"), "repository generation 0");
  writeFileSync(join(dir, ENV, "indices", "abc", "0", "snap-1.dat"), "shard data");
  try {
    // Started, not waited for: the stand-in answers on 9200 with busybox httpd, it is no Elasticsearch.
    const name = await drill!.startElasticsearch(dir);
    expect(drill!.containers).toContain(name);
    const info = await docker.getContainer(name).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([drill!.network]);
    expect(info.HostConfig.NetworkMode).toBe(drill!.network);
    expect(info.HostConfig.PortBindings ?? {}).toEqual({});
    expect(info.HostConfig.PublishAllPorts).toBe(false);
    expect(info.Config.Labels[DRILL_LABEL]).toMatch(new RegExp(`^${ENV}-`));
    const memoryMb = STORES.elasticsearch.resources.memoryMb;
    expect(info.HostConfig.Memory).toBe(memoryMb * 1024 * 1024);
    const heap = elasticsearchHeapMb(memoryMb);
    expect(info.Config.Env).toEqual(
      expect.arrayContaining(["discovery.type=single-node", "xpack.security.enabled=false", `ES_JAVA_OPTS=-Xms${heap}m -Xmx${heap}m`, `path.repo=${DRILL_ES_PATH_REPO}`]),
    );
    expect(info.Config.User).toBe(STORES.elasticsearch.user);
    expect(info.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
    expect(await exec(docker, name, ["cat", `${DRILL_ES_PATH_REPO}/${ENV}/indices/abc/0/snap-1.dat`])).toBe("shard data");
    // Owned by the node's user, which must read it; the directory above path.repo keeps its own owner.
    expect((await exec(docker, name, ["stat", "-c", "%u:%g", `${DRILL_ES_PATH_REPO}/${ENV}/index-0`])).trim()).toBe(STORES.elasticsearch.user);
    expect((await exec(docker, name, ["stat", "-c", "%u:%g", DRILL_ES_PATH_REPO.slice(0, DRILL_ES_PATH_REPO.lastIndexOf("/"))])).trim()).toBe("0:0");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("cleaning up removes every container and the network the drill created", async () => {
  const created = { containers: [...drill!.containers], network: drill!.network };
  await drill!.cleanUp();
  drill = undefined;
  const left = await docker.listContainers({ all: true, filters: { label: [DRILL_LABEL] } });
  expect(left.filter((c) => c.Names.some((n) => created.containers.includes(n.slice(1))))).toEqual([]);
  await expect(docker.getNetwork(created.network).inspect()).rejects.toThrow();
});
