import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type Docker from "dockerode";
import { loadStacks, main, parseCliArgs } from "../../../tools/verify/cli";
import type { VerifyReport } from "../../../tools/verify/index";
import { programOutputs } from "./fixtures";
import { fakeSwarm, swarmRun } from "./swarm-fixtures";

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

/**
 * A Docker Engine on a unix socket that answers the reads verify makes of a
 * swarm from a fake client (swarm-fixtures.ts): the CLI dials it as it would
 * a real daemon, DOCKER_HOST and --node included.
 */
async function engineAt(socket: string, docker: Docker): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://engine");
    const path = url.pathname.replace(/^\/v[0-9.]+/, "");
    const filters = JSON.parse(url.searchParams.get("filters") ?? "{}");
    const routes: Record<string, () => Promise<unknown>> = {
      "/version": () => docker.version(),
      "/info": () => docker.info(),
      "/nodes": () => docker.listNodes(),
      "/networks": () => docker.listNetworks(),
      "/services": () => docker.listServices({ filters }),
      "/tasks": () => docker.listTasks({ filters }),
    };
    const inspect = /^\/containers\/([^/]+)\/json$/.exec(path);
    const answer = routes[path] ?? (inspect ? () => docker.getContainer(decodeURIComponent(inspect[1])).inspect() : undefined);
    if (!answer) return void res.writeHead(404).end(JSON.stringify({ message: `no route ${path}` }));
    answer().then(
      (body) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body)),
      (err: { statusCode?: number; message: string }) => res.writeHead(err.statusCode ?? 500).end(JSON.stringify({ message: err.message })),
    );
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return server;
}

describe("verify's command line on a swarm stack", () => {
  const dir = mkdtempSync(join(tmpdir(), "verify-cli-swarm-"));
  const servers: Server[] = [];
  const saved = process.env.DOCKER_HOST;
  let file: string;
  let swarm: ReturnType<typeof fakeSwarm>;
  let routed: number;

  beforeAll(async () => {
    const prod = await swarmRun("prod");
    swarm = fakeSwarm([prod]);
    file = join(dir, "outputs-prod.json");
    writeFileSync(file, JSON.stringify(prod.run.outputs));
    routed = Object.values(prod.outputs.topology).filter((t) => t.router).length;
    for (const [name, docker] of [["manager", swarm.manager.docker], ["n2", swarm.nodes[0].docker], ["n3", swarm.nodes[1].docker]] as const) servers.push(await engineAt(join(dir, `${name}.sock`), docker));
    const lone = { version: async () => ({ Version: "20.10.24" }), info: async () => ({ Swarm: { NodeID: "", ControlAvailable: false } }) } as unknown as Docker;
    servers.push(await engineAt(join(dir, "lone.sock"), lone));
    process.env.DOCKER_HOST = `unix://${join(dir, "manager.sock")}`;
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  test("dials the manager DOCKER_HOST names and each --node, and reports the swarm checks in the usual table and JSON", async () => {
    const out = sink();
    const err = sink();
    const jsonOut = join(dir, "verify-prod.json");
    const code = await main(["--stack", "prod", "--outputs", file, "--node", `unix://${join(dir, "n2.sock")}`, "--node", `unix://${join(dir, "n3.sock")}`, "--no-probe", "--json-out", jsonOut], out.stream, err.stream);
    expect(err.text()).toBe("");
    const report = JSON.parse(readFileSync(jsonOut, "utf8")) as VerifyReport;
    expect(code).toBe(0);
    expect(report.failed).toEqual([]);
    expect(report.daemon.host).toBe(process.env.DOCKER_HOST);
    expect(report.checks.filter((c) => c.id.startsWith("route.prod."))).toHaveLength(routed * 5);
    expect(out.text()).toContain(`verify: prod on ${process.env.DOCKER_HOST}`);
    expect(out.text()).toContain(`${report.checks.length} checks passed`);
  });

  test.each([
    ["a daemon in no swarm", () => `unix://${join(dir, "lone.sock")}`, "that daemon is not in a swarm"],
    ["no daemon at all", () => `unix://${join(dir, "nowhere.sock")}`, "no Docker daemon answers at unix://"],
  ])("a --node naming %s exits 2 with one message", async (_what, node, message) => {
    const err = sink();
    expect(await main(["--stack", "prod", "--outputs", file, "--node", node(), "--no-probe"], sink().stream, err.stream)).toBe(2);
    expect(err.text()).toContain(`verify: `);
    expect(err.text()).toContain(message);
    expect(err.text().trim().split("\n")).toHaveLength(1);
  });
});
