import { OutputsError, parseOutputs } from "../../../tools/verify/outputs";
import { programOutputs } from "./fixtures";

describe("stack outputs schema", () => {
  test("accepts what the program exports for both stacks and both edge modes", async () => {
    for (const stack of ["qual", "prod"]) {
      for (const edge of ["isolated", "shared"]) {
        const o = await programOutputs(stack, { edge });
        expect(o.environment).toBe(stack);
        expect(o.edge.mode).toBe(edge);
        expect(Object.keys(o.topology).sort()).toEqual(Object.keys(o.containers).sort());
      }
    }
  });

  test("names each bad key with its path", async () => {
    const o = structuredClone(await programOutputs("qual")) as unknown as Record<string, any>;
    o.edge.mode = "open";
    o.topology.postgres.dependencies = ["postgres-qual"];
    delete o.volumes;
    const error = (() => {
      try {
        parseOutputs(o, "outputs.json");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(OutputsError);
    expect(error!.message).toMatch(/^outputs\.json: the stack outputs do not match/);
    expect(error!.message).toContain("edge.mode");
    expect(error!.message).toContain("topology.postgres.dependencies.0: expected alias:port");
    expect(error!.message).toContain("volumes");
  });

  test("rejects a container that has no topology entry", async () => {
    const o = structuredClone(await programOutputs("qual"));
    delete o.topology.redis;
    expect(() => parseOutputs(o, "stack qual")).toThrow("stack qual: topology has no entry for container(s) redis");
  });
});
