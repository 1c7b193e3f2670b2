/**
 * Shared by the test suite and `npm run bench`, so it is not under test/.
 *
 * Runs the real program (program.ts, as index.ts does, with the host inventory
 * and project folder passed in) on Pulumi's mock runtime and records every
 * resource registration as the engine would receive it: type, name, inputs,
 * and the resource options (protect, dependsOn, ...) that MockResourceArgs
 * leaves out.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

// Exported by the SDK at run time, though not in its typings.
const { waitForRPCs } = settings as unknown as { waitForRPCs: () => Promise<void> };
import type { HostInventory } from "../host/inventory";
import { runEnvironmentStack } from "../program";
import { PROJECT } from "../model/naming";
import { MODERN_ENGINE } from "../model/read-back";
import { testRelease } from "./release";
import { engineConfig } from "./stack-config";

export interface RegisteredResource {
  type: string;
  name: string;
  urn: string;
  /** Inputs as sent to the engine; secrets are unwrapped to their plain values. */
  inputs: Record<string, any>;
  /** Input property names the SDK sent as secrets. */
  secretInputs: string[];
  options: {
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    replaceOnChanges: string[];
    ignoreChanges: string[];
    /** URNs of explicit and implicit dependencies. */
    dependsOn: string[];
    parent?: string;
    /** `urn::id` of an explicit provider; undefined for the default provider. */
    provider?: string;
  };
}

export interface Invocation {
  token: string;
  args: Record<string, any>;
}

export interface ProgramRun {
  resources: RegisteredResource[];
  invokes: Invocation[];
  outputs: Record<string, any>;
  /** Output property names the stack exported as secrets. */
  secretOutputs: string[];
}

export interface RunOptions {
  stack: string;
  /** Per-key config overrides (`undefined` removes the key). */
  config?: Record<string, unknown>;
  /** Secret config values; defaults to stand-ins for the external secrets. */
  secrets?: Record<string, string>;
  preview?: boolean;
  /** What the Docker host already holds; an empty host by default. */
  inventory?: HostInventory;
  /** What each existing volume holds (volume name → paths from its root); empty by default. Or a real lister. */
  volumeListings?: Record<string, string[]> | ((volumeName: string, image: string) => Promise<string[]>);
  /** Called for each registration as it happens, even if the program later throws. */
  onRegister?: (resource: RegisteredResource) => void;
  /** The project folder (Pulumi.yaml and stack files): every stack file in it is a stack on the same host. */
  projectDir: string;
  /** The release manifest as parsed YAML; every service pinned by testRelease() by default, `null` reads the project's releases/<stack>.yaml. */
  release?: unknown;
}

/** What the mock `getNetwork` reports as the shared traefik network's subnet. */
export const SHARED_NETWORK_SUBNET = "172.18.0.0/16";

export const EMPTY_HOST: HostInventory = { containers: [], networks: [], volumes: [], engine: MODERN_ENGINE };

function unwrapSecrets(value: any, path: string, found: Set<string>): any {
  if (Array.isArray(value)) return value.map((v) => unwrapSecrets(v, path, found));
  if (value && typeof value === "object") {
    if (value[rpc.specialSigKey] === rpc.specialSecretSig) {
      found.add(path);
      return unwrapSecrets(value.value, path, found);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v, path || k, found)]));
  }
  return value;
}

let recorder: ((r: RegisteredResource) => void) | undefined;
const originalRegister = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (this: MockMonitor, req: any, callback: any) {
  const secrets = new Set<string>();
  const raw = rpc.deserializeProperties(req.getObject(), true);
  const inputs = unwrapSecrets(raw, "", secrets);
  const parent: string = req.getParent();
  const dependencies = new Set<string>(req.getDependenciesList());
  for (const deps of req.getPropertydependenciesMap().values()) for (const d of deps.getUrnsList()) dependencies.add(d);
  const record = {
    type: req.getType() as string,
    name: req.getName() as string,
    inputs,
    secretInputs: [...secrets],
    options: {
      protect: req.getProtect?.() ?? false,
      retainOnDelete: req.getRetainondelete?.() ?? false,
      deleteBeforeReplace: req.getDeletebeforereplace() as boolean,
      replaceOnChanges: req.getReplaceonchangesList() as string[],
      ignoreChanges: req.getIgnorechangesList() as string[],
      dependsOn: [...dependencies],
      parent: parent || undefined,
      provider: (req.getProvider() as string) || undefined,
    },
  };
  const sink = recorder;
  // The URN is the monitor's to assign; record the one it answers with, which dependsOn lists refer to.
  return originalRegister.call(this, req, (err: unknown, response: any) => {
    if (!err) sink?.({ ...record, urn: response.getUrn() });
    callback(err, response);
  });
};

/**
 * The image ID the mock engine answers for a pulled image: the real provider
 * reports the local image's config digest, which only a daemon knows; this one
 * is derived from the reference, so the same pin always gives the same ID.
 */
export const mockImageId = (reference: string) => `sha256:${createHash("sha256").update(`image-id:${reference}`).digest("hex")}`;

/**
 * The repo digest the provider reports for a pulled image (`repository@sha256:…`,
 * kreuzwerker resource_docker_image_funcs.go, determineRepoDigest): a digest
 * reference is its own, a tag gets one derived from the reference.
 */
export const mockRepoDigest = (reference: string) => {
  if (reference.includes("@sha256:")) return reference;
  const repository = reference.replace(/:[^/:]+$/, "");
  return `${repository}@sha256:${createHash("sha256").update(`manifest:${reference}`).digest("hex")}`;
};

/** What a provider computes: a generated password's value, a pulled image's ID and digest (deterministic, so runs can be diffed). */
function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  if (type === TYPES.password) return { ...inputs, result: `generated-${name}` };
  if (type === TYPES.bytes) return { ...inputs, base64: Buffer.from(`bytes-of-${name}`).toString("base64") };
  if (type === TYPES.remoteImage) return { ...inputs, imageId: mockImageId(inputs.name), repoDigest: mockRepoDigest(inputs.name) };
  // A command's output is what its script prints on a real run; the mock runs nothing.
  if (type === TYPES.command) return { ...inputs, stdout: "", stderr: "" };
  return { ...inputs };
}

/** Runs the program for one stack on the mock engine. Throws what the program throws. */
export async function runProgram(options: RunOptions): Promise<ProgramRun> {
  const resources: RegisteredResource[] = [];
  const invokes: Invocation[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: args.type === "pulumi:pulumi:Stack" ? undefined : `${args.name}-id`,
        // What a provider computes: a generated password's value, random bytes, a pulled image's ID (deterministic, so runs can be diffed).
        state: mockState(args.type, args.name, args.inputs),
      }),
      call: (args) => {
        invokes.push({ token: args.token, args: args.inputs });
        if (args.token === "docker:index/getNetwork:getNetwork") {
          return {
            id: `${args.inputs.name}-id`,
            name: args.inputs.name,
            driver: "bridge",
            internal: false,
            options: {},
            scope: "local",
            ipamConfigs: [{ subnet: SHARED_NETWORK_SUBNET, gateway: "172.18.0.1" }],
          };
        }
        throw new Error(`unexpected invoke ${args.token}`);
      },
    },
    PROJECT,
    options.stack,
    options.preview ?? false,
  );
  const config = engineConfig(options.projectDir, options.stack, options.config, options.secrets);
  pulumi.runtime.setAllConfig(config.values, config.secretKeys);

  recorder = (r) => {
    resources.push(r);
    options.onRegister?.(r);
  };
  // A program that throws is caught inside the stack's init and rethrown once the stack settled:
  // letting it reject init would also reject SDK-internal promises nobody awaits.
  let thrown: { error: unknown } | undefined;
  try {
    const secretOutputs: string[] = [];
    const outputs = (await pulumi.runtime.runInPulumiStack(async () => {
      let result: Record<string, unknown>;
      try {
        const inventory = options.inventory ?? EMPTY_HOST;
        const listings = options.volumeListings ?? {};
        const listVolume = typeof listings === "function" ? listings : async (volume: string) => listings[volume] ?? [];
        const release = options.release === null ? undefined : (options.release ?? testRelease(options.projectDir, options.stack));
        result = { ...(await runEnvironmentStack({ readInventory: async () => inventory, listVolume, projectDir: options.projectDir, release })) };
      } catch (error) {
        thrown = { error };
        return {};
      }
      for (const [key, value] of Object.entries(result)) {
        if (pulumi.Output.isInstance(value) && (await pulumi.isSecret(value))) secretOutputs.push(key);
      }
      return result;
    })) as Record<string, any>;
    // Let the stack's own output registration land before the next run swaps the mock monitor.
    await waitForRPCs();
    if (thrown) throw thrown.error;
    return { resources, invokes, outputs, secretOutputs };
  } finally {
    recorder = undefined;
  }
}

/** Resources of one type, by logical name. */
export const ofType = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type);

export const TYPES = {
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  command: "command:local:Command",
  password: "random:index/randomPassword:RandomPassword",
  bytes: "random:index/randomBytes:RandomBytes",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  dockerProvider: "pulumi:providers:docker",
} as const;
