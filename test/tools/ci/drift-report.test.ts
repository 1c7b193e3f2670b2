import { behindMain, deployedCommit, findDrift, formatBehindMain, formatDrift } from "../../../tools/ci/drift-report";
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

describe("formatDrift", () => {
  it("says the stack drifted and lists each item", () => {
    expect(formatDrift("prod", [{ name: "n", type: "t", what: "deleted outside Pulumi" }])).toMatch(/DRIFTED.*\n {2}- n \[t\]: deleted outside Pulumi$/);
  });
  it("says there is no drift", () => expect(formatDrift("qual", [])).toMatch(/no drift/));
});
