/**
 * The lab swarm `.ci/swarm.sh` builds is a real multi-node swarm: every node
 * ready under its own label with the stand-in image loaded, overlays carry
 * traffic between nodes (VXLAN) with dnsrr service discovery, a task on
 * another overlay cannot reach them, its registry wants its login and every
 * node reaches it over plain HTTP, and the shared default daemon is not part
 * of it.
 */
import Docker from "dockerode";
import { LAB_NODE_LABEL, execInTask, holdLab, lab, labRegistry, labStatus, registryStatus, running, tasksOf, until, type Lab } from "../../testing/swarm/lab";
import { buildStandinImage } from "./host";
import { RUN_LABEL } from "./applier";

jest.setTimeout(180_000);
const status = labStatus();
const runId = `e2e-${process.pid}-${Date.now().toString(36)}`;

describe("the lab swarm", () => {
  let L: Lab;
  let image: string;
  let release: (() => void) | undefined;
  const created: { services: string[]; networks: string[] } = { services: [], networks: [] };
  beforeAll(async () => {
    if (!status.up) throw new Error(status.reason);
    release = await holdLab("swarm-lab");
    L = lab();
    image = buildStandinImage();
  });
  afterAll(async () => {
    if (!L) return;
    for (const s of created.services) await L.manager.getService(s).remove().catch(() => undefined);
    // A removed service's tasks release their overlay endpoints a moment later.
    for (const n of created.networks) await until(() => `network ${n} still in use`, () => L.manager.getNetwork(n).remove().then(() => true, (e) => (e.statusCode === 404 ? true : undefined)), 60_000);
    release?.();
  });

  test("every node is a ready manager with its own lab label and the stand-in image", async () => {
    const nodes = await L.manager.listNodes();
    expect(nodes).toHaveLength(L.nodes.length);
    expect(new Set(nodes.map((n: any) => n.Spec.Labels[LAB_NODE_LABEL])).size).toBe(L.nodes.length);
    for (const n of nodes as any[]) {
      expect(n.Status.State).toBe("ready");
      expect(n.Spec.Role).toBe("manager");
    }
    for (const node of L.nodes) await expect(node.getImage(image).inspect()).resolves.toBeDefined();
  });

  test("the lab registry refuses an anonymous request, accepts its login, and every node trusts it over plain HTTP", async () => {
    const registry = labRegistry();
    expect(registryStatus(registry, "/v2/", { login: false })).toBe(401);
    expect(registryStatus(registry, "/v2/", { login: true })).toBe(200);
    for (const node of L.nodes) {
      const info = (await node.info()) as any;
      expect(info.RegistryConfig.IndexConfigs[registry.address]).toMatchObject({ Name: registry.address, Secure: false });
    }
    // Only the lab's daemons: the default daemon was never told of it.
    expect(((await new Docker().info()) as any).RegistryConfig.IndexConfigs[registry.address]).toBeUndefined();
  });

  test("the shared default daemon is not part of the swarm", async () => {
    const info = (await new Docker().info()) as any;
    expect(info.Swarm.LocalNodeState).toBe("inactive");
  });

  test("a dnsrr service on an overlay is reachable from another node's task, and not from a task on another overlay", async () => {
    const [net, other] = [`lab-a-${runId}`, `lab-b-${runId}`];
    for (const name of [net, other]) {
      await L.manager.createNetwork({ Name: name, Driver: "overlay", Attachable: true, Labels: { [RUN_LABEL]: runId } });
      created.networks.push(name);
    }
    const service = (name: string, network: string, replicas: number) => ({
      Name: name,
      Labels: { [RUN_LABEL]: runId },
      TaskTemplate: {
        ContainerSpec: { Image: image },
        Networks: [{ Target: network }],
        // One task per node, so the probes below cross nodes.
        Placement: { MaxReplicas: 1 },
      },
      Mode: { Replicated: { Replicas: replicas } },
      EndpointSpec: { Mode: "dnsrr" as const },
    });
    const [web, client, stranger] = [`lab-web-${runId}`, `lab-client-${runId}`, `lab-stranger-${runId}`];
    await L.manager.createService(service(web, net, L.nodes.length) as any);
    await L.manager.createService(service(client, net, 1) as any);
    await L.manager.createService(service(stranger, other, 1) as any);
    created.services.push(web, client, stranger);
    const up = (name: string, n: number) => until(() => `${name} has not ${n} running tasks`, async () => {
      const r = running(await tasksOf(L.manager, name));
      return r.length === n ? r : undefined;
    });
    const webTasks = await up(web, L.nodes.length);
    expect(new Set(webTasks.map((t) => t.labNode)).size).toBe(L.nodes.length);
    const [clientTask] = await up(client, 1);
    const [strangerTask] = await up(stranger, 1);
    const netId = (await L.manager.getNetwork(net).inspect()).Id;
    for (const t of webTasks) {
      expect((await execInTask(L, clientTask, `port-open 8080 ${t.addresses[netId]}`)).code).toBe(0);
      expect((await execInTask(L, strangerTask, `port-open 8080 ${t.addresses[netId]}`)).code).not.toBe(0);
    }
    // dnsrr: the service name resolves to a task address, no VIP (this kernel has no IPVS).
    expect((await execInTask(L, clientTask, `port-open 8080 ${web}`)).code).toBe(0);
    expect((await execInTask(L, strangerTask, `port-open 8080 ${web}`)).code).not.toBe(0);
  });
});
