import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataKindOf, describeBlocked, evaluateGate, formatGateResult, parseGateArgs, runGate, stackOfPreview } from "../../../tools/ci/data-safety-gate";
import { parsePreview, protectionRefusals } from "../../../tools/ci/preview-json";
import { fixture, loadPreview } from "./fixtures";
import {
  TYPES,
  appContainerUrn,
  deleteProtected,
  digest,
  networkUrn,
  replaceProtected,
  replaceProtectedAsPartOf,
  state,
  step,
  storeContainerUrn,
  urn,
  volumeUrn,
} from "./pulumi-shapes";

const VOLUME = volumeUrn("prod", "postgres-data");
const STORE = storeContainerUrn("prod", "postgres");
const APP = appContainerUrn("prod", "public-fo");
const gate = (steps: ReturnType<typeof step>[], diagnostics: Parameters<typeof digest>[2] = []) => evaluateGate(parsePreview(JSON.stringify(digest("prod", steps, diagnostics))), "prod", true);
const mountsVolume = { volumes: [{ containerPath: "/data", volumeName: "postgres-data-prod" }] };

describe("dataKindOf", () => {
  it("treats every docker volume as a data volume", () => expect(dataKindOf(VOLUME)).toBe("data volume"));
  it("treats a container under a DataStore component as a data store", () => expect(dataKindOf(STORE)).toBe("data store"));
  it("does not treat an AppService container as data", () => expect(dataKindOf(APP)).toBeUndefined());
  it("treats a container under a DataStore of another type prefix as a data store (a renamed project token)", () =>
    expect(dataKindOf(urn("prod", ["renamed:platform:Environment", "renamed:platform:DataStore", TYPES.container], "prod-postgres-container"))).toBe("data store"));
});

describe("evaluateGate on fixtures", () => {
  it("blocks the prod preview that replaces the postgres volume and container, naming both", () => {
    const result = evaluateGate(loadPreview("preview-prod-replace-postgres.json"), "prod", true);
    expect(result.blocked.map((b) => [b.name, b.type, b.kind, b.action, b.refusedAsProtected])).toEqual([
      ["prod-volume-postgres-data", TYPES.volume, "data volume", "replace", true],
      ["prod-postgres-container", TYPES.container, "data store", "replace", false],
    ]);
    const text = formatGateResult(result);
    expect(text).toMatch(/FAILED/);
    expect(text).toContain(`prod-volume-postgres-data [${TYPES.volume}]`);
  });

  it("passes a prod preview whose creates, replaces and deletes touch only app containers", () => {
    const result = evaluateGate(loadPreview("preview-prod-app-changes.json"), "prod", true);
    expect(result).toEqual({ stack: "prod", protected: true, blocked: [] });
    expect(formatGateResult(result)).toMatch(/passed/);
  });

  it("checks nothing on a stack whose data is not protected, even when a data volume is replaced", () => {
    expect(evaluateGate(loadPreview("preview-qual-update.json"), "qual", false).blocked).toEqual([]);
  });

  it("blocks qual's volume replace and delete once qual's data is protected", () => {
    expect(evaluateGate(loadPreview("preview-qual-update.json"), "qual", true).blocked.map((b) => [b.name, b.action])).toEqual([
      ["qual-volume-postgres-data", "replace"],
      ["qual-volume-elasticsearch-data", "delete"],
    ]);
  });

  it("says Pulumi refused the protected volume, next to the keys that force the replacement", () => {
    const volume = evaluateGate(loadPreview("preview-prod-replace-postgres.json"), "prod", true).blocked[0];
    expect(describeBlocked(volume)).toBe(
      `replace of data volume prod-volume-postgres-data [${TYPES.volume}] (because of: driverOpts); Pulumi refused it too: the resource is marked protect`,
    );
  });
});

describe("evaluateGate fails closed", () => {
  it("blocks a store container moved under another parent with an alias, then replaced: DataStore is only in oldState.urn", () => {
    const moved = urn("prod", ["portugal-odyssey:platform:Environment", TYPES.container], "prod-postgres-container");
    const blocked = gate([step("replace", moved, { old: state(STORE), new: state(moved), replaceReasons: ["image"] })]).blocked;
    expect(blocked.map((b) => [b.name, b.kind, b.action, b.via])).toEqual([["prod-postgres-container", "data store", "replace", STORE]]);
  });

  it("blocks a store container whose DataStore type token was renamed: the old state's URN still says DataStore", () => {
    const renamed = urn("prod", ["portugal-odyssey:platform:Environment", "portugal-odyssey:platform:Store", TYPES.container], "prod-postgres-container");
    expect(dataKindOf(renamed)).toBeUndefined();
    expect(gate([step("replace", renamed, { old: state(STORE), new: state(renamed) })]).blocked.map((b) => [b.kind, b.via])).toEqual([["data store", STORE]]);
  });

  it("blocks the replacement of any container that mounts a volume, whatever its parent", () => {
    const loose = urn("prod", [TYPES.container], "prod-anything-container");
    expect(gate([step("replace", loose, { old: state(loose, mountsVolume), new: state(loose, mountsVolume) })]).blocked.map((b) => b.kind)).toEqual([
      "container with a data volume",
    ]);
    expect(gate([step("replace", APP, { old: state(APP, { mounts: [{ type: "volume", source: "x", target: "/x" }] }) })]).blocked).toHaveLength(1);
  });

  it.each(["replace", "create-replacement", "delete-replaced", "delete", "import-replacement", "read-replacement", "discard-replaced", "remove-pending-replace", "an-op-pulumi-adds-tomorrow"])(
    "blocks op %s on a data volume: only the known safe ops pass",
    (op) => {
      expect(gate([step(op, VOLUME, { old: state(VOLUME) })]).blocked.map((b) => b.name)).toEqual(["prod-volume-postgres-data"]);
    },
  );

  it.each(["same", "read", "refresh", "create", "update", "import", "discard"])("lets the safe op %s on a data volume pass", (op) => {
    expect(gate([step(op, VOLUME, { old: state(VOLUME), new: state(VOLUME) })]).blocked).toEqual([]);
  });

  it("blocks a plain delete of a data-store container", () => {
    expect(gate([step("delete", STORE, { old: state(STORE) })]).blocked.map((b) => b.action)).toEqual(["delete"]);
  });
});

describe("Pulumi's protection refusals (wording of pkg/resource/deploy/step.go and step_generator.go)", () => {
  it("reads the delete refusal `resource \"urn\" cannot be deleted because it is protected`", () => {
    expect(protectionRefusals(digest("prod", [], [deleteProtected(VOLUME)]))).toEqual([{ urn: VOLUME, action: "delete" }]);
    expect(gate([], [deleteProtected(STORE)]).blocked.map((b) => [b.name, b.action, b.refusedAsProtected])).toEqual([["prod-postgres-container", "delete", true]]);
  });

  it("reads the replace refusal", () => {
    expect(protectionRefusals(digest("prod", [], [replaceProtected(VOLUME)]))).toEqual([{ urn: VOLUME, action: "replace" }]);
  });

  it("captures both resources of `as part of replacing`, and blocks the replaced one when it holds data", () => {
    expect(protectionRefusals(digest("prod", [], [replaceProtectedAsPartOf(VOLUME, STORE)]))).toEqual([{ urn: VOLUME, action: "replace", partOf: STORE }]);
    expect(gate([], [replaceProtectedAsPartOf(VOLUME, STORE)]).blocked.map((b) => [b.name, b.action, b.refusedAsProtected])).toEqual([
      ["prod-volume-postgres-data", "replace", true],
      ["prod-postgres-container", "replace", false],
    ]);
  });

  it("names a protected resource whose URN says no data kind: Pulumi refused it, so it is blocked", () => {
    const network = networkUrn("prod", "internal");
    expect(gate([], [replaceProtected(network)]).blocked.map((b) => [b.name, b.kind])).toEqual([["prod-network-internal", "protected resource"]]);
  });

  it("ignores a warning with the same wording", () => {
    expect(gate([], [{ ...replaceProtected(VOLUME), severity: "warning" }]).blocked).toEqual([]);
  });
});

describe("stackOfPreview", () => {
  it("takes the stack from the URNs when none is given", () => expect(stackOfPreview(loadPreview("preview-qual-update.json"))).toBe("qual"));
  it("prefers the stack given", () => expect(stackOfPreview(loadPreview("preview-qual-update.json"), "prod")).toBe("prod"));
  it("refuses a preview with no steps and no stack", () => expect(() => stackOfPreview({})).toThrow(/pass --stack/));
});

describe("parseGateArgs", () => {
  it("needs exactly one preview file", () => {
    expect(() => parseGateArgs([])).toThrow(/usage/);
    expect(() => parseGateArgs(["a.json", "b.json"])).toThrow(/usage/);
  });
  it("refuses the protected list it used to take: protection is read from the stack file only", () => {
    expect(() => parseGateArgs(["--protected", "prod", "p.json"])).toThrow(/Unknown option '--protected'/);
  });
});

describe("runGate (the job's command) reads protection from the stack files", () => {
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  beforeEach(() => (lines.length = 0));

  /** A project folder whose stack files set data.protect as given. */
  const project = (stacks: Record<string, string | undefined>) => {
    const dir = mkdtempSync(join(tmpdir(), "gate-"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: portugal-odyssey\nruntime: nodejs\n");
    for (const [stack, protect] of Object.entries(stacks)) {
      writeFileSync(join(dir, `Pulumi.${stack}.yaml`), protect === undefined ? "config: {}\n" : `config:\n  portugal-odyssey:data:\n    protect: ${protect}\n`);
    }
    return dir;
  };

  it("exits 1 and names the resources when the stack file protects the data", () => {
    expect(runGate(["--stack", "prod", "--project-dir", project({ prod: "true" }), fixture("preview-prod-replace-postgres.json")], log)).toBe(1);
    expect(lines.join("\n")).toContain("replace of data volume prod-volume-postgres-data");
  });

  it("exits 0 when the stack file says protect: false", () => {
    expect(runGate(["--stack", "prod", "--project-dir", project({ prod: "false" }), fixture("preview-prod-replace-postgres.json")], log)).toBe(0);
    expect(lines.join("\n")).toMatch(/not protected/);
  });

  it("protects a stack whose file does not mention data (the schema's default), and any stack name, not only prod", () => {
    expect(runGate(["--stack", "demo", "--project-dir", project({ demo: undefined }), fixture("preview-qual-update.json")], log)).toBe(1);
  });

  it("follows this repository's stack files: prod protected, qual not", () => {
    expect(runGate(["--stack", "prod", fixture("preview-prod-replace-postgres.json")], log)).toBe(1);
    expect(runGate(["--stack", "qual", fixture("preview-qual-update.json")], log)).toBe(0);
  });

  it("exits 2 with the key path on an invalid data.protect", () => {
    expect(runGate(["--stack", "prod", "--project-dir", project({ prod: "sometimes" }), fixture("preview-prod-app-changes.json")], log)).toBe(2);
    expect(lines.join("\n")).toMatch(/portugal-odyssey:data\.protect: expected true or false/);
  });

  it("exits 2 when the preview file is not a preview document", () => {
    const dir = mkdtempSync(join(tmpdir(), "gate-"));
    writeFileSync(join(dir, "p.json"), "error: could not connect to docker");
    expect(runGate([join(dir, "p.json")], log)).toBe(2);
  });
});
