/**
 * PostgreSQL as the services see it: one database and one login role per
 * service that lists postgres among its stores, each with its own password,
 * and a max_connections sized to what their pools can open together.
 */
import { SERVICE_NAMES, SERVICES, type ServiceName } from "../catalog/services";
import type { DatabaseCredential } from "../catalog/types";
import { names } from "./naming";

export interface DatabasePlan {
  service: ServiceName;
  /** names.serviceDatabase: owned by `role`, no privilege for PUBLIC. */
  database: string;
  /** names.serviceRole: a plain login role that owns `database` and nothing else. */
  role: string;
  /** The credential holding the role's password (a config secret of that name overrides the generated one). */
  credential: DatabaseCredential;
  /** The catalog's pool size: the most connections one running revision opens. */
  pool: number;
  /** The role's CONNECTION LIMIT: the pool of every revision that may run at once during a rollout. */
  connectionLimit: number;
}

/** A service that states no pool gets node-postgres's default (pg.Pool `max`), which Strapi's generated config also uses. */
export const DEFAULT_POSTGRES_POOL = 10;

/**
 * Connections beyond the services' pools: Postgres keeps superuser_reserved_connections (3 by
 * default) of max_connections for superusers only, and the provisioning, a backup's pg_dump,
 * an operator's psql and the pg_isready probes need slots of their own beside the pools.
 */
export const POSTGRES_HEADROOM = { superuserReserved: 3, maintenance: 7 } as const;
export const postgresHeadroom = () => POSTGRES_HEADROOM.superuserReserved + POSTGRES_HEADROOM.maintenance;

/** The catalog services that use PostgreSQL, in catalog order. */
export const postgresServices = (): ServiceName[] => SERVICE_NAMES.filter((name) => SERVICES[name].stores.includes("postgres"));

/** One password credential per PostgreSQL user, derived from the catalog. */
export const databaseCredentials = (): DatabaseCredential[] => postgresServices().map(names.databasePasswordCredential);

/**
 * `revisions(service)`: how many revisions of it can run at once, 2 for a service rolled out
 * create-before-delete, since both revisions hold their pools while Traefik drains the old one.
 */
export function planDatabases(env: string, revisions: (service: ServiceName) => number): DatabasePlan[] {
  return postgresServices().map((service) => {
    const pool = SERVICES[service].postgresPool ?? DEFAULT_POSTGRES_POOL;
    return {
      service,
      database: names.serviceDatabase(service, env),
      role: names.serviceRole(service, env),
      credential: names.databasePasswordCredential(service),
      pool,
      connectionLimit: pool * revisions(service),
    };
  });
}

/** Every role's limit plus the headroom: no service can be refused a connection its pool is sized for. */
export const maxConnections = (databases: DatabasePlan[]) => databases.reduce((sum, d) => sum + d.connectionLimit, 0) + postgresHeadroom();
