import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataKindOf, describeBlocked, evaluateGate, formatGateResult, parseGateArgs, runGate, stackOfPreview } from "../../../tools/ci/data-safety-gate";
import { parsePreview } from "../../../tools/ci/preview-json";
import { fixture, loadPreview } from "./fixtures";

const VOLUME = "urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$docker:index/volume:Volume::prod-volume-postgres-data";
const STORE = "urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$portugal-odyssey:platform:DataStore$docker:index/container:Container::prod-postgres-container";
const APP = "urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$portugal-odyssey:platform:AppService$docker:index/container:Container::prod-public-fo-container";

/** The error diagnostic Pulumi's engine emits when a change would replace or delete a protected resource. */
const refusal = (action: "replace" | "delete", urn: string, partOf?: string) => ({
  urn: partOf ?? urn,
  message:
    `error: unable to ${action} resource "${urn}"` +
    (partOf ? ` as part of replacing "${partOf}" ` : "\n") +
    "as it is currently marked for protection. To unprotect the resource, remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`\n",
  severity: "error",
});

describe("dataKindOf", () => {
  it("treats every docker volume as a data volume", () => expect(dataKindOf(VOLUME)).toBe("data volume"));
  it("treats a container under a DataStore component as a data store", () => expect(dataKindOf(STORE)).toBe("data store"));
  it("does not treat an AppService container as data", () => expect(dataKindOf(APP)).toBeUndefined());
});

describe("evaluateGate", () => {
  it("blocks the prod preview that replaces the postgres volume and container, naming both", () => {
    const result = evaluateGate(loadPreview("preview-prod-replace-postgres.json"), "prod");
    expect(result.blocked.map((b) => [b.name, b.type, b.kind, b.action, b.refusedAsProtected])).toEqual([
      ["prod-volume-postgres-data", "docker:index/volume:Volume", "data volume", "replace", true],
      ["prod-postgres-container", "docker:index/container:Container", "data store", "replace", false],
    ]);
    const text = formatGateResult(result);
    expect(text).toMatch(/FAILED/);
    expect(text).toContain("prod-volume-postgres-data [docker:index/volume:Volume]");
    expect(text).toContain("prod-postgres-container [docker:index/container:Container]");
  });

  it("passes a prod preview whose creates, replaces and deletes touch only app containers", () => {
    const result = evaluateGate(loadPreview("preview-prod-app-changes.json"), "prod");
    expect(result).toEqual({ stack: "prod", protected: true, blocked: [] });
    expect(formatGateResult(result)).toMatch(/passed/);
  });

  it("does not block qual, which is not protected by default, even when a data volume is replaced", () => {
    expect(evaluateGate(loadPreview("preview-qual-update.json"), "qual").blocked).toEqual([]);
  });

  it("blocks qual's volume replace and delete once qual is in the protected list", () => {
    const blocked = evaluateGate(loadPreview("preview-qual-update.json"), "qual", ["qual", "prod"]).blocked;
    expect(blocked.map((b) => [b.name, b.action])).toEqual([
      ["qual-volume-postgres-data", "replace"],
      ["qual-volume-search-data", "delete"],
    ]);
  });

  it("blocks a plain delete of a data-store container", () => {
    const digest = parsePreview(JSON.stringify({ steps: [{ op: "delete", urn: STORE }] }));
    expect(evaluateGate(digest, "prod").blocked.map((b) => b.action)).toEqual(["delete"]);
  });

  it("says Pulumi refused the protected volume, next to the keys that force the replacement", () => {
    const volume = evaluateGate(loadPreview("preview-prod-replace-postgres.json"), "prod").blocked[0];
    expect(describeBlocked(volume)).toBe(
      "replace of data volume prod-volume-postgres-data [docker:index/volume:Volume] (because of: driverOpts); Pulumi refused it too: the resource is marked protect",
    );
  });

  it("names a protected data volume that only an error diagnostic mentions (Pulumi printed no step for it)", () => {
    const digest = parsePreview(JSON.stringify({ diagnostics: [refusal("replace", VOLUME, STORE)] }));
    expect(evaluateGate(digest, "prod").blocked).toEqual([
      { name: "prod-volume-postgres-data", type: "docker:index/volume:Volume", kind: "data volume", urn: VOLUME, action: "replace", reasons: [], refusedAsProtected: true },
    ]);
  });

  it("reads a refused delete of a protected data store from its diagnostic", () => {
    const digest = parsePreview(JSON.stringify({ diagnostics: [refusal("delete", STORE)] }));
    expect(evaluateGate(digest, "prod").blocked.map((b) => [b.name, b.action])).toEqual([["prod-postgres-container", "delete"]]);
  });

  it("does not block on a protection error about a resource that holds no data, or on a warning", () => {
    const network = "urn:pulumi:prod::portugal-odyssey::portugal-odyssey:platform:Environment$docker:index/network:Network::prod-network-internal";
    const digest = parsePreview(JSON.stringify({ diagnostics: [refusal("replace", network), { ...refusal("replace", VOLUME), severity: "warning" }] }));
    expect(evaluateGate(digest, "prod").blocked).toEqual([]);
  });

  it("ignores same, update, create, read and refresh steps on data resources", () => {
    const steps = ["same", "update", "create", "read", "refresh"].map((op) => ({ op, urn: VOLUME }));
    expect(evaluateGate(parsePreview(JSON.stringify({ steps })), "prod").blocked).toEqual([]);
  });
});

describe("stackOfPreview", () => {
  it("takes the stack from the URNs when none is given", () => expect(stackOfPreview(loadPreview("preview-qual-update.json"))).toBe("qual"));
  it("prefers the stack given", () => expect(stackOfPreview(loadPreview("preview-qual-update.json"), "prod")).toBe("prod"));
  it("refuses a preview with no steps and no stack", () => expect(() => stackOfPreview({})).toThrow(/pass --stack/));
});

describe("parseGateArgs", () => {
  it("reads the protected list from --protected over PO_PROTECTED_STACKS", () => {
    expect(parseGateArgs(["--protected=qual,prod", "p.json"], { PO_PROTECTED_STACKS: "prod" }).protectedStacks).toEqual(["qual", "prod"]);
    expect(parseGateArgs(["p.json"], { PO_PROTECTED_STACKS: "qual prod" }).protectedStacks).toEqual(["qual", "prod"]);
  });
  it("needs exactly one preview file", () => {
    expect(() => parseGateArgs([], {})).toThrow(/usage/);
    expect(() => parseGateArgs(["a.json", "b.json"], {})).toThrow(/usage/);
  });
  it("reads the stack from --stack or -s, and leaves it to the preview's URNs without either", () => {
    expect(parseGateArgs(["-s", "prod", "p.json"]).stack).toBe("prod");
    expect(parseGateArgs(["--stack=prod", "p.json"]).stack).toBe("prod");
    expect(parseGateArgs(["p.json"]).stack).toBeUndefined();
  });
  it("refuses an unknown option or an empty value instead of gating with defaults", () => {
    expect(() => parseGateArgs(["--protect", "prod", "p.json"])).toThrow(/Unknown option '--protect'/);
    expect(() => parseGateArgs(["--protected=", "p.json"], { PO_PROTECTED_STACKS: "prod" })).toThrow(/--protected needs a value/);
  });
});

describe("runGate (the job's command)", () => {
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  beforeEach(() => (lines.length = 0));

  it("exits 1 and names the resources on the prod preview Pulumi itself refused", () => {
    expect(runGate(["--stack", "prod", fixture("preview-prod-replace-postgres.json")], {}, log)).toBe(1);
    expect(lines.join("\n")).toContain("replace of data volume prod-volume-postgres-data [docker:index/volume:Volume]");
    expect(lines.join("\n")).toContain("Pulumi refused it too");
  });

  it("exits 0 on a clean prod preview", () => {
    expect(runGate(["--stack", "prod", fixture("preview-prod-app-changes.json")], {}, log)).toBe(0);
  });

  it("exits 2 when the preview file is not a preview document", () => {
    const dir = mkdtempSync(join(tmpdir(), "gate-"));
    writeFileSync(join(dir, "p.json"), "error: could not connect to docker");
    expect(runGate([join(dir, "p.json")], {}, log)).toBe(2);
  });
});
