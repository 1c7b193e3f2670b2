/** The applier itself, without a daemon: what it sends for a registered container. */
import { runProgram, TYPES, type ProgramRun } from "../harness/program";
import { RUN_LABEL, containerSpec, durationNs } from "./applier";

let run: ProgramRun;
beforeAll(async () => {
  run = await runProgram({ stack: "qual" });
});
const registered = (name: string) => run.resources.find((r) => r.type === TYPES.container && r.inputs.name.startsWith(name))!;

describe("the e2e applier", () => {
  test("reads Docker durations", () => {
    expect(durationNs("10s")).toBe(10e9);
    expect(durationNs("1m30s")).toBe(90e9);
    expect(durationNs("500ms")).toBe(5e8);
    expect(durationNs("1m0s")).toBe(60e9);
    expect(() => durationNs("10 s")).toThrow('"10 s" is not a Go duration');
  });

  test("carries every registered setting over as the provider sends it, with the stand-in image and the run label", () => {
    const redis = registered("po-redis-qual");
    const { body, networks } = containerSpec(redis, "po-standin:x", "run-1");
    expect(body).toMatchObject({
      name: "po-redis-qual",
      Image: "po-standin:x",
      Cmd: redis.inputs.command,
      User: "999:1000",
      Env: redis.inputs.envs,
      Labels: { "pt.portugalodyssey.service": "redis", [RUN_LABEL]: "run-1" },
      Healthcheck: { Test: redis.inputs.healthcheck.tests, Interval: 10e9, Timeout: 5e9, StartPeriod: 15e9, Retries: 5 },
      HostConfig: {
        // Created on the default bridge, as the provider's network_mode default has it; moved to its networks after.
        NetworkMode: "bridge",
        Init: false,
        RestartPolicy: { Name: "unless-stopped" },
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges:true"],
        Memory: redis.inputs.memory * 1024 * 1024,
        MemorySwap: redis.inputs.memory * 1024 * 1024,
        NanoCpus: Number(redis.inputs.cpus) * 1e9,
        LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
        // volumeSetToDockerVolumes: every volume as a bind, never a mount.
        Binds: ["redis-data-qual:/data:rw"],
      },
    });
    expect(body.NetworkingConfig).toBeUndefined();
    expect(networks).toEqual([{ network: "po-redis-network-qual", endpoint: { Aliases: ["redis-qual"] } }]);
  });

  test("connects every network after create, each with its aliases", () => {
    const { networks } = containerSpec(registered("po-strapi-cms-qual"), "img", "r");
    expect(networks.map((e) => e.network)).toEqual(["po-internal-qual", "po-postgres-network-qual", "po-edge-qual"]);
    expect(networks[0].endpoint.Aliases).toEqual(["strapi-cms-qual"]);
  });

  test("refuses a container input it does not know, rather than silently dropping it", () => {
    const fo = registered("po-public-fo-qual");
    const withPorts = { ...fo, inputs: { ...fo.inputs, ports: [{ internal: 3000, external: 80 }] } };
    expect(() => containerSpec(withPorts, "img", "r")).toThrow("does not know how to apply input(s) ports");
  });
});
