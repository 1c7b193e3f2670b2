/**
 * The tables of docs/catalog.md that restate the catalog (services, rollout
 * strategies, sizes, hardening exceptions), rendered from the catalog and the
 * model; tools/docs.ts writes them (`npm run docs`).
 */
import { SERVICES, SERVICE_NAMES, type ServiceName } from "../catalog/services";
import { STORES } from "../catalog/stores";
import { STORE_NAMES } from "../catalog/types";
import type { ReleaseEntry } from "../config/release";
import type { ContainerPlan } from "../model/container";
import { planEnvironment } from "../model/environment";
import { stackConfigSchema } from "../config/schema";
import { POSTGRES_HEADROOM } from "../model/databases";
import { names } from "../model/naming";
import { withStandInPins } from "./plan";

/** A prod-like plan with an arbitrary domain: only the catalog-derived columns are printed. */
export function samplePlan() {
  const config = stackConfigSchema.parse({
    domain: "example.pt",
    registry: "registry.example/po",
    traefik: { entrypoint: "websecure", certResolver: "letsencrypt" },
    host: { memoryBudgetMb: 100000 },
    backup: { repository: "s3:https://s3.example/bucket" },
  });
  // Only catalog-derived columns are printed, so the stand-in pins of an empty manifest will do.
  const { services, backup } = withStandInPins(undefined, config.registry).release as { services: Record<ServiceName, ReleaseEntry>; backup: ReleaseEntry };
  return planEnvironment({ ...config, stack: "E", env: "E", release: services, backupRelease: backup });
}

/** The limit, and the floor that scaling never goes below, if the entry has one. */
const memory = (c: ContainerPlan, floor?: number) => `${c.resources.memoryMb} MiB${floor ? ` (min ${floor})` : ""} / ${c.resources.cpus}`;

const strategy = (c: ContainerPlan) =>
  c.rollout.strategy === "revisioned" ? "zero-downtime: new revision beside the old, then the old is removed" : `delete-first: ${c.rollout.reason}`;

export function renderCatalogTables(): Record<string, string> {
  const plan = samplePlan();
  const byName = new Map(plan.containers.map((c) => [c.name, c]));
  const services = [
    "| Service | Built by | Port | Health | Stores | Calls | Public host | Memory / CPU (prod) | Rollout |",
    "|---|---|---|---|---|---|---|---|---|",
    ...SERVICE_NAMES.map((name) => {
      const spec = SERVICES[name];
      const c = byName.get(name)!;
      const health = spec.health.kind === "node-http" ? `GET ${spec.health.path}` : "command";
      const host = spec.route ? names.publicHost(spec.route.subdomain, "<domain>") : "–";
      return `| ${name} | ${spec.builtBy} | ${spec.port} | ${health} | ${spec.stores.join(", ") || "–"} | ${spec.peers.join(", ") || "–"} | ${host} | ${memory(c, spec.resources.minMemoryMb)} | ${strategy(c)} |`;
    }),
  ].join("\n");
  const stores = [
    "| Store | Image | Port | Volume | Memory / CPU (prod) |",
    "|---|---|---|---|---|",
    ...STORE_NAMES.map((name) => {
      const spec = STORES[name];
      const c = byName.get(name)!;
      return `| ${name} | \`${spec.image}\` | ${spec.port} | ${spec.volumes.map((v) => `${names.volume(v.volume, "E")} → ${v.path}`).join(", ")} | ${memory(c, spec.resources.minMemoryMb)} |`;
    }),
  ].join("\n");
  const exceptions = [
    "| Container | Exception | Why |",
    "|---|---|---|",
    ...[...STORE_NAMES.map((n) => STORES[n]), ...SERVICE_NAMES.map((n) => SERVICES[n])].flatMap((spec) => [
      ...(spec.hardening.runsAsRoot
        ? [`| ${spec.name} | starts as root, keeps ${spec.hardening.runsAsRoot.capAdd.join(", ")} | ${spec.hardening.runsAsRoot.reason} |`]
        : []),
      ...(spec.hardening.writableRoot ? [`| ${spec.name} | writable root filesystem | ${spec.hardening.writableRoot.reason} |`] : []),
      ...(spec.hardening.rootGroup ? [`| ${spec.name} | runs as ${spec.user} (group 0, not root) | ${spec.hardening.rootGroup.reason} |`] : []),
    ]),
  ].join("\n");
  const databases = [
    "| Service | Database and role | Pool (`DATABASE_POOL_MAX`, Keycloak's `KC_DB_POOL_MAX_SIZE`) | Role's connection limit |",
    "|---|---|---|---|",
    ...plan.databases.map((d) => `| ${d.service} | \`${names.serviceDatabase(d.service, "E")}\` | ${d.pool} | ${d.connectionLimit} |`),
    `| headroom | superuser-reserved ${POSTGRES_HEADROOM.superuserReserved}, provisioning/backups/operators ${POSTGRES_HEADROOM.maintenance} | – | ${POSTGRES_HEADROOM.superuserReserved + POSTGRES_HEADROOM.maintenance} |`,
    `| **postgres** | \`max_connections\` | – | **${plan.postgresMaxConnections}** |`,
  ].join("\n");
  return { services, stores, databases, exceptions };
}
