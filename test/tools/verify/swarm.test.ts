/**
 * verify() on a `runtime: swarm` stack, against fake clients of a three-node
 * swarm holding exactly what the program renders (swarm-fixtures.ts).
 */
import type Docker from "dockerode";
import { verify } from "../../../tools/verify/index";
import { SwarmNodeError } from "../../../tools/verify/swarm";
import { parseOutputs, type StackOutputs } from "../../../tools/verify/outputs";
import type { ProgramRun } from "../../harness/program";
import { programOutputs } from "./fixtures";
import { fakeSwarm, swarmRun, type FakeSwarm } from "./swarm-fixtures";

let qual: { run: ProgramRun; outputs: StackOutputs };
let prod: { run: ProgramRun; outputs: StackOutputs };
beforeAll(async () => {
  qual = await swarmRun("qual");
  prod = await swarmRun("prod");
});

const entries = (o: StackOutputs) => Object.keys(o.topology);
const routedCount = (o: StackOutputs) => Object.values(o.topology).filter((t) => t.router).length;
const asNodes = (swarm: FakeSwarm, only = swarm.nodes) => only.map((n) => ({ host: `ssh://deploy@${n.hostname}`, docker: n.docker }));
const run = (swarm: FakeSwarm, options: Partial<Parameters<typeof verify>[0]> = {}) =>
  verify({ stacks: [qual, prod].map(({ outputs }) => ({ stack: outputs.environment, outputs })), docker: swarm.manager.docker, nodes: asNodes(swarm), ...options });

describe("verify on swarm stacks", () => {
  test("the outputs say runtime swarm; a file without the key is a docker stack's", async () => {
    expect(qual.outputs.runtime).toBe("swarm");
    const docker = await programOutputs("qual");
    expect(docker.runtime).toBe("docker");
    const { runtime: _dropped, ...before } = docker;
    expect(parseOutputs(before, "outputs of a stack deployed before the key").runtime).toBe("docker");
  });

  test("checks both stacks as services through the manager, every route resolving, and probes each service on the node that runs its task", async () => {
    const swarm = fakeSwarm([qual, prod]);
    const report = await run(swarm);
    expect(report.failed).toEqual([]);
    for (const o of [qual.outputs, prod.outputs]) {
      for (const entry of entries(o)) {
        for (const item of ["exists", "replicas", "networks", "labels"]) expect(report.checks.find((c) => c.id === `service.${o.environment}.${entry}.${item}`)?.ok).toBe(true);
        for (const item of ["dependencies", "cross-environment"]) expect(report.checks.find((c) => c.id === `isolation.${o.environment}.${entry}.${item}`)?.ok).toBe(true);
      }
      expect(report.checks.filter((c) => c.id.startsWith(`route.${o.environment}.`))).toHaveLength(routedCount(o) * 5);
    }
    // Not the docker runtime's checklist: no container checks, no container probes.
    expect(report.checks.filter((c) => c.id.startsWith("container."))).toEqual([]);
    expect(report.isolation).toEqual([]);
    // Each probe ran on the node its task is on: the pinned ones on the manager, the rest on the other two.
    const probedOn = (n: { execs: string[][] }) => n.execs.length;
    const pinned = swarm.services.filter((s) => [...swarm.placement].some(([task, node]) => task.startsWith(`${s.Spec.Name}.`) && node === swarm.manager.id)).length;
    expect(probedOn(swarm.manager)).toBe(pinned);
    expect(probedOn(swarm.nodes[0]) + probedOn(swarm.nodes[1])).toBe(swarm.services.length - pinned);
    expect(probedOn(swarm.nodes[0])).toBeGreaterThan(0);
    expect(probedOn(swarm.nodes[1])).toBeGreaterThan(0);
  });

  test("node clients are matched to their node by the swarm's node ID, whatever order or names they come with", async () => {
    const swarm = fakeSwarm([qual, prod]);
    const report = await run(swarm, { nodes: asNodes(swarm, [swarm.nodes[1], swarm.nodes[0], swarm.nodes[1]]) });
    expect(report.failed).toEqual([]);
  });

  test("a service with no task on a node verify has a client for fails its probe checks, naming the node and --node", async () => {
    const swarm = fakeSwarm([qual, prod]);
    const [withClient, without] = swarm.nodes;
    const report = await run(swarm, { nodes: asNodes(swarm, [withClient]) });
    const onlyThere = swarm.services.filter((s) => [...swarm.placement].filter(([t]) => t.startsWith(`${s.Spec.Name}.`)).every(([, node]) => node === without.id));
    expect(onlyThere.length).toBeGreaterThan(0);
    const failedProbes = report.checks.filter((c) => !c.ok);
    expect(failedProbes.every((c) => c.id.startsWith("isolation."))).toBe(true);
    expect(failedProbes).toHaveLength(onlyThere.length * 2);
    for (const c of failedProbes) {
      expect(c.evidence).toContain(`${without.hostname} (node ${without.id.slice(0, 12)})`);
      expect(c.evidence).toContain("pass --node <that node's DOCKER_HOST>");
    }
    // A service with a task on a node verify can reach is probed there.
    expect(withClient.execs.length).toBeGreaterThan(0);
    expect(without.execs).toEqual([]);
  });

  test("--no-probe: every other check runs, no task is probed", async () => {
    const swarm = fakeSwarm([qual, prod]);
    const report = await run(swarm, { probe: false });
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => c.id.startsWith("isolation."))).toEqual([]);
    expect(report.checks.filter((c) => c.id.startsWith("route."))).toHaveLength((routedCount(qual.outputs) + routedCount(prod.outputs)) * 5);
    expect([swarm.manager, ...swarm.nodes].flatMap((n) => n.execs)).toEqual([]);
  });

  test("a dependency that does not connect fails that service's dependency check, with the target", async () => {
    const swarm = fakeSwarm([qual, prod]);
    const [entry, spec] = Object.entries(qual.outputs.topology).find(([, t]) => t.dependencies.length > 0)!;
    swarm.reachable.get(qual.outputs.containers[entry])!.delete(spec.dependencies[0]);
    const report = await run(swarm, { probe: {} });
    expect(report.failed).toContain(`isolation.qual.${entry}.dependencies`);
    expect(report.checks.find((c) => c.id === `isolation.qual.${entry}.dependencies`)?.evidence).toContain(`unreachable: ${spec.dependencies[0]}`);
  });

  test("the Traefik container off the edge overlay fails each routed entry's traefik-network check, and nothing else", async () => {
    const swarm = fakeSwarm([qual]);
    swarm.traefik!.networks = [qual.outputs.edge.traefikNetwork];
    const report = await verify({ stacks: [{ stack: "qual", outputs: qual.outputs }], docker: swarm.manager.docker, nodes: asNodes(swarm), probe: false });
    expect(report.failed.sort()).toEqual(entries(qual.outputs).filter((e) => qual.outputs.topology[e].router).map((e) => `route.qual.${e}.traefik-network`).sort());
  });

  test.each([
    ["a daemon that is in no swarm", () => ({ info: async () => ({ Swarm: { NodeID: "" } }) }), /swarm node ssh:\/\/deploy@node-b: that daemon is not in a swarm/],
    ["a node of another swarm", () => ({ info: async () => ({ Swarm: { NodeID: "stranger" } }) }), /swarm node ssh:\/\/deploy@node-b: its daemon is node stranger of another swarm, not of the one .* manages \(nodes node-a, node-b, node-c\)/],
    ["a daemon that does not answer", () => ({ info: async () => Promise.reject(new Error("connect ECONNREFUSED")) }), /no Docker daemon answers at ssh:\/\/deploy@node-b: connect ECONNREFUSED/],
  ])("refuses %s as a node, with one message", async (_what, make, message) => {
    const swarm = fakeSwarm([qual]);
    const bad = { host: "ssh://deploy@node-b", docker: make() as unknown as Docker };
    const failure = run(swarm, { nodes: [bad] });
    await expect(failure).rejects.toThrow(SwarmNodeError);
    await expect(failure).rejects.toThrow(message);
  });

  test("refuses a DOCKER_HOST that is no manager when a stack runs on swarm", async () => {
    const swarm = fakeSwarm([qual]);
    const worker = { ...swarm.manager.docker, version: swarm.manager.docker.version, info: async () => ({ Swarm: { NodeID: "node-id-a", ControlAvailable: false } }) } as unknown as Docker;
    await expect(run(swarm, { docker: worker })).rejects.toThrow(/is a swarm worker; a runtime: swarm stack is read from a manager: point DOCKER_HOST at one/);
  });

  test("a docker stack and a swarm stack in one run: each is checked for its runtime, in one report", async () => {
    const swarm = fakeSwarm([prod]);
    // The manager is also a plain Docker host, holding none of qual's containers.
    const manager = Object.assign(Object.create(null), swarm.manager.docker, {
      listContainers: async (o: { all?: boolean }) => (o?.all ? [] : swarm.manager.docker.listContainers(o as never)),
      listVolumes: async () => ({ Volumes: [] }),
    }) as Docker;
    const dockerQual = await programOutputs("qual");
    const report = await verify({ stacks: [{ stack: "qual", outputs: dockerQual }, { stack: "prod", outputs: prod.outputs }], docker: manager, nodes: asNodes(swarm), probe: false });
    expect(report.stacks).toEqual(["qual", "prod"]);
    // qual, a docker stack on a host without its containers: the container checks say so.
    expect(report.checks.find((c) => c.id === "container.qual.postgres.exists")?.ok).toBe(false);
    expect(report.checks.some((c) => c.id.startsWith("service.qual."))).toBe(false);
    // prod, on the swarm: its services, all there.
    expect(report.checks.filter((c) => c.id.startsWith("service.prod.") && !c.ok)).toEqual([]);
    expect(report.checks.some((c) => c.id.startsWith("container.prod."))).toBe(false);
    expect(Object.keys(report.images).sort()).toEqual(["prod", "qual"]);
  });
});
