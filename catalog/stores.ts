import type { StoreName, StoreSpec } from "./types";

/**
 * The four data stores every environment runs. Images are pinned: a store's
 * major version decides its on-disk format, so it only changes on purpose.
 */
export const STORES: Record<StoreName, StoreSpec> = {
  postgres: {
    name: "postgres",
    image: "postgres:16.4-alpine",
    port: 5432,
    // The entrypoint runs initialisation and then `postgres` with these flags when the first
    // argument is `postgres` (docker-library/postgres 16/alpine3.22/docker-entrypoint.sh, _main).
    // max_connections is the sum of the services' pools plus headroom (model/databases.ts).
    command: ["postgres", "-c", "max_connections={maxConnections}"],
    health: { kind: "command", test: ["CMD-SHELL", 'pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'] },
    resources: { memoryMb: 1024, cpus: 1 },
    env: {
      // The superuser: only the store and the provisioning log in as it, never an application.
      POSTGRES_USER: "portugal_odyssey",
      // Initialisation creates no database of its own when this is `postgres` (docker_setup_db in
      // the entrypoint); each service's database is created by the provisioning.
      POSTGRES_DB: "postgres",
      POSTGRES_PASSWORD: { secret: "{postgresPassword}" },
      PGDATA: "/var/lib/postgresql/data/pgdata",
    },
    clientEnv: {
      DATABASE_HOST: "{alias:postgres}",
      DATABASE_PORT: "5432",
      DATABASE_NAME: "{serviceDatabase}",
      DATABASE_USERNAME: "{serviceRole}",
      DATABASE_PASSWORD: { secret: "{databasePassword}" },
      // Strapi's generated config/database.js reads it (pool.max, default 10); our services do likewise.
      DATABASE_POOL_MAX: "{postgresPool}",
    },
    volumes: [{ volume: "postgres-data", path: "/var/lib/postgresql/data" }],
    scratch: ["/tmp", "/var/run/postgresql"],
    hardening: {
      runsAsRoot: {
        reason: "the entrypoint initialises and chowns the data directory as root, then drops to the postgres user with gosu",
        capAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
      },
    },
  },
  redis: {
    name: "redis",
    image: "redis:7.4.1-alpine",
    port: 6379,
    // The password comes from the env and reaches redis-server on stdin as config (`redis-server -` reads its config
    // from stdin, https://redis.io/docs/latest/operate/oss_and_stack/management/config/), so it is in no process's
    // arguments and not in `docker inspect`. Config strings are double-quoted, so `\` and `"` in it are escaped first.
    // maxmemory leaves the rest of the limit for fragmentation and the fork that rewrites the append-only file.
    // noeviction: the services keep sessions, tokens and locks here, not only caches; at the limit a write fails
    // loudly instead of Redis silently dropping a login or a lock, or being OOM-killed and dropping everything.
    command: [
      "sh",
      "-c",
      [
        `pass=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\\\"]/\\\\&/g')`,
        `exec redis-server - --appendonly yes --maxmemory {memoryPercent:70}mb --maxmemory-policy noeviction "$@" <<EOF`,
        `requirepass "$pass"`,
        "EOF",
      ].join("\n"),
    ],
    health: { kind: "command", test: ["CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 ping | grep -q PONG'] },
    resources: { memoryMb: 256, cpus: 0.5 },
    env: { REDIS_PASSWORD: { secret: "{redisPassword}" } },
    clientEnv: {
      // The URI form ioredis and node-redis read: redis://[user]:password@host:port; an empty user means `default`, which requirepass guards.
      // The password is percent-encoded (`:url`), as a URL's userinfo must be; clients decode it.
      REDIS_URL: { secret: "redis://:{redisPassword:url}@{alias:redis}:6379" },
      REDIS_PASSWORD: { secret: "{redisPassword}" },
    },
    volumes: [{ volume: "redis-data", path: "/data" }],
    scratch: ["/tmp"],
    user: "999:1000",
    hardening: {},
  },
  rabbitmq: {
    name: "rabbitmq",
    image: "rabbitmq:3.13.7-management-alpine",
    port: 5672,
    // `rabbitmq-diagnostics ping` boots an Erlang VM per call. RabbitMQ opens its AMQP listener only after every boot
    // step has run ("Ready to start client connection listeners" in its log), so a TCP connect to 5672 tells the same
    // for almost no CPU; bash (with /dev/tcp) is in the official image for its entrypoint (docker-library/rabbitmq
    // 3.13/alpine/Dockerfile). A connection that sends nothing is not logged at info level.
    health: { kind: "command", test: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5672"], startPeriodSeconds: 30 },
    resources: { memoryMb: 512, cpus: 0.5 },
    // RabbitMQ's detection of a cgroup memory limit is unreliable (rabbitmq-server #10974): it may compute its
    // watermark from the host's memory. An absolute watermark from our own limit cannot be wrong that way. The
    // official image reads /etc/rabbitmq/conf.d/*.conf (rabbitmq.conf format) at boot (3.13/alpine/Dockerfile).
    configFiles: [{ path: "/etc/rabbitmq/conf.d/30-memory.conf", content: "vm_memory_high_watermark.absolute = {memoryPercent:60}MiB\n" }],
    env: {
      RABBITMQ_DEFAULT_USER: "portugal_odyssey",
      RABBITMQ_DEFAULT_PASS: { secret: "{rabbitmqPassword}" },
      RABBITMQ_DEFAULT_VHOST: "{vhost}",
    },
    clientEnv: {
      // The password is percent-encoded (`:url`): the amqp URI's userinfo is, and clients decode it (https://www.rabbitmq.com/docs/uri-spec).
      RABBITMQ_URL: { secret: "amqp://portugal_odyssey:{rabbitmqPassword:url}@{alias:rabbitmq}:5672/{vhost}" },
    },
    volumes: [{ volume: "rabbitmq-data", path: "/var/lib/rabbitmq" }],
    scratch: ["/tmp"],
    stableHostname: true,
    hardening: {
      runsAsRoot: {
        reason: "the entrypoint fixes ownership of /var/lib/rabbitmq and the Erlang cookie as root, then drops to the rabbitmq user",
        capAdd: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"],
      },
      writableRoot: {
        reason:
          "the entrypoint and rabbitmq-plugins write enabled_plugins and generated config under /etc/rabbitmq, and the program writes the memory watermark file into /etc/rabbitmq/conf.d before start (Docker refuses that on a read-only root)",
      },
    },
  },
  elasticsearch: {
    name: "elasticsearch",
    image: "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
    port: 9200,
    health: {
      kind: "command",
      test: ["CMD-SHELL", "curl -fsS 'http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=5s' >/dev/null"],
      startPeriodSeconds: 60,
    },
    resources: { memoryMb: 2048, cpus: 1 },
    env: {
      "discovery.type": "single-node",
      // Only this environment's search and experience services can reach it, on an internal network.
      "xpack.security.enabled": "false",
      // Elastic's guidance: heap at half the container's memory, the rest for the filesystem cache.
      ES_JAVA_OPTS: "-Xms{heapMb}m -Xmx{heapMb}m",
      // Snapshots may only be written under path.repo; the image turns dotted env vars into settings
      // (https://www.elastic.co/guide/en/elasticsearch/reference/8.15/docker.html#docker-configuration-methods).
      // A volume of its own, so the backup container can read the snapshot without touching live data.
      "path.repo": "/usr/share/elasticsearch/snapshots",
    },
    clientEnv: { ELASTICSEARCH_URL: "http://{alias:elasticsearch}:9200" },
    volumes: [
      { volume: "elasticsearch-data", path: "/usr/share/elasticsearch/data" },
      { volume: "elasticsearch-snapshots", path: "/usr/share/elasticsearch/snapshots" },
    ],
    scratch: ["/tmp"],
    user: "1000:0",
    hardening: {
      writableRoot: { reason: "creates its keystore and JVM option files under /usr/share/elasticsearch/config at every boot" },
      rootGroup: { reason: "Elastic's image owns /usr/share/elasticsearch as 1000:0 and is meant to run as uid 1000, group 0" },
    },
  },
};
