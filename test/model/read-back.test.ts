/**
 * A second `up` changes nothing: every container, network and volume the
 * program registers, for every stack, scale and kind of engine, is sent in the
 * form the docker provider reads it back in (model/read-back.ts).
 */
import { STORES } from "../../catalog/stores";
import { SERVICES } from "../../catalog/services";
import { stacksWithFiles } from "../../config/stack-files";
import { sizeContainer } from "../../model/resources";
import {
  MODERN_ENGINE,
  READ_BACK_RULES,
  createRefusals,
  cpusReadBack,
  cpusSurviveReadBack,
  goDurationString,
  nanoCpusToDecimalString,
  parseCpus,
  parseGoDuration,
  readBackDiffs,
  uncoveredProperties,
  type EngineFacts,
} from "../../model/read-back";
import { EMPTY_HOST, TYPES, runProgram, type ProgramRun, type RegisteredResource } from "../harness/program";
import { FIXTURE_PROJECT, TEST_EXTERNAL_SECRETS } from "../harness/stack-config";

/** Debian's docker.io 20.10 (API 1.41) on a kernel without swap accounting, with daemon.json log-opts. */
const OLD_ENGINE: EngineFacts = { apiVersion: "1.41", swapLimit: false, jsonFileLogDefaults: { compress: "true", "max-size": "5m", "max-file": "9" } };
const ENGINES = { "Docker >= 25": MODERN_ENGINE, "Docker 20.10, no swap accounting, daemon.json log-opts": OLD_ENGINE };
const STACKS = stacksWithFiles(FIXTURE_PROJECT);
// Scales below qual's own, where rounding bites (0.05-core steps); larger ones would crowd prod out of the host's
// memory budget. Every scale the schema allows is checked on sizing alone, at the end.
const SCALES = [0.1, 0.15, 0.3, 0.45];
const BACKUP = { backup: { repository: "/mnt/backup-disk/restic" } };
const BACKUP_SECRETS = { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: "https://hooks.example.com/t" };

const managed = (run: ProgramRun) => run.resources.filter((r) => r.type in READ_BACK_RULES);
const label = (r: RegisteredResource) => `${r.type.split(":").pop()} ${r.inputs.name}`;

function everyDiff(run: ProgramRun, engine: EngineFacts) {
  return managed(run).flatMap((r) => [
    ...readBackDiffs(r.type, r.inputs, { engine }).map((d) => `${label(r)}: ${d.property} sent ${JSON.stringify(d.sent)}, read back ${JSON.stringify(d.readBack)}`),
    ...createRefusals(r.type, r.inputs, engine).map((why) => `${label(r)}: create refused: ${why}`),
    ...uncoveredProperties(r.type, r.inputs).map((p) => `${label(r)}: ${p} has no read-back rule`),
  ]);
}

describe("Go's formats, as the provider writes them", () => {
  test.each([
    ["60s", "1m0s"],
    ["300s", "5m0s"],
    ["5m", "5m0s"],
    ["1m", "1m0s"],
    ["10s", "10s"],
    ["1.5s", "1.5s"],
    ["500ms", "500ms"],
    ["90m", "1h30m0s"],
    ["0s", "0s"],
  ])("time.Duration %s reads back as %s", (sent, read) => {
    expect(goDurationString(parseGoDuration(sent))).toBe(read);
  });

  test.each([
    ["1", "1.0"],
    ["2", "2.0"],
    ["0.5", "0.5"],
    ["0.25", "0.25"],
    ["0.05", "0.1"],
    ["0.01", "0.0"],
    ["1.05", "1.05"],
    ["10", "10."],
    ["10.05", "10.1"],
  ])("cpus %s is stored as %s (nanoInt64ToDecimalString)", (sent, read) => {
    expect(nanoCpusToDecimalString(parseCpus(sent))).toBe(read);
  });

  test("ParseCPUs refuses a value finer than a nano-CPU and reads the provider's own forms back", () => {
    expect(() => parseCpus("0.0000000001")).toThrow("too precise");
    expect(parseCpus("1.0")).toBe(1_000_000_000n);
    expect(parseCpus("10.")).toBe(10_000_000_000n);
  });
});

describe("the rules catch what the real provider would change", () => {
  let prod: RegisteredResource;
  beforeAll(async () => {
    const run = await runProgram({ stack: "prod" });
    prod = run.resources.find((r) => r.type === TYPES.container && r.inputs.name === "po-postgres-prod")!;
  });
  const diffsOf = (inputs: Record<string, unknown>, engine = MODERN_ENGINE) =>
    readBackDiffs(TYPES.container, { ...prod.inputs, ...inputs }, { engine }).map((d) => [d.property, d.readBack, d.replaces]);

  test('cpus "1" reads back as "1.0": a replacement', () => {
    expect(diffsOf({ cpus: "1" })).toEqual([["cpus", "1.0", true]]);
  });

  test('a healthcheck interval of "60s" reads back as "1m0s": a replacement', () => {
    expect(diffsOf({ healthcheck: { ...prod.inputs.healthcheck, interval: "60s" } })).toEqual([
      ["healthcheck", expect.objectContaining({ interval: "1m0s" }), true],
    ]);
  });

  test("log options the program leaves to daemon.json are read back too: a replacement", () => {
    expect(diffsOf({ logOpts: { "max-size": "10m" } }, { ...MODERN_ENGINE, jsonFileLogDefaults: { compress: "true" } })).toEqual([
      ["logOpts", { compress: "true", "max-size": "10m" }, true],
    ]);
  });

  test("a swap limit on a kernel without swap accounting reads back as -1: an update on every up", () => {
    expect(diffsOf({ memorySwap: 512 }, { ...MODERN_ENGINE, swapLimit: false })).toEqual([["memorySwap", -1, false]]);
  });

  test("a startInterval on an engine older than API 1.44 fails the create", () => {
    expect(createRefusals(TYPES.container, { ...prod.inputs, healthcheck: { ...prod.inputs.healthcheck, startInterval: "1s" } }, OLD_ENGINE)).toEqual([
      expect.stringContaining("needs 1.44"),
    ]);
  });

  test("a subnet without its gateway reads back with the gateway Docker picked", () => {
    const diffs = readBackDiffs(TYPES.network, { name: "n", ipamConfigs: [{ subnet: "172.16.101.0/24" }] }, { engine: MODERN_ENGINE });
    expect(diffs.map((d) => [d.property, d.readBack])).toEqual([["ipamConfigs", [{ subnet: "172.16.101.0/24", gateway: "172.16.101.1" }]]]);
  });

  test("an input no rule covers is reported", () => {
    expect(uncoveredProperties(TYPES.container, { ...prod.inputs, shmSize: 64 })).toEqual(["shmSize"]);
  });
});

describe.each(Object.entries(ENGINES))("on %s", (_engineName, engine) => {
  const host = { ...EMPTY_HOST, engine };

  test.each(STACKS)("every container, network and volume of %s reads back as sent, its backup container included", async (stack) => {
    const run = await runProgram({ stack, inventory: host, config: BACKUP, secrets: BACKUP_SECRETS });
    expect(managed(run).filter((r) => r.type === TYPES.container).length).toBeGreaterThan(Object.keys(STORES).length);
    expect(run.resources.some((r) => r.type === TYPES.container && r.inputs.name.startsWith("po-backup-"))).toBe(true);
    expect(everyDiff(run, engine)).toEqual([]);
  });

  test.each(SCALES)("every container of qual scaled by %p reads back as sent", async (scale) => {
    const run = await runProgram({ stack: "qual", inventory: host, config: { resources: { scale } } });
    expect(everyDiff(run, engine)).toEqual([]);
  });
});

test("the fitted healthcheck drops startInterval on an older engine only", async () => {
  // One at a time: the mock engine runs one program at once.
  const modern = await runProgram({ stack: "qual", inventory: { ...EMPTY_HOST, engine: MODERN_ENGINE } });
  const old = await runProgram({ stack: "qual", inventory: { ...EMPTY_HOST, engine: OLD_ENGINE } });
  const startIntervals = (run: ProgramRun) => new Set(run.resources.filter((r) => r.type === TYPES.container).map((r) => r.inputs.healthcheck.startInterval));
  expect(startIntervals(modern)).toEqual(new Set(["1s"]));
  expect(startIntervals(old)).toEqual(new Set([undefined]));
});

test("scaling any catalog default by any allowed scale gives a number of cores the provider reads back unchanged", () => {
  const defaults = [...Object.values(STORES), ...Object.values(SERVICES)].map((spec) => spec.resources);
  const bad: string[] = [];
  // Every scale the schema allows, in steps of 0.01.
  for (let hundredths = 10; hundredths <= 400; hundredths++) {
    for (const d of defaults) {
      const { cpus } = sizeContainer(d, hundredths / 100);
      if (!cpusSurviveReadBack(cpus)) bad.push(`${d.cpus} x ${hundredths / 100} = ${cpus} -> ${cpusReadBack(cpus)}`);
    }
  }
  expect(bad).toEqual([]);
});
