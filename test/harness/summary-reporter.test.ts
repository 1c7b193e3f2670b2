/**
 * The closing `N passed, N failed, N skipped` line, read off a real jest run
 * of throwaway suites, so that jest's own result shape is what is tested.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

function runJest(files: Record<string, string>): { status: number | null; lastLine: string } {
  const dir = mkdtempSync(join(tmpdir(), "po-reporter-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const config = { rootDir: dir, testEnvironment: "node", testMatch: ["**/*.test.js"], reporters: [join(ROOT, "test", "harness", "summary-reporter.js")] };
    const res = spawnSync(process.execPath, [join(ROOT, "node_modules", "jest", "bin", "jest.js"), "--config", JSON.stringify(config), "--ci"], {
      cwd: dir,
      encoding: "utf8",
    });
    const lines = res.stderr.trim().split("\n");
    return { status: res.status, lastLine: lines[lines.length - 1] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

jest.setTimeout(60_000);

test("passing, failing and skipped tests are counted as jest counts them", () => {
  const { status, lastLine } = runJest({
    "a.test.js": `test("p1", () => {}); test("p2", () => {}); test("f", () => { throw new Error("x"); }); test.skip("s", () => {}); test.todo("t");`,
  });
  expect(lastLine).toBe("2 passed, 1 failed, 2 skipped");
  expect(status).toBe(1);
});

test("a suite whose afterAll throws counts as a failure even though all its tests passed", () => {
  const { status, lastLine } = runJest({
    "teardown.test.js": `afterAll(() => { throw new Error("cleanup left objects behind"); }); test("p", () => {});`,
    "fine.test.js": `test("p", () => {});`,
  });
  expect(lastLine).toBe("2 passed, 1 failed, 0 skipped");
  expect(status).toBe(1);
});

test("a suite that cannot even load counts as a failure", () => {
  const { lastLine } = runJest({ "broken.test.js": `require("./does-not-exist"); test("p", () => {});` });
  expect(lastLine).toBe("0 passed, 1 failed, 0 skipped");
});
