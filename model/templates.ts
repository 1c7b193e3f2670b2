/**
 * Env templates from the catalog, rendered for one environment. Non-secret
 * placeholders are filled here; credential placeholders stay in place so that
 * the Pulumi layer can fill them with secret Outputs.
 */
import type { ServiceName } from "../catalog/services";
import { BACKUP_SECRETS, GENERATED_CREDENTIALS, EXTERNAL_SECRETS, type Credential } from "../catalog/types";
import { databaseCredentials } from "./databases";
import { names } from "./naming";

const CREDENTIALS: readonly string[] = [...GENERATED_CREDENTIALS, ...EXTERNAL_SECRETS, ...databaseCredentials(), ...BACKUP_SECRETS];
const PLACEHOLDER = /\{([A-Za-z]+)(?::([a-z0-9-]+))?\}/g;

export interface TemplateContext {
  env: string;
  alias: (target: string) => string;
  publicUrl?: string;
  heapMb?: number;
  /**
   * The edge network's subnet, when config pins it (isolated mode). Unset, the
   * placeholder stays for the Pulumi layer to fill with the looked-up one
   * (shared mode: the existing traefik network's), see EDGE_SUBNET.
   */
  edgeSubnet?: string;
  /** The service whose env this is: its own database, role, pool and password. */
  service?: ServiceName;
  postgresPool?: number;
  maxConnections?: number;
  /** The container's memory limit, MiB. */
  memoryMb?: number;
}

/** The placeholder of the edge subnet when only the Pulumi layer knows it. */
export const EDGE_SUBNET = "{edgeSubnet}";

class TemplateError extends Error {}

/** Fills every non-credential placeholder; throws on one the catalog has no value for. */
export function renderTemplate(template: string, ctx: TemplateContext): string {
  return template.replace(PLACEHOLDER, (whole, key: string, arg?: string) => {
    switch (key) {
      case "env":
        return ctx.env;
      case "serviceDatabase":
        return names.serviceDatabase(needService(whole, ctx), ctx.env);
      case "serviceRole":
        return names.serviceRole(needService(whole, ctx), ctx.env);
      case "databasePassword":
        // Left as the service's own credential placeholder, for the Pulumi layer to fill.
        return `{${names.databasePasswordCredential(needService(whole, ctx))}}`;
      case "postgresPool":
        if (ctx.postgresPool === undefined) throw new TemplateError(`"${whole}" is only defined for services with a postgresPool`);
        return String(ctx.postgresPool);
      case "maxConnections":
        if (ctx.maxConnections === undefined) throw new TemplateError(`"${whole}" is only defined for the postgres store`);
        return String(ctx.maxConnections);
      case "vhost":
        return names.rabbitmqVhost(ctx.env);
      case "alias":
        if (!arg) throw new TemplateError(`"${whole}" needs a target, e.g. {alias:postgres}`);
        return ctx.alias(arg);
      case "publicUrl":
        if (!ctx.publicUrl) throw new TemplateError(`"${whole}" is only defined for routed services`);
        return ctx.publicUrl;
      case "edgeSubnet":
        return ctx.edgeSubnet ?? whole;
      case "heapMb":
        if (ctx.heapMb === undefined) throw new TemplateError(`"${whole}" is only defined for stores with a heap`);
        return String(ctx.heapMb);
      case "memoryPercent": {
        const percent = Number(arg);
        if (ctx.memoryMb === undefined || !Number.isInteger(percent) || percent < 1 || percent > 100) {
          throw new TemplateError(`"${whole}" needs a whole percentage, 1-100, of a container's memory limit`);
        }
        return String(Math.floor((ctx.memoryMb * percent) / 100));
      }
      default:
        if (!CREDENTIALS.includes(key)) throw new TemplateError(`unknown placeholder "${whole}"`);
        if (arg !== undefined && arg !== "url") throw new TemplateError(`"${whole}": a credential takes no argument but :url (percent-encoded for a URL)`);
        return whole;
    }
  });
}

function needService(whole: string, ctx: TemplateContext): ServiceName {
  if (!ctx.service) throw new TemplateError(`"${whole}" is only defined in a service's env`);
  return ctx.service;
}

/** The credentials a rendered secret template still names, in order of first use. */
export function credentialsIn(template: string): Credential[] {
  const found = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]).filter((k) => CREDENTIALS.includes(k));
  return [...new Set(found)] as Credential[];
}

/**
 * Replaces credential placeholders with their values (used inside an Output's apply).
 * `{name:url}` percent-encodes the value: a password set in config may hold `@`, `:`, `/` or `%`,
 * which would otherwise end the userinfo of a URL such as redis://:password@host early.
 */
export function fillCredentials(template: string, values: Partial<Record<Credential, string>>): string {
  return template.replace(PLACEHOLDER, (_whole, key: string, arg?: string) => {
    const value = values[key as Credential];
    if (value === undefined) throw new TemplateError(`no value for credential "${key}"`);
    return arg === "url" ? encodeURIComponent(value) : value;
  });
}
