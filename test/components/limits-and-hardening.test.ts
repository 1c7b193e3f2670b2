import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { STORE_NAMES } from "../../catalog/types";
import { planEnvironment } from "../../model/environment";
import { cpusReadBack } from "../../model/read-back";
import { containerFor, containers, envOf } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";
import { settingsOf } from "../harness/stack-config";

const runs: Record<string, ProgramRun> = {};
beforeAll(async () => {
  runs.qual = await runProgram({ stack: "qual" });
  runs.prod = await runProgram({ stack: "prod" });
});

const floorOf = (name: string) => ({ ...STORES, ...SERVICES })[name as keyof typeof STORES].resources.minMemoryMb ?? 0;

test("limits every container's memory and CPU, qual at half of prod, never below the catalog's memory floor", () => {
  for (const name of [...STORE_NAMES, ...SERVICE_NAMES]) {
    const [qual, prod] = [containerFor(runs.qual, name).inputs, containerFor(runs.prod, name).inputs];
    expect(prod.memory).toBeGreaterThanOrEqual(128);
    expect(qual.memory).toBe(Math.max(64, floorOf(name), Math.round(prod.memory / 2)));
    expect(Number(qual.cpus)).toBeLessThan(Number(prod.cpus));
  }
});

test("allows no swap, so that a memory raise of any size can be applied in place", () => {
  for (const run of [runs.qual, runs.prod]) {
    for (const c of containers(run)) expect({ name: c.inputs.name, swap: c.inputs.memorySwap }).toEqual({ name: c.inputs.name, swap: c.inputs.memory });
  }
});

test("sizes each container from its catalog entry", () => {
  expect(containerFor(runs.prod, "elasticsearch").inputs.memory).toBe(STORES.elasticsearch.resources.memoryMb);
  // In the form the provider reads back ("1.0" for 1 core), and the catalog's number of cores.
  const { cpus } = containerFor(runs.prod, "keycloak").inputs;
  expect(cpus).toBe(cpusReadBack(SERVICES.keycloak.resources.cpus));
  expect(Number(cpus)).toBe(SERVICES.keycloak.resources.cpus);
});

test("renders each container's memory, CPU and heap as the model plans them, overrides included", async () => {
  const overrides = { services: { keycloak: { memoryMb: floorOf("keycloak") + 100, cpus: 0.75 } }, stores: { elasticsearch: { memoryMb: 3000 } } };
  const run = await runProgram({ stack: "qual", config: overrides });
  for (const planned of planEnvironment(settingsOf("qual", overrides)).containers) {
    const { inputs } = containerFor(run, planned.name);
    expect({ name: planned.name, memory: inputs.memory, cpus: Number(inputs.cpus) }).toEqual({ name: planned.name, memory: planned.resources.memoryMb, cpus: planned.resources.cpus });
  }
  const heap = envOf(containerFor(run, "elasticsearch")).ES_JAVA_OPTS;
  expect(heap).toBe("-Xms1500m -Xmx1500m");
});

test("hardens every container, with exactly the catalog's listed exceptions", () => {
  const specs = [...STORE_NAMES.map((n) => STORES[n]), ...SERVICE_NAMES.map((n) => SERVICES[n])];
  for (const spec of specs) {
    const inputs = containerFor(runs.prod, spec.name).inputs;
    expect(inputs.securityOpts).toEqual(["no-new-privileges:true"]);
    expect(inputs.capabilities.drops).toEqual(["ALL"]);
    expect(inputs.capabilities.adds).toEqual([...(spec.hardening.runsAsRoot?.capAdd ?? [])].sort());
    expect(inputs.readOnly).toBe(!spec.hardening.writableRoot);
    if (inputs.readOnly) expect(Object.keys(inputs.tmpfs).sort()).toEqual([...spec.scratch].sort());
    if (spec.hardening.runsAsRoot) expect(inputs.user).toBeUndefined();
    else expect(inputs.user).toMatch(/^[1-9][0-9]*:[0-9]+$/);
  }
  expect(containers(runs.prod).filter((c) => c.inputs.readOnly)).toHaveLength(specs.filter((spec) => !spec.hardening.writableRoot).length);
});

test("rotates every container's logs as the model plans", () => {
  const planned = planEnvironment(settingsOf("qual")).containers[0].logs;
  for (const c of containers(runs.qual)) expect(c.inputs).toMatchObject({ logDriver: planned.driver, logOpts: planned.opts });
});

test("gives RabbitMQ a stable hostname, since it keys its data directory on the node name", () => {
  expect(containerFor(runs.prod, "rabbitmq").inputs.hostname).toBe("rabbitmq-prod");
});
