import { MIDDLEWARES, type MiddlewareName } from "../../catalog/middlewares";
import { SERVICE_NAMES, SERVICES, type ServiceName } from "../../catalog/services";
import type { ReleaseEntry } from "../../config/release";
import { stackConfigSchema } from "../../config/schema";
import { planEnvironment } from "../../model/environment";
import { conflictingDefinitions, definitionsOf, routeLabels, type RouteSettings } from "../../model/traefik";
import { testRelease } from "../harness/release";
import { readStackConfig } from "../harness/stack-config";

const ROUTED = SERVICE_NAMES.filter((name) => SERVICES[name].route);

/** What the qual stack renders for a routed catalog service. */
function settingsFor(service: (typeof ROUTED)[number]): RouteSettings {
  const spec = SERVICES[service];
  return {
    service,
    env: "qual",
    host: `${spec.route!.subdomain ?? "www"}.qual.example.pt`,
    port: spec.port,
    middlewares: spec.route!.middlewares,
    entrypoint: "websecure",
    certResolver: "letsencrypt",
    network: "po-edge-qual",
  };
}

/** One middleware's definition changed (a key added, one changed), as an edit of catalog/middlewares.ts would. */
function withChangedMiddleware(middleware: MiddlewareName): RouteSettings["definitions"] {
  const first = Object.keys(MIDDLEWARES[middleware])[0];
  return { ...MIDDLEWARES, [middleware]: { ...MIDDLEWARES[middleware], [first]: `${MIDDLEWARES[middleware][first as never]}0` } };
}

/** Every change a rollout can bring to one routed service's Traefik labels. */
function changes(service: (typeof ROUTED)[number]): [string, Partial<RouteSettings>][] {
  const base = settingsFor(service);
  return [
    ...base.middlewares.map((m): [string, Partial<RouteSettings>] => [`the ${m} middleware's definition`, { definitions: withChangedMiddleware(m) }]),
    ["the middleware list", { middlewares: base.middlewares.slice(1) }],
    ["the route's host", { host: `new.${base.host}` }],
    ["the entrypoint", { entrypoint: "websecure2" }],
    ["the certificate resolver", { certResolver: "other" }],
    ["the container port", { port: base.port + 1 }],
  ];
}

const container = (name: string, labels: Record<string, string>) => ({ name, labels });

describe.each(ROUTED)("old and new revisions of %s side by side", (service) => {
  test.each(changes(service))("a change to %s defines no name twice with two definitions", (_what, change) => {
    const old = routeLabels(settingsFor(service));
    const next = routeLabels({ ...settingsFor(service), ...change });
    expect(next.labels).not.toEqual(old.labels);
    expect(conflictingDefinitions([container("old", old.labels), container("new", next.labels)])).toEqual([]);
    // Both revisions stay in one load balancer.
    const services = (labels: Record<string, string>) => [...definitionsOf(labels).keys()].filter((k) => k.startsWith("http/services/"));
    expect(services(next.labels)).toEqual(services(old.labels));
  });

  test.each(changes(service).filter(([, change]) => !("port" in change)))(
    "with names that ignored the definition, a change to %s would be a clash Traefik resolves by dropping the object",
    (_what, change) => {
      const old = routeLabels(settingsFor(service));
      const next = routeLabels({ ...settingsFor(service), ...change });
      const oldNames = [...definitionsOf(old.labels).keys()].map((k) => k.split("/")[2]);
      // Strip each name's digest, in both revisions, as the names were before they carried one.
      const undigested = (labels: Record<string, string>) =>
        Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.replace(/-qual-[0-9a-f]{8}\b/g, "-qual"), v.replace(/-qual-[0-9a-f]{8}\b/g, "-qual")]));
      expect(oldNames.some((n) => /-qual-[0-9a-f]{8}$/.test(n))).toBe(true);
      expect(conflictingDefinitions([container("old", undigested(old.labels)), container("new", undigested(next.labels))])).not.toEqual([]);
    },
  );
});

describe("every object of a whole environment rolled out beside its previous revision", () => {
  const plan = (overrides: Record<string, unknown>, builds: Partial<Record<ServiceName, string>> = {}) => {
    const config = stackConfigSchema.parse({ ...Object.fromEntries(Object.entries(readStackConfig("qual")).map(([k, v]) => [k.split(":")[1], v])), ...overrides });
    return planEnvironment({ ...config, stack: "qual", env: "qual", release: testRelease("qual", builds).services as Record<ServiceName, ReleaseEntry> });
  };
  const base = readStackConfig("qual") as Record<string, unknown>;

  test.each([
    ["domain", { domain: `new.${base["portugal-odyssey:domain"]}` }, {}],
    ["Traefik entrypoint and resolver", { traefik: { network: "traefik", container: "traefik", entrypoint: "websecure2", certResolver: "other" } }, {}],
    ["every image's digest", {}, Object.fromEntries(SERVICE_NAMES.map((name) => [name, "next"]))],
  ])("a change of %s leaves no name defined two ways across the two plans", (_what, overrides, builds) => {
    const before = plan({}).containers.map((c) => container(`${c.containerName}-old`, c.labels));
    const after = plan(overrides, builds).containers.map((c) => container(`${c.containerName}-new`, c.labels));
    expect(conflictingDefinitions([...before, ...after])).toEqual([]);
  });
});

describe("the middlewares each route gets, from the catalog", () => {
  const middlewaresOf = (service: (typeof ROUTED)[number]) => {
    const labels = routeLabels(settingsFor(service)).labels;
    const defs = definitionsOf(labels);
    const router = [...defs].find(([k]) => k.startsWith("http/routers/"))![1];
    return router.middlewares.split(",").map((ref) => defs.get(`http/middlewares/${ref.replace(/@docker$/, "")}`)!);
  };

  test("Keycloak's headers leave framing, CSP and referrer policy to Keycloak", () => {
    const headers = middlewaresOf("keycloak").filter((d) => Object.keys(d).some((k) => k.startsWith("headers.")));
    expect(headers.length).toBeGreaterThan(0);
    for (const d of headers) {
      for (const key of ["headers.framedeny", "headers.customframeoptionsvalue", "headers.contentsecuritypolicy", "headers.referrerpolicy"]) expect(d).not.toHaveProperty([key]);
    }
  });

  test("every other routed service denies framing", () => {
    for (const service of ROUTED.filter((s) => s !== "keycloak")) {
      expect(middlewaresOf(service).some((d) => d["headers.framedeny"] === "true")).toBe(true);
    }
  });

  test("every routed service retries a failed connection, more than once, as the last middleware before the servers", () => {
    for (const service of ROUTED) {
      const last = middlewaresOf(service).at(-1)!;
      expect(Number(last["retry.attempts"])).toBeGreaterThan(1);
      expect(last["retry.initialinterval"]).toMatch(/^[0-9]+m?s$/);
    }
  });
});

describe("conflictingDefinitions follows Traefik's merge rule", () => {
  const svc = (extra: Record<string, string>) => ({ "traefik.http.services.web.loadbalancer.server.port": "3000", ...extra });

  test("servers of one service are pooled: only a server-level difference is no conflict", () => {
    expect(conflictingDefinitions([container("a", svc({})), container("b", svc({ "traefik.http.services.web.loadbalancer.server.port": "3001" }))])).toEqual([]);
    const sticky = svc({ "traefik.http.services.web.loadbalancer.sticky.cookie": "true" });
    expect(conflictingDefinitions([container("a", svc({})), container("b", sticky)]).map((c) => c.key)).toEqual(["http/services/web"]);
  });

  test("a router or middleware defined two ways is a conflict, whatever the label case", () => {
    const a = { "traefik.http.middlewares.h.headers.frameDeny": "true" };
    const b = { "traefik.http.middlewares.h.headers.framedeny": "false" };
    expect(conflictingDefinitions([container("a", a), container("b", b)])).toEqual([
      { key: "http/middlewares/h", holders: [{ container: "a", definition: { "headers.framedeny": "true" } }, { container: "b", definition: { "headers.framedeny": "false" } }] },
    ]);
    expect(conflictingDefinitions([container("a", a), container("b", { "traefik.http.middlewares.h.headers.FRAMEDENY": "true" })])).toEqual([]);
  });

  test("a container with traefik.enable=false defines nothing", () => {
    const off = { "traefik.enable": "false", "traefik.http.middlewares.h.headers.framedeny": "false" };
    expect(conflictingDefinitions([container("a", { "traefik.http.middlewares.h.headers.framedeny": "true" }), container("off", off)])).toEqual([]);
  });
});
