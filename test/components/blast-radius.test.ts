import { SERVICE_NAMES, SERVICES } from "../../catalog/services";
import { changedContainers, changedResources } from "../../testing/diff";
import { containerFor } from "../harness/inspect";
import { TYPES, mockImageId, ofType, runProgram, type ProgramRun } from "../harness/program";
import { testEntry, testRelease } from "../harness/release";

let baseline: ProgramRun;

beforeAll(async () => {
  baseline = await runProgram({ stack: "prod" });
});

test.each(["prod", "qual"])("a second run of %s with the same config and manifest registers byte-identical inputs (nothing churns)", async (stack) => {
  const first = stack === "prod" ? baseline : await runProgram({ stack });
  const again = await runProgram({ stack });
  expect(again.resources.length).toBe(first.resources.length);
  expect(changedResources(first, again)).toEqual([]);
});

test("a new digest for one service replaces only that service's image pull and container", async () => {
  const after = await runProgram({ stack: "prod", release: testRelease("prod", { "booking-service": "2" }) });
  expect(changedResources(baseline, after)).toEqual(["prod-booking-service-container", "prod-booking-service-image"]);
  const image = ofType(after, TYPES.remoteImage).find((i) => i.name === "prod-booking-service-image")!;
  expect(image.inputs.name).toBe(testEntry("prod", "booking-service", "2").image);
  expect(containerFor(after, "booking-service").inputs.image).toBe(mockImageId(image.inputs.name));
  // Fixed-name: the container's image (the ID) is replace-only in the provider, and it goes delete-first.
  expect(containerFor(after, "booking-service").options.deleteBeforeReplace).toBe(true);
});

test("a new digest for a routed service gives its container a new revision name, so it can start beside the old one", async () => {
  const after = await runProgram({ stack: "prod", release: testRelease("prod", { "public-fo": "2" }) });
  expect(changedResources(baseline, after)).toEqual(["prod-public-fo-container", "prod-public-fo-image"]);
  const [before, now] = [containerFor(baseline, "public-fo"), containerFor(after, "public-fo")];
  expect(now.inputs.name).not.toBe(before.inputs.name);
  expect(now.inputs.name).toMatch(/^po-public-fo-prod-[0-9a-f]{8}$/);
  expect(now.options.deleteBeforeReplace).toBe(false);
});

test("a rollback (the previous manifest again) registers exactly what the previous release did", async () => {
  const next = await runProgram({ stack: "prod", release: testRelease("prod", { "booking-service": "2", "public-fo": "2" }) });
  const back = await runProgram({ stack: "prod", release: testRelease("prod") });
  expect(changedResources(baseline, next)).toEqual(["prod-booking-service-container", "prod-booking-service-image", "prod-public-fo-container", "prod-public-fo-image"]);
  expect(changedResources(baseline, back)).toEqual([]);
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
