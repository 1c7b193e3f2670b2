/**
 * The revision-container rule of model/naming.ts, which tools/up-safety.ts
 * relies on to tell a zero-downtime revision from a fixed-name container.
 */
import { createHash } from "node:crypto";
import { SERVICE_NAMES } from "../../catalog/services";
import { STORE_NAMES } from "../../catalog/types";
import { names } from "../../model/naming";

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

test("every revision container name is recognised as one, and no fixed container name is", () => {
  for (const service of [...SERVICE_NAMES, ...STORE_NAMES]) {
    const fixed = names.container(service, "qual");
    const revision = names.revisionContainer(fixed, digest(service));
    expect({ fixed, revision: names.isRevisionContainer(revision) }).toEqual({ fixed, revision: true });
    expect({ fixed, isRevision: names.isRevisionContainer(fixed) }).toEqual({ fixed, isRevision: false });
    expect(names.containerOf(fixed)(revision)).toBe(true);
  }
});

test("a name ending in a shorter or non-hex suffix is not a revision", () => {
  const fixed = names.container(SERVICE_NAMES[0], "qual");
  const revision = names.revisionContainer(fixed, digest("x"));
  expect(names.isRevisionContainer(revision.slice(0, -1))).toBe(false);
  expect(names.isRevisionContainer(`${revision.slice(0, -1)}g`)).toBe(false);
});
