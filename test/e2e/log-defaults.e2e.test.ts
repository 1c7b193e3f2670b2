/**
 * A host whose daemon.json sets default log options: the daemon merges them
 * into every json-file container, and the provider reads that merged map back
 * into `logOpts`, which is ForceNew. Proven on a dockerd of the test's own,
 * started with such a daemon.json: the program, fitted to what the host probe
 * reads there, sends exactly the map the daemon keeps; unfitted, every up
 * would replace the container.
 */
import type Docker from "dockerode";
import { readEngineFacts } from "../../host/inventory";
import { MODERN_ENGINE, readBackDiffs, type EngineFacts } from "../../model/read-back";
import { LOG_CACHE_DAEMON, LOG_DEFAULTS_DAEMON_OPTS, connectDockerd, importEmptyImage, startDockerd, type RunningDockerd } from "../../testing/servers/dockerd";
import { EMPTY_HOST, TYPES, runProgram, type RegisteredResource } from "../harness/program";
import { containerSpec } from "./applier";

jest.setTimeout(180_000);

const DAEMON_LOG_OPTS = LOG_DEFAULTS_DAEMON_OPTS;
let daemon: RunningDockerd;
let image: string;

beforeAll(async () => {
  // Where no dockerd can be started (an unprivileged CI job), a daemon already started with DAEMON_LOG_OPTS
  // as its log-opts.
  const given = process.env.PO_LOG_DEFAULTS_DOCKER_HOST;
  daemon = given ? connectDockerd(given) : await startDockerd({ "log-driver": "json-file", "log-opts": DAEMON_LOG_OPTS });
  image = importEmptyImage(daemon.host, "po-empty:log-defaults");
});
afterAll(() => daemon?.stop());

/** The registered redis container of qual for `engine`, created (never started) on the daemon as the provider creates it, and inspected. */
async function createdRedis(engine: EngineFacts, on = { daemon, image }): Promise<{ registered: RegisteredResource; inspect: Docker.ContainerInspectInfo }> {
  const run = await runProgram({ stack: "qual", inventory: { ...EMPTY_HOST, engine } });
  const registered = run.resources.find((r) => r.type === TYPES.container && r.inputs.name === "po-redis-qual")!;
  const { body } = containerSpec(registered, on.image, "log-defaults");
  const container = await on.daemon.docker.createContainer({ ...body, name: `${body.name}-${engine === MODERN_ENGINE ? "unfitted" : "fitted"}` });
  try {
    return { registered, inspect: await container.inspect() };
  } finally {
    await container.remove({ force: true });
  }
}
const logDiffs = (registered: RegisteredResource, inspect: unknown) =>
  readBackDiffs(TYPES.container, registered.inputs, { inspect }).filter((d) => d.property === "logOpts" || d.property === "logDriver");

test("the host probe reads the daemon.json log options the daemon adds to a json-file container", async () => {
  const facts = await readEngineFacts(daemon.docker);
  expect(facts.jsonFileLogDefaults).toEqual(DAEMON_LOG_OPTS);
  // The probe leaves nothing behind.
  expect(await daemon.docker.listContainers({ all: true, filters: { label: ["pt.portugalodyssey.project.log-defaults-probe"] } })).toEqual([]);
});

test("fitted to the probe, the program's log options read back from that daemon exactly as sent, its own values winning", async () => {
  const { registered, inspect } = await createdRedis(await readEngineFacts(daemon.docker));
  expect(logDiffs(registered, inspect)).toEqual([]);
  // The stack's max-size, not daemon.json's; compress from daemon.json.
  expect(inspect.HostConfig.LogConfig?.Config).toEqual({ ...DAEMON_LOG_OPTS, ...registered.inputs.logOpts });
  expect(registered.inputs.logOpts["max-size"]).not.toBe(DAEMON_LOG_OPTS["max-size"]);
});

test("unfitted, the same container would be replaced on every up: the daemon's extra options come back", async () => {
  const { registered, inspect } = await createdRedis(MODERN_ENGINE);
  expect(logDiffs(registered, inspect).map((d) => [d.property, d.replaces])).toEqual([["logOpts", true]]);
});

describe("a daemon whose default log driver is not json-file, with dual-logging cache options", () => {
  let other: RunningDockerd;
  beforeAll(async () => {
    // Where no dockerd can be started: a daemon already started with LOG_CACHE_DAEMON (and no image yet).
    const given = process.env.PO_LOG_CACHE_DOCKER_HOST;
    other = given ? connectDockerd(given) : await startDockerd({ "log-driver": LOG_CACHE_DAEMON.driver, "log-opts": LOG_CACHE_DAEMON.opts });
  });
  afterAll(() => other?.stop());

  test("the host probe still reads the cache options that daemon adds to a json-file container, on a host with no image yet, and leaves nothing behind", async () => {
    expect((await other.docker.info()).LoggingDriver).toBe(LOG_CACHE_DAEMON.driver);
    expect(await other.docker.listImages()).toEqual([]);
    expect((await readEngineFacts(other.docker)).jsonFileLogDefaults).toEqual(LOG_CACHE_DAEMON.opts);
    expect(await other.docker.listImages({ all: true })).toEqual([]);
    expect(await other.docker.listContainers({ all: true })).toEqual([]);
  });

  test("fitted to the probe, the program's json-file log options read back from that daemon exactly as sent", async () => {
    const otherImage = importEmptyImage(other.host, "po-empty:log-cache");
    const { registered, inspect } = await createdRedis(await readEngineFacts(other.docker), { daemon: other, image: otherImage });
    expect(logDiffs(registered, inspect)).toEqual([]);
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: "json-file", Config: { ...LOG_CACHE_DAEMON.opts, ...registered.inputs.logOpts } });
  });
});
