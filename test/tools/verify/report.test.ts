import { formatTable } from "../../../tools/verify/report";
import type { VerifyReport } from "../../../tools/verify";

describe("the report for people", () => {
  test("prints one line per check with its verdict and evidence, the isolation figures, and what failed", () => {
    const counts = (a: number, s: number, e: number) => ({ attempted: a, succeeded: s, expected: e });
    const report = {
      ok: false,
      daemon: { host: "unix:///var/run/docker.sock", version: "27.0.1" },
      stacks: ["qual"],
      checks: [
        { id: "network.traefik", title: "external network traefik exists", ok: true, evidence: "found traefik" },
        { id: "isolation.qual.cross-environment", stack: "qual", title: "no qual container reaches another environment's containers", ok: false, evidence: "846 attempted, 16 succeeded, 0 expected" },
      ],
      isolation: [
        { environment: "qual", edgeMode: "shared", crossEnvironment: counts(846, 16, 0), neighbour: counts(72, 8, 0), dependency: counts(56, 56, 56), total: counts(974, 80, 56) },
      ],
      failed: ["isolation.qual.cross-environment"],
      durationMs: 1500,
    } as unknown as VerifyReport;
    const text = formatTable(report);
    expect(text).toMatch(/^PASS +host +external network traefik exists +found traefik$/m);
    expect(text).toMatch(/^FAIL +qual +no qual container reaches .* 846 attempted, 16 succeeded, 0 expected$/m);
    expect(text).toMatch(/^qual {3}shared {4}cross-environment +846 +16 +0$/m);
    expect(text).toContain("1 of 2 checks FAILED: isolation.qual.cross-environment");
  });
});
