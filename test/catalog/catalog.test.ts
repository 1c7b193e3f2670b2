import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { STORES } from "../../catalog/stores";
import { STORE_NAMES } from "../../catalog/types";
import { credentialsIn } from "../../model/templates";

const specs = Object.values(SERVICES);

test("names every service by the catalog's own keys", () => {
  expect(SERVICE_NAMES.length).toBeGreaterThan(0);
  for (const name of SERVICE_NAMES) expect(SERVICES[name].name).toBe(name);
});

test("names only catalog services as peers and only known stores", () => {
  for (const spec of specs) {
    for (const peer of spec.peers) expect(SERVICE_NAMES).toContain(peer);
    for (const store of spec.stores) expect(STORE_NAMES).toContain(store);
    expect(spec.peers).not.toContain(spec.name);
  }
});

test("gives every service a distinct <PREFIX>_URL variable and every routed service a distinct host", () => {
  const urlVars = specs.map((s) => s.urlVar);
  expect(new Set(urlVars).size).toBe(urlVars.length);
  const hosts = specs.filter((s) => s.route).map((s) => s.route!.subdomain ?? "");
  expect(hosts.length).toBeGreaterThan(0);
  expect(new Set(hosts).size).toBe(hosts.length);
});

test("names no credential in a plain env value, where it would not be sent as a secret", () => {
  for (const spec of [...specs, ...Object.values(STORES)]) {
    for (const value of Object.values(spec.env)) if (typeof value === "string") expect(credentialsIn(value)).toEqual([]);
  }
});

test("runs nothing with group 0 unless the catalog declares it as a hardening exception, with its reason", () => {
  for (const spec of [...specs, ...Object.values(STORES)]) {
    const rootGroup = spec.user?.split(":")[1] === "0";
    expect({ name: spec.name, rootGroup }).toEqual({ name: spec.name, rootGroup: spec.hardening.rootGroup !== undefined });
  }
});

test("gives every workload a port in range and a scratch /tmp", () => {
  for (const spec of [...specs, ...Object.values(STORES)]) {
    expect(spec.port).toBeGreaterThan(0);
    expect(spec.port).toBeLessThan(65536);
    expect(spec.scratch).toContain("/tmp");
  }
});

test("states a PostgreSQL pool size only for services that use postgres, as a positive whole number", () => {
  for (const spec of specs.filter((s) => s.postgresPool !== undefined)) {
    expect({ service: spec.name, usesPostgres: spec.stores.includes("postgres"), whole: Number.isInteger(spec.postgresPool) && spec.postgresPool! > 0 }).toEqual({
      service: spec.name,
      usesPostgres: true,
      whole: true,
    });
  }
});
