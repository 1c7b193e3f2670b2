/** The backup keys of a stack's config: defaults, every bad value named, the secrets, the budget. */
import { readOtherStacks } from "../../config/stack-files";
import { validateStackConfig } from "../../config/validate";
import { planEnvironment } from "../../model/environment";
import { testRelease } from "../harness/release";
import { FIXTURE_PROJECT, TEST_EXTERNAL_SECRETS, engineConfig, settingsOf } from "../harness/stack-config";

function validate(stack: string, overrides: Record<string, unknown> = {}, secrets: Record<string, string> = TEST_EXTERNAL_SECRETS) {
  const config = engineConfig(stack, overrides, secrets);
  return validateStackConfig(stack, { values: config.values, secretKeys: new Set(config.secretKeys), otherStacks: readOtherStacks(FIXTURE_PROJECT, stack), release: testRelease(stack) });
}
const problems = (...args: Parameters<typeof validate>) => {
  const result = validate(...args);
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.problems;
};
const backup = (over: Record<string, unknown>) => ({ backup: { repository: "s3:https://s3.example.com/bucket", ...over } });

test("defaults: 7 daily, 4 weekly, 6 monthly, a 26 h RPO, the repository under the location, named by the suffix", () => {
  const result = validate("qual", backup({}));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  expect(result.settings.backup!.retention).toEqual({ daily: 7, weekly: 4, monthly: 6 });
  expect(result.settings.backup!.rpoHours).toBe(26);
  expect(planEnvironment(result.settings).backup!.env).toContainEqual({ name: "RESTIC_REPOSITORY", value: `s3:https://s3.example.com/bucket/${result.settings.env}`, secret: false });
  expect(result.warnings).toEqual([]);
});

test("each bad backup key is named with what was expected", () => {
  const found = problems("qual", backup({ repository: "ftp://nowhere", retention: { daily: -1 }, rpoHours: 0, schedule: "25:00", checkSubset: "all" }));
  expect(found.map((p) => p.path).sort()).toEqual(
    ["backup.checkSubset", "backup.repository", "backup.retention.daily", "backup.rpoHours", "backup.schedule"].map((k) => `portugal-odyssey:${k}`),
  );
  expect(found.find((p) => p.path.endsWith("backup.repository"))!.message).toMatch(/expected a restic repository location/);
  expect(found.find((p) => p.path.endsWith("backup.schedule"))!.message).toMatch(/HH:MM/);
});

test("the restic password is required, and an s3: repository's keys, each with the command that sets it", () => {
  const { resticPassword: _r, backupAccessKeyId: _a, backupSecretAccessKey: _s, ...others } = TEST_EXTERNAL_SECRETS;
  expect(problems("prod", backup({}), others)).toEqual(
    ["resticPassword", "backupAccessKeyId", "backupSecretAccessKey"].map((name) => ({
      path: `portugal-odyssey:${name}`,
      message: expect.stringContaining(`run: pulumi config set --secret ${name} --stack prod`),
    })),
  );
});

test("a local repository is accepted with a warning that it is not off-site, and needs no object-store keys", () => {
  const { backupAccessKeyId: _a, backupSecretAccessKey: _s, ...others } = TEST_EXTERNAL_SECRETS;
  const result = validate("qual", backup({ repository: "/mnt/backup-disk/restic" }), others);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const repository = `/mnt/backup-disk/restic/${result.settings.env}`;
  expect(planEnvironment(result.settings).backup!.hostMounts).toEqual([{ hostPath: repository, containerPath: repository, readOnly: false }]);
  expect(result.warnings).toEqual([{ path: "portugal-odyssey:backup.repository", message: expect.stringContaining("not off-site") }]);
});

test("a webhook that is not a URL is refused without echoing it", () => {
  const found = problems("qual", backup({}), { ...TEST_EXTERNAL_SECRETS, backupWebhookUrl: "not-a-url-secret-token" });
  expect(found).toEqual([{ path: "portugal-odyssey:backupWebhookUrl", message: expect.stringContaining("expected an http(s) URL") }]);
  expect(JSON.stringify(found)).not.toContain("secret-token");
});

test("without backup config there is no backup container, and a warning says the environment is not backed up", () => {
  const result = validate("qual", { backup: undefined });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  expect(planEnvironment(result.settings).backup).toBeUndefined();
  expect(result.warnings).toEqual([{ path: "portugal-odyssey:backup", message: expect.stringContaining("not backed up") }]);
});

test("the backup container's memory counts in the stack's total, which the host budget checks", () => {
  const plan = planEnvironment(settingsOf("qual", backup({ memoryMb: 384 })));
  const others = plan.containers.reduce((sum, c) => sum + c.resources.memoryMb, 0);
  expect(plan.totalMemoryMb).toBe(others + 384);
});

test("the backup container is hardened like every container: read-only root, no capability, no published port, non-root", () => {
  const b = planEnvironment(settingsOf("prod", backup({}))).backup!;
  expect(b.security).toMatchObject({ readOnly: true, capDrop: ["ALL"], capAdd: [], securityOpts: ["no-new-privileges:true"] });
  expect(b.security.user).toMatch(/^[1-9][0-9]*:[1-9][0-9]*$/);
  expect(b.volumes.filter((v) => !v.readOnly).map((v) => v.key)).toEqual(["backup-staging"]);
  expect(JSON.stringify(b)).not.toMatch(/docker\.sock/);
});
