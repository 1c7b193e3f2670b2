/**
 * The backup container as the engine receives it: rendered from its plan by
 * the same code as every other container (components/container.ts), so these
 * pin what the backup needs from that code.
 */
import { BACKUP_MOUNTS } from "../../model/backup";
import { planEnvironment, type EnvironmentPlan } from "../../model/environment";
import { names } from "../../model/naming";
import { credentialsIn } from "../../model/templates";
import { containerFor, containers, envOf } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";
import { TEST_EXTERNAL_SECRETS, settingsOf } from "../harness/stack-config";

const WEBHOOK = "https://hooks.example.com/backup-failed/test-webhook-token";
const LOCAL = "/mnt/backup-disk/restic";
// qual: a local repository and a failure webhook; prod: an object store, no webhook.
const CASES = {
  qual: { config: { backup: { repository: LOCAL } }, secrets: { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: WEBHOOK } },
  prod: { config: { backup: { repository: "s3:https://s3.example.com/bucket" } }, secrets: TEST_EXTERNAL_SECRETS },
};
const runs: Record<string, { run: ProgramRun; plan: EnvironmentPlan }> = {};

beforeAll(async () => {
  for (const [stack, { config, secrets }] of Object.entries(CASES)) {
    runs[stack] = { run: await runProgram({ stack, config, secrets }), plan: planEnvironment(settingsOf(stack, config)) };
  }
});

describe.each(Object.keys(CASES))("the %s stack's backup container", (stack) => {
  const backup = () => containerFor(runs[stack].run, "backup");
  const planned = () => runs[stack].plan.backup!;
  // Stand-ins the mocks give every credential: generated-* for generated ones, the test-* values for config secrets.
  const { secrets } = CASES[stack as keyof typeof CASES];
  const credentials = (): [string, string][] => [...Object.entries(secrets), ["a generated password", "generated-"]];
  const webhook = "backupWebhookUrl" in secrets;

  test("is po-backup-E, with exactly the plan's env, the webhook added only where the stack sets one", () => {
    expect(backup().inputs.name).toBe(names.backupContainer(runs[stack].plan.env));
    const expected = [...planned().env.map((e) => e.name), ...(webhook ? ["PO_BACKUP_WEBHOOK"] : [])];
    expect(Object.keys(envOf(backup()))).toEqual(expected);
    for (const e of planned().env.filter((v) => credentialsIn(v.value).length === 0)) expect(envOf(backup())[e.name]).toBe(e.value);
  });

  test("sends its env as a secret, with every credential the plan names filled in, and no credential anywhere else", () => {
    const env = envOf(backup());
    expect(backup().secretInputs).toEqual(["envs"]);
    const carriers = planned().env.filter((v) => credentialsIn(v.value).length > 0);
    expect(carriers.length).toBeGreaterThan(0);
    for (const e of carriers) {
      expect({ name: e.name, filled: !/\{[a-zA-Z]+\}/.test(env[e.name]) && credentials().some(([, value]) => env[e.name].includes(value)) }).toEqual({ name: e.name, filled: true });
    }
    if (webhook) expect(env.PO_BACKUP_WEBHOOK === WEBHOOK).toBe(true);
    const { envs: _envs, ...others } = backup().inputs;
    const text = JSON.stringify(others);
    // Names, never values, in a failure message.
    expect(credentials().flatMap(([name, value]) => (text.includes(value) ? [name] : []))).toEqual([]);
  });

  test("mounts the stores' volumes read-only; only its staging volume and a local repository are writable", () => {
    const mounts = backup().inputs.volumes as { volumeName?: string; hostPath?: string; readOnly: boolean }[];
    const volumeName = (key: string) => runs[stack].plan.volumes.find((v) => v.key === key)!.name;
    const writable = mounts.filter((m) => !m.readOnly).map((m) => m.volumeName ?? m.hostPath);
    const local = stack === "qual" ? [names.backupRepository(LOCAL, runs[stack].plan.env)] : [];
    expect(writable).toEqual([volumeName("backup-staging"), ...local]);
    for (const key of Object.keys(BACKUP_MOUNTS)) expect(mounts).toContainEqual(expect.objectContaining({ volumeName: volumeName(key), readOnly: true }));
    expect(JSON.stringify(mounts)).not.toMatch(/docker\.sock/);
  });

  test("publishes no port, has a read-only root, no capability, no new privileges, and a non-root user", () => {
    const { inputs } = backup();
    expect(inputs.ports).toBeUndefined();
    expect(inputs.readOnly).toBe(true);
    expect(inputs.capabilities).toEqual({ drops: ["ALL"], adds: [] });
    expect(inputs.securityOpts).toEqual(["no-new-privileges:true"]);
    expect(inputs.user).toMatch(/^[1-9][0-9]*:[1-9][0-9]*$/);
  });

  test("has the plan's memory limit, no swap, and the host budget's total counts it with every other container", () => {
    const { run, plan } = runs[stack];
    expect(backup().inputs).toMatchObject({ memory: planned().resources.memoryMb, memorySwap: planned().resources.memoryMb });
    expect(containers(run).reduce((sum, c) => sum + c.inputs.memory, 0)).toBe(plan.totalMemoryMb);
  });

  test("starts after the store containers and is replaced delete-first, as only one may run", () => {
    const { run, plan } = runs[stack];
    const stores = plan.containers.filter((c) => c.kind === "store").map((c) => containerFor(run, c.name).urn);
    expect(backup().options.dependsOn).toEqual(expect.arrayContaining(stores));
    expect(backup().options.deleteBeforeReplace).toBe(true);
  });
});
