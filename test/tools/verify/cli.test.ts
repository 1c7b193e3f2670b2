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
      nodes: [],
    });
    expect(parseCliArgs(["--stack", "qual", "--no-probe"]).probe).toBe(false);
    expect(parseCliArgs(["--stack", "qual", "--check-redirects"]).checkRedirects).toBe(true);
    expect(parseCliArgs(["--stack", "qual", "--json-out", "verify-qual.json"]).jsonOut).toBe("verify-qual.json");
  });

  test("swarm nodes come from each --node, else from PO_SWARM_NODE_HOSTS, comma separated", () => {
    const env = { PO_SWARM_NODE_HOSTS: " ssh://deploy@n2.internal, ssh://deploy@n3.internal:2222 ,," };
    expect(parseCliArgs(["--stack", "prod"], env).nodes).toEqual(["ssh://deploy@n2.internal", "ssh://deploy@n3.internal:2222"]);
    expect(parseCliArgs(["--stack", "prod", "--node", "unix:///run/po-swarm/n2.sock", "--node", "tcp://10.0.0.3:2376"], env).nodes).toEqual([
      "unix:///run/po-swarm/n2.sock",
      "tcp://10.0.0.3:2376",
    ]);
    expect(parseCliArgs(["--stack", "prod"], {}).nodes).toEqual([]);
  });

  test.each([
    [["--stack", "prod", "--node", "n2.internal"], {}, "--node expects a swarm node's DOCKER_HOST: n2.internal is not a URL"],
    [["--stack", "prod", "--node", "http://n2.internal:2375"], {}, "--node expects a swarm node's DOCKER_HOST: http://n2.internal:2375 has scheme http"],
    [["--stack", "prod", "--node", "tcp://n2.internal"], {}, "tcp://n2.internal needs a host and a port"],
    [["--stack", "prod", "--node", "unix://"], {}, "unix:// has no socket path"],
    [["--stack", "prod"], { PO_SWARM_NODE_HOSTS: "ssh://deploy@n2.internal,ssh:///n3" }, "PO_SWARM_NODE_HOSTS expects a swarm node's DOCKER_HOST: ssh:///n3 needs a host and no path"],
  ])("refuses the swarm node %j (env %j) with exit 2, one message and the usage", async (argv, env, message) => {
    const err = sink();
    const saved = process.env.PO_SWARM_NODE_HOSTS;
    if ("PO_SWARM_NODE_HOSTS" in env) process.env.PO_SWARM_NODE_HOSTS = (env as Record<string, string>).PO_SWARM_NODE_HOSTS;
    try {
      expect(await main(argv, sink().stream, err.stream)).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.PO_SWARM_NODE_HOSTS;
      else process.env.PO_SWARM_NODE_HOSTS = saved;
    }
    expect(err.text()).toContain(`verify: `);
    expect(err.text()).toContain(message);
    expect(err.text()).toContain("expected unix:///path/to/docker.sock, tcp://host:port or ssh://[user@]host[:port]");
    expect(err.text()).toContain("usage: npm run verify");
    expect(err.text()).not.toMatch(/\n\s+at /);
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
