/**
 * `npm run up` never accepts what an earlier up left failed, and fails when a
 * refresh and preview right after it still plans a change. Against the JSON
 * shapes the pinned Pulumi CLI prints (`pulumi stack export`: apitype.UntypedDeployment
 * with ResourceV3 `initErrors` and `delete`; `pulumi preview --json`: PreviewDigest).
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../tools/pulumi-cli";
import { type ExportedResource, judgeSettled, planInitErrorRecovery } from "../../tools/up-safety";
import { FIXTURE_PROJECT } from "../harness/stack-config";
import { appContainerUrn, digest, state, step, storeContainerUrn, networkUrn } from "./ci/pulumi-shapes";

const WAIT_FAILED = "container failed to be in healthy state";
const exported = (resources: ExportedResource[]) => ({ version: 3, deployment: { manifest: { time: "2026-12-06T10:00:00Z", magic: "", version: "v3.200.0" }, resources } });

const redis = (stack: string, extra: Partial<ExportedResource> = {}) =>
  ({ ...state(storeContainerUrn(stack, "redis"), { name: `po-redis-${stack}` }, { name: `po-redis-${stack}` }), ...extra }) as ExportedResource;
const mailer = (stack: string, extra: Partial<ExportedResource> = {}) =>
  ({ ...state(appContainerUrn(stack, "mail-service"), { name: `po-mail-service-${stack}` }), ...extra }) as ExportedResource;
const publicFo = (stack: string, revision: string, extra: Partial<ExportedResource> = {}) =>
  ({ ...state(appContainerUrn(stack, "public-fo"), { name: `po-public-fo-${stack}-${revision}` }), ...extra }) as ExportedResource;

describe("resources an earlier up left failed", () => {
  const plan = (resources: ExportedResource[], dataProtected = false, passthrough: string[] = []) =>
    planInitErrorRecovery(resources, { stack: "qual", dataProtected, passthrough });

  test("a fixed-name container whose wait timed out is replaced, so it is waited for again", () => {
    const failed = mailer("qual", { initErrors: [WAIT_FAILED] });
    const result = plan([redis("qual"), failed]);
    expect(result.replace).toEqual([failed.urn]);
    expect(result.stops).toEqual([]);
    expect(result.notices).toEqual([expect.stringContaining(`po-mail-service-qual failed in an earlier up (${WAIT_FAILED})`)]);
  });

  test("nothing is replaced when nothing failed", () => {
    expect(plan([redis("qual"), mailer("qual"), state(networkUrn("qual", "internal")) as ExportedResource])).toEqual({ replace: [], notices: [], stops: [] });
  });

  test("a zero-downtime revision that failed stops the run, keeping the previous revision, and says what to run", () => {
    const old = publicFo("qual", "0a1b2c3d", { delete: true });
    const failed = publicFo("qual", "4e5f6a7b", { initErrors: [WAIT_FAILED] });
    const result = plan([old, failed]);
    expect(result.replace).toEqual([]);
    expect(result.stops).toHaveLength(1);
    const [stop] = result.stops;
    expect(stop).toContain("previous revision po-public-fo-qual-0a1b2c3d still serves");
    expect(stop).toContain("docker rm -f po-public-fo-qual-4e5f6a7b");
    expect(stop).toContain(`pulumi refresh --stack qual --target '${failed.urn}' --yes`);
  });

  test("a data store on a protected stack is not replaced behind the data-safety gate's back: the run stops and names the flag to pass", () => {
    const failed = redis("prod", { initErrors: [WAIT_FAILED] });
    const result = planInitErrorRecovery([failed], { stack: "prod", dataProtected: true, passthrough: [] });
    expect(result.replace).toEqual([]);
    expect(result.stops).toEqual([expect.stringContaining(`npm run up -- --stack prod -- --replace '${failed.urn}'`)]);
    // The same store on an unprotected stack is simply replaced; so is any store already passed with --replace.
    expect(plan([redis("qual", { initErrors: [WAIT_FAILED] })]).replace).toEqual([redis("qual").urn]);
    expect(planInitErrorRecovery([failed], { stack: "prod", dataProtected: true, passthrough: ["--replace", failed.urn] })).toEqual({ replace: [], notices: [], stops: [] });
  });
});

describe("the settled check after up", () => {
  const container = appContainerUrn("qual", "keycloak");

  test("passes when the refresh and preview plans nothing", () => {
    expect(judgeSettled("qual", digest("qual", [step("same", container)], [], 40), 0).ok).toBe(true);
  });

  test("fails naming the resource and the property a second up would change", () => {
    const planned = digest("qual", [step("replace", container, { old: state(container), new: state(container), replaceReasons: ["cpus"] })]);
    const verdict = judgeSettled("qual", planned, 255);
    expect(verdict.ok).toBe(false);
    expect(verdict.lines.join("\n")).toContain("replace qual-keycloak-container [docker:index/container:Container] (cpus)");
  });

  test("fails when the preview itself failed, even with no change listed", () => {
    expect(judgeSettled("qual", digest("qual", []), 255).ok).toBe(false);
  });
});

describe("npm run up with a stand-in pulumi", () => {
  /** A pulumi that logs its arguments, prints `exportJson` for `stack export` and `previewJson` for the preview, exiting as --expect-no-changes would. */
  async function up(exportJson: unknown, previewJson: unknown, previewCode: number, flags: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-up-"));
    copyFileSync(join(FIXTURE_PROJECT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    copyFileSync(join(FIXTURE_PROJECT, "Pulumi.qual.yaml"), join(dir, "Pulumi.qual.yaml"));
    writeFileSync(join(dir, "export.json"), JSON.stringify(exportJson));
    writeFileSync(join(dir, "preview.json"), JSON.stringify(previewJson));
    const bin = join(dir, "pulumi");
    writeFileSync(
      bin,
      `#!/bin/sh\necho "$*" >> "${dir}/calls.log"\ncase "$1 $2" in\n  "stack export") cat "${dir}/export.json" ;;\n  preview*) cat "${dir}/preview.json"; exit ${previewCode} ;;\nesac\n`,
    );
    chmodSync(bin, 0o755);
    const logged: string[] = [];
    const log = jest.spyOn(console, "log").mockImplementation((l: string) => void logged.push(l));
    const err = jest.spyOn(console, "error").mockImplementation((l: string) => void logged.push(l));
    const env = { PULUMI_BIN: bin, PATH: process.env.PATH, PULUMI_BACKEND_URL: `file://${dir}/state`, PULUMI_CONFIG_PASSPHRASE: "pw", CI: "true" };
    try {
      const code = await main(["up", "--stack", "qual", ...flags], env, dir);
      return { code, text: logged.join("\n"), calls: readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n") };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }
  const clean = digest("qual", [step("same", appContainerUrn("qual", "keycloak"))], [], 40);

  test("replaces what failed, then runs the refresh and preview that expects no changes", async () => {
    const failed = mailer("qual", { initErrors: [WAIT_FAILED] });
    const { code, calls } = await up(exported([redis("qual"), failed]), clean, 0);
    expect(code).toBe(0);
    expect(calls[0]).toBe("stack export --stack qual");
    expect(calls[1]).toMatch(new RegExp(`^up --yes .* --replace ${failed.urn.replace(/[$]/g, "\\$")}$`));
    expect(calls[2]).toBe("preview --stack qual --non-interactive --refresh --expect-no-changes --json");
  });

  test("fails the run when the check right after up plans a change, naming it", async () => {
    const container = storeContainerUrn("qual", "postgres");
    const unsettled = digest("qual", [step("update", container, { old: state(container), new: state(container), diffReasons: ["memorySwap"] })]);
    const { code, text } = await up(exported([redis("qual")]), unsettled, 255);
    expect(code).toBe(1);
    expect(text).toContain("update qual-postgres-container [docker:index/container:Container] (memorySwap)");
  });

  test("with --settled-later (the deploy job, which runs settled after outputs and verify), up runs no check of its own", async () => {
    const container = storeContainerUrn("qual", "postgres");
    const unsettled = digest("qual", [step("update", container, { old: state(container), new: state(container), diffReasons: ["memorySwap"] })]);
    const { code, calls } = await up(exported([redis("qual")]), unsettled, 255, ["--settled-later"]);
    expect(code).toBe(0);
    expect(calls.map((c) => c.split(" ")[0])).toEqual(["stack", "up"]);
  });

  test("stops before up for a failed revision, running nothing but the export", async () => {
    const { code, text, calls } = await up(exported([publicFo("qual", "0a1b2c3d", { delete: true }), publicFo("qual", "4e5f6a7b", { initErrors: [WAIT_FAILED] })]), clean, 0);
    expect(code).toBe(1);
    expect(calls).toEqual(["stack export --stack qual"]);
    expect(text).toContain("stopped before changing anything");
  });
});
