import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { loadStacks, main, parseCliArgs } from "../../../tools/verify/cli";
import { programOutputs } from "./fixtures";

const sink = () => {
  let text = "";
  const stream = new Writable({ write: (chunk, _enc, done) => ((text += chunk), done()) });
  return { stream, text: () => text };
};

describe("verify's command line", () => {
  test("pairs --outputs files with --stack in order and reads the probe options", () => {
    expect(parseCliArgs(["--stack", "qual", "--outputs", "q.json", "--stack", "prod", "--json", "--timeout", "1", "--default-ports", "80, 8080", "--probe-mode", "sidecar", "--probe-image", "busybox:1.36"])).toEqual({
      stacks: ["qual", "prod"],
      outputFiles: ["q.json"],
      json: true,
      probe: { mode: "sidecar", image: "busybox:1.36", timeoutSeconds: 1, defaultPorts: [80, 8080] },
      checkRedirects: false,
      drillResults: {},
    });
    expect(parseCliArgs(["--stack", "qual", "--no-probe"]).probe).toBe(false);
    expect(parseCliArgs(["--stack", "qual", "--check-redirects"]).checkRedirects).toBe(true);
    expect(parseCliArgs(["--stack", "qual", "--json-out", "verify-qual.json"]).jsonOut).toBe("verify-qual.json");
  });

  test.each([
    [[], "name at least one --stack"],
    [["--stack", "qual", "--outputs", "a", "--outputs", "b"], "2 --outputs files for 1 --stack"],
    [["--stack", "qual", "--probe-mode", "ssh"], "--probe-mode expects sidecar or exec, got ssh"],
    [["--stack", "qual", "--timeout", "0.5"], "--timeout expects a whole number of at least 1, got 0.5"],
    [["--stack", "qual", "--show-secrets"], "Unknown option '--show-secrets'"],
    [["--stack", "qual", "--drill-result", "a.json", "--drill-result", "b.json"], "2 drill result files (--drill-result or PO_DRILL_RESULT) for 1 --stack"],
  ])("rejects %j with exit 2 and a message", async (argv, message) => {
    const err = sink();
    expect(await main(argv, sink().stream, err.stream)).toBe(2);
    expect(err.text()).toContain(message);
    expect(err.text()).toContain("usage: npm run verify");
  });

  test("names the stack after the outputs file's environment when no --stack is given", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verify-cli-"));
    const file = join(dir, "p.json");
    writeFileSync(file, JSON.stringify(await programOutputs("prod")));
    const [loaded] = await loadStacks(parseCliArgs(["--outputs", file]));
    expect(loaded.stack).toBe("prod");
  });

  test("an outputs file that does not match the contract exits 2 naming the file and key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verify-cli-"));
    const file = join(dir, "bad.json");
    writeFileSync(file, JSON.stringify({ environment: "qual" }));
    const err = sink();
    expect(await main(["--stack", "qual", "--outputs", file], sink().stream, err.stream)).toBe(2);
    expect(err.text()).toContain(`verify: ${file}: the stack outputs do not match their contract`);
    expect(err.text()).toContain("  - topology:");
  });
});
