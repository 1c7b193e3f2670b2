import type { ServiceSpec, StoreName } from "./types";

/**
 * One catalog entry: how a service differs from the defaults. Peers are plain
 * strings here because the names are this table's own keys; SERVICES below
 * checks each one names an entry.
 */
type ServiceEntry = Pick<ServiceSpec, "urlVar"> &
  Partial<Omit<ServiceSpec, "name" | "urlVar" | "peers" | "stores">> & { peers?: string[]; stores?: StoreName[] };

/** The application project that builds most services' images (its registry is the stacks' `registry`). */
const PLATFORM_PROJECT = "portugal-odyssey/platform";

/** What most of our Node.js services share; an entry states only how it differs. */
const NODE_SERVICE_DEFAULTS = {
  builtBy: PLATFORM_PROJECT,
  port: 3000,
  health: { kind: "node-http", path: "/health" },
  resources: { memoryMb: 256, cpus: 0.25 },
  env: {},
  volumes: [],
  scratch: ["/tmp"],
  user: "1000:1000",
  hardening: {},
  stores: [],
  peers: [],
} satisfies Omit<ServiceSpec, "name" | "urlVar">;

const JWT_KEYS = {
  JWT_SIGNING_KEY: { secret: "{jwtSigningKey}" },
  JWT_REFRESH_SIGNING_KEY: { secret: "{jwtRefreshSigningKey}" },
};

/**
 * The application services. Adding a fifteenth service means adding one entry
 * here (SERVICE_NAMES is derived from the keys): networks, env wiring, labels,
 * routes, outputs and `verify` all follow from this table.
 */
const ENTRIES = {
  "public-fo": {
    urlVar: "PUBLIC_FO",
    health: { kind: "node-http", path: "/api/health" },
    resources: { memoryMb: 512, cpus: 0.5 },
    peers: ["api-gateway", "strapi-cms", "keycloak"],
    route: { middlewares: ["secure-headers", "compress", "retry"] },
    scratch: ["/tmp", "/app/.next/cache"],
  },
  "strapi-cms": {
    urlVar: "STRAPI",
    postgresPool: 10,
    port: 1337,
    health: { kind: "node-http", path: "/_health", startPeriodSeconds: 60 },
    resources: { memoryMb: 768, cpus: 0.5 },
    stores: ["postgres"],
    route: { subdomain: "cms", middlewares: ["secure-headers", "retry"] },
    volumes: [{ volume: "strapi-uploads", path: "/opt/app/public/uploads" }],
    scratch: ["/tmp", "/opt/app/.tmp", "/opt/app/.cache"],
    env: {
      // Strapi's deployment docs: a production server runs with NODE_ENV=production (no admin rebuild, no content-type builder writes).
      NODE_ENV: "production",
      DATABASE_CLIENT: "postgres",
      PUBLIC_URL: "{publicUrl}",
      APP_KEYS: { secret: "{strapiAppKeys}" },
      API_TOKEN_SALT: { secret: "{strapiApiTokenSalt}" },
      ADMIN_JWT_SECRET: { secret: "{strapiAdminJwtSecret}" },
      TRANSFER_TOKEN_SALT: { secret: "{strapiTransferTokenSalt}" },
      JWT_SECRET: { secret: "{strapiJwtSecret}" },
    },
    singleton: "writes uploads to the strapi-uploads volume and runs database migrations at boot; two revisions must not do either at once",
  },
  "api-gateway": {
    urlVar: "API_GATEWAY",
    resources: { memoryMb: 256, cpus: 0.5 },
    stores: ["redis"],
    peers: [
      "auth-service",
      "user-management",
      "booking-service",
      "experience-service",
      "payment-service",
      "notification-service",
      "search-service",
      "analytics-service",
      "file-service",
      "review-service",
      "keycloak",
    ],
    route: { subdomain: "api", middlewares: ["secure-headers", "retry"] },
    env: { ...JWT_KEYS },
  },
  keycloak: {
    urlVar: "KEYCLOAK",
    postgresPool: 20,
    port: 8080,
    // The upstream image has ENTRYPOINT kc.sh and no CMD (keycloak/keycloak quarkus/container/Dockerfile); without
    // an argument kc.sh prints its usage and exits. The container guide starts it with `start`
    // (https://www.keycloak.org/server/containers); an image built --optimized overrides this with `start --optimized`.
    command: ["start"],
    // Keycloak serves health on its management port 9000; its image has bash but neither curl nor wget. /health/ready
    // answers 200 when the whole is UP and 503 when any check is DOWN (https://www.keycloak.org/observability/health),
    // so the probe reads the status line: a body match for UP would also match one check that is UP while the whole is DOWN.
    health: {
      kind: "command",
      test: [
        "CMD",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/9000 && printf 'GET /health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == 'HTTP/1.'?' 200 '* ]]",
      ],
      // The first boot creates Keycloak's ~90 tables and, without --optimized, re-augments its Quarkus build: minutes at qual's CPU.
      startPeriodSeconds: 300,
    },
    // Keycloak's sizing guide (https://www.keycloak.org/high-availability/concepts-memory-and-cpu-sizing): the heap is 70% of the
    // container limit, plus about 300 MB off-heap. Below ~1000 MB the two do not fit, and with swap off it is OOM-killed.
    resources: { memoryMb: 1024, cpus: 1, minMemoryMb: 1024 },
    stores: ["postgres"],
    route: { subdomain: "auth", middlewares: ["auth-headers", "retry"] },
    scratch: ["/tmp", "/opt/keycloak/data"],
    env: {
      KC_DB: "postgres",
      KC_DB_URL_HOST: "{alias:postgres}",
      KC_DB_URL_DATABASE: "{serviceDatabase}",
      KC_DB_USERNAME: "{serviceRole}",
      KC_DB_PASSWORD: { secret: "{databasePassword}" },
      // Keycloak's pool defaults to 100 connections (db-pool-max-size, keycloak.org/server/all-config).
      KC_DB_POOL_MAX_SIZE: "{postgresPool}",
      KC_BOOTSTRAP_ADMIN_USERNAME: "admin",
      KC_BOOTSTRAP_ADMIN_PASSWORD: { secret: "{keycloakAdminPassword}" },
      KC_HOSTNAME: "{publicUrl}",
      KC_HTTP_ENABLED: "true",
      KC_PROXY_HEADERS: "xforwarded",
      // Keycloak 26+ honours X-Forwarded-* only from these addresses (keycloak.org/server/reverseproxy,
      // "Trusted proxies"): Traefik's edge network, not the internal one peers call it on.
      KC_PROXY_TRUSTED_ADDRESSES: "{edgeSubnet}",
      KC_HEALTH_ENABLED: "true",
    },
    hardening: {
      writableRoot: { reason: "`kc.sh start` re-augments its Quarkus build under /opt/keycloak/lib at boot unless the image was built --optimized" },
    },
    singleton: "keeps sessions in a local Infinispan cache and migrates its schema at boot; two revisions side by side would split logins",
  },
  "auth-service": {
    urlVar: "AUTH_SERVICE",
    postgresPool: 10,
    stores: ["postgres", "redis"],
    peers: ["keycloak", "user-management"],
    env: { ...JWT_KEYS },
  },
  "user-management": {
    urlVar: "USER_SERVICE",
    postgresPool: 10,
    stores: ["postgres", "rabbitmq"],
    peers: ["keycloak", "notification-service"],
  },
  "booking-service": {
    urlVar: "BOOKING_SERVICE",
    postgresPool: 15,
    resources: { memoryMb: 384, cpus: 0.5 },
    stores: ["postgres", "redis", "rabbitmq"],
    peers: ["experience-service", "payment-service", "user-management", "notification-service"],
  },
  "experience-service": {
    urlVar: "EXPERIENCE_SERVICE",
    postgresPool: 10,
    resources: { memoryMb: 384, cpus: 0.5 },
    stores: ["postgres", "rabbitmq", "elasticsearch"],
    peers: ["review-service", "search-service", "file-service"],
  },
  "payment-service": {
    urlVar: "PAYMENT_SERVICE",
    postgresPool: 10,
    stores: ["postgres", "rabbitmq"],
    peers: ["booking-service", "notification-service"],
    env: {
      PAYMENT_PROVIDER_API_KEY: { secret: "{paymentProviderKey}" },
      PAYMENT_WEBHOOK_SECRET: { secret: "{paymentWebhookSecret}" },
    },
  },
  "notification-service": {
    urlVar: "NOTIFICATION_SERVICE",
    stores: ["redis", "rabbitmq"],
    peers: ["user-management"],
    env: { SMTP_PASSWORD: { secret: "{smtpPassword}" } },
  },
  "search-service": {
    urlVar: "SEARCH_SERVICE",
    stores: ["rabbitmq", "elasticsearch"],
    peers: ["experience-service"],
  },
  "analytics-service": {
    urlVar: "ANALYTICS_SERVICE",
    postgresPool: 5,
    stores: ["postgres", "rabbitmq"],
  },
  "file-service": {
    urlVar: "FILE_SERVICE",
    postgresPool: 5,
    stores: ["postgres", "redis"],
  },
  "review-service": {
    urlVar: "REVIEW_SERVICE",
    postgresPool: 10,
    stores: ["postgres", "rabbitmq"],
    peers: ["user-management", "experience-service"],
  },
} satisfies Record<string, ServiceEntry>;

export type ServiceName = keyof typeof ENTRIES;
export const SERVICE_NAMES = Object.keys(ENTRIES) as ServiceName[];

function unknownPeers(): string[] {
  return Object.entries(ENTRIES as Record<string, ServiceEntry>).flatMap(([name, entry]) =>
    (entry.peers ?? []).filter((peer) => !(peer in ENTRIES)).map((peer) => `${name} → ${peer}`),
  );
}

/** A pool size only on services that use postgres, and a whole number of connections: max_connections is their sum. */
function misplacedPools(): string[] {
  return Object.entries(ENTRIES as Record<string, ServiceEntry>).flatMap(([name, entry]) => {
    const pool = entry.postgresPool;
    if (pool === undefined) return [];
    if (!(entry.stores ?? []).includes("postgres")) return [`${name} has a postgresPool but does not use postgres`];
    if (!(Number.isInteger(pool) && pool > 0)) return [`${name}'s postgresPool must be a positive whole number`];
    return [];
  });
}

export const SERVICES: Record<ServiceName, ServiceSpec<ServiceName>> = (() => {
  const unknown = unknownPeers();
  if (unknown.length > 0) throw new Error(`catalog/services.ts: peers that are not catalog services: ${unknown.join(", ")}`);
  const pools = misplacedPools();
  if (pools.length > 0) throw new Error(`catalog/services.ts: ${pools.join("; ")}`);
  return Object.fromEntries(
    Object.entries(ENTRIES as Record<string, ServiceEntry>).map(([name, entry]) => [name, { ...NODE_SERVICE_DEFAULTS, ...entry, name }]),
  ) as Record<ServiceName, ServiceSpec<ServiceName>>;
})();
