import { countChanges, errorDiagnostics, listChanges, parsePreview, parseUrn, protectionRefusals } from "../../../tools/ci/preview-json";
import { readFileSync } from "node:fs";
import { fixture, loadPreview } from "./fixtures";

describe("parseUrn", () => {
  it("splits a nested URN into stack, project, own type, parent types and logical name", () => {
    expect(
      parseUrn("urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$portugal-odyssey:platform:DataStore$docker:index/container:Container::prod-postgres-container"),
    ).toEqual({
      stack: "prod",
      project: "portugal-odyssey",
      type: "docker:index/container:Container",
      parentTypes: ["portugal-odyssey:platform:Environment", "portugal-odyssey:platform:DataStore"],
      name: "prod-postgres-container",
    });
  });

  it("keeps a logical name that itself contains '::'", () => {
    expect(parseUrn("urn:pulumi:qual::p::docker:index/volume:Volume::odd::name").name).toBe("odd::name");
  });

  it("rejects strings that are not Pulumi URNs", () => {
    expect(() => parseUrn("arn:aws:s3:::bucket")).toThrow(/not a Pulumi URN/);
    expect(() => parseUrn("urn:pulumi:qual::p")).toThrow(/not a Pulumi URN/);
  });
});

describe("parsePreview", () => {
  it("rejects text that is not JSON, naming the source", () => {
    expect(() => parsePreview("Previewing update (qual)", "preview-qual.json")).toThrow(/preview-qual.json is not JSON/);
  });

  it("rejects a step without op or urn", () => {
    expect(() => parsePreview(JSON.stringify({ steps: [{ urn: "urn:pulumi:a::b::c::d" }] }))).toThrow(/"op" and "urn"/);
  });
});

describe("countChanges", () => {
  it("counts each replace step Pulumi prints as one replace, and takes the unchanged count from its summary", () => {
    expect(countChanges(loadPreview("preview-prod-replace-postgres.json"))).toEqual({ create: 0, update: 1, replace: 2, delete: 0, same: 3 });
  });

  it("still counts a replacement once when its create-replacement and delete-replaced steps are shown too", () => {
    const urn = "urn:pulumi:prod::p::docker:index/container:Container::c";
    const steps = ["create-replacement", "replace", "delete-replaced"].map((op) => ({ op, urn }));
    expect(countChanges(parsePreview(JSON.stringify({ steps }))).replace).toBe(1);
  });

  it("counts same steps itself when the digest has no change summary", () => {
    const steps = [{ op: "same", urn: "urn:pulumi:prod::p::pulumi:pulumi:Stack::p-prod" }];
    expect(countChanges(parsePreview(JSON.stringify({ steps }))).same).toBe(1);
  });

  it("counts creates, updates, replaces and deletes of a mixed preview, ignoring read steps", () => {
    expect(countChanges(loadPreview("preview-qual-update.json"))).toEqual({ create: 1, update: 2, replace: 1, delete: 1, same: 1 });
  });

  it("agrees with the changeSummary Pulumi printed for every fixture", () => {
    for (const name of ["preview-prod-replace-postgres.json", "preview-qual-update.json", "preview-no-changes.json", "preview-prod-app-changes.json"]) {
      const digest = loadPreview(name);
      const counts = countChanges(digest);
      const summary = digest.changeSummary ?? {};
      expect({ name, create: counts.create, update: counts.update, replace: counts.replace, delete: counts.delete, same: counts.same }).toEqual({
        name,
        create: summary.create ?? 0,
        update: summary.update ?? 0,
        replace: summary.replace ?? 0,
        delete: summary.delete ?? 0,
        same: summary.same ?? 0,
      });
    }
  });
});

describe("listChanges", () => {
  it("lists each changed resource once with its action and the keys that force it", () => {
    const changes = listChanges(loadPreview("preview-prod-replace-postgres.json"));
    expect(changes.map((c) => [c.action, c.name, c.reasons])).toEqual([
      ["replace", "prod-volume-postgres-data", ["driverOpts"]],
      ["replace", "prod-postgres-container", ["image"]],
      ["update", "prod-public-fo-container", ["labels"]],
    ]);
  });

  it("lists nothing for a preview without changes", () => {
    expect(listChanges(loadPreview("preview-no-changes.json"))).toEqual([]);
  });
});

describe("protectionRefusals", () => {
  it("reads the protected volume Pulumi refused to replace from the prod fixture's error diagnostic", () => {
    expect(protectionRefusals(loadPreview("preview-prod-replace-postgres.json"))).toEqual([
      { action: "replace", urn: "urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$docker:index/volume:Volume::prod-volume-postgres-data" },
    ]);
  });

  it("finds none in a preview Pulumi did not refuse", () => {
    expect(protectionRefusals(loadPreview("preview-qual-update.json"))).toEqual([]);
  });
});

it("errorDiagnostics returns only error-severity messages", () => {
  const digest = parsePreview(JSON.stringify({ diagnostics: [{ message: "warning: x", severity: "warning" }, { message: " error: boom \n", severity: "error" }] }));
  expect(errorDiagnostics(digest)).toEqual(["error: boom"]);
});

describe("the Pulumi fixtures", () => {
  it("are exactly what test/fixtures/build-pulumi-fixtures.ts writes from the cited shapes (rerun it after changing a builder)", () => {
    const { fixtures: built, render } = jest.requireActual("../../fixtures/build-pulumi-fixtures");
    for (const [name, doc] of Object.entries(built)) expect({ name, text: readFileSync(fixture(name), "utf8") }).toEqual({ name, text: render(doc) });
  });
});
