/**
 * The read-back forms of components/swarm/read-back.ts against what the
 * provider's `shortDur` (Go's Duration.String, "m0s"/"h0m" cut) prints, and
 * every resource the swarm renderer registers against the provider's read-back.
 */
import { nanoCpus, parseDuration, readBackDuration, shortDuration, tmpfsSizeBytes } from "../../../components/swarm/read-back";
import { planEnvironment } from "../../../model/environment";
import { MODERN_ENGINE, READ_BACK_RULES, readBackDiffs, uncoveredProperties, type EngineFacts } from "../../../model/read-back";
import { planSwarm } from "../../../model/swarm";
import { EMPTY_HOST, TYPES, ofType, runProgram, type ProgramRun, type RegisteredResource } from "../../harness/program";
import { TEST_EXTERNAL_SECRETS, settingsOf } from "../../harness/stack-config";

const SERVICE = "docker:index/service:Service";
const SECRET = "docker:index/secret:Secret";
const CONFIG = "docker:index/serviceConfig:ServiceConfig";

test.each([
  [0, "0s"],
  [500, "500ms"],
  [1000, "1s"],
  [1500, "1.5s"],
  [30_000, "30s"],
  [60_000, "1m"],
  [90_000, "1m30s"],
  [3_600_000, "1h"],
  [3_660_000, "1h1m"],
  [3_661_000, "1h1m1s"],
  [5_400_000, "1h30m"],
])("%d ms reads back as %s", (ms, text) => {
  expect(shortDuration(ms)).toBe(text);
  expect(parseDuration(text)).toBe(ms);
});

test("a duration written another way is sent in the form it reads back", () => {
  expect(readBackDuration("90s")).toBe("1m30s");
  expect(readBackDuration("60s")).toBe("1m");
  expect(readBackDuration("1m0s")).toBe("1m");
  expect(readBackDuration("10s")).toBe("10s");
});

test("a text that is no duration is refused, not read as zero", () => {
  expect(() => parseDuration("ten seconds")).toThrow(/cannot read duration/);
  expect(() => shortDuration(-1)).toThrow();
});

test("CPUs become whole nano-CPUs, two decimals of a core", () => {
  expect(nanoCpus(0.5)).toBe(500_000_000);
  expect(nanoCpus(0.3)).toBe(300_000_000);
  expect(Number.isInteger(nanoCpus(0.1 + 0.2))).toBe(true);
});

test("a tmpfs's size is read from the plan's options, and one without a size is refused", () => {
  expect(tmpfsSizeBytes("rw,noexec,nosuid,size=64m")).toBe(64 * 1024 * 1024);
  expect(() => tmpfsSizeBytes("rw,noexec")).toThrow(/no size/);
});

/*
 * A second `up` on `runtime: swarm` changes nothing: every service, overlay,
 * secret and config the program registers, for both stacks, several scales and
 * replica counts, is sent in the form the provider reads back
 * (model/read-back.ts READ_BACK_RULES), honouring each resource's ignoreChanges.
 */
describe("every swarm resource reads back as sent", () => {
  const SWARM = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
  const BACKUP = { backup: { repository: "/mnt/backup-disk/restic" } };
  const WEBHOOK_SECRETS = { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: "https://hooks.example.com/t" };
  const OLD_ENGINE: EngineFacts = { apiVersion: "1.41", swapLimit: false, jsonFileLogDefaults: { compress: "true", "max-size": "5m", "max-file": "9" } };
  const ENGINES = { "Docker >= 25": MODERN_ENGINE, "Docker 20.10": OLD_ENGINE };
  const SWARM_TYPES: string[] = [TYPES.network, SERVICE, SECRET, CONFIG];

  const label = (r: RegisteredResource) => `${r.type.split(":").pop()} ${r.inputs.name}`;
  /** The value at a path differingPaths reports (`taskSpec.placement.platforms`, `mounts[2]`), from the property's value. */
  const at = (value: unknown, path: string) =>
    path
      .split(/[.[\]]/)
      .filter(Boolean)
      .slice(1)
      .reduce<unknown>((v, k) => (v === null || typeof v !== "object" ? undefined : (v as Record<string, unknown>)[k]), value);

  function everyDiff(run: ProgramRun, engine: EngineFacts): string[] {
    return run.resources
      .filter((r) => SWARM_TYPES.includes(r.type))
      .flatMap((r) => [
        ...readBackDiffs(r.type, r.inputs, { engine }, r.options.ignoreChanges).flatMap((d) =>
          d.paths.map(
            (p) => `${label(r)}: ${p} sent ${JSON.stringify(at(d.sent, p))}, read back ${JSON.stringify(at(d.readBack, p))} (${d.replaces ? "replaced" : "updated"} on every up)`,
          ),
        ),
        ...uncoveredProperties(r.type, r.inputs).map((p) => `${label(r)}: ${p} has no read-back rule`),
      ]);
  }

  /** What the plan says the run must hold: one service per entry, one overlay per network, a secret per file-read secret, a config per config file. */
  function expectedCounts(stack: string, config: Record<string, unknown>, webhook: boolean) {
    const settings = settingsOf(stack, config);
    const plan = planEnvironment(settings);
    const swarm = planSwarm(settings, plan);
    const entries = [...plan.containers, ...(plan.backup ? [plan.backup] : [])];
    const fileSecrets = swarm.services
      .filter((t) => t.secrets.via === "file")
      .reduce((n, t) => n + entries.find((c) => c.name === t.entry)!.env.filter((e) => e.secret).length, 0);
    return {
      [SERVICE]: swarm.services.length,
      [TYPES.network]: plan.networks.length,
      [SECRET]: fileSecrets + (webhook && plan.backup ? 1 : 0),
      [CONFIG]: plan.containers.reduce((n, c) => n + (c.configFiles?.length ?? 0), 0),
    };
  }
  const counts = (run: ProgramRun) => Object.fromEntries(SWARM_TYPES.map((t) => [t, ofType(run, t).length]));

  describe.each(Object.entries(ENGINES))("on %s", (_name, engine) => {
    test.each(["qual", "prod"])("%s with its backup and webhook: every service, overlay, secret and config", async (stack) => {
      const config = { ...SWARM, ...BACKUP };
      const run = await runProgram({ stack, config, secrets: WEBHOOK_SECRETS, inventory: { ...EMPTY_HOST, engine } });
      expect(counts(run)).toEqual(expectedCounts(stack, config, true));
      expect(everyDiff(run, engine)).toEqual([]);
    });
  });

  test.each([0.1, 0.45])("qual scaled by %p", async (scale) => {
    const config = { ...SWARM, resources: { scale } };
    const run = await runProgram({ stack: "qual", config });
    expect(counts(run)).toEqual(expectedCounts("qual", config, false));
    expect(everyDiff(run, MODERN_ENGINE)).toEqual([]);
  });

  test("prod with three replicas each and one stateless service on one", async () => {
    const settings = settingsOf("prod", SWARM);
    const stateless = planSwarm(settings, planEnvironment(settings)).services.find((t) => t.kind === "service" && !t.single)!;
    const config = { ...SWARM, swarm: { ...SWARM.swarm, replicas: 3, services: { [stateless.entry]: { replicas: 1 } } } };
    const run = await runProgram({ stack: "prod", config });
    const replicas = Object.fromEntries(ofType(run, SERVICE).map((s) => [s.inputs.name, s.inputs.mode.replicated.replicas]));
    expect(replicas[stateless.serviceName]).toBe(1);
    expect(Object.values(replicas)).toContain(3);
    expect(everyDiff(run, MODERN_ENGINE)).toEqual([]);
  });
});

describe("the swarm rules catch what the real provider and engine would change", () => {
  const SWARM = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ stack: "prod", config: SWARM });
  });
  const pinned = () => ofType(run, SERVICE).find((s) => s.inputs.taskSpec.placement?.constraints?.length)!;
  const edge = () => ofType(run, TYPES.network).find((n) => n.inputs.attachable)!;
  const pathsOf = (r: RegisteredResource, inputs: Record<string, unknown>, ignoreChanges = r.options.ignoreChanges) =>
    readBackDiffs(r.type, { ...r.inputs, ...inputs }, { engine: MODERN_ENGINE }, ignoreChanges).flatMap((d) => d.paths.map((p) => [p, d.replaces]));

  test("an overlay subnet without its gateway reads back with the one the swarm allocator picked: a replacement", () => {
    expect(pathsOf(edge(), { ipamConfigs: [{ subnet: edge().inputs.ipamConfigs[0].subnet }] })).toEqual([["ipamConfigs[0].gateway", true]]);
  });

  test("a placement reads back with the platforms the client resolved from the registry, unless they are ignored", () => {
    expect(pathsOf(pinned(), {}, [])).toEqual([["taskSpec.placement.platforms", false]]);
    expect(pinned().options.ignoreChanges).toContain("taskSpec.placement.platforms");
    expect(pathsOf(pinned(), {})).toEqual([]);
  });

  test("an image by tag reads back pinned to a digest, and a docker.io one in its familiar form", () => {
    const spec = pinned().inputs.taskSpec;
    const withImage = (image: string) => ({ taskSpec: { ...spec, containerSpec: { ...spec.containerSpec, image } } });
    expect(pathsOf(pinned(), withImage("postgres:16.4-alpine"))).toEqual([["taskSpec.containerSpec.image", false]]);
    expect(pathsOf(pinned(), withImage(`docker.io/library/postgres@sha256:${"a".repeat(64)}`))).toEqual([["taskSpec.containerSpec.image", false]]);
    expect(pathsOf(pinned(), withImage(`postgres@sha256:${"a".repeat(64)}`))).toEqual([]);
  });

  test("durations, secret file modes and a bind mount's options come back in the provider's forms", () => {
    const spec = pinned().inputs.taskSpec;
    const container = spec.containerSpec;
    const withContainer = (changes: Record<string, unknown>) => ({ taskSpec: { ...spec, containerSpec: { ...container, ...changes } } });
    expect(pathsOf(pinned(), withContainer({ healthcheck: { ...container.healthcheck, interval: "60s" } }))).toEqual([
      ["taskSpec.containerSpec.healthcheck.interval", false],
    ]);
    expect(pathsOf(pinned(), { updateConfig: { ...pinned().inputs.updateConfig, monitor: "30000ms" } })).toEqual([["updateConfig.monitor", false]]);
    // Left out, the provider's schema defaults fill them: the same as sent.
    const secrets = (container.secrets ?? []).map(({ fileUid: _u, fileGid: _g, fileMode: _m, ...rest }: Record<string, unknown>) => rest);
    expect(pathsOf(pinned(), withContainer({ secrets }))).toEqual([]);
    // A bind_options block gets its propagation default, and the manager keeps it: nothing differs.
    const mounts = [...container.mounts, { type: "bind", source: "/srv/x", target: "/x", bindOptions: {} }];
    expect(pathsOf(pinned(), withContainer({ mounts }))).toEqual([]);
  });

  test("a network attached by name reads back as its ID: a replacement, where a healthcheck change is an update", () => {
    const spec = pinned().inputs.taskSpec;
    const byName = { taskSpec: { ...spec, networksAdvanceds: [{ name: "po-edge-prod" }] } };
    expect(pathsOf(pinned(), byName).every(([p, replaces]) => String(p).startsWith("taskSpec.networksAdvanceds") && replaces)).toBe(true);
    expect(pathsOf(pinned(), byName).length).toBeGreaterThan(0);
    const healthcheck = { taskSpec: { ...spec, containerSpec: { ...spec.containerSpec, healthcheck: { ...spec.containerSpec.healthcheck, timeout: "60s" } } } };
    expect(pathsOf(pinned(), healthcheck)).toEqual([["taskSpec.containerSpec.healthcheck.timeout", false]]);
  });

  test("an input inside the task spec that no rule models is reported", () => {
    const spec = pinned().inputs.taskSpec;
    expect(uncoveredProperties(SERVICE, { ...pinned().inputs, taskSpec: { ...spec, containerSpec: { ...spec.containerSpec, privileges: {} } } })).toEqual([
      "taskSpec.containerSpec.privileges",
    ]);
  });
});

describe("the swarm rules read a real inspect where the simulation writes it", () => {
  const SWARM = { runtime: "swarm", swarm: { nodes: 3 }, host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] } };
  /** Each rule's simulated daemon value, by property. */
  const stored = (r: RegisteredResource): Record<string, any> =>
    Object.fromEntries(
      READ_BACK_RULES[r.type].fields.flatMap((f) => {
        const planned = f.planned?.(r.inputs[f.property]);
        return planned === undefined ? [] : [[f.property, f.toDaemon(planned, MODERN_ENGINE)]];
      }),
    );
  /** `docker service|network|config inspect` as the engine would print it for what the simulation stored. */
  const inspectOf = (r: RegisteredResource): Record<string, unknown> => {
    const s = stored(r);
    if (r.type === SERVICE) {
      const { name: Name, labels: Labels, taskSpec: TaskTemplate, mode: Mode, updateConfig: UpdateConfig, rollbackConfig: RollbackConfig, endpointSpec } = s;
      return { Spec: { Name, Labels, TaskTemplate, Mode, UpdateConfig, RollbackConfig, EndpointSpec: endpointSpec.Spec }, Endpoint: endpointSpec };
    }
    if (r.type === CONFIG) return { Spec: { Name: s.name, Data: s.data, Labels: s.labels } };
    if (r.type === SECRET) return { Spec: { Name: s.name } };
    return { Name: s.name, Driver: s.driver, Labels: s.labels, Internal: s.internal, Attachable: s.attachable, IPAM: { Driver: s.ipamDriver, Config: s.ipamConfigs } };
  };

  test("every service, overlay, secret and config of prod reads back the same from its inspect JSON, a differing image included", async () => {
    const run = await runProgram({ stack: "prod", config: SWARM });
    const resources = run.resources.filter((r) => [TYPES.network, SERVICE, SECRET, CONFIG].includes(r.type));
    expect(new Set(resources.map((r) => r.type)).size).toBe(4);
    for (const r of resources) {
      const inputs = r.type === SERVICE ? { ...r.inputs, taskSpec: { ...r.inputs.taskSpec, containerSpec: { ...r.inputs.taskSpec.containerSpec, image: "postgres:16" } } } : r.inputs;
      const simulated = readBackDiffs(r.type, inputs, { engine: MODERN_ENGINE }, r.options.ignoreChanges);
      const inspected = readBackDiffs(r.type, inputs, { inspect: inspectOf({ ...r, inputs }) }, r.options.ignoreChanges);
      expect(inspected).toEqual(simulated);
      if (r.type === SERVICE) expect(inspected.map((d) => d.paths)).toEqual([["taskSpec.containerSpec.image"]]);
    }
  });
});
