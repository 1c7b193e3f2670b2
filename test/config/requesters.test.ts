/** releases/requesters.yaml: which application project asks for releases with which trigger token. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REQUESTERS_FILE, readRequesters } from "../../config/release";
import { REPOSITORY_ROOT } from "../harness/stack-config";

function withFile(text: string | undefined, check: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "po-requesters-"));
  try {
    mkdirSync(join(dir, "releases"));
    if (text !== undefined) writeFileSync(join(dir, REQUESTERS_FILE), text);
    check(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the committed file is valid", () => expect(() => readRequesters(REPOSITORY_ROOT)).not.toThrow());

test("reads each project's short token; a missing file or an empty list lists nobody", () => {
  withFile("requesters:\n  portugal-odyssey/platform: { trigger: ab12 }\n", (dir) => expect(readRequesters(dir)).toEqual({ "portugal-odyssey/platform": { trigger: "ab12" } }));
  withFile(undefined, (dir) => expect(readRequesters(dir)).toEqual({}));
  withFile("requesters:\n", (dir) => expect(readRequesters(dir)).toEqual({}));
});

test("refuses one short token for two projects: they could not be told apart", () => {
  withFile("requesters:\n  a/one: { trigger: ab12 }\n  a/two: { trigger: ab12 }\n", (dir) =>
    expect(() => readRequesters(dir)).toThrow("releases/requesters.yaml: requesters.a/two.trigger: ab12 is also a/one's; rotate one of the two trigger tokens"),
  );
});

test.each([
  ["a path that is no GitLab project path", "requesters:\n  platform: { trigger: ab12 }\n", /expected a GitLab project path/],
  ["a whole token instead of its short token", "requesters:\n  a/one: { trigger: glptt-0123456789abcdef }\n", /expected the trigger token's short token/],
  ["an unknown key", "requesters:\n  a/one: { trigger: ab12, token: x }\n", /requesters\.a\/one/],
])("names the key and what is expected for %s", (_what, text, message) => {
  withFile(text, (dir) => expect(() => readRequesters(dir)).toThrow(message));
});
