/**
 * RabbitMQ as the catalog renders it, against a real rabbitmq-server: the
 * store's RABBITMQ_DEFAULT_* env and the config files the program writes into
 * its conf.d, and clients that know nothing but a service's RABBITMQ_URL.
 * Only the address differs: the node answers on a free loopback port instead
 * of its network alias.
 */
import { spawnSync } from "node:child_process";
import { basename } from "node:path";
import * as amqp from "amqplib";
import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { names } from "../../model/naming";
import { containerFor, envOf } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../harness/stack-config";
import { startRabbitmq, type RunningRabbitmq } from "../../testing/servers/rabbitmq";

const STACK = "qual";
const rabbitmqClients = SERVICE_NAMES.filter((name) => SERVICES[name].stores.includes("rabbitmq"));

let run: ProgramRun;
let server: RunningRabbitmq;
beforeAll(async () => {
  run = await runProgram({ stack: STACK });
  const store = containerFor(run, "rabbitmq");
  const env = Object.fromEntries(Object.entries(envOf(store)).filter(([name]) => name.startsWith("RABBITMQ_")));
  const uploads = (store.inputs.uploads ?? []) as { file: string; content: string }[];
  server = await startRabbitmq({ env, confD: Object.fromEntries(uploads.map((u) => [basename(u.file), u.content])) });
}, 120_000);
afterAll(() => server?.stop(), 30_000);

const onHost = (url: string) => url.replace(`@${names.alias("rabbitmq", STACK)}:5672/`, `@${server.host}:${server.port}/`);

test.each(rabbitmqClients)("%s, given only its RABBITMQ_URL, opens a channel on its vhost", async (service) => {
  const url = onHost(envOf(containerFor(run, service)).RABBITMQ_URL);
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const queue = `contract-${service}`;
    await channel.assertQueue(queue, { exclusive: true });
    channel.sendToQueue(queue, Buffer.from(service));
    const message = await channel.get(queue, { noAck: true });
    expect(message && message.content.toString()).toBe(service);
    await channel.close();
  } finally {
    await connection.close();
  }
  const vhost = decodeURIComponent(new URL(url).pathname.slice(1));
  expect(await server.ctl("list_vhosts")).toContain(vhost);
});

test("a password with URL characters, set in config, works from a service's RABBITMQ_URL", async () => {
  const awkward = "p@ss:w/rd?#%20 x+y";
  const withAwkward = await runProgram({ stack: STACK, secrets: { ...TEST_EXTERNAL_SECRETS, rabbitmqPassword: awkward } });
  const url = onHost(envOf(containerFor(withAwkward, rabbitmqClients[0])).RABBITMQ_URL);
  const user = envOf(containerFor(run, "rabbitmq")).RABBITMQ_DEFAULT_USER;
  const original = envOf(containerFor(run, "rabbitmq")).RABBITMQ_DEFAULT_PASS;
  await server.ctl("change_password", user, awkward);
  try {
    const connection = await amqp.connect(url);
    await connection.close();
  } finally {
    await server.ctl("change_password", user, original);
  }
});

test("the memory high watermark is the absolute share of the container's limit the catalog's config file sets", async () => {
  const limitMb = containerFor(run, "rabbitmq").inputs.memory as number;
  const uploads = containerFor(run, "rabbitmq").inputs.uploads as { content: string }[];
  const [, mib] = /vm_memory_high_watermark\.absolute = (\d+)MiB/.exec(uploads.map((u) => u.content).join("\n")) ?? [];
  expect(Number(mib)).toBeGreaterThan(0);
  expect(Number(mib)).toBeLessThan(limitMb);
  const bytes = (await server.ctl("eval", "vm_memory_monitor:get_memory_limit().")).trim();
  expect(Number(bytes)).toBe(Number(mib) * 1024 * 1024);
});

test("the catalog's healthcheck passes against a running node, and fails once it is gone", async () => {
  const [, program, ...args] = containerFor(run, "rabbitmq").inputs.healthcheck.tests as string[];
  const probe = () => spawnSync(program, args.map((a) => a.replace("/5672", `/${server.port}`)), { timeout: 10_000 }).status;
  expect(probe()).toBe(0);
  const other = await startRabbitmq();
  const port = other.port;
  await other.stop();
  expect(spawnSync(program, args.map((a) => a.replace("/5672", `/${port}`)), { timeout: 10_000 }).status).not.toBe(0);
}, 120_000);
