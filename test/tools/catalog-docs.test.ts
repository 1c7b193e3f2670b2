import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SERVICE_NAMES } from "../../catalog/services";
import { renderCatalogTables, renderReadme } from "../../tools/catalog-docs";

const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");

test("README's catalog tables are what the catalog renders today (run `npm run docs` after changing the catalog)", () => {
  expect(renderReadme(readme)).toBe(readme);
});

test("the rendered tables list every service with its rollout strategy and every hardening exception", () => {
  const { services, exceptions } = renderCatalogTables();
  expect(services).toMatch(/\| public-fo \|.*\| zero-downtime/);
  expect(services).toMatch(/\| keycloak \|.*\| delete-first: keeps sessions/);
  expect(services.split("\n")).toHaveLength(2 + SERVICE_NAMES.length);
  const { STORES } = jest.requireActual("../../catalog/stores");
  const { SERVICES } = jest.requireActual("../../catalog/services");
  const declared = [...Object.values(STORES), ...Object.values(SERVICES)].flatMap((spec: any) =>
    Object.keys(spec.hardening).map((kind) => `${spec.name}/${kind}`),
  );
  expect(declared.length).toBeGreaterThan(2);
  expect(exceptions.split("\n")).toHaveLength(2 + declared.length);
  for (const row of declared.map((d) => d.split("/")[0])) expect(exceptions).toContain(`| ${row} |`);
  expect(exceptions).toMatch(/\| postgres \| starts as root, keeps CHOWN/);
});

test("README documents every top-level config key the schema accepts", () => {
  const { stackConfigSchema } = jest.requireActual("../../config/schema");
  for (const key of Object.keys(stackConfigSchema.shape)) expect(readme).toContain(`| \`${key}`);
});
