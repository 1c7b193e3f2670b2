/**
 * The catalog's settings as the real images need them: start commands, memory
 * floors, probes that read what they claim, config files, and health timing
 * that the provider's wait agrees with.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { SERVICES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { validateStackConfig } from "../../config/validate";
import { HEALTH_TIMING } from "../../model/environment";
import { parseGoDuration } from "../../model/read-back";
import { containerFor, containers, envOf } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";
import { testRelease } from "../harness/release";
import { engineConfig } from "../harness/stack-config";
import { criticalPathDetection } from "../../tools/bench/health";

const seconds = (d: string) => Number(parseGoDuration(d)) / 1e9;
let qual: ProgramRun;
beforeAll(async () => {
  qual = await runProgram({ stack: "qual" });
});

function plan(stack: string, overrides: Record<string, unknown> = {}) {
  const config = engineConfig(stack, overrides);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), release: testRelease(stack) });
}

describe("start commands", () => {
  test("Keycloak gets the catalog's `start`, since its image has an entrypoint and no CMD", () => {
    expect(containerFor(qual, "keycloak").inputs.command).toEqual(SERVICES.keycloak.command);
    expect(SERVICES.keycloak.command?.[0]).toBe("start");
  });

  test("a stack can override a service's command, e.g. for an image built --optimized", async () => {
    const run = await runProgram({ stack: "qual", config: { services: { keycloak: { command: ["start", "--optimized"] } } } });
    expect(containerFor(run, "keycloak").inputs.command).toEqual(["start", "--optimized"]);
  });

  test("a malformed command override is refused with its key path and how to fix it", () => {
    for (const bad of [[], "start", [""]]) {
      const result = plan("qual", { services: { keycloak: { command: bad } } });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problems).toEqual([{ path: expect.stringMatching(/^portugal-odyssey:services\.keycloak\.command/), message: expect.stringMatching(/^expected/) }]);
    }
  });
});

describe("memory floors", () => {
  const floored = Object.values({ ...SERVICES, ...STORES }).filter((spec) => spec.resources.minMemoryMb !== undefined);

  test("Keycloak's floor holds its heap (70% of the limit) and ~300 MB off-heap, as its sizing guide says", () => {
    const floorMb = SERVICES.keycloak.resources.minMemoryMb!;
    expect(0.7 * floorMb * 1.048576 + 300).toBeLessThanOrEqual(floorMb * 1.048576);
  });

  test("no scale takes a container below its floor", async () => {
    expect(floored.length).toBeGreaterThan(0);
    const small = await runProgram({ stack: "qual", config: { resources: { scale: 0.1 } } });
    for (const spec of floored) expect(containerFor(small, spec.name).inputs.memory).toBeGreaterThanOrEqual(spec.resources.minMemoryMb!);
  });

  test("a memoryMb override below the floor is refused, naming the floor", () => {
    const floor = SERVICES.keycloak.resources.minMemoryMb!;
    const result = plan("qual", { services: { keycloak: { memoryMb: floor - 1 } } });
    expect(!result.ok && result.problems).toEqual([
      { path: "portugal-odyssey:services.keycloak.memoryMb", message: expect.stringContaining(`below the ${floor} MiB keycloak needs to start`) },
    ]);
  });
});

describe("health timing", () => {
  test("every container is checked every startInterval while starting and every interval after", () => {
    for (const c of containers(qual)) {
      const h = c.inputs.healthcheck;
      expect({ name: c.name, startInterval: seconds(h.startInterval) }).toEqual({ name: c.name, startInterval: HEALTH_TIMING.startIntervalSeconds });
      expect(seconds(h.startInterval)).toBeLessThan(seconds(h.interval));
    }
  });

  test("the provider waits at least as long as Docker grants before calling a container unhealthy, so a slow first boot is not cut short", () => {
    for (const c of containers(qual)) {
      const h = c.inputs.healthcheck;
      expect(c.inputs.waitTimeout).toBeGreaterThanOrEqual(seconds(h.startPeriod) + h.retries * seconds(h.interval));
    }
    expect(seconds(containerFor(qual, "keycloak").inputs.healthcheck.startPeriod)).toBe(SERVICES.keycloak.health.startPeriodSeconds);
  });

  test("the modelled detection wait on the cold-deploy path drops from one interval to one startInterval per step", () => {
    const before = criticalPathDetection(qual, "interval-only");
    const after = criticalPathDetection(qual, "start-interval");
    expect(before.path.length).toBeGreaterThan(1);
    expect(before.seconds).toBe(before.path.length * HEALTH_TIMING.intervalSeconds);
    expect(after.seconds).toBe(after.path.length * HEALTH_TIMING.startIntervalSeconds);
  });
});

describe("Keycloak's probe reads the overall status from the status line", () => {
  let server: Server;
  let answer: { status: number; body: string };
  let port: number;
  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** The probe's exit code against `target`; run asynchronously, since the server answering it lives in this process. */
  const probe = (target = port) =>
    new Promise<number | null>((resolve) => {
      const [, program, ...args] = containerFor(qual, "keycloak").inputs.healthcheck.tests as string[];
      const child = spawn(program, args.map((a) => a.replace("/9000", `/${target}`)));
      const timer = setTimeout(() => child.kill(), 10_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });

  test("200 with status UP passes", async () => {
    answer = { status: 200, body: '{"status":"UP","checks":[{"name":"Keycloak database connections health check","status":"UP"}]}' };
    expect(await probe()).toBe(0);
  });

  test("503 fails even though one check in the body is UP", async () => {
    answer = { status: 503, body: '{"status":"DOWN","checks":[{"name":"Keycloak database connections health check","status":"UP"},{"name":"other","status":"DOWN"}]}' };
    expect(await probe()).toBe(1);
  });

  test("no answer fails", async () => {
    expect(await probe(1)).toBe(1);
  });
});

describe("config files and env", () => {
  test("config files go only to containers with a writable root (Docker refuses uploads on a read-only one), fully rendered", () => {
    for (const c of containers(qual)) {
      const uploads = (c.inputs.uploads ?? []) as { file: string; content: string }[];
      if (uploads.length > 0) expect({ name: c.name, readOnly: c.inputs.readOnly }).toEqual({ name: c.name, readOnly: false });
      for (const u of uploads) expect(u.content).not.toMatch(/\{[A-Za-z]+(:[a-z0-9-]+)?\}/);
    }
    expect((containerFor(qual, "rabbitmq").inputs.uploads as unknown[]).length).toBe(STORES.rabbitmq.configFiles?.length);
  });

  test("REDIS_URL carries the credential and is sent as a secret", () => {
    const clients = Object.values(SERVICES).filter((s) => s.stores.includes("redis"));
    for (const spec of clients) {
      const c = containerFor(qual, spec.name);
      expect(envOf(c).REDIS_URL).toContain(`:${envOf(containerFor(qual, "redis")).REDIS_PASSWORD}@`);
      expect(c.secretInputs).toContain("envs");
    }
  });

  test("the Redis password is in no container's command", () => {
    const password = envOf(containerFor(qual, "redis")).REDIS_PASSWORD;
    for (const c of containers(qual)) expect(JSON.stringify(c.inputs.command ?? [])).not.toContain(password);
  });

  test("Strapi runs in production mode", () => {
    expect(envOf(containerFor(qual, "strapi-cms")).NODE_ENV).toBe("production");
  });
});
