import { behindMain, deployedCommit, driftVerdict, findDrift, formatBehindMain, formatDrift } from "../../../tools/ci/drift-report";
import { listChanges } from "../../../tools/ci/preview-json";
import { loadPreview } from "./fixtures";
import { TYPES, appContainerUrn, digest, state, step } from "./pulumi-shapes";

describe("findDrift on refresh --preview-only digests", () => {
  const items = findDrift(loadPreview("drift-prod-hand-edit.json"));

  it("a container edited by hand on the host is drift, naming the property", () => {
    expect(items).toContainEqual({ name: "prod-postgres-container", type: TYPES.container, what: "changed outside Pulumi: restart" });
  });

  it("a container removed from the host is drift", () => {
    expect(items).toContainEqual({ name: "prod-public-fo-container", type: TYPES.container, what: "deleted outside Pulumi" });
  });

  it("reports only the rewritten update and delete steps, not the refresh steps that found nothing", () => {
    const changed = loadPreview("drift-prod-hand-edit.json").steps!.filter((s) => s.op === "update" || s.op === "delete");
    expect(items.map((i) => i.name)).toEqual(changed.map((s) => s.urn.split("::").pop()));
  });

  it("a change merged to main but not yet deployed is not drift: the refresh does not run the program", () => {
    expect(findDrift(loadPreview("drift-prod-clean.json"))).toEqual([]);
  });

  it("still fails when Pulumi's summary counts a change it did not list as a step", () => {
    const doc = { ...digest("prod", [step("refresh", appContainerUrn("prod", "x"), { old: state(appContainerUrn("prod", "x")) })]), changeSummary: { update: 1 } };
    expect(findDrift(doc)).toHaveLength(1);
  });
});

describe("behind main (information)", () => {
  it("takes the deployed commit from the newest succeeded update in the stack history", () => {
    const history = [
      { kind: "refresh", result: "succeeded", environment: { "git.head": "r" } },
      { kind: "update", result: "failed", environment: { "git.head": "f" } },
      { kind: "update", result: "succeeded", environment: { "git.head": "deployed" } },
      { kind: "update", result: "succeeded", environment: { "git.head": "older" } },
    ];
    expect(deployedCommit(history)).toBe("deployed");
    expect(deployedCommit([])).toBeUndefined();
    expect(deployedCommit({})).toBeUndefined();
  });

  it("lists what the next deploy of main would change, with the commit count", () => {
    const pending = loadPreview("preview-prod-app-changes.json");
    const text = formatBehindMain("prod", behindMain(pending, 4, "0123456789abcdef"));
    expect(text).toContain(`prod is 4 commit(s) (deployed 0123456789ab) and ${listChanges(pending).length} resource(s) behind main`);
    for (const c of listChanges(pending)) expect(text).toContain(`${c.action} ${c.name}`);
  });

  it("says up to date when nothing is pending", () => {
    expect(formatBehindMain("qual", behindMain(loadPreview("preview-no-changes.json"), 0, "abc"))).toMatch(/up to date/);
  });
});

/**
 * Pulumi's exit codes (pkg/cmd/pulumi/cmd/exit_codes.go): 0 success, 1 a generic error, 3 an
 * authentication error, 7 ExitNoChanges (--expect-no-changes saw a change), 255 internal.
 */
describe("the drift verdict follows the refresh's exit code", () => {
  const drifted = loadPreview("drift-prod-hand-edit.json");
  const clean = loadPreview("drift-prod-clean.json");

  it("exit 7 with the drifted digest: drift found, the job exits 7, each item listed", () => {
    const v = driftVerdict(7, drifted);
    expect([v.status, v.exitCode]).toEqual(["drift", 7]);
    expect(formatDrift("prod", v)).toMatch(/^drift: stack prod: DRIFT FOUND: \d+ resource\(s\) differ/);
    for (const i of findDrift(drifted)) expect(formatDrift("prod", v)).toContain(`${i.name} [${i.type}]: ${i.what}`);
  });

  it("exit 7 without a digest it could read is still drift, never a pass", () => {
    const v = driftVerdict(7, undefined, "not JSON");
    expect([v.status, v.exitCode]).toEqual(["drift", 7]);
  });

  it("exit 0 with a clean digest: no drift, the job passes", () => {
    expect(driftVerdict(0, clean)).toEqual({ status: "clean", exitCode: 0 });
    expect(formatDrift("qual", driftVerdict(0, clean))).toMatch(/no drift/);
  });

  it.each([1, 3, 6, 255])("exit %i: the check failed, the job exits with Pulumi's code, and the report says drift is unknown", (code) => {
    const v = driftVerdict(code, clean);
    expect([v.status, v.exitCode]).toEqual(["failed", code]);
    const text = formatDrift("prod", v);
    expect(text).toContain(`DRIFT CHECK FAILED (pulumi refresh exited ${code})`);
    expect(text).not.toMatch(/no drift|DRIFT FOUND/);
  });

  it("a check that failed part-way lists what it found, still as a failed check (its exit code, not 7)", () => {
    const v = driftVerdict(1, drifted);
    expect([v.status, v.exitCode]).toEqual(["failed", 1]);
    expect(formatDrift("prod", v)).toContain("found before it failed:");
  });

  it("exit 0 without a usable digest is a failed check, not a pass", () => {
    expect(driftVerdict(0, undefined, "empty output")).toMatchObject({ status: "failed", exitCode: 1 });
  });
});

describe("a failed preview of main is reported as failed", () => {
  it.each([1, 255])("pulumi preview exited %i: the report says FAILED, never up to date", (code) => {
    const text = formatBehindMain("qual", behindMain(loadPreview("preview-no-changes.json"), 0, "abc", [], code));
    expect(text).toContain(`the preview of main FAILED for stack qual (pulumi preview exited ${code})`);
    expect(text).not.toMatch(/up to date/);
  });

  it("no digest at all is a failed preview too", () => {
    expect(formatBehindMain("qual", behindMain(undefined, 0, "abc", ["the preview of main did not run"], 0))).toMatch(/FAILED.*exited 1/);
  });
});
