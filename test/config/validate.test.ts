import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse, stringify } from "yaml";
import { ConfigError } from "../../config/load";
import { stackConfigSchema } from "../../config/schema";
import { formatProblems, validateStackConfig, type ConfigProblem } from "../../config/validate";
import { planEnvironment } from "../../model/environment";
import { PROJECT } from "../../model/naming";
import { TYPES, runProgram } from "../harness/program";
import { readReleaseFile } from "../../config/release";
import { readOtherStacks } from "../../config/stack-files";
import { testEntry, testRelease } from "../harness/release";
import { FIXTURE_PROJECT, REPOSITORY_ROOT, TEST_EXTERNAL_SECRETS, engineConfig, readStackConfig, settingsOf } from "../harness/stack-config";
import { postgresServices } from "../../model/databases";
import { names } from "../../model/naming";

/**
 * Validates a stack's config with some top-level keys replaced (`undefined` removes one),
 * against the other stack files in `projectDir` (the fixture project's: qual and prod).
 */
function validate(
  stack: string,
  overrides: Record<string, unknown> = {},
  secrets?: Record<string, string>,
  plaintext: string[] = [],
  projectDir = FIXTURE_PROJECT,
  release: unknown = testRelease(stack, {}, projectDir),
) {
  const config = engineConfig(stack, overrides, secrets, projectDir);
  for (const key of plaintext) config.secretKeys = config.secretKeys.filter((k) => k !== key);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), otherStacks: readOtherStacks(projectDir, stack), release });
}

/** A budget no catalog reaches: for tests about names and domains, which must not hinge on the host's memory. */
const ROOMY = { memoryBudgetMb: 1_000_000 };

/**
 * A copy of the fixture project's Pulumi.yaml and stack files, plus `extra` stack files, in a temp folder;
 * with `host`, Pulumi.yaml's host settings are replaced by these.
 */
function projectWith(extra: Record<string, string>, host?: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "po-project-"));
  for (const file of readdirSync(FIXTURE_PROJECT)) copyFileSync(join(FIXTURE_PROJECT, file), join(dir, file));
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(dir, file), text);
  if (host) {
    const project = parse(readFileSync(join(dir, "Pulumi.yaml"), "utf8"));
    project.config.host.value = { ...project.config.host.value, ...host };
    writeFileSync(join(dir, "Pulumi.yaml"), stringify(project));
  }
  return dir;
}

/** The model's plan of a stack in `projectDir`, with overrides, whether or not it fits the host: what the budget check counts. */
const planOf = (stack: string, overrides: Record<string, unknown> = {}, projectDir = FIXTURE_PROJECT) => planEnvironment(settingsOf(stack, overrides, projectDir));

const hostOf = (stack: string) => stackConfigSchema.shape.host.parse(readStackConfig(stack)[`${PROJECT}:host`]);

/** The budget message's breakdown for these stacks, as the host would count them: each stack, the largest rollout overlap, the reserve. */
function breakdown(stacks: Record<string, ReturnType<typeof planOf>>, reservedMb: number) {
  const entries = Object.entries(stacks);
  const [rolloutStack, rollout] = entries.reduce((max, e) => (e[1].rolloutMemoryMb > max[1].rolloutMemoryMb ? e : max));
  const total = entries.reduce((sum, [, plan]) => sum + plan.totalMemoryMb, 0) + rollout.rolloutMemoryMb + reservedMb;
  const parts = [...entries.map(([stack, plan]) => `${stack}: ${plan.totalMemoryMb}`), `${rolloutStack}'s rollout overlap: ${rollout.rolloutMemoryMb}`];
  return { total, text: [...parts, ...(reservedMb ? [`reserved: ${reservedMb}`] : [])].join(", ") };
}

function problems(...args: Parameters<typeof validate>): ConfigProblem[] {
  const result = validate(...args);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
}

test("accepts the committed stack files, each checked against all the others", () => {
  const stacks = readdirSync(REPOSITORY_ROOT).flatMap((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1] ?? []);
  expect(stacks).toEqual(expect.arrayContaining(["prod", "qual"]));
  for (const stack of stacks) {
    const result = validate(stack, {}, undefined, [], REPOSITORY_ROOT);
    expect(result.ok ? { stack, env: result.settings.env } : result.problems).toEqual({ stack, env: stack });
  }
});

test("accepts the fixture project's qual and prod config", () => {
  for (const stack of ["qual", "prod"]) {
    const result = validate(stack);
    expect(result.ok && result.settings.env).toBe(stack);
  }
});

describe("a third stack is one more file", () => {
  const stackFile = (domain: string, scale?: number, edgeSubnet = "172.16.110.0/24") =>
    `config:\n  portugal-odyssey:domain: ${domain}\n  portugal-odyssey:edgeSubnet: ${edgeSubnet}\n` +
    (scale ? `  portugal-odyssey:resources:\n    scale: ${scale}\n` : "");
  const DEMO = stackFile("demo.portugalodyssey.pt", 0.5);

  test("Pulumi.demo.yaml with only its domain, size and edge subnet gives a valid stack suffixed demo", () => {
    const dir = projectWith({ "Pulumi.demo.yaml": DEMO }, ROOMY);
    const result = validate("demo", {}, undefined, [], dir);
    expect(result.ok && result.settings.env).toBe("demo");
    expect(result.ok && result.settings.domain).toBe("demo.portugalodyssey.pt");
  });

  test("the program builds the whole environment for it, every name ending in -demo", async () => {
    const dir = projectWith({ "Pulumi.demo.yaml": DEMO }, ROOMY);
    const run = await runProgram({ stack: "demo", projectDir: dir });
    // A pulled image's `name` is its registry reference, not a name on the host.
    const named = run.resources.filter((r) => typeof r.inputs.name === "string" && r.type.startsWith("docker:") && r.type !== TYPES.remoteImage);
    const plan = planOf("demo", {}, dir);
    expect(named.length).toBe(plan.containers.length + plan.networks.filter((n) => n.managed).length + plan.volumes.length);
    for (const r of named) expect(r.inputs.name).toMatch(/-demo(-[0-9a-f]{8})?$/);
  });

  test("the existing stacks count it: its memory joins theirs against the host budget", () => {
    const big = projectWith({ "Pulumi.demo.yaml": stackFile("demo.portugalodyssey.pt", 1) });
    const { memoryBudgetMb, reservedMb } = hostOf("qual");
    const counted = breakdown({ qual: planOf("qual"), demo: planOf("demo", {}, big), prod: planOf("prod") }, reservedMb);
    expect(counted.total).toBeGreaterThan(memoryBudgetMb);
    expect(problems("qual", {}, undefined, [], big)).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringContaining(`(${counted.text}), over the budget of ${memoryBudgetMb} MiB`) },
    ]);
  });

  test("a stack file that reuses another stack's domain makes both stacks refuse", () => {
    const dir = projectWith({ "Pulumi.demo.yaml": stackFile("qual.portugalodyssey.pt", 0.5) }, ROOMY);
    for (const stack of ["qual", "demo"]) {
      expect(problems(stack, {}, undefined, [], dir)).toEqual([{ path: "portugal-odyssey:domain", message: expect.stringContaining("cms.qual.portugalodyssey.pt") }]);
    }
  });

  test("an edge subnet overlapping another stack file's makes both stacks refuse, naming the other", () => {
    const { readStackConfig } = jest.requireActual("../harness/stack-config");
    const quals = readStackConfig("qual")["portugal-odyssey:edgeSubnet"] as string;
    // Half of qual's subnet: a different string, the same addresses.
    const [address, prefix] = quals.split("/");
    const dir = projectWith({ "Pulumi.demo.yaml": stackFile("demo.portugalodyssey.pt", 0.5, `${address}/${Number(prefix) + 1}`) }, ROOMY);
    expect(problems("demo", {}, undefined, [], dir)).toEqual([
      { path: "portugal-odyssey:edgeSubnet", message: expect.stringContaining(`overlaps ${quals}, the edgeSubnet of stack "qual" (Pulumi.qual.yaml)`) },
    ]);
    expect(problems("qual", {}, undefined, [], dir)).toEqual([{ path: "portugal-odyssey:edgeSubnet", message: expect.stringContaining('stack "demo"') }]);
  });

  test("a stack file that does not validate is named, since nothing can be checked against it", () => {
    const dir = projectWith({ "Pulumi.broken.yaml": "config:\n  portugal-odyssey:domain: not a domain\n" }, ROOMY);
    expect(problems("qual", {}, undefined, [], dir)).toEqual([
      { path: "Pulumi.broken.yaml", message: expect.stringMatching(/^stack "broken" on the same host does not validate \(domain: expected a lowercase DNS domain.*pulumi preview --stack broken/) },
    ]);
  });
});

describe("rejects, naming the key path and what was expected", () => {
  test("a wrong type", () => {
    expect(problems("qual", { resources: { scale: "big" } })).toEqual([
      { path: "portugal-odyssey:resources.scale", message: "expected a number such as 0.5" },
    ]);
  });

  test("an unknown top-level key", () => {
    expect(problems("qual", { domian: "x.pt" })).toEqual([
      { path: "portugal-odyssey:domian", message: expect.stringContaining("unknown key") },
    ]);
  });

  test("an unknown nested key", () => {
    const traefik = { entrypoint: "websecure", certResolver: "letsencrypt", entrypiont: "web" };
    expect(problems("qual", { traefik })).toEqual([{ path: "portugal-odyssey:traefik.entrypiont", message: expect.stringContaining("unknown key") }]);
  });

  test("a missing required key", () => {
    expect(problems("qual", { domain: undefined })).toEqual([
      { path: "portugal-odyssey:domain", message: expect.stringMatching(/^required; /) },
    ]);
  });

  test.each([
    ["not a CIDR", "172.16.101.0", "not an IPv4 network in CIDR notation"],
    ["public", "8.8.8.0/24", "is not private"],
    ["host bits set", "172.16.101.7/24", "the network is 172.16.101.0/24"],
    ["too small for a rollout", "172.16.101.0/30", "/30 is outside /16 to /28"],
    ["IPv6", "fd00::/64", "not an IPv4 network"],
  ])("an edge subnet that is %s, in one message", (_why, edgeSubnet, reason) => {
    expect(problems("qual", { edgeSubnet })).toEqual([
      { path: "portugal-odyssey:edgeSubnet", message: expect.stringMatching(new RegExp(`^expected a private IPv4 network in CIDR notation.*\\(.*${reason.replace(/[./]/g, "\\$&")}`)) },
    ]);
  });

  test("no edge subnet in isolated mode, with the command that sets one; shared mode needs none", () => {
    expect(problems("qual", { edgeSubnet: undefined })).toEqual([
      { path: "portugal-odyssey:edgeSubnet", message: expect.stringContaining("required with edge: isolated; expected the private IPv4 subnet of po-edge-qual") },
    ]);
    expect(validate("qual", { edgeSubnet: undefined, edge: "shared" }).ok).toBe(true);
  });

  test("a malformed domain", () => {
    expect(problems("qual", { domain: "Qual_PortugalOdyssey" })).toEqual([
      { path: "portugal-odyssey:domain", message: "expected a lowercase DNS domain such as qual.portugalodyssey.pt" },
    ]);
  });

  test("a registry that carries a tag", () => {
    expect(problems("qual", { registry: "registry.gitlab.com/po/platform:1.0" })).toEqual([
      { path: "portugal-odyssey:registry", message: expect.stringContaining("expected a registry and repository path") },
    ]);
  });

  test("an image tag in the stack config is no longer a key: images live in the release manifest", () => {
    expect(problems("qual", { services: { "booking-service": { tag: "1.0" } }, imageTag: "main" }).map((p) => p.path).sort()).toEqual([
      "portugal-odyssey:imageTag",
      "portugal-odyssey:services.booking-service.tag",
    ]);
  });

  test("an unknown service name under services, listing the known ones", () => {
    expect(problems("qual", { services: { booking: { memoryMb: 128 } } })).toEqual([
      { path: "portugal-odyssey:services.booking", message: expect.stringContaining("expected one of: public-fo, strapi-cms") },
    ]);
  });

  test("a suffix another stack on the host already produces", () => {
    expect(problems("qual", { suffix: "prod" })).toEqual([
      { path: "portugal-odyssey:suffix", message: expect.stringContaining('"prod" is also the suffix of stack "prod"') },
    ]);
  });

  test("a domain whose Host rules another stack already serves", () => {
    expect(problems("qual", { domain: "portugalodyssey.pt" })).toEqual([
      { path: "portugal-odyssey:domain", message: expect.stringMatching(/^Host rule\(s\) .*\bauth\.portugalodyssey\.pt\b.* would also be served by stack "prod"/) },
    ]);
  });

  test("a suffix with a hyphen, which could collide with another service's names", () => {
    expect(problems("qual", { suffix: "qual-2" })).toEqual([{ path: "portugal-odyssey:suffix", message: expect.stringContaining("no hyphen") }]);
  });

  test("a stack name that cannot be a suffix, unless one is set", () => {
    const two = { domain: "two.portugalodyssey.pt", resources: { scale: 0.5 }, host: ROOMY, edgeSubnet: "172.16.111.0/24" };
    expect(problems("Qual-Two", two).map((p) => p.path)).toEqual(["portugal-odyssey:suffix"]);
    const named = validate("Qual-Two", { ...two, suffix: "two" });
    expect(named.ok && named.settings.env).toBe("two");
  });
});

describe("secrets", () => {
  test("a missing external secret gives the exact command that sets it", () => {
    const { paymentProviderKey: _omitted, ...others } = { ...TEST_EXTERNAL_SECRETS, paymentProviderKey: "x", paymentWebhookSecret: "y", smtpPassword: "z" };
    expect(problems("prod", {}, others)).toEqual([
      {
        path: "portugal-odyssey:paymentProviderKey",
        message: "required secret is not set; run: pulumi config set --secret paymentProviderKey --stack prod",
      },
    ]);
  });

  test("a credential set in plain text is refused, without echoing it", () => {
    const secrets = { ...TEST_EXTERNAL_SECRETS, paymentProviderKey: "sk_live_plaintext", paymentWebhookSecret: "y", smtpPassword: "z" };
    const found = problems("qual", {}, secrets, ["portugal-odyssey:paymentProviderKey"]);
    expect(found).toEqual([{ path: "portugal-odyssey:paymentProviderKey", message: expect.stringContaining("pulumi config set --secret paymentProviderKey --stack qual") }]);
    expect(JSON.stringify(found)).not.toContain("sk_live_plaintext");
  });

  test("a generated credential set as a config secret is used instead of a random one", () => {
    const result = validate("prod", {}, { ...TEST_EXTERNAL_SECRETS, postgresPassword: "from-the-old-volume" });
    expect(result.ok && result.secretsFromConfig).toContain("postgresPassword");
  });

  test("each service's database password can be set as a config secret of its own name, and only as a secret", () => {
    const external = { paymentProviderKey: "x", paymentWebhookSecret: "y", smtpPassword: "z" };
    // The registry login is required too, but it is the provider's, not a container's credential.
    const registry = { registryUsername: TEST_EXTERNAL_SECRETS.registryUsername, registryPassword: TEST_EXTERNAL_SECRETS.registryPassword };
    const keys = postgresServices().map(names.databasePasswordCredential);
    const result = validate("prod", {}, { ...external, ...registry, ...Object.fromEntries(keys.map((k) => [k, `${k}-from-an-old-volume`])) });
    expect(result.ok && [...result.secretsFromConfig].sort()).toEqual([...keys, ...Object.keys(external)].sort());
    const [first] = keys;
    expect(problems("prod", {}, { ...external, ...registry, [first]: "in-plain-text" }, [`portugal-odyssey:${first}`])).toEqual([
      { path: `portugal-odyssey:${first}`, message: expect.stringContaining(`pulumi config set --secret ${first} --stack prod`) },
    ]);
  });

  test("a database password Postgres would SASLprep differently from its bytes is refused with the fix", () => {
    const key = names.databasePasswordCredential(postgresServices()[0]);
    const found = problems("prod", {}, { ...TEST_EXTERNAL_SECRETS, [key]: "pässwort mit leerzeichen" });
    expect(found).toEqual([{ path: `portugal-odyssey:${key}`, message: expect.stringMatching(/expected printable ASCII without spaces.*pulumi config set --secret/) }]);
    expect(JSON.stringify(found)).not.toContain("pässwort");
  });
});

describe("the host's memory", () => {
  test("rejects a stack that grows past what the host has left beside the others, with the breakdown", () => {
    const { memoryBudgetMb, reservedMb } = hostOf("prod");
    const counted = breakdown({ prod: planOf("prod", { resources: { scale: 4 } }), qual: planOf("qual") }, reservedMb);
    expect(counted.total).toBeGreaterThan(memoryBudgetMb);
    expect(problems("prod", { resources: { scale: 4 } })).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringContaining(`would reserve ${counted.total} MiB (${counted.text}), over the budget of ${memoryBudgetMb} MiB`) },
    ]);
  });

  test("rejects stacks that together exceed a smaller budget, counting each stack file's own limits", () => {
    const counted = breakdown({ qual: planOf("qual"), prod: planOf("prod") }, 0);
    const found = problems("qual", { host: { memoryBudgetMb: counted.total - 1 } });
    expect(found).toEqual([{ path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringContaining(`(${counted.text}), over the budget of ${counted.total - 1} MiB`) }]);
  });

  test("counts what the host keeps back for others (host.reservedMb) and the largest rollout overlap", () => {
    const { memoryBudgetMb } = hostOf("qual");
    const stacks = { qual: planOf("qual"), prod: planOf("prod") };
    const slack = memoryBudgetMb - breakdown(stacks, 0).total;
    expect(slack).toBeGreaterThan(0);
    expect(validate("qual", { host: { memoryBudgetMb, reservedMb: slack } }).ok).toBe(true);
    const over = breakdown(stacks, slack + 1);
    expect(problems("qual", { host: { memoryBudgetMb, reservedMb: slack + 1 } })).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringContaining(`would reserve ${memoryBudgetMb + 1} MiB (${over.text})`) },
    ]);
  });
});

test("reports a clash with another stack together with type errors and a missing secret, not one run later", () => {
  const { smtpPassword: _omitted, ...secrets } = TEST_EXTERNAL_SECRETS;
  expect(problems("qual", { domain: "portugalodyssey.pt", logs: { maxSize: "big" } }, secrets).map((p) => p.path).sort()).toEqual([
    "portugal-odyssey:domain",
    "portugal-odyssey:logs.maxSize",
    "portugal-odyssey:smtpPassword",
  ]);
});

test("lists every problem in one message, each on its own line, with how to fix it", () => {
  const found = problems("qual", { domain: "nope", logs: { maxSize: "big" }, services: { ghost: {} } });
  expect(found.length).toBe(3);
  const message = formatProblems("qual", found);
  expect(message.split("\n")).toEqual([
    'Stack "qual" has 3 configuration problems; nothing was created.',
    expect.stringMatching(/^ {2}- portugal-odyssey:services.ghost: unknown name "ghost"/),
    "  - portugal-odyssey:domain: expected a lowercase DNS domain such as qual.portugalodyssey.pt",
    expect.stringMatching(/^ {2}- portugal-odyssey:logs.maxSize: expected a size/),
    "Edit Pulumi.qual.yaml (or Pulumi.yaml for shared keys), or run: pulumi config set --path <key> <value> --stack qual",
  ]);
});

test("stops the program with a RunError, which the engine prints without a stack trace", async () => {
  const attempt = runProgram({ stack: "qual", config: { domain: "nope", services: { ghost: { memoryMb: 128 } } } });
  await expect(attempt).rejects.toBeInstanceOf(ConfigError);
  await expect(attempt).rejects.toBeInstanceOf(pulumi.RunError);
  await expect(attempt).rejects.toThrow(/portugal-odyssey:domain: expected a lowercase DNS domain/);
});

test("registers nothing but the root stack when config is bad", async () => {
  const registered: string[] = [];
  await expect(runProgram({ stack: "prod", secrets: {}, onRegister: (r) => registered.push(r.type) })).rejects.toBeInstanceOf(ConfigError);
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
});

describe("the release manifest (releases/<stack>.yaml)", () => {
  const STACK = "qual";
  const withImage = (service: string, image: string) => {
    const release = testRelease(STACK);
    release.services[service] = { ...release.services[service], image };
    return release;
  };
  const releaseProblems = (release: unknown) => problems(STACK, {}, undefined, [], REPOSITORY_ROOT, release);

  test("the committed manifests of a fresh project pin nothing, and the message says to run npm run release before the first up", () => {
    for (const stack of ["qual", "prod"]) {
      const found = problems(stack, {}, undefined, [], REPOSITORY_ROOT, readReleaseFile(REPOSITORY_ROOT, stack));
      expect(found).toEqual([{ path: `releases/${stack}.yaml`, message: expect.stringContaining(`npm run release -- --stack ${stack} --all --tag <tag>`) }]);
      expect(found[0].message).toContain("before the first up");
    }
  });

  test.each(["qual", "prod"])("a tag-only reference is refused on %s, naming the service and the command that pins it", (stack) => {
    const release = testRelease(stack);
    const repository = release.services["booking-service"].image.split("@")[0];
    release.services["booking-service"].image = `${repository}:main`;
    expect(problems(stack, {}, undefined, [], REPOSITORY_ROOT, release)).toEqual([
      {
        path: `releases/${stack}.yaml: services.booking-service.image`,
        message: expect.stringContaining(`names a tag only, and a tag can move; pin it by digest: npm run release -- --stack ${stack} --service booking-service --tag main`),
      },
    ]);
  });

  test("a service missing from a manifest that pins the others is named with its own command", () => {
    const release = testRelease(STACK);
    delete release.services["search-service"];
    expect(releaseProblems(release)).toEqual([
      { path: "releases/qual.yaml: services.search-service", message: expect.stringContaining("not pinned; run: npm run release -- --stack qual --service search-service") },
    ]);
  });

  test("an image from another repository than config registry + catalog repository is refused", () => {
    const other = testEntry(STACK, "booking-service").image.replace("/booking-service@", "/payment-service@");
    expect(releaseProblems(withImage("booking-service", other))).toEqual([
      { path: "releases/qual.yaml: services.booking-service.image", message: expect.stringContaining("but booking-service is pulled from") },
    ]);
  });

  test("a tag beside the digest, a malformed digest, an unknown service and an unknown key are each reported", () => {
    const entry = testEntry(STACK, "booking-service");
    const [repository, digest] = entry.image.split("@");
    expect(releaseProblems(withImage("booking-service", `${repository}:1.0@${digest}`))[0].message).toContain(`write it as ${repository}@${digest}`);
    expect(releaseProblems(withImage("booking-service", `${repository}@sha256:abc`))[0].message).toContain("is not an image reference");
    const ghost = testRelease(STACK);
    ghost.services.ghost = entry;
    expect(releaseProblems(ghost)).toEqual([{ path: "releases/qual.yaml: services.ghost", message: expect.stringContaining('unknown service "ghost"') }]);
    const extra = testRelease(STACK) as { services: Record<string, object> };
    extra.services["booking-service"] = { ...entry, tag: "main" };
    expect(releaseProblems(extra)).toEqual([{ path: "releases/qual.yaml: services.booking-service.tag", message: expect.stringContaining("unknown key") }]);
  });

  test("a missing manifest file is one problem that says how to create it", () => {
    const config = engineConfig(STACK);
    const result = validateStackConfig(STACK, { values: config.values, secretKeys: new Set(config.secretKeys), release: undefined });
    expect(!result.ok && result.problems).toEqual([{ path: "releases/qual.yaml", message: expect.stringContaining("npm run release -- --stack qual --all") }]);
  });

  test("the program refuses a tag-only manifest before registering anything", async () => {
    const registered: string[] = [];
    const attempt = runProgram({ stack: "prod", release: withImage("public-fo", "registry.gitlab.com/portugal-odyssey/platform/public-fo:main"), onRegister: (r) => registered.push(r.type) });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/services\.public-fo\.image: .*names a tag only/);
    expect(registered).toEqual(["pulumi:pulumi:Stack"]);
  });
});

describe("the registry login", () => {
  test.each(["registryUsername", "registryPassword"])("a missing %s is a config error naming pulumi config set --secret", (name) => {
    const { [name as keyof typeof TEST_EXTERNAL_SECRETS]: _omitted, ...secrets } = TEST_EXTERNAL_SECRETS;
    expect(problems("prod", {}, secrets)).toEqual([
      { path: `portugal-odyssey:${name}`, message: `required secret is not set; run: pulumi config set --secret ${name} --stack prod` },
    ]);
  });

  test("a registry password in plain text is refused without echoing it", () => {
    const found = problems("qual", {}, TEST_EXTERNAL_SECRETS, ["portugal-odyssey:registryPassword"]);
    expect(found).toEqual([{ path: "portugal-odyssey:registryPassword", message: expect.stringContaining("pulumi config set --secret registryPassword --stack qual") }]);
    expect(JSON.stringify(found)).not.toContain(TEST_EXTERNAL_SECRETS.registryPassword);
  });
});

describe("the backup image in the release manifest", () => {
  const withBackupConfig = { backup: { repository: "s3:https://s3.example.com/bucket" } };
  test("a stack with backup config needs the backup image pinned, and is told the command", () => {
    const { backup: _omitted, ...release } = testRelease("qual");
    expect(problems("qual", withBackupConfig, undefined, [], FIXTURE_PROJECT, release)).toEqual([
      expect.objectContaining({ path: "releases/qual.yaml: backup", message: expect.stringContaining("npm run release -- --stack qual --service backup") }),
    ]);
  });

  test("a tag-only backup image is refused like an app image", () => {
    const release = testRelease("qual");
    release.backup = { ...release.backup, image: release.backup.image.replace(/@sha256:.*/, ":main") };
    expect(problems("qual", withBackupConfig, undefined, [], FIXTURE_PROJECT, release)).toEqual([
      { path: "releases/qual.yaml: backup.image", message: expect.stringContaining("names a tag only") },
    ]);
  });
});

describe("a cpus override the docker provider would read back as another number", () => {
  test.each([
    [0.05, "0.1", 0.1],
    [0.01, "0.0", 0.1],
    [10.05, "10.1", 10.1],
    [20.02, "20.0", 20],
  ])("%p is refused, naming the key, what the provider stores and a value to use instead", (cpus, stored, instead) => {
    expect(problems("qual", { stores: { redis: { cpus } } })).toEqual([
      { path: "portugal-odyssey:stores.redis.cpus", message: expect.stringContaining(`it stores ${cpus} as "${stored}", which would replace the container on every up. Use ${instead} instead`) },
    ]);
    expect(validate("qual", { stores: { redis: { cpus: instead } } }).ok).toBe(true);
  });

  test("0.1, 0.25 and 1.5 are accepted", () => {
    for (const cpus of [0.1, 0.25, 1.5]) expect(validate("qual", { services: { "booking-service": { cpus } } }).ok).toBe(true);
  });
});
