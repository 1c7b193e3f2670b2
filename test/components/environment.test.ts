import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { GENERATED_CREDENTIALS, STORE_NAMES, VOLUME_KEYS } from "../../catalog/types";
import { names as naming } from "../../model/naming";
import { postgresServices } from "../../model/databases";
import { stackOutputsSchema } from "../../model/outputs";
import { attachmentsOf, containerFor, containers, envOf, labelsOf, networks, serviceOf, traefikObjects, volumes } from "../harness/inspect";
import { registryHost } from "../../model/image-ref";
import { LABELS } from "../../model/naming";
import { TYPES, mockImageId, ofType, runProgram, type ProgramRun } from "../harness/program";
import { testRelease } from "../harness/release";
import { TEST_EXTERNAL_SECRETS, readStackConfig } from "../harness/stack-config";

const ROUTED = SERVICE_NAMES.filter((name) => SERVICES[name].route);
const runs: Record<string, ProgramRun> = {};

beforeAll(async () => {
  runs.qual = await runProgram({ stack: "qual" });
  runs.prod = await runProgram({ stack: "prod" });
});

describe.each(["qual", "prod"])("the %s stack", (env) => {
  const run = () => runs[env];

  test("creates one network per store, the internal network and its own edge network, and never the traefik network", () => {
    expect(networks(run()).map((n) => n.inputs.name).sort()).toEqual(
      [`po-edge-${env}`, `po-internal-${env}`, ...STORE_NAMES.map((store) => `po-${store}-network-${env}`)].sort(),
    );
  });

  test("gives data-store networks no way out of the host", () => {
    for (const store of STORE_NAMES) {
      const network = networks(run()).find((n) => n.inputs.name === `po-${store}-network-${env}`)!;
      expect(network.inputs.internal).toBe(true);
    }
  });

  test("creates every catalog volume, named <volume>-E", () => {
    expect(volumes(run()).map((v) => v.inputs.name).sort()).toEqual(VOLUME_KEYS.map((v) => `${v}-${env}`).sort());
  });

  test("runs one container per store and per service, named po-<name>-E, with a revision suffix on exactly the routed stateless ones", () => {
    const names = containers(run()).map((c) => c.inputs.name as string);
    expect(names).toHaveLength(STORE_NAMES.length + SERVICE_NAMES.length);
    // Routed services that are singletons or own a volume (the catalog says why) keep fixed names.
    const revisioned = ROUTED.filter((name) => !SERVICES[name].singleton && SERVICES[name].volumes.length === 0);
    expect(revisioned.length).toBeGreaterThan(0);
    for (const name of [...STORE_NAMES, ...SERVICE_NAMES]) {
      const suffix = (revisioned as string[]).includes(name) ? "-[0-9a-f]{8}" : "";
      expect(containerFor(run(), name).inputs.name).toMatch(new RegExp(`^po-${name}-${env}${suffix}$`));
    }
  });

  test("puts each store alone on its network, answering to <store>-E", () => {
    for (const store of STORE_NAMES) {
      const c = containerFor(run(), store);
      expect(attachmentsOf(c)).toEqual({ [`po-${store}-network-${env}`]: [`${store}-${env}`] });
      expect(c.options.deleteBeforeReplace).toBe(true);
      expect(c.inputs.wait).toBe(true);
    }
  });

  test("pins every store image to an explicit version", () => {
    for (const store of STORE_NAMES) {
      expect(containerFor(run(), store).inputs.image).toMatch(/:[0-9]+\.[0-9]+(\.[0-9]+)?(-[a-z-]+)?$/);
    }
  });

  test("names RabbitMQ's vhost portugal_odyssey_E", () => {
    expect(envOf(containerFor(run(), "rabbitmq")).RABBITMQ_DEFAULT_VHOST).toBe(`portugal_odyssey_${env}`);
  });

  test("puts each service on po-internal-E as <service>-E, plus exactly the store networks it uses", () => {
    for (const service of SERVICE_NAMES) {
      const attachments = attachmentsOf(containerFor(run(), service));
      expect(attachments[`po-internal-${env}`]).toEqual([`${service}-${env}`]);
      const storeNetworks = Object.keys(attachments).filter((n) => /^po-[a-z]+-network-/.test(n));
      expect(storeNetworks.sort()).toEqual(SERVICES[service].stores.map((s: string) => `po-${s}-network-${env}`).sort());
    }
  });

  test("attaches only routed services to the edge network, and no store", () => {
    const onEdge = containers(run())
      .filter((c) => `po-edge-${env}` in attachmentsOf(c))
      .map(serviceOf)
      .sort();
    expect(onEdge).toEqual([...ROUTED].sort());
  });

  test("pulls every app image by its manifest digest, kept on the host, and runs the container on the pulled image's ID", () => {
    const release = testRelease(env);
    const images = ofType(run(), TYPES.remoteImage);
    expect(images.map((i) => i.inputs.name).sort()).toEqual(SERVICE_NAMES.map((s) => release.services[s].image).sort());
    for (const service of SERVICE_NAMES) {
      const image = images.find((i) => i.name === `${env}-${service}-image`)!;
      expect(image.inputs.keepLocally).toBe(true);
      expect(image.inputs.name).toMatch(/@sha256:[0-9a-f]{64}$/);
      const container = containerFor(run(), service);
      // The image ID, as the provider reads a container's image back: a name or repoDigest would churn.
      expect(container.inputs.image).toBe(mockImageId(image.inputs.name));
      expect(container.options.dependsOn).toContain(image.urn);
    }
  });

  test("labels each app container with its digest and source commit, so docker ps and verify show what runs", () => {
    const release = testRelease(env);
    for (const service of SERVICE_NAMES) {
      const labels = labelsOf(containerFor(run(), service));
      expect(`${release.services[service].image.split("@")[0]}@${labels[LABELS.imageDigest]}`).toBe(release.services[service].image);
      expect(labels[LABELS.sourceCommit]).toBe(release.services[service].commit);
    }
  });

  test("only the image pulls use the provider with the registry login; every other resource stays on the default provider", () => {
    const [provider] = ofType(run(), TYPES.dockerProvider);
    const providerRef = `${provider.urn}::${provider.name}-id`;
    for (const r of run().resources.filter((x) => x.type.startsWith("docker:"))) {
      expect({ resource: r.name, provider: r.options.provider }).toEqual({ resource: r.name, provider: r.type === TYPES.remoteImage ? providerRef : undefined });
    }
    const auth = JSON.parse(provider.inputs.registryAuth);
    expect(auth).toEqual([{ address: registryHost(testRelease(env).services["public-fo"].image), username: TEST_EXTERNAL_SECRETS.registryUsername, password: TEST_EXTERNAL_SECRETS.registryPassword }]);
  });

  test("the registry password is a secret wherever it goes: only the provider's registryAuth carries it, sent as a secret", () => {
    const carriers = run().resources.filter((r) => JSON.stringify(r.inputs).includes(TEST_EXTERNAL_SECRETS.registryPassword));
    expect(carriers.map((r) => r.type)).toEqual([TYPES.dockerProvider]);
    expect(carriers[0].secretInputs).toContain("registryAuth");
    expect(JSON.stringify(run().outputs)).not.toContain(TEST_EXTERNAL_SECRETS.registryPassword);
  });

  test("exports images: each service's deployed digest, commit and pipeline, as the manifest pins them", () => {
    expect(run().outputs.images).toEqual(testRelease(env).services);
  });

  test("wires services to their stores by alias, port, database and vhost", () => {
    const env_ = envOf(containerFor(run(), "booking-service"));
    expect(env_.DATABASE_HOST).toBe(`postgres-${env}`);
    expect(env_.REDIS_URL).toMatch(new RegExp(`^redis://:[^@]+@redis-${env}:6379$`));
    expect(env_.RABBITMQ_URL).toMatch(new RegExp(`^amqp://portugal_odyssey:[^@]+@rabbitmq-${env}:5672/portugal_odyssey_${env}$`));
    expect(envOf(containerFor(run(), "search-service")).ELASTICSEARCH_URL).toBe(`http://elasticsearch-${env}:9200`);
    expect(env_.USER_SERVICE_URL).toBe(`http://user-management-${env}:3000`);
  });

  test("names in env only hosts the container shares a network with", () => {
    const aliasNetworks = new Map<string, Set<string>>();
    for (const c of containers(run())) {
      for (const [network, aliases] of Object.entries(attachmentsOf(c))) {
        for (const alias of aliases) aliasNetworks.set(alias, (aliasNetworks.get(alias) ?? new Set()).add(network));
      }
    }
    let checked = 0;
    for (const c of containers(run())) {
      const mine = new Set(Object.keys(attachmentsOf(c)));
      for (const [name, value] of Object.entries(envOf(c))) {
        // Every host in a URL or a *_HOST variable: a misspelt alias must fail here, not be skipped.
        const hosts = [...value.matchAll(/^[a-z]+:\/\/(?:[^@/]*@)?([^:/]+)/g)].map((m) => m[1]);
        if (/_HOST$/.test(name)) hosts.push(value);
        // Public hosts are reached through DNS and Traefik, not a shared network.
        for (const host of hosts.filter((h) => !h.endsWith("portugalodyssey.pt"))) {
          checked++;
          const shared = [...(aliasNetworks.get(host) ?? [])].filter((n) => mine.has(n));
          expect({ container: c.inputs.name, name, host, shared: shared.length > 0 }).toEqual({ container: c.inputs.name, name, host, shared: true });
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  test("labels routed services for Traefik with the stack's names, entrypoint, resolver and hosts", () => {
    const domain = readStackConfig(env)["portugal-odyssey:domain"] as string;
    const hosts = Object.fromEntries(ROUTED.map((name) => [name, naming.publicHost(SERVICES[name].route!.subdomain, domain)]));
    expect(hosts["public-fo"]).toBe(domain);
    expect(hosts["strapi-cms"]).toBe(`cms.${domain}`);
    for (const service of ROUTED) {
      const labels = labelsOf(containerFor(run(), service));
      const objects = traefikObjects(containerFor(run(), service));
      expect([...objects.routers]).toEqual([run().outputs.topology[service].router]);
      const router = `traefik.http.routers.${[...objects.routers][0]}`;
      expect(labels["traefik.enable"]).toBe("true");
      expect(labels["traefik.docker.network"]).toBe(`po-edge-${env}`);
      expect(labels[`${router}.rule`]).toBe(`Host(\`${hosts[service]}\`)`);
      expect(labels[`${router}.entrypoints`]).toBe("websecure");
      expect(labels[`${router}.tls.certresolver`]).toBe("letsencrypt");
      // Routers and middlewares carry a digest of their definition; the service keeps its plain name.
      for (const name of [...objects.routers, ...objects.middlewares]) expect(name).toMatch(new RegExp(`-${env}-[0-9a-f]{8}$`));
      expect([...objects.services]).toEqual([`${service}-${env}`]);
    }
  });

  test("tells Traefik to leave every container that is not routed alone, stores included", () => {
    const unroutedNames: string[] = [...STORE_NAMES, ...SERVICE_NAMES.filter((name) => !SERVICES[name].route)];
    const unrouted = containers(run()).filter((c) => unroutedNames.includes(serviceOf(c)));
    expect(unrouted.map(serviceOf).sort()).toEqual([...unroutedNames].sort());
    for (const c of unrouted) {
      expect(Object.entries(labelsOf(c)).filter(([l]) => l.startsWith("traefik."))).toEqual([["traefik.enable", "false"]]);
    }
  });

  test("gives every container a healthcheck, restart unless-stopped, no host port, and log rotation", () => {
    for (const c of containers(run())) {
      expect(c.inputs.healthcheck.tests.length).toBeGreaterThan(1);
      expect(c.options.replaceOnChanges).toContain("healthcheck");
      expect(c.inputs.restart).toBe("unless-stopped");
      expect(c.inputs.ports).toBeUndefined();
      expect(c.inputs.logOpts).toEqual({ "max-size": "10m", "max-file": "3" });
    }
  });

  test("probes the Node.js services with the image's own node, in exec form, so no shell, wget or curl is needed", () => {
    const tests = containerFor(run(), "booking-service").inputs.healthcheck.tests as string[];
    expect(tests.slice(0, 3)).toEqual(["CMD", "node", "-e"]);
    expect(tests[3]).toContain("require('http').get('http://127.0.0.1:3000/health'");
    expect(containerFor(run(), "public-fo").inputs.healthcheck.tests[3]).toContain("http://127.0.0.1:3000/api/health");
  });

  test("makes each service depend on the store containers it uses", () => {
    const urnOf = (name: string) => containerFor(run(), name).urn;
    for (const service of SERVICE_NAMES) {
      const deps = containerFor(run(), service).options.dependsOn;
      for (const store of SERVICES[service].stores) expect(deps).toContain(urnOf(store));
      for (const store of STORE_NAMES.filter((s) => !SERVICES[service].stores.includes(s))) expect(deps).not.toContain(urnOf(store));
    }
  });

  test("sends every env var that carries a credential as a secret", () => {
    // The mocks give every credential a recognisable value: generated-* or the test-* config secrets.
    const carriesCredential = (value: string) => /generated-|test-(payment|smtp)/.test(value);
    const carriers = containers(run()).filter((c) => Object.values(envOf(c)).some(carriesCredential));
    expect(carriers.length).toBeGreaterThan(10);
    for (const c of carriers) expect({ container: c.name, secret: c.secretInputs.includes("envs") }).toEqual({ container: c.name, secret: true });
  });

  test("generates every internal credential with @pulumi/random, one password each, and one database password per service that uses PostgreSQL", () => {
    const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const expected = [...GENERATED_CREDENTIALS, ...postgresServices().map(naming.databasePasswordCredential)].map(kebab);
    expect(ofType(run(), TYPES.password).map((p) => p.name.replace(`${env}-credentials-`, "")).sort()).toEqual(expected.sort());
  });

  test("exports outputs that satisfy the contract verify and CI read", () => {
    const parsed = stackOutputsSchema.parse(run().outputs);
    expect(Object.keys(parsed.topology).sort()).toEqual(Object.keys(parsed.containers).sort());
    expect(parsed.topology["public-fo"]).toMatchObject({ role: "service", router: expect.stringMatching(new RegExp(`^public-fo-${env}-[0-9a-f]{8}$`)) });
  });

  test("exports the outputs contract with no secret in it", () => {
    const outputs = run().outputs;
    expect(outputs.environment).toBe(env);
    expect(Object.keys(outputs.containers).sort()).toEqual([...STORE_NAMES, ...SERVICE_NAMES].sort());
    expect(Object.keys(outputs.urls).sort()).toEqual([...ROUTED].sort());
    for (const url of Object.values(outputs.urls)) expect(url).toMatch(/^https:\/\//);
    expect(run().secretOutputs).toEqual([]);
    const text = JSON.stringify(outputs);
    expect(text).not.toMatch(/generated-|test-payment|test-smtp/);
  });
});

test("protects and retains prod's data volumes", () => {
  for (const v of volumes(runs.prod)) expect(v.options).toMatchObject({ protect: true, retainOnDelete: true });
});

test("retains qual's data volumes without protecting them, as its config says", () => {
  for (const v of volumes(runs.qual)) expect(v.options).toMatchObject({ protect: false, retainOnDelete: true });
});

describe("qual and prod side by side", () => {
  const names = (run: ProgramRun) => ({
    containers: containers(run).map((c) => c.inputs.name as string),
    networks: networks(run).map((n) => n.inputs.name as string),
    volumes: volumes(run).map((v) => v.inputs.name as string),
    aliases: containers(run).flatMap((c) => Object.values(attachmentsOf(c)).flat()),
    traefik: containers(run).map(traefikObjects),
  });

  test("share no container, network, volume or alias name", () => {
    const qual = names(runs.qual);
    const prod = names(runs.prod);
    for (const kind of ["containers", "networks", "volumes", "aliases"] as const) {
      expect(qual[kind].filter((n) => prod[kind].includes(n))).toEqual([]);
    }
  });

  test("share no Traefik router, service, middleware or Host rule", () => {
    const collect = (run: ProgramRun, kind: "routers" | "services" | "middlewares" | "rules") =>
      new Set(names(run).traefik.flatMap((o) => [...o[kind]]));
    for (const kind of ["routers", "services", "middlewares", "rules"] as const) {
      const prod = collect(runs.prod, kind);
      const qual = [...collect(runs.qual, kind)];
      expect(qual.length).toBeGreaterThan(0);
      expect(qual.filter((n) => prod.has(n))).toEqual([]);
    }
  });

  test("share no network between any qual and any prod container", () => {
    const nets = (run: ProgramRun) => new Set(containers(run).flatMap((c) => Object.keys(attachmentsOf(c))));
    const prod = nets(runs.prod);
    expect([...nets(runs.qual)].filter((n) => prod.has(n))).toEqual([]);
  });
});

test("a credential set as a config secret replaces the generated one everywhere, and no password is generated for it", async () => {
  const secrets = { ...TEST_EXTERNAL_SECRETS, postgresPassword: "set-by-the-old-volume" };
  const run = await runProgram({ stack: "prod", secrets });
  expect(ofType(run, TYPES.password).map((p) => p.name)).not.toContain("prod-credentials-postgres-password");
  expect(envOf(containerFor(run, "postgres")).POSTGRES_PASSWORD).toBe("set-by-the-old-volume");
  // The superuser's password stays the store's: no service logs in as the superuser.
  expect(envOf(containerFor(run, "booking-service")).DATABASE_PASSWORD).toBe("generated-prod-credentials-booking-service-database-password");
  expect(containerFor(run, "postgres").secretInputs).toContain("envs");
});
