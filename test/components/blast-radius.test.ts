import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { changedContainers, changedResources } from "../../testing/diff";
import { containerFor } from "../harness/inspect";
import { runProgram, type ProgramRun } from "../harness/program";

let baseline: ProgramRun;

beforeAll(async () => {
  baseline = await runProgram({ stack: "prod" });
});

test.each(["prod", "qual"])("a second run of %s with the same config registers byte-identical inputs (nothing churns)", async (stack) => {
  const first = stack === "prod" ? baseline : await runProgram({ stack });
  const again = await runProgram({ stack });
  expect(again.resources.length).toBe(first.resources.length);
  expect(changedResources(first, again)).toEqual([]);
});

test("changing one service's tag changes that service's container and nothing else", async () => {
  const after = await runProgram({ stack: "prod", config: { services: { "booking-service": { tag: "1.4.3" } } } });
  expect(changedResources(baseline, after)).toEqual(["prod-booking-service-container"]);
  expect(containerFor(after, "booking-service").inputs.image).toMatch(/booking-service:1\.4\.3$/);
});

test("changing a routed service's tag gives its container a new revision name, so it can start beside the old one", async () => {
  const after = await runProgram({ stack: "prod", config: { services: { "public-fo": { tag: "2.0.0" } } } });
  expect(changedResources(baseline, after)).toEqual(["prod-public-fo-container"]);
  const [before, now] = [containerFor(baseline, "public-fo"), containerFor(after, "public-fo")];
  expect(now.inputs.name).not.toBe(before.inputs.name);
  expect(now.inputs.name).toMatch(/^po-public-fo-prod-[0-9a-f]{8}$/);
  expect(now.options.deleteBeforeReplace).toBe(false);
});

test("changing one service's memory limit changes that service's container and nothing else", async () => {
  const after = await runProgram({ stack: "prod", config: { services: { "search-service": { memoryMb: 384 } } } });
  expect(changedResources(baseline, after)).toEqual(["prod-search-service-container"]);
  expect(containerFor(after, "search-service").inputs.memory).toBe(384);
});

test("changing the domain changes only the routed services that serve it", async () => {
  const after = await runProgram({ stack: "prod", config: { domain: "portugal-odyssey.pt" } });
  const routed = SERVICE_NAMES.filter((name) => SERVICES[name].route);
  expect(changedContainers(changedResources(baseline, after), "prod").sort()).toEqual([...routed].sort());
  expect(changedResources(baseline, after).every((n) => n.endsWith("-container"))).toBe(true);
});
