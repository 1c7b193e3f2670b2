/**
 * The read-back forms of components/swarm/read-back.ts against what the
 * provider's `shortDur` (Go's Duration.String, "m0s"/"h0m" cut) prints.
 */
import { nanoCpus, parseDuration, readBackDuration, shortDuration, tmpfsSizeBytes } from "../../../components/swarm/read-back";

test.each([
  [0, "0s"],
  [500, "500ms"],
  [1000, "1s"],
  [1500, "1.5s"],
  [30_000, "30s"],
  [60_000, "1m"],
  [90_000, "1m30s"],
  [3_600_000, "1h"],
  [3_660_000, "1h1m"],
  [3_661_000, "1h1m1s"],
  [5_400_000, "1h30m"],
])("%d ms reads back as %s", (ms, text) => {
  expect(shortDuration(ms)).toBe(text);
  expect(parseDuration(text)).toBe(ms);
});

test("a duration written another way is sent in the form it reads back", () => {
  expect(readBackDuration("90s")).toBe("1m30s");
  expect(readBackDuration("60s")).toBe("1m");
  expect(readBackDuration("1m0s")).toBe("1m");
  expect(readBackDuration("10s")).toBe("10s");
});

test("a text that is no duration is refused, not read as zero", () => {
  expect(() => parseDuration("ten seconds")).toThrow(/cannot read duration/);
  expect(() => shortDuration(-1)).toThrow();
});

test("CPUs become whole nano-CPUs, two decimals of a core", () => {
  expect(nanoCpus(0.5)).toBe(500_000_000);
  expect(nanoCpus(0.3)).toBe(300_000_000);
  expect(Number.isInteger(nanoCpus(0.1 + 0.2))).toBe(true);
});

test("a tmpfs's size is read from the plan's options, and one without a size is refused", () => {
  expect(tmpfsSizeBytes("rw,noexec,nosuid,size=64m")).toBe(64 * 1024 * 1024);
  expect(() => tmpfsSizeBytes("rw,noexec")).toThrow(/no size/);
});
