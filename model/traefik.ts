/**
 * The Traefik labels of our containers, and the rule they must keep. Pure.
 *
 * Traefik's Docker provider builds one configuration per container and merges
 * them by object name (v3.6 and earlier: `Merge` in pkg/provider/configuration.go;
 * v3.7+: pkg/provider/merge.go; both called from pkg/provider/docker/config.go
 * `build`). A router or middleware that two containers define differently is
 * deleted ("defined multiple times with different configurations"), and every
 * router that references a deleted middleware stops routing: 404. Services are
 * the exception: two load balancers that agree on everything but their servers
 * are merged, their servers pooled (`ServersLoadBalancer.Mergeable`/`Merge` in
 * pkg/config/dynamic/http_config.go); otherwise the service is deleted too.
 *
 * During a zero-downtime rollout the old and new revision run side by side, so:
 * - routers and middlewares are named after a digest of their own definition:
 *   a changed definition is a new name beside the old one, never a clash;
 * - the service keeps its name, so both revisions' servers share one load
 *   balancer, and it is defined by server-level keys only (the port), which
 *   Traefik pools instead of comparing: nothing about it can differ between
 *   revisions in a way Traefik refuses.
 */
import { createHash } from "node:crypto";
import { MIDDLEWARES, type MiddlewareDefinition, type MiddlewareName } from "../catalog/middlewares";
import type { ServiceName } from "../catalog/services";
import { names } from "./naming";

/**
 * On every container that is not routed. The Docker provider's default is
 * exposedByDefault=true (pkg/provider/docker/pdocker.go `SetDefaults`), and an
 * exposed container without router labels gets a router of its own with the
 * default rule Host(`<container name>`) (pkg/provider/docker/shared.go
 * `DefaultTemplateRule`, pkg/provider/configuration.go `BuildRouterConfiguration`).
 */
export const UNROUTED_LABELS: Readonly<Record<string, string>> = { "traefik.enable": "false" };

export interface RouteSettings {
  service: ServiceName;
  env: string;
  host: string;
  port: number;
  middlewares: readonly MiddlewareName[];
  entrypoint: string;
  certResolver: string;
  /** The network Traefik reaches the container on (`traefik.docker.network`). */
  network: string;
  /** The Traefik provider that reads the labels: `docker` (containers, the default) or `swarm` (services; model/swarm.ts). */
  provider?: "docker" | "swarm";
  /** Middleware definitions by name: the catalog's, unless a caller (a test) swaps one. */
  definitions?: Readonly<Record<MiddlewareName, MiddlewareDefinition>>;
}

/** Key order never changes a digest: only what the definition says does. */
function digest(definition: Readonly<Record<string, string>>): string {
  const entries = Object.entries(definition).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256").update(JSON.stringify(entries)).digest("hex");
}

/** A routed service's labels, and its router's name. */
export function routeLabels(r: RouteSettings): { router: string; labels: Record<string, string> } {
  const definitions = r.definitions ?? MIDDLEWARES;
  const service = names.traefikService(r.service, r.env);
  const provider = r.provider ?? "docker";
  const labels: Record<string, string> = {
    "traefik.enable": "true",
    [`traefik.${provider}.network`]: r.network,
    // Server-level only (see the top of this file): a load-balancer setting (sticky, healthCheck,
    // passHostHeader, ...) would have to be equal in every revision, or Traefik deletes the service.
    [`traefik.http.services.${service}.loadbalancer.server.port`]: String(r.port),
  };
  const middlewares = r.middlewares.map((base) => {
    const definition = definitions[base];
    const name = names.traefikMiddleware(base, r.env, digest(definition));
    for (const [key, value] of Object.entries(definition)) labels[`traefik.http.middlewares.${name}.${key}`] = value;
    return `${name}@${provider}`;
  });
  const router: Record<string, string> = {
    rule: `Host(\`${r.host}\`)`,
    // Only the TLS entrypoint: plain HTTP must be redirected by Traefik's own static config (docs/traefik.md).
    entrypoints: r.entrypoint,
    tls: "true",
    "tls.certresolver": r.certResolver,
    service,
    ...(middlewares.length > 0 ? { middlewares: middlewares.join(",") } : {}),
  };
  const routerName = names.traefikRouter(r.service, r.env, digest(router));
  for (const [key, value] of Object.entries(router)) labels[`traefik.http.routers.${routerName}.${key}`] = value;
  return { router: routerName, labels };
}

const OBJECT_LABEL = /^traefik\.(http|tcp|udp)\.(routers|middlewares|services)\.([^.]+)\.(.+)$/i;

/** `http/middlewares/secure-headers-qual-1a2b3c4d` → its keys (lower-cased, as Traefik reads labels) and values. */
export type Definitions = Map<string, Record<string, string>>;

/** What one container defines for Traefik; nothing when it opts out with traefik.enable=false. */
export function definitionsOf(labels: Readonly<Record<string, string>>): Definitions {
  const out: Definitions = new Map();
  if (labels["traefik.enable"]?.toLowerCase() === "false") return out;
  for (const [label, value] of Object.entries(labels)) {
    const m = OBJECT_LABEL.exec(label);
    if (!m) continue;
    const key = `${m[1]}/${m[2]}/${m[3]}`.toLowerCase();
    out.set(key, { ...(out.get(key) ?? {}), [m[4].toLowerCase()]: value });
  }
  return out;
}

/** The part of a definition Traefik compares when two containers share the name: a service's servers are pooled, not compared. */
function compared(key: string, definition: Record<string, string>): string {
  const kept = key.split("/")[1] === "services" ? Object.fromEntries(Object.entries(definition).filter(([k]) => !k.startsWith("loadbalancer.server."))) : definition;
  return JSON.stringify(Object.entries(kept).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface DefinitionConflict {
  /** `http/middlewares/<name>` and so on. */
  key: string;
  /** Each container that defines it, with its definition. */
  holders: { container: string; definition: Record<string, string> }[];
}

/**
 * Names that two of these containers define differently, by Traefik's merge
 * rule: Traefik would delete each of them. Comparing labels is stricter than
 * Traefik's comparison of decoded values (`03` and `3` differ here), never laxer.
 */
export function conflictingDefinitions(containers: readonly { name: string; labels: Readonly<Record<string, string>> }[]): DefinitionConflict[] {
  const byKey = new Map<string, DefinitionConflict["holders"]>();
  for (const c of containers) {
    for (const [key, definition] of definitionsOf(c.labels)) byKey.set(key, [...(byKey.get(key) ?? []), { container: c.name, definition }]);
  }
  return [...byKey]
    .filter(([key, holders]) => new Set(holders.map((h) => compared(key, h.definition))).size > 1)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, holders]) => ({ key, holders }));
}
