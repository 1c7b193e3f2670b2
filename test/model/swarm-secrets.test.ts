/**
 * On a swarm a secret delivered as a file is unset in the task (only
 * `<NAME>_FILE` is), and only the image's own program reads the file back: a
 * healthcheck (an exec of its own), a command or a config file that reads the
 * variable by name breaks there. None may, for any service of either stack; the
 * variables checked are the ones the renderer really turns into files.
 */
import { planEnvironment } from "../../model/environment";
import { fileDeliveredSecrets, fileSecretReaders, planSwarm, type SwarmPlan } from "../../model/swarm";
import { ofType, runProgram } from "../harness/program";
import { TEST_EXTERNAL_SECRETS, settingsOf } from "../harness/stack-config";

const SERVICE = "docker:index/service:Service";
// An s3: repository and a webhook: every secret the backup can be given.
const SWARM = {
  runtime: "swarm",
  swarm: { nodes: 3 },
  host: { memoryBudgetMb: 1_000_000, reservedMb: 0, neighbours: [] },
  backup: { repository: "s3:https://s3.example.com/bucket" },
};
const SECRETS = { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: "https://hooks.example.com/T0/secret-token" };
const planned = (stack: string) => {
  const settings = settingsOf(stack, SWARM);
  const plan = planEnvironment(settings);
  return { plan, swarm: planSwarm(settings, plan) };
};

describe.each(["qual", "prod"])("the %s stack on swarm", (stack) => {
  test("the variables the model says are files are exactly the <NAME>_FILE variables the renderer registers, per service", async () => {
    const { plan, swarm } = planned(stack);
    const run = await runProgram({ stack, config: SWARM, secrets: SECRETS });
    const rendered = ofType(run, SERVICE)
      .map((s) => ({ service: s.inputs.name as string, variables: Object.keys(s.inputs.taskSpec.containerSpec.env ?? {}).filter((k) => k.endsWith("_FILE")).map((k) => k.slice(0, -"_FILE".length)).sort() }))
      .filter((s) => s.variables.length > 0);
    const serviceOf = (entry: string) => swarm.services.find((t) => t.entry === entry)!.serviceName;
    const modelled = fileDeliveredSecrets(plan, swarm).map((f) => ({ service: serviceOf(f.entry), variables: [...f.variables].sort() })).filter((s) => s.variables.length > 0);
    expect(modelled.length).toBeGreaterThan(0);
    expect(modelled.sort((a, b) => a.service.localeCompare(b.service))).toEqual(rendered.sort((a, b) => a.service.localeCompare(b.service)));
  });

  test("no healthcheck, command or config file reads by name a secret the swarm gives its service as a file", () => {
    const { plan, swarm } = planned(stack);
    expect(fileSecretReaders(plan, swarm)).toEqual([]);
  });
});

test("a read is found: redis's command and healthcheck read $REDIS_PASSWORD, so redis given it as a file would break", () => {
  const { plan, swarm } = planned("qual");
  const redis = plan.containers.find((c) => c.name === "redis")!;
  const secrets = redis.env.filter((v) => v.secret).map((v) => v.name);
  expect(secrets.length).toBeGreaterThan(0);
  const asFile: SwarmPlan = { ...swarm, services: swarm.services.map((t) => (t.entry === "redis" ? { ...t, secrets: { via: "file", how: "as if" } } : t)) };
  const reads = fileSecretReaders(plan, asFile);
  // Each of its secrets, where the command or the healthcheck names it.
  const texts = { command: redis.command ?? [], healthcheck: redis.healthcheck.tests };
  const expected = secrets.flatMap((variable) =>
    (["command", "healthcheck"] as const).filter((where) => texts[where].some((t) => t.includes(`$${variable}`))).map((where) => ({ entry: "redis", where, variable })),
  );
  expect(reads).toEqual(expected);
  expect(reads.map((r) => r.where).sort()).toEqual(["command", "healthcheck"]);
});
