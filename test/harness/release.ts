/** Release manifests for tests (testing/release.ts), in the fixture project unless a test names another. */
import type { ServiceName } from "../../catalog/services";
import * as release from "../../testing/release";
import { FIXTURE_PROJECT } from "./stack-config";

export const testEntry = (stack: string, service: ServiceName, build = "1", projectDir = FIXTURE_PROJECT) => release.testEntry(projectDir, stack, service, build);

export const testRelease = (stack: string, builds: Partial<Record<ServiceName, string>> = {}, projectDir = FIXTURE_PROJECT) => release.testRelease(projectDir, stack, builds);
