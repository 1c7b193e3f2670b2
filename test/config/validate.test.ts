import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../config/load";
import { formatProblems, validateStackConfig, type ConfigProblem } from "../../config/validate";
import { runProgram } from "../harness/program";
import { engineConfig, readStackConfig } from "../harness/stack-config";

/** Validates the stack's real config with some top-level keys replaced (`undefined` removes one). */
function validate(stack: string, overrides: Record<string, unknown> = {}, secrets?: Record<string, string>, plaintext: string[] = []) {
  const config = engineConfig(stack, overrides, secrets);
  for (const key of plaintext) config.secretKeys = config.secretKeys.filter((k) => k !== key);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys) });
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

test("defaults the suffix to the stack name, so a third stack is one more file", () => {
  const result = validate("qual", {
    host: { memoryBudgetMb: 40000, stacks: { qual: { domain: "qual.portugalodyssey.pt", memoryMb: 5120 }, prod: { domain: "portugalodyssey.pt", memoryMb: 10240 } } },
  });
  expect(result.ok && result.settings.env).toBe("qual");
  const host = structuredClone(readStackConfig("qual")["portugal-odyssey:host"]) as { stacks: Record<string, { domain: string }> };
  host.stacks.qual.domain = "demo.portugalodyssey.pt";
  const third = validate("qual", { suffix: "demo", domain: "demo.portugalodyssey.pt", host });
  expect(third.ok && third.settings.env).toBe("demo");
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
    const host = structuredClone(readStackConfig("qual")["portugal-odyssey:host"]) as { stacks: Record<string, { domain: string }> };
    host.stacks.qual.domain = "portugalodyssey.pt";
    expect(problems("qual", { domain: "portugalodyssey.pt", host })).toEqual([
      { path: "portugal-odyssey:domain", message: expect.stringContaining("api.portugalodyssey.pt") },
    ]);
  });

  test("a domain that differs from what the stack declares to the others on the host", () => {
    expect(problems("qual", { domain: "staging.portugalodyssey.pt" })).toEqual([
      { path: "portugal-odyssey:host.stacks.qual.domain", message: expect.stringContaining('declares "qual.portugalodyssey.pt" but the stack serves "staging.portugalodyssey.pt"') },
    ]);
  });

  test("a suffix with a hyphen, which could collide with another service's names", () => {
    expect(problems("qual", { suffix: "qual-2" })).toEqual([{ path: "portugal-odyssey:suffix", message: expect.stringContaining("no hyphen") }]);
  });

  test("a stack name that cannot be a suffix, unless one is set", () => {
    const stacks = {
      "Qual-Two": { domain: "two.portugalodyssey.pt", memoryMb: 10240 },
      prod: { domain: "portugalodyssey.pt", memoryMb: 10240 },
    };
    const host = { memoryBudgetMb: 20480, stacks };
    expect(problems("Qual-Two", { host, domain: "two.portugalodyssey.pt", imageTag: "1.0" }).map((p) => p.path)).toEqual(["portugal-odyssey:suffix"]);
    const named = validate("Qual-Two", { host, domain: "two.portugalodyssey.pt", imageTag: "1.0", suffix: "two" });
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
  test("rejects a stack whose containers need more than it declares", () => {
    expect(problems("prod", { resources: { scale: 2 } }).map((p) => p.path)).toContain("portugal-odyssey:host.stacks.prod.memoryMb");
  });

  test("rejects stacks that together exceed the host budget, with the breakdown", () => {
    const host = {
      memoryBudgetMb: 12000,
      neighbours: ["x100f-webapp"],
      stacks: { qual: { domain: "qual.portugalodyssey.pt", memoryMb: 5120 }, prod: { domain: "portugalodyssey.pt", memoryMb: 10240 } },
    };
    const found = problems("qual", { host });
    expect(found).toEqual([{ path: "portugal-odyssey:host.memoryBudgetMb", message: expect.stringMatching(/qual: \d+, prod: 10240\), over the budget of 12000 MiB/) }]);
  });

  test("requires the stack itself to be declared for the others to account for it", () => {
    const host = { memoryBudgetMb: 20480, stacks: { prod: { domain: "portugalodyssey.pt", memoryMb: 10240 } } };
    expect(problems("qual", { host }).map((p) => p.path)).toEqual(["portugal-odyssey:host.stacks.qual"]);
  });
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

test("stops the program with a RunError (printed without a stack trace) before any resource is registered", async () => {
  const attempt = runProgram({ stack: "qual", config: { domain: "nope", services: { ghost: { tag: "1" } } } });
  await expect(attempt).rejects.toBeInstanceOf(ConfigError);
  await expect(attempt).rejects.toBeInstanceOf(pulumi.RunError);
  await expect(attempt).rejects.toThrow(/portugal-odyssey:domain: expected a lowercase DNS domain/);
});

test("registers nothing but the root stack when config is bad", async () => {
  const registered: string[] = [];
  await runProgram({ stack: "prod", secrets: {}, onRegister: (r) => registered.push(r.type) }).catch((e) => {
    expect(e).toBeInstanceOf(ConfigError);
  });
  expect(registered).toEqual(["pulumi:pulumi:Stack"]);
});
