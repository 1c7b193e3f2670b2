/**
 * The Swarm renderer on Pulumi's mock engine: both stacks with `runtime: swarm`
 * register one service per plan entry, overlays per model network, secrets as
 * files with content-hashed names, routes on the service, digests only, and
 * every input in the form the provider reads back (components/swarm/read-back.ts).
 * `runtime: docker` registers exactly what it did before.
 */
import { SERVICES } from "../../catalog/services";
import { planEnvironment } from "../../model/environment";
import { planSwarm, secretFile } from "../../model/swarm";
import { swarmNames } from "../../model/naming";
import { readBackDuration } from "../../components/swarm/read-back";
import { TYPES, ofType, runProgram, type ProgramRun, type RegisteredResource } from "../harness/program";
import { TEST_EXTERNAL_SECRETS, settingsOf } from "../harness/stack-config";

const SERVICE = "docker:index/service:Service";
const SECRET = "docker:index/secret:Secret";
const CONFIG = "docker:index/serviceConfig:ServiceConfig";
const SWARM = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
const STACKS = ["qual", "prod"] as const;
const runs: Record<string, ProgramRun> = {};
const plans = Object.fromEntries(STACKS.map((stack) => {
  const settings = settingsOf(stack, SWARM);
  const plan = planEnvironment(settings);
  return [stack, { plan, swarm: planSwarm(settings, plan) }];
}));

beforeAll(async () => {
  for (const stack of STACKS) runs[stack] = await runProgram({ stack, config: SWARM });
});

const services = (run: ProgramRun) => ofType(run, SERVICE);
const serviceNamed = (run: ProgramRun, name: string) => services(run).find((s) => s.inputs.name === name)!;
const labelsOf = (list: { label: string; value: string }[] | undefined) => Object.fromEntries((list ?? []).map((l) => [l.label, l.value]));

describe.each(STACKS)("the %s stack on swarm", (stack) => {
  const run = () => runs[stack];
  const { plan, swarm } = plans[stack];

  test("registers one service per plan entry, the backup included, and no container", () => {
    expect(services(run()).map((s) => s.inputs.name).sort()).toEqual(swarm.services.map((t) => t.serviceName).sort());
    expect(ofType(run(), TYPES.container)).toEqual([]);
  });

  test("each service runs its planned replicas with the planned update and rollback, dnsrr, and converges", () => {
    for (const t of swarm.services) {
      const s = serviceNamed(run(), t.serviceName).inputs;
      expect(s.mode).toEqual({ replicated: { replicas: t.replicas } });
      expect(s.updateConfig).toMatchObject({ order: t.update.order, failureAction: "rollback", parallelism: 1 });
      expect(s.rollbackConfig).toMatchObject({ order: t.rollback.order });
      expect(s.endpointSpec).toEqual({ mode: "dnsrr" });
      expect(s.convergeConfig.timeout).toBeDefined();
      expect(s.taskSpec.placement?.constraints ?? []).toEqual(t.constraints);
    }
  });

  test("one overlay per model network: stores' internal, the edge attachable with its pinned subnet, none encrypted", () => {
    const networks = ofType(run(), TYPES.network);
    expect(networks.map((n) => n.inputs.name).sort()).toEqual(plan.networks.map((n) => n.name).sort());
    for (const n of plan.networks) {
      const r = networks.find((x) => x.inputs.name === n.name)!.inputs;
      expect(r.driver).toBe("overlay");
      expect(r.internal ?? false).toBe(n.internal);
      expect(r.options).toBeUndefined();
      if (n.key === "edge") expect(r).toMatchObject({ attachable: true, ipamConfigs: [{ subnet: plan.edge.subnet }] });
    }
  });

  test("attaches each service to its networks by network ID, with the plan's aliases (the provider reads attachments back as IDs)", () => {
    const networks = ofType(run(), TYPES.network);
    const idOf = (name: string) => `${networks.find((n) => n.inputs.name === name)!.name}-id`;
    for (const c of plan.containers) {
      const s = serviceNamed(run(), c.containerName).inputs;
      expect(s.taskSpec.networksAdvanceds).toEqual(c.networks.map((n) => ({ id: idOf(n.name), ...(n.aliases?.length ? { aliases: n.aliases } : {}) })));
    }
  });

  test("no file-reading service keeps a secret in its environment: each is a Docker secret mounted as a file, named by a digest of its content", () => {
    const secrets = ofType(run(), SECRET);
    for (const t of swarm.services.filter((x) => x.secrets.via === "file")) {
      const entry = [...plan.containers, ...(plan.backup ? [plan.backup] : [])].find((c) => c.name === t.entry)!;
      const s = serviceNamed(run(), t.serviceName);
      const env = s.inputs.taskSpec.containerSpec.env ?? {};
      for (const v of entry.env.filter((e) => e.secret)) {
        expect(env[v.name]).toBeUndefined();
        expect(env[`${v.name}_FILE`]).toBe(secretFile(v.name));
        const ref = (s.inputs.taskSpec.containerSpec.secrets as any[]).find((r) => r.fileName === secretFile(v.name));
        expect(ref).toMatchObject({ fileUid: "0", fileGid: "0", fileMode: 0o444 });
        const secret = secrets.find((x) => x.inputs.name === ref.secretName)!;
        expect(labelsOf(secret.inputs.labels)[swarmNames.heldLabel]).toBe(v.name);
        expect(secret.inputs.name).toMatch(new RegExp(`^${t.serviceName}-[0-9a-f]{12}$`));
        expect(secret.inputs.name.length).toBeLessThanOrEqual(64);
        expect(secret.secretInputs).toContain("data");
      }
      expect(s.secretInputs).not.toContain("taskSpec");
    }
    // Where the image cannot read a file, the value stays in the environment, as a secret input.
    for (const t of swarm.services.filter((x) => x.secrets.via === "env")) {
      const entry = plan.containers.find((c) => c.name === t.entry)!;
      if (entry.env.some((e) => e.secret)) expect(serviceNamed(run(), t.serviceName).secretInputs).toContain("taskSpec");
    }
  });

  test("routes are the service's labels for Traefik's swarm provider; task containers opt out of Traefik", () => {
    for (const c of plan.containers) {
      const s = serviceNamed(run(), c.containerName).inputs;
      const service = labelsOf(s.labels);
      const task = labelsOf(s.taskSpec.containerSpec.labels);
      expect(task["traefik.enable"]).toBe("false");
      expect(Object.keys(task).filter((k) => k.startsWith("traefik.") && k !== "traefik.enable")).toEqual([]);
      if (c.route) {
        const router = swarm.services.find((t) => t.entry === c.name)!.router!;
        expect(service[`traefik.http.routers.${router}.rule`]).toBe(`Host(\`${c.route.host}\`)`);
        expect(run().outputs.topology[c.name].router).toBe(router);
        expect(service["traefik.swarm.network"]).toBe(plan.edge.network);
        expect(service[`traefik.http.services.${c.name}-${plan.env}.loadbalancer.server.port`]).toBe(String(c.port));
      } else {
        expect(service["traefik.enable"]).toBe("false");
      }
    }
  });

  test("every image is a digest: app services the release's pin with the registry login, stores the digest their tag resolved to", () => {
    for (const c of [...plan.containers, ...(plan.backup ? [plan.backup] : [])]) {
      const s = serviceNamed(run(), c.containerName).inputs;
      expect(s.taskSpec.containerSpec.image).toMatch(/@sha256:[0-9a-f]{64}$/);
      if (c.release) {
        expect(s.taskSpec.containerSpec.image).toBe(c.image);
        expect(s.auth).toMatchObject({ serverAddress: c.image.split("/")[0] });
      } else {
        expect(s.taskSpec.containerSpec.image.startsWith(`${c.image.replace(/:[^/:]+$/, "")}@sha256:`)).toBe(true);
      }
    }
  });

  test("health checks, limits and hardening as on the docker runtime; config files become Docker configs", () => {
    for (const c of plan.containers) {
      const s = serviceNamed(run(), c.containerName).inputs;
      const spec = s.taskSpec.containerSpec;
      expect(spec.healthcheck.tests).toEqual(c.healthcheck.tests);
      expect(spec.healthcheck.retries).toBe(c.healthcheck.retries);
      expect(s.taskSpec.resources.limits.memoryBytes).toBe(c.resources.memoryMb * 1024 * 1024);
      expect(s.taskSpec.resources.limits.nanoCpus).toBe(Math.round(c.resources.cpus * 1e9));
      expect(spec.readOnly).toBe(c.security.readOnly);
      expect(spec.capDrops).toEqual(["ALL"]);
      expect(spec.user).toBe(c.security.user);
      const tmpfs = (spec.mounts as any[]).filter((m) => m.type === "tmpfs").map((m) => m.target);
      expect(tmpfs.sort()).toEqual(Object.keys(c.security.tmpfs).sort());
      const configs = (spec.configs ?? []) as any[];
      expect(configs.map((x) => x.fileName)).toEqual((c.configFiles ?? []).map((f) => f.path));
    }
    expect(ofType(run(), CONFIG).length).toBe(plan.containers.reduce((n, c) => n + (c.configFiles?.length ?? 0), 0));
  });

  test("every duration is sent as the provider reads it back", () => {
    for (const s of services(run())) {
      const i = s.inputs;
      const durations = [
        i.taskSpec.containerSpec.healthcheck.interval,
        i.taskSpec.containerSpec.healthcheck.timeout,
        i.taskSpec.containerSpec.healthcheck.startPeriod,
        i.taskSpec.containerSpec.stopGracePeriod,
        i.taskSpec.restartPolicy.delay,
        i.taskSpec.restartPolicy.window,
        i.updateConfig.delay,
        i.updateConfig.monitor,
        i.rollbackConfig.delay,
        i.rollbackConfig.monitor,
        i.convergeConfig.timeout,
      ];
      for (const d of durations) expect(readBackDuration(d)).toBe(d);
      expect(i.updateConfig.maxFailureRatio).toMatch(/^\d+\.\d$/);
      expect(i.taskSpec.containerSpec.healthcheck.startInterval).toBeUndefined();
    }
  });
});

test("rotating a credential renames its secret, so the service update rolls the tasks", async () => {
  const singleFileService = Object.values(SERVICES).find((s) => Object.values(s.env).some((v) => typeof v !== "string" && v.secret === "{smtpPassword}"))!;
  const rotated = await runProgram({ stack: "qual", config: SWARM, secrets: { ...TEST_EXTERNAL_SECRETS, smtpPassword: "rotated-value" } });
  const before = ofType(runs.qual, SECRET).filter((s: RegisteredResource) => labelsOf(s.inputs.labels)[swarmNames.heldLabel] === "SMTP_PASSWORD");
  const after = ofType(rotated, SECRET).filter((s: RegisteredResource) => labelsOf(s.inputs.labels)[swarmNames.heldLabel] === "SMTP_PASSWORD");
  expect(singleFileService).toBeDefined();
  expect(before.length).toBeGreaterThan(0);
  expect(after.map((s) => s.inputs.name)).not.toEqual(before.map((s) => s.inputs.name));
  // Nothing else changed name.
  const others = (run: ProgramRun) => ofType(run, SECRET).filter((s) => labelsOf(s.inputs.labels)[swarmNames.heldLabel] !== "SMTP_PASSWORD").map((s) => s.inputs.name).sort();
  expect(others(rotated)).toEqual(others(runs.qual));
});

test("runtime: docker registers exactly what it did without the swarm keys", async () => {
  const plain = await runProgram({ stack: "qual" });
  const withKeys = await runProgram({ stack: "qual", config: { runtime: "docker", swarm: { nodes: 3, replicas: 4 } } });
  const strip = (run: ProgramRun) => run.resources.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, secretInputs: r.secretInputs, options: r.options }));
  expect(strip(withKeys)).toEqual(strip(plain));
  expect(ofType(plain, SERVICE)).toEqual([]);
});

test("moving a stack from docker to swarm keeps the URNs of its credentials and volumes: no password is regenerated, no volume replaced", async () => {
  const docker = await runProgram({ stack: "prod" });
  const kept = (run: ProgramRun) => run.resources.filter((r) => [TYPES.password, TYPES.bytes, TYPES.volume].includes(r.type as never)).map((r) => r.urn).sort();
  expect(kept(runs.prod).length).toBeGreaterThan(0);
  expect(kept(runs.prod)).toEqual(kept(docker));
});

test("moving a stack from docker to swarm replaces every network, the edge included, in place and delete-first, with Traefik's attachment", async () => {
  // Docker refuses a second network of one name. Pulumi deletes a delete-first replacement (and, before it,
  // what depends on it: the containers) before creating the new one; a network under another URN would be
  // created first, beside its same-named predecessor, and the `up` would fail there.
  const docker = await runProgram({ stack: "prod" });
  const networks = (run: ProgramRun) => ofType(run, TYPES.network);
  const byName = (run: ProgramRun) => new Map(networks(run).map((n) => [n.inputs.name as string, n]));
  const before = byName(docker);
  expect(networks(runs.prod).length).toBe(plans.prod.plan.networks.length);
  for (const overlay of networks(runs.prod)) {
    expect(overlay.inputs.driver).toBe("overlay");
    expect(overlay.urn).toBe(before.get(overlay.inputs.name)?.urn);
    expect(overlay.options.deleteBeforeReplace).toBe(true);
  }
  const attachment = (run: ProgramRun) => ofType(run, TYPES.command).filter((c) => c.name.endsWith("-traefik-attachment")).map((c) => c.urn);
  expect(attachment(runs.prod)).toHaveLength(1);
  expect(attachment(runs.prod)).toEqual(attachment(docker));
});
