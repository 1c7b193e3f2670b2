import { findDrift, formatDrift } from "../../../tools/ci/drift-report";
import { loadPreview } from "./fixtures";

describe("findDrift", () => {
  const items = findDrift(loadPreview("drift-prod-changed.json"));

  it("reports a container whose settings were changed on the host, naming the property", () => {
    expect(items).toContainEqual({ name: "prod-postgres-container", type: "docker:index/container:Container", what: "changed outside Pulumi: restart" });
  });

  it("reports a container that was removed from the host", () => {
    expect(items).toContainEqual({ name: "prod-public-fo-container", type: "docker:index/container:Container", what: "deleted outside Pulumi" });
  });

  it("reports what the next deploy would do about it", () => {
    expect(items).toContainEqual({ name: "prod-postgres-container", type: "docker:index/container:Container", what: "the next deploy would update it (restart)" });
    expect(items).toContainEqual({ name: "prod-public-fo-container", type: "docker:index/container:Container", what: "the next deploy would create it" });
  });

  it("does not report a refresh that found the resource unchanged", () => {
    expect(items.map((i) => i.name)).not.toContain("prod-volume-postgres-data");
  });

  it("does not report a refresh where only a provider-computed output changed (networkData after a daemon restart)", () => {
    const digest = loadPreview("drift-prod-changed.json");
    const rabbit = digest.steps!.find((s) => s.urn.endsWith("::prod-rabbitmq-container"))!;
    // The fixture really differs, in networkData only: the step would be reported if every output counted.
    expect(rabbit.oldState!.outputs!.networkData).not.toEqual(rabbit.newState!.outputs!.networkData);
    expect(Object.keys(rabbit.oldState!.inputs!)).not.toContain("networkData");
    expect(items.map((i) => i.name)).not.toContain("prod-rabbitmq-container");
  });

  it("finds nothing in a preview without changes", () => {
    expect(findDrift(loadPreview("preview-no-changes.json"))).toEqual([]);
  });
});

describe("formatDrift", () => {
  it("says the stack drifted and lists each item", () => {
    const text = formatDrift("prod", [{ name: "n", type: "t", what: "deleted outside Pulumi" }]);
    expect(text).toBe("drift: stack prod has DRIFTED (1):\n  - n [t]: deleted outside Pulumi");
  });
  it("says there is no drift", () => expect(formatDrift("qual", [])).toMatch(/no drift/));
});
