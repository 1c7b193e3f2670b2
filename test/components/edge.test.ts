import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { CONNECT_SCRIPT, DISCONNECT_SCRIPT } from "../../components/edge";
import { attachmentsOf, containerFor, containers, envOf, labelsOf, networks, serviceOf } from "../harness/inspect";
import { SHARED_NETWORK_SUBNET, TYPES, ofType, runProgram, type ProgramRun } from "../harness/program";
import { readStackConfig } from "../harness/stack-config";
import { firstAddress } from "../../model/read-back";

const ROUTED = SERVICE_NAMES.filter((name) => SERVICES[name].route).sort();
/** The edge's commands; the database provisioning is a command too, and not the edge's. */
const edgeCommands = (run: ProgramRun) => ofType(run, TYPES.command).filter((c) => c.name.endsWith("-traefik-attachment"));

describe("isolated edge (the default)", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ stack: "qual" });
  });

  test("attaches the configured Traefik container to po-edge-E with a command, and detaches it on destroy", () => {
    const [attachment] = edgeCommands(run);
    expect(attachment.inputs).toMatchObject({
      create: CONNECT_SCRIPT,
      delete: DISCONNECT_SCRIPT,
      environment: { EDGE_NETWORK: "po-edge-qual", TRAEFIK_CONTAINER: "traefik" },
    });
    const edge = networks(run).find((n) => n.inputs.name === "po-edge-qual")!;
    expect(attachment.options.dependsOn).toContain(edge.urn);
    // Replaced delete-first: disconnect from the old network, then connect, never the other way round.
    expect(attachment.options.deleteBeforeReplace).toBe(true);
  });

  test("pins the stack's configured subnet on po-edge-E, and Keycloak trusts proxy headers from that subnet alone", () => {
    const subnet = readStackConfig("qual")["portugal-odyssey:edgeSubnet"];
    const edge = networks(run).find((n) => n.inputs.name === "po-edge-qual")!;
    // The gateway pinned too, as Docker would pick it: left out, it is read back after a daemon restart and replaces the network.
    expect(edge.inputs.ipamConfigs).toEqual([{ subnet, gateway: firstAddress(subnet as string) }]);
    expect(envOf(containerFor(run, "keycloak")).KC_PROXY_TRUSTED_ADDRESSES).toBe(subnet);
  });

  test("starts routed services only once Traefik is attached", () => {
    const [attachment] = edgeCommands(run);
    for (const service of ROUTED) expect(containerFor(run, service).options.dependsOn).toContain(attachment.urn);
  });

  test("never looks up or joins the shared traefik network", () => {
    expect(run.invokes).toEqual([]);
    for (const c of containers(run)) expect(Object.keys(attachmentsOf(c))).not.toContain("traefik");
  });

  test("takes the Traefik container's name from config", async () => {
    const traefik = { container: "edge-proxy", entrypoint: "websecure", certResolver: "letsencrypt" };
    const custom = await runProgram({ stack: "qual", config: { traefik } });
    expect(edgeCommands(custom)[0].inputs.environment.TRAEFIK_CONTAINER).toBe("edge-proxy");
  });
});

describe("shared edge (edge: shared, the Compose deployment's layout)", () => {
  const runs: Record<string, ProgramRun> = {};
  beforeAll(async () => {
    runs.qual = await runProgram({ stack: "qual", config: { edge: "shared" } });
    runs.prod = await runProgram({ stack: "prod", config: { edge: "shared" } });
  });

  test("looks up the traefik network instead of creating an edge network or running a command", () => {
    expect(runs.qual.invokes).toEqual([{ token: "docker:index/getNetwork:getNetwork", args: { name: "traefik" } }]);
    expect(networks(runs.qual).map((n) => n.inputs.name)).not.toContain("traefik");
    expect(networks(runs.qual).map((n) => n.inputs.name)).not.toContain("po-edge-qual");
    expect(edgeCommands(runs.qual)).toEqual([]);
  });

  test("Keycloak trusts proxy headers from the traefik network's subnet, as looked up", () => {
    expect(envOf(containerFor(runs.qual, "keycloak")).KC_PROXY_TRUSTED_ADDRESSES).toBe(SHARED_NETWORK_SUBNET);
  });

  test("puts only routed services on traefik, and tells Traefik to use it", () => {
    const onTraefik = containers(runs.qual).filter((c) => "traefik" in attachmentsOf(c));
    expect(onTraefik.map(serviceOf).sort()).toEqual(ROUTED);
    for (const c of onTraefik) expect(labelsOf(c)["traefik.docker.network"]).toBe("traefik");
  });

  test("lets qual and prod share no network but traefik", () => {
    const nets = (run: ProgramRun) => new Set(containers(run).flatMap((c) => Object.keys(attachmentsOf(c))));
    const prod = nets(runs.prod);
    expect([...nets(runs.qual)].filter((n) => prod.has(n))).toEqual(["traefik"]);
  });
});

describe("the Traefik attachment scripts, against a stand-in docker CLI", () => {
  /** Runs a script with a fake `docker` that reports `members` on the network and logs every call. */
  function runScript(script: string, members: string | null) {
    const dir = mkdtempSync(join(tmpdir(), "po-edge-"));
    const log = join(dir, "calls");
    writeFileSync(log, "");
    const inspect = members === null ? 'echo "Error: No such network" >&2; exit 1' : `echo "${members}"`;
    writeFileSync(
      join(dir, "docker"),
      `#!/bin/bash\necho "$*" >> "${log}"\nif [ "$1 $2" = "network inspect" ]; then ${inspect}; fi\n`,
    );
    chmodSync(join(dir, "docker"), 0o755);
    const result = spawnSync("bash", ["-c", script], {
      env: { PATH: `${dir}:/usr/bin:/bin`, EDGE_NETWORK: "po-edge-qual", TRAEFIK_CONTAINER: "traefik" },
      encoding: "utf8",
    });
    const calls = readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
    return { status: result.status, calls: calls.filter((c) => !c.startsWith("network inspect")) };
  }

  test("connect attaches Traefik when it is not on the network yet", () => {
    expect(runScript(CONNECT_SCRIPT, "po-public-fo-qual-1a2b3c4d ")).toEqual({ status: 0, calls: ["network connect po-edge-qual traefik"] });
  });

  test("connect is a no-op when Traefik is already attached, so re-running up is fine", () => {
    expect(runScript(CONNECT_SCRIPT, "po-public-fo-qual-1a2b3c4d traefik ")).toEqual({ status: 0, calls: [] });
  });

  test("connect does not mistake a container whose name merely contains traefik", () => {
    expect(runScript(CONNECT_SCRIPT, "traefik-old my-traefik ").calls).toEqual(["network connect po-edge-qual traefik"]);
  });

  test("disconnect detaches Traefik, and tolerates a network or attachment that is already gone", () => {
    expect(runScript(DISCONNECT_SCRIPT, "traefik ")).toEqual({ status: 0, calls: ["network disconnect po-edge-qual traefik"] });
    expect(runScript(DISCONNECT_SCRIPT, "")).toEqual({ status: 0, calls: [] });
    expect(runScript(DISCONNECT_SCRIPT, null)).toEqual({ status: 0, calls: [] });
  });

  test("both scripts are valid bash", () => {
    for (const script of [CONNECT_SCRIPT, DISCONNECT_SCRIPT]) expect(() => execFileSync("bash", ["-n", "-c", script])).not.toThrow();
  });
});
