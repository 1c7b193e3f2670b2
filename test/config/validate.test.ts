import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../config/load";
import { formatProblems, validateStackConfig, type ConfigProblem } from "../../config/validate";
import { runProgram } from "../harness/program";
import { readOtherStacks } from "../../config/stack-files";
import { PROJECT_DIR, engineConfig } from "../harness/stack-config";

/**
 * Validates the stack's real config with some top-level keys replaced (`undefined` removes one),
 * against the other stack files in `projectDir` (this repository's: qual and prod).
 */
function validate(stack: string, overrides: Record<string, unknown> = {}, secrets?: Record<string, string>, plaintext: string[] = [], projectDir = PROJECT_DIR) {
  const config = engineConfig(stack, overrides, secrets, projectDir);
  for (const key of plaintext) config.secretKeys = config.secretKeys.filter((k) => k !== key);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), otherStacks: readOtherStacks(projectDir, stack) });
}

/** A copy of this project's Pulumi.yaml and stack files, plus `extra` stack files, in a temp folder. */
function projectWith(extra: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "po-project-"));
  for (const file of ["Pulumi.yaml", "Pulumi.qual.yaml", "Pulumi.prod.yaml"]) copyFileSync(join(PROJECT_DIR, file), join(dir, file));
  for (const [file, text] of Object.entries(extra)) writeFileSync(join(dir, file), text);
  return dir;
}

function problems(...args: Parameters<typeof validate>): ConfigProblem[] {
  const result = validate(...args);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
}

test("accepts the committed qual and prod config", () => {
  for (const stack of ["qual", "prod"]) {
    const result = validate(stack);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.settings.env).toBe(stack);
  }
});

describe("a third stack is one more file", () => {
  const stackFile = (domain: string, scale?: number) =>
    `config:\n  portugal-odyssey:domain: ${domain}\n  portugal-odyssey:imageTag: main\n` + (scale ? `  portugal-odyssey:resources:\n    scale: ${scale}\n` : "");
  const DEMO = stackFile("demo.portugalodyssey.pt", 0.5);

  test("Pulumi.demo.yaml with only its domain, tag and size gives a valid stack suffixed demo", () => {
    const dir = projectWith({ "Pulumi.demo.yaml": DEMO });
    const result = validate("demo", {}, undefined, [], dir);
    expect(result.ok && result.settings.env).toBe("demo");
    expect(result.ok && result.settings.domain).toBe("demo.portugalodyssey.pt");
  });

  test("the program builds the whole environment for it, every name ending in -demo", async () => {
    const run = await runProgram({ stack: "demo", projectDir: projectWith({ "Pulumi.demo.yaml": DEMO }) });
    const named = run.resources.filter((r) => typeof r.inputs.name === "string" && r.type.startsWith("docker:"));
    expect(named.length).toBe(18 + 6 + 5);
    for (const r of named) expect(r.inputs.name).toMatch(/-demo(-[0-9a-f]{8})?$/);
  });

  test("the existing stacks count it: its memory joins theirs against the host budget", () => {
    const big = projectWith({ "Pulumi.demo.yaml": stackFile("demo.portugalodyssey.pt") });
    expect(problems("qual", {}, undefined, [], big)).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringMatching(/\(qual: 4608, demo: 9216, prod: 9216, demo's rollout overlap: 768, reserved: 1024\), over the budget of 20480 MiB/) },
    ]);
  });

  test("a stack file that reuses another stack's domain makes both stacks refuse", () => {
    const dir = projectWith({ "Pulumi.demo.yaml": stackFile("qual.portugalodyssey.pt", 0.5) });
    for (const stack of ["qual", "demo"]) {
      expect(problems(stack, {}, undefined, [], dir)).toEqual([{ path: "portugal-odyssey:domain", message: expect.stringContaining("cms.qual.portugalodyssey.pt") }]);
    }
  });

  test("a stack file that does not validate is named, since nothing can be checked against it", () => {
    const dir = projectWith({ "Pulumi.broken.yaml": "config:\n  portugal-odyssey:domain: not a domain\n" });
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

  test("a malformed image tag, per service", () => {
    expect(problems("qual", { services: { "booking-service": { tag: "1.0 beta" } } })).toEqual([
      { path: "portugal-odyssey:services.booking-service.tag", message: expect.stringContaining("expected a Docker image tag") },
    ]);
  });

  test("an unknown service name under services, listing the known ones", () => {
    expect(problems("qual", { services: { booking: { tag: "1.0" } } })).toEqual([
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
      { path: "portugal-odyssey:domain", message: expect.stringContaining('auth.portugalodyssey.pt would also be served by stack "prod"') },
    ]);
  });

  test("a suffix with a hyphen, which could collide with another service's names", () => {
    expect(problems("qual", { suffix: "qual-2" })).toEqual([{ path: "portugal-odyssey:suffix", message: expect.stringContaining("no hyphen") }]);
  });

  test("a stack name that cannot be a suffix, unless one is set", () => {
    const two = { domain: "two.portugalodyssey.pt", imageTag: "1.0", resources: { scale: 0.5 } };
    expect(problems("Qual-Two", two).map((p) => p.path)).toEqual(["portugal-odyssey:suffix"]);
    const named = validate("Qual-Two", { ...two, suffix: "two" });
    expect(named.ok && named.settings.env).toBe("two");
  });
});

describe("secrets", () => {
  test("a missing external secret gives the exact command that sets it", () => {
    const { paymentProviderKey: _omitted, ...others } = { paymentProviderKey: "x", paymentWebhookSecret: "y", smtpPassword: "z" };
    expect(problems("prod", {}, others)).toEqual([
      {
        path: "portugal-odyssey:paymentProviderKey",
        message: "required secret is not set; run: pulumi config set --secret paymentProviderKey --stack prod",
      },
    ]);
  });

  test("a credential set in plain text is refused, without echoing it", () => {
    const secrets = { paymentProviderKey: "sk_live_plaintext", paymentWebhookSecret: "y", smtpPassword: "z" };
    const found = problems("qual", {}, secrets, ["portugal-odyssey:paymentProviderKey"]);
    expect(found).toEqual([{ path: "portugal-odyssey:paymentProviderKey", message: expect.stringContaining("pulumi config set --secret paymentProviderKey --stack qual") }]);
    expect(JSON.stringify(found)).not.toContain("sk_live_plaintext");
  });

  test("a generated credential set as a config secret is used instead of a random one", () => {
    const result = validate("prod", {}, { paymentProviderKey: "x", paymentWebhookSecret: "y", smtpPassword: "z", postgresPassword: "from-the-old-volume" });
    expect(result.ok && result.secretsFromConfig).toContain("postgresPassword");
  });
});

describe("the host's memory", () => {
  test("rejects a stack that grows past what the host has left beside the others, with the breakdown", () => {
    expect(problems("prod", { resources: { scale: 2 } })).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringMatching(/would reserve 25600 MiB \(prod: 18432, qual: 4608, prod's rollout overlap: 1536, reserved: 1024\), over the budget of 20480 MiB/) },
    ]);
  });

  test("rejects stacks that together exceed a smaller budget, counting each stack file's own limits", () => {
    const found = problems("qual", { host: { memoryBudgetMb: 12000, neighbours: ["x100f-webapp"] } });
    expect(found).toEqual([{ path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringMatching(/\(qual: 4608, prod: 9216, prod's rollout overlap: 768\), over the budget of 12000 MiB/) }]);
  });

  test("counts what the host keeps back for others (host.reservedMb) and the largest rollout overlap", () => {
    expect(validate("qual", { host: { memoryBudgetMb: 20480, reservedMb: 5888, neighbours: ["x100f-webapp"] } }).ok).toBe(true);
    expect(problems("qual", { host: { memoryBudgetMb: 20480, reservedMb: 5889, neighbours: ["x100f-webapp"] } })).toEqual([
      { path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringContaining("would reserve 20481 MiB (qual: 4608, prod: 9216, prod's rollout overlap: 768, reserved: 5889)") },
    ]);
  });
});

test("reports a clash with another stack together with type errors and a missing secret, not one run later", () => {
  const { smtpPassword: _omitted, ...secrets } = { paymentProviderKey: "x", paymentWebhookSecret: "y", smtpPassword: "z" };
  expect(problems("qual", { domain: "portugalodyssey.pt", imageTag: "bad tag" }, secrets).map((p) => p.path).sort()).toEqual([
    "portugal-odyssey:domain",
    "portugal-odyssey:imageTag",
    "portugal-odyssey:smtpPassword",
  ]);
});

test("lists every problem in one message, each on its own line, with how to fix it", () => {
  const found = problems("qual", { domain: "nope", imageTag: "bad tag", services: { ghost: {} } });
  expect(found.length).toBe(3);
  const message = formatProblems("qual", found);
  expect(message.split("\n")).toEqual([
    'Stack "qual" has 3 configuration problems; nothing was created.',
    expect.stringMatching(/^ {2}- portugal-odyssey:services.ghost: unknown name "ghost"/),
    "  - portugal-odyssey:domain: expected a lowercase DNS domain such as qual.portugalodyssey.pt",
    expect.stringMatching(/^ {2}- portugal-odyssey:imageTag: expected a Docker image tag/),
    "Edit Pulumi.qual.yaml (or Pulumi.yaml for shared keys), or run: pulumi config set --path <key> <value> --stack qual",
  ]);
});

test("stops the program with a RunError, which the engine prints without a stack trace", async () => {
  const attempt = runProgram({ stack: "qual", config: { domain: "nope", services: { ghost: { tag: "1" } } } });
  await expect(attempt).rejects.toBeInstanceOf(ConfigError);
  await expect(attempt).rejects.toBeInstanceOf(pulumi.RunError);
  await expect(attempt).rejects.toThrow(/portugal-odyssey:domain: expected a lowercase DNS domain/);
});

test("registers nothing but the root stack when config is bad", async () => {
  const registered: string[] = [];
  await expect(runProgram({ stack: "prod", secrets: {}, onRegister: (r) => registered.push(r.type) })).rejects.toBeInstanceOf(ConfigError);
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
});
