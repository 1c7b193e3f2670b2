import { findConflicts, ruleKeys } from "../../../tools/verify/routers";
import { container } from "./fixtures";

const ours = (name: string, env: string, service: string, labels: Record<string, string>) =>
  container({
    name,
    labels: { "pt.portugalodyssey.project": "portugal-odyssey", "pt.portugalodyssey.environment": env, "pt.portugalodyssey.service": service, ...labels },
  });
const rule = (router: string, host: string) => ({ [`traefik.http.routers.${router}.rule`]: `Host(\`${host}\`)` });

describe("Traefik router conflicts", () => {
  test("a rule of Host matchers claims each host; a rule with other matchers claims itself", () => {
    expect(ruleKeys("Host(`A.example`) || Host(`b.example`)")).toEqual(["host:a.example", "host:b.example"]);
    expect(ruleKeys("Host(`a.example`) && PathPrefix(`/api`)")).toEqual(["rule:Host(`a.example`) && PathPrefix(`/api`)"]);
  });

  test("two revisions of one service of one environment may share a router", () => {
    const a = ours("po-public-fo-qual-1", "qual", "public-fo", rule("public-fo-qual", "qual.example"));
    const b = ours("po-public-fo-qual-2", "qual", "public-fo", rule("public-fo-qual", "qual.example"));
    expect(findConflicts([a, b])).toEqual([]);
  });

  test("the same router name in another environment is a conflict", () => {
    const a = ours("po-public-fo-qual", "qual", "public-fo", rule("public-fo", "qual.example"));
    const b = ours("po-public-fo-prod", "prod", "public-fo", rule("public-fo", "prod.example"));
    expect(findConflicts([a, b])).toEqual([
      {
        kind: "router",
        key: "http/public-fo",
        containers: [
          { name: "po-public-fo-qual", owner: "portugal-odyssey/qual/public-fo", state: "running" },
          { name: "po-public-fo-prod", owner: "portugal-odyssey/prod/public-fo", state: "running" },
        ],
      },
    ]);
  });

  test("a container we do not own declaring our Host is a conflict, even stopped", () => {
    const a = ours("po-public-fo-prod", "prod", "public-fo", rule("public-fo-prod", "portugalodyssey.pt"));
    const b = container({ name: "x100f-webapp", state: "exited", labels: rule("x100f", "PortugalOdyssey.pt") });
    const [conflict] = findConflicts([a, b]);
    expect(conflict.kind).toBe("host");
    expect(conflict.key).toBe("portugalodyssey.pt");
    expect(conflict.containers.map((c) => `${c.owner} ${c.state}`)).toEqual(["portugal-odyssey/prod/public-fo running", "container x100f-webapp exited"]);
  });

  test("two services of one environment on one router name is a conflict", () => {
    const a = ours("a", "qual", "public-fo", rule("web", "a.example"));
    const b = ours("b", "qual", "api-gateway", rule("web", "b.example"));
    expect(findConflicts([a, b]).map((c) => c.key)).toEqual(["http/web"]);
  });

  test("containers with traefik.enable=false declare nothing, and a path-qualified rule does not clash with the bare host", () => {
    const a = container({ name: "a", labels: rule("x", "a.example") });
    const off = container({ name: "off", labels: { ...rule("x", "a.example"), "traefik.enable": "false" } });
    const path = container({ name: "p", labels: { "traefik.http.routers.y.rule": "Host(`a.example`) && PathPrefix(`/p`)" } });
    expect(findConflicts([a, off, path])).toEqual([]);
  });
});

test("two revisions of one service may declare different router names for one Host (a changed route during a rollout)", () => {
  const labels = (router: string) => ({ "pt.portugalodyssey.project": "portugal-odyssey", "pt.portugalodyssey.environment": "qual", "pt.portugalodyssey.service": "public-fo", ...rule(router, "qual.example") });
  expect(findConflicts([container({ name: "a", labels: labels("public-fo-qual-0000aaaa") }), container({ name: "b", labels: labels("public-fo-qual-1111bbbb") })])).toEqual([]);
});
