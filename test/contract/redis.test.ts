/**
 * Redis as the catalog renders it, against a real redis-server: the store's
 * own command line and env, and a client that knows nothing but a service's
 * REDIS_URL. Only the address differs: on the host the store answers on a
 * free loopback port instead of its network alias.
 */
import { createConnection } from "node:net";
import Redis from "ioredis";
import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { names } from "../../model/naming";
import { containerFor, envOf } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";
import { startRedis, type RunningRedis } from "../../testing/servers/redis";

const STACK = "qual";
const redisClients = SERVICE_NAMES.filter((name) => SERVICES[name].stores.includes("redis"));

/** The catalog's command and env for the redis container of `run`, started for real. */
function startAsRendered(run: ProgramRun): Promise<RunningRedis> {
  const store = containerFor(run, "redis").inputs;
  // The appended server options (port, dir) reach the script as "$@"; "sh" is its $0.
  return startRedis({ command: [...(store.command as string[]), "sh"], env: { REDIS_PASSWORD: envOf(containerFor(run, "redis")).REDIS_PASSWORD } });
}

const onHost = (url: string, server: RunningRedis) => url.replace(`@${names.alias("redis", STACK)}:6379`, `@${server.host}:${server.port}`);

describe("a service given only its REDIS_URL", () => {
  let run: ProgramRun;
  let server: RunningRedis;
  beforeAll(async () => {
    run = await runProgram({ stack: STACK });
    server = await startAsRendered(run);
  });
  afterAll(() => server?.stop());

  test.each(redisClients)("%s connects and PINGs", async (service) => {
    const url = onHost(envOf(containerFor(run, service)).REDIS_URL, server);
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  test("the same address without the credential is refused (NOAUTH)", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: server.host, port: server.port }, () => socket.write("PING\r\n"));
      socket.once("data", (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once("error", reject);
    });
    expect(answer).toMatch(/^-NOAUTH/);
  });

  test("the server's maxmemory is the catalog's share of the container's limit, with writes refused rather than keys evicted at it", async () => {
    const limitMb = containerFor(run, "redis").inputs.memory as number;
    const script = (containerFor(run, "redis").inputs.command as string[]).join(" ");
    const client = new Redis(onHost(envOf(containerFor(run, redisClients[0])).REDIS_URL, server), { lazyConnect: true, retryStrategy: () => null });
    try {
      await client.connect();
      const [, maxmemory] = (await client.config("GET", "maxmemory")) as string[];
      const [, policy] = (await client.config("GET", "maxmemory-policy")) as string[];
      expect(Number(maxmemory)).toBeGreaterThan(0);
      expect(Number(maxmemory)).toBeLessThan(limitMb * 1024 * 1024);
      expect(Number(maxmemory) % (1024 * 1024)).toBe(0);
      expect(script).toContain(`--maxmemory ${Number(maxmemory) / 1024 / 1024}mb`);
      expect(policy).toBe("noeviction");
    } finally {
      client.disconnect();
    }
  });
});

test("a password with quotes, backslashes, shell and URL characters reaches requirepass intact, works from REDIS_URL, and appears in no process's arguments", async () => {
  const awkward = `pa"ss\\wo$rd 'x' \`y\` %s @:/?#`;
  const run = await runProgram({ stack: STACK, secrets: { ...TEST_EXTERNAL_SECRETS, redisPassword: awkward } });
  const server = await startAsRendered(run);
  try {
    const direct = { host: server.host, port: server.port, password: awkward };
    const fromUrl = onHost(envOf(containerFor(run, redisClients[0])).REDIS_URL, server);
    const options = { lazyConnect: true, retryStrategy: () => null };
    for (const client of [new Redis({ ...direct, ...options }), new Redis(fromUrl, options)]) {
      try {
        await client.connect();
        expect(await client.ping()).toBe("PONG");
      } finally {
        client.disconnect();
      }
    }
    expect((containerFor(run, "redis").inputs.command as string[]).join(" ")).not.toContain(awkward);
  } finally {
    await server.stop();
  }
});
