import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXTERNAL_SECRETS, GENERATED_CREDENTIALS } from "../../catalog/types";
import { REGISTRY_SECRETS, stackConfigSchema } from "../../config/schema";
import { databaseCredentials } from "../../model/databases";
import { configKeys, renderConfigReference, renderSecretsTable } from "../../tools/config-docs";
import { samplePlan } from "../../tools/catalog-docs";

const keys = configKeys();
const rowOf = (table: string, key: string) => table.split("\n").find((r) => r.startsWith(`| \`${key}\` |`));

test("every key the schema accepts is listed, nested and map keys included", () => {
  const paths = keys.map((k) => k.path);
  for (const top of Object.keys(stackConfigSchema.shape)) expect(paths.some((p) => p === top || p.startsWith(`${top}.`))).toBe(true);
  expect(paths).toEqual(expect.arrayContaining(["traefik.entrypoint", "services.<service>.memoryMb", "stores.<store>.cpus", "data.volumes.<volume>"]));
  expect(new Set(paths).size).toBe(paths.length);
});

test("every key carries a description in the schema, so none reaches the reference undocumented", () => {
  const undocumented = keys.filter((k) => !k.description?.trim()).map((k) => k.path);
  expect(undocumented).toEqual([]);
});

test("the keys marked required are exactly those the schema refuses to go without", () => {
  // Every object on the way to a plain key is present but empty, so each missing key is reported at its own path.
  const input: Record<string, unknown> = {};
  for (const { path } of keys.filter((k) => !k.path.includes("<"))) {
    const parts = path.split(".");
    let node = input;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  }
  const result = stackConfigSchema.safeParse(input);
  const missing = result.success ? [] : result.error.issues.filter((i) => i.code === "invalid_type").map((i) => i.path.join("."));
  expect(missing.length).toBeGreaterThan(0);
  expect(keys.filter((k) => k.required).map((k) => k.path).sort()).toEqual(missing.sort());
});

describe("the Default column", () => {
  let project: string;
  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), "po-config-docs-"));
    writeFileSync(
      join(project, "Pulumi.yaml"),
      ["name: portugal-odyssey", "runtime: nodejs", "config:", "  registry:", "    value: registry.example.test/base", "  logs:", "    value:", "      maxFile: 7", ""].join("\n"),
    );
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  test("shows the base value the project's Pulumi.yaml sets, beside the schema's default", () => {
    const table = renderConfigReference(project);
    expect(rowOf(table, "logs.maxFile")).toContain("`3`; Pulumi.yaml: `7`");
    expect(rowOf(table, "registry")).toContain("Pulumi.yaml: `registry.example.test/base`");
    expect(rowOf(table, "registry")).not.toContain("required");
  });

  test("marks a required key that nothing sets", () => {
    const table = renderConfigReference(project);
    for (const key of keys.filter((k) => k.required && k.path !== "registry")) expect(rowOf(table, key.path)).toContain("**required**");
  });
});

test("the secrets table lists every credential once, with the containers whose env names it", () => {
  const table = renderSecretsTable();
  const plan = samplePlan();
  const credentials = [...GENERATED_CREDENTIALS, ...EXTERNAL_SECRETS, ...databaseCredentials()];
  for (const name of credentials) {
    // `{name}`, or `{name:url}` where it sits inside a URL.
    const named = new RegExp(`\\{${name}(:url)?\\}`);
    const users = plan.containers.filter((c) => c.env.some((e) => e.secret && named.test(e.value))).map((c) => c.name);
    expect(users.length).toBeGreaterThan(0);
    expect(rowOf(table, name)).toMatch(new RegExp(`\\| ${users.join(", ")} \\|$`));
  }
  for (const name of REGISTRY_SECRETS) expect(rowOf(table, name)).toContain("the app image pulls");
  expect(table.split("\n")).toHaveLength(2 + credentials.length + REGISTRY_SECRETS.length);
});
