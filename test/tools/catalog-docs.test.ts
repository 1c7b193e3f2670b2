import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { STORE_NAMES } from "../../catalog/types";
import { renderCatalogTables } from "../../tools/catalog-docs";

const rows = (table: string) => table.split("\n").slice(2);

test("the service table has one row per catalog service, each with its rollout strategy", () => {
  const { services } = renderCatalogTables();
  expect(rows(services).map((r) => r.split(" | ")[0].slice(2))).toEqual([...SERVICE_NAMES]);
  for (const row of rows(services)) expect(row).toMatch(/\| (zero-downtime|delete-first): [^|]+ \|$/);
  expect(services).toMatch(/\| public-fo \|.*\| zero-downtime/);
  expect(services).toMatch(/\| keycloak \|.*\| delete-first: keeps sessions/);
});

test("the store table has one row per store with its pinned image", () => {
  const { stores } = renderCatalogTables();
  expect(rows(stores)).toHaveLength(STORE_NAMES.length);
  for (const name of STORE_NAMES) expect(stores).toContain(`| ${name} | \`${STORES[name].image}\` |`);
});

test("the exceptions table has one row per declared hardening exception", () => {
  const { exceptions } = renderCatalogTables();
  const declared = [...Object.values(STORES), ...Object.values(SERVICES)].flatMap((spec) =>
    Object.keys(spec.hardening).map((kind) => `${spec.name}/${kind}`),
  );
  expect(declared.length).toBeGreaterThan(0);
  expect(rows(exceptions)).toHaveLength(declared.length);
  for (const row of declared.map((d) => d.split("/")[0])) expect(exceptions).toContain(`| ${row} |`);
  expect(exceptions).toMatch(/\| postgres \| starts as root, keeps CHOWN/);
});
