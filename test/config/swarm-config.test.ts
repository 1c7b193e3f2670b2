/**
 * `runtime: swarm` config: the key's values, the node count it needs, the
 * one-task rule for stateful services, and the per-node budget every swarm
 * stack's tasks must fit. Expected sizes come from the model's own plan.
 */
import { SERVICES, SERVICE_NAMES, type ServiceName } from "../../catalog/services";
import { validateStackConfig, type ConfigProblem } from "../../config/validate";
import { planEnvironment } from "../../model/environment";
import { PROJECT } from "../../model/naming";
import { planSwarm, singleReason, swarmLoad } from "../../model/swarm";
import { readOtherStacks } from "../../config/stack-files";
import { testRelease } from "../harness/release";
import { FIXTURE_PROJECT, engineConfig, readStackConfig, settingsOf } from "../harness/stack-config";

function validate(stack: string, overrides: Record<string, unknown>) {
  const config = engineConfig(stack, overrides);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), otherStacks: readOtherStacks(FIXTURE_PROJECT, stack), release: testRelease(stack, {}, FIXTURE_PROJECT) });
}
const problems = (stack: string, overrides: Record<string, unknown>): ConfigProblem[] => {
  const result = validate(stack, overrides);
  return result.ok ? [] : result.problems;
};
const host = (stack: string) => readStackConfig(stack)[`${PROJECT}:host`] as Record<string, unknown>;
const swarmOf = (stack: string, overrides: Record<string, unknown>) => {
  const settings = settingsOf(stack, overrides);
  return planSwarm(settings, planEnvironment(settings));
};
const stateless = SERVICE_NAMES.filter((s) => !singleReason({ kind: "service", name: s, volumes: SERVICES[s].volumes }));
const singletons = SERVICE_NAMES.filter((s) => SERVICES[s].singleton);

test("runtime defaults to docker, and a docker stack's settings plan no differently with swarm keys beside it", () => {
  const result = validate("qual", {});
  expect(result.ok && result.settings.runtime).toBe("docker");
  const plain = planEnvironment(settingsOf("qual"));
  expect(planEnvironment(settingsOf("qual", { swarm: { nodes: 3, replicas: 4 } }))).toEqual(plain);
});

test("a runtime other than docker or swarm is refused at its key, saying what is expected", () => {
  expect(problems("qual", { runtime: "kubernetes" })).toEqual([{ path: `${PROJECT}:runtime`, message: "expected docker or swarm" }]);
});

test("runtime: swarm without swarm.nodes is refused with the command that sets it", () => {
  const found = problems("qual", { runtime: "swarm" });
  expect(found).toHaveLength(1);
  expect(found[0].path).toBe(`${PROJECT}:swarm.nodes`);
  expect(found[0].message).toMatch(/pulumi config set --path swarm.nodes 3 --stack qual/);
});

test("a singleton service asked for two replicas is refused at its key, with the catalog's reason", () => {
  expect(singletons.length).toBeGreaterThan(0);
  const service = singletons[0];
  const found = problems("qual", { runtime: "swarm", swarm: { nodes: 3, services: { [service]: { replicas: 2 } } } });
  expect(found.map((p) => p.path)).toEqual([`${PROJECT}:swarm.services.${service}.replicas`]);
  expect(found[0].message).toContain(SERVICES[service].singleton!);
});

test("swarm.services names only catalog services", () => {
  const found = problems("qual", { runtime: "swarm", swarm: { nodes: 3, services: { "no-such-service": { replicas: 2 } } } });
  expect(found.map((p) => p.path)).toContain(`${PROJECT}:swarm.services.no-such-service`);
});

describe("the plan on swarm", () => {
  const swarm = swarmOf("prod", { runtime: "swarm", swarm: { nodes: 3, services: { [stateless[0]]: { replicas: 3 } } } });
  const byEntry = (name: string) => swarm.services.find((s) => s.entry === name)!;

  test("stateless services get swarm.replicas (2 by default) or their own count, start-first with rollback on failure", () => {
    for (const name of stateless) {
      const t = byEntry(name);
      expect(t.replicas).toBe(name === stateless[0] ? 3 : 2);
      expect(t.update).toMatchObject({ order: "start-first", failureAction: "rollback", parallelism: 1 });
      expect(t.endpointMode).toBe("dnsrr");
    }
  });

  test("stores, singletons and the backup run one task stop-first; whatever mounts a volume is pinned to the stores' node", () => {
    const plan = planEnvironment(settingsOf("prod"));
    for (const t of swarm.services.filter((s) => s.single)) {
      expect(t.replicas).toBe(1);
      expect(t.update.order).toBe("stop-first");
    }
    for (const c of [...plan.containers, ...(plan.backup ? [plan.backup] : [])]) {
      const t = byEntry(c.name);
      expect(t.constraints.includes(swarm.storesConstraint)).toBe(c.volumes.length > 0 || c.kind === "backup");
    }
    expect(swarm.storesConstraint).toBe(`node.labels.${swarm.storesNodeLabel}==true`);
  });

  test("routed services' labels are for Traefik's swarm provider: traefik.swarm.network and @swarm middlewares, the port named", () => {
    const routed = planEnvironment(settingsOf("prod")).containers.filter((c) => c.route);
    expect(routed.length).toBeGreaterThan(0);
    for (const c of routed) {
      const labels = byEntry(c.name).serviceLabels;
      expect(labels["traefik.swarm.network"]).toBeDefined();
      expect(labels["traefik.docker.network"]).toBeUndefined();
      expect(Object.values(labels).join(" ")).not.toMatch(/@docker/);
      expect(labels[`traefik.http.services.${c.name}-prod.loadbalancer.server.port`]).toBe(String(c.port));
    }
  });
});

describe("the per-node budget", () => {
  const swarmConfig = { runtime: "swarm", swarm: { nodes: 3 } };
  const load = swarmLoad("qual", swarmOf("qual", swarmConfig));

  test("accepts the fixture stacks on a roomy swarm", () => {
    expect(problems("qual", { ...swarmConfig, host: { ...host("qual"), memoryBudgetMb: 1_000_000 } })).toEqual([]);
  });

  test("refuses a node budget the stores' pinned tasks cannot fit, naming that node's load", () => {
    const found = problems("qual", { ...swarmConfig, host: { ...host("qual"), memoryBudgetMb: load.pinnedMb - 1, reservedMb: 0 } });
    expect(found.map((p) => p.path)).toEqual([`${PROJECT}:host.memoryBudgetMb`]);
    expect(found[0].message).toContain(`the stores' node would hold ${load.pinnedMb} MiB`);
  });

  test("a budget that fits on enough nodes is refused on too few", () => {
    const largest = Math.max(...load.tasks.map((t) => t.memoryMb), load.rolloutMb);
    // Room for the pinned tasks plus the largest task on each node: the others need more nodes.
    const budget = load.pinnedMb + largest;
    const total = load.pinnedMb + load.tasks.reduce((s, t) => s + t.memoryMb, 0) + load.rolloutMb;
    const enough = Math.ceil(total / (budget - largest)) + 1;
    const config = (nodes: number) => ({ runtime: "swarm", swarm: { nodes }, host: { ...host("qual"), memoryBudgetMb: budget, reservedMb: 0 } });
    expect(problems("qual", config(enough))).toEqual([]);
    const found = problems("qual", config(1));
    expect(found.map((p) => p.path)).toEqual([`${PROJECT}:host.memoryBudgetMb`]);
    expect(found[0].message).toMatch(/fits on no node/);
  });

  test("every replica of a stateless service counts", () => {
    const two = swarmLoad("qual", swarmOf("qual", swarmConfig));
    const three = swarmLoad("qual", swarmOf("qual", { ...swarmConfig, swarm: { nodes: 3, replicas: 3 } }));
    const perReplica = stateless.reduce((sum, s) => sum + planEnvironment(settingsOf("qual")).containers.find((c) => c.name === (s as ServiceName))!.resources.memoryMb, 0);
    expect(three.tasks.reduce((a, t) => a + t.memoryMb, 0) - two.tasks.reduce((a, t) => a + t.memoryMb, 0)).toBe(perReplica);
  });
});

describe("secrets the swarm gives as files", () => {
  const roomy = (stack: string) => ({ runtime: "swarm", swarm: { nodes: 3 }, host: { ...host(stack), memoryBudgetMb: 1_000_000 } });
  // A service with a secret, from the plan, whose command a stack may override.
  const plan = planEnvironment(settingsOf("qual"));
  const service = plan.containers.find((c) => c.kind === "service" && c.env.some((v) => v.secret))!;
  const variable = service.env.find((v) => v.secret)!.name;
  const reading = { services: { [service.name]: { command: ["sh", "-c", `exec server --password "$${variable}"`] } } };

  test("a stack's command that reads one by name is refused at its key on swarm, saying where the secret is", () => {
    const found = problems("qual", { ...roomy("qual"), ...reading });
    expect(found).toEqual([
      {
        path: `${PROJECT}:services.${service.name}.command`,
        message: expect.stringContaining(`${service.name}'s command reads ${variable}, but runtime: swarm gives ${service.name} that secret as a file only (${variable}_FILE=/run/secrets/${variable})`),
      },
    ]);
  });

  test("the same command is accepted on the docker runtime, where the variable is set", () => {
    expect(problems("qual", reading)).toEqual([]);
  });
});
