import { createServer, type Server } from "node:net";
import { spawnSync } from "node:child_process";
import { AddressInfo } from "node:net";
import {
  PROBE_SCRIPT,
  isolationChecks,
  parseProbeOutput,
  planProbes,
  summarise,
  type ProbePlan,
} from "../../../tools/verify/isolation";
import type { StackOutputs } from "../../../tools/verify/outputs";
import type { HostSnapshot } from "../../../tools/verify/snapshot";
import { healthyHost, programOutputs } from "./fixtures";

let qual: StackOutputs;
let prod: StackOutputs;
let host: HostSnapshot;
beforeAll(async () => {
  [qual, prod] = [await programOutputs("qual"), await programOutputs("prod")];
  host = healthyHost(qual, prod);
});

describe("probe planning", () => {
  test("each running qual container tries every address of every prod container on its port label, the neighbours on the default ports, and its own dependencies", () => {
    const plans = planProbes(host, qual, [80, 8080]);
    expect(plans).toHaveLength(Object.keys(qual.containers).length);
    const fo = plans.find((p) => p.source.name === qual.containers["public-fo"])!;
    const prodAddresses = host.containers.filter((c) => c.labels["pt.portugalodyssey.environment"] === "prod").reduce((n, c) => n + Object.keys(c.networks).length, 0);
    expect(fo.attempts.filter((a) => a.kind === "cross-environment")).toHaveLength(prodAddresses);
    const pg = fo.attempts.find((a) => a.to === prod.containers.postgres)!;
    expect([pg.port, pg.network, pg.shared]).toEqual([5432, "po-postgres-network-prod", false]);
    expect(fo.attempts.filter((a) => a.kind === "neighbour").map((a) => a.port)).toEqual([80, 8080]);
    expect(fo.attempts.filter((a) => a.kind === "dependency").map((a) => `${a.address}:${a.port}`)).toEqual(qual.topology["public-fo"].dependencies);
  });

  test("stopped containers are neither sources nor targets", () => {
    const h = structuredClone(host);
    h.containers.find((c) => c.name === prod.containers.redis)!.state = "exited";
    h.containers.find((c) => c.name === qual.containers.redis)!.state = "exited";
    const plans = planProbes(h, qual, [80]);
    expect(plans.map((p) => p.source.name)).not.toContain(qual.containers.redis);
    expect(plans.flatMap((p) => p.attempts).map((a) => a.to)).not.toContain(prod.containers.redis);
  });
});

describe("probe output", () => {
  test("a target without an answer stays undefined, and an E line is the error", () => {
    expect(parseProbeOutput("R 1 0\r\nR 0 143\nnoise\n", 3)).toEqual({ codes: [143, 0, undefined], error: undefined });
    expect(parseProbeOutput("E this image has neither\n", 1).error).toBe("this image has neither");
  });

  test("the probe script connects to a listening port and fails on a closed one, within its timeout", async () => {
    const server: Server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const open = (server.address() as AddressInfo).port;
    const closed = await new Promise<number>((r) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    try {
      const started = Date.now();
      const res = spawnSync("sh", ["-c", PROBE_SCRIPT, "probe", "1", `127.0.0.1:${open}`, `127.0.0.1:${closed}`, `localhost:${open}`], { encoding: "utf8" });
      const { codes, error } = parseProbeOutput(res.stdout, 3);
      expect(error).toBeUndefined();
      expect(codes[0]).toBe(0);
      expect(codes[1]).not.toBe(0);
      expect(codes[2]).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      server.close();
    }
  });
});

describe("isolation summary", () => {
  const run = (plans: ProbePlan[], connected: (a: ProbePlan["attempts"][number]) => boolean) => ({
    results: plans.flatMap((p) => p.attempts.map((a) => ({ ...a, connected: connected(a) }))),
    errors: [],
  });

  test("counts attempted, succeeded and expected per kind, and passes when only dependencies connect", () => {
    const plans = planProbes(host, qual, [80]);
    const s = summarise(qual, plans, run(plans, (a) => a.kind === "dependency"));
    expect(s.crossEnvironment.succeeded).toBe(0);
    const dependencies = Object.values(qual.topology).reduce((n, t) => n + t.dependencies.length, 0);
    expect(dependencies).toBeGreaterThan(0);
    expect(s.dependency).toEqual({ attempted: dependencies, succeeded: dependencies, expected: dependencies });
    expect(s.total.expected).toBe(dependencies);
    expect(isolationChecks(s).every((c) => c.ok)).toBe(true);
  });

  test("a cross-environment connection over a shared network is a leak, named with its network", () => {
    const plans = planProbes(host, qual, [80]);
    // Pretend both public-fo containers sit on the traefik network (shared edge).
    const leak = (a: ProbePlan["attempts"][number]) => a.kind === "dependency" || (a.to === prod.containers["public-fo"] && a.from === qual.containers["public-fo"] && a.network === "po-edge-prod");
    const s = summarise(qual, plans, run(plans, leak));
    expect(s.crossEnvironment.succeeded).toBe(1);
    expect(s.leaksByNetwork).toEqual({ "(not shared) po-edge-prod": 1 });
    const check = isolationChecks(s).find((c) => c.id === "isolation.qual.cross-environment")!;
    expect(check.ok).toBe(false);
    expect(check.evidence).toMatch(/1 succeeded, 0 expected; LEAKS \(isolated edge, 1 over \(not shared\) po-edge-prod\): po-public-fo-qual-\w+ -> po-public-fo-prod-\w+ /);
  });

  test("an unreachable dependency and an unprobeable container fail their items", () => {
    const plans = planProbes(host, qual, [80]);
    const s = summarise(qual, plans, { ...run(plans, (a) => a.kind === "dependency" && a.address !== "postgres-qual"), errors: ["po-x: could not probe"] });
    const checks = Object.fromEntries(isolationChecks(s).map((c) => [c.id, c]));
    expect(checks["isolation.qual.dependencies"].ok).toBe(false);
    expect(checks["isolation.qual.dependencies"].evidence).toContain("-> postgres-qual:5432");
    expect(checks["isolation.qual.probes"].evidence).toBe("po-x: could not probe");
  });
});
