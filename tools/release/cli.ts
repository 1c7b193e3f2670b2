/**
 * npm run release -- --stack qual (--service NAME ... | --all) --tag TAG --commit SHA --pipeline URL
 *
 * Resolves TAG of each named service's repository (config `registry` + the
 * catalog's repository) to its digest through the registry's HTTP API, all in
 * parallel, and pins the digests in releases/<stack>.yaml. Prints what changes.
 * Any failure (unknown tag, refused login, unreachable registry) is reported
 * and the manifest is left exactly as it was.
 *
 * The registry login comes from PO_REGISTRY_USERNAME and PO_REGISTRY_PASSWORD:
 * the same deploy token the stack pulls with (config registryUsername and
 * registryPassword). Release requests from application projects resolve their
 * tags with resolvePins too (request.ts), with this project's own login.
 *
 * Exit 0 when written (or nothing changed), 1 when the registry failed, 2 on bad arguments.
 */
import { parseArgs } from "node:util";
import { SERVICE_NAMES } from "../../catalog/services";
import { BACKUP_IMAGE, releaseEntrySchema } from "../../config/release";
import { TAG_PATTERN, pinnedReference } from "../../model/image-ref";
import { ManifestError, imageRepository, readManifest, stackRegistry, writeChanges, type ReleaseServices } from "./manifest";
import { Registry, RegistryError, type RegistryLogin } from "./registry";
import { PROJECT_DIR, runCli } from "../run-cli";

const USAGE = `usage: npm run release -- --stack NAME (--service NAME ... | --all) --tag TAG --commit SHA --pipeline URL

  --stack NAME      the stack whose manifest (releases/NAME.yaml) is written
  --service NAME    a catalog service to pin (repeatable)
  --all             every catalog service, from the same tag
  --tag TAG         the tag to resolve in each service's repository
  --commit SHA      the source commit the images were built from
  --pipeline URL    the pipeline that built them (URL or numeric id)
  --platform P      the host's platform a multi-platform index must offer (default linux/amd64)

The registry login is read from PO_REGISTRY_USERNAME and PO_REGISTRY_PASSWORD.`;

/** Throws what is wrong with the arguments (an empty message for --help); main prints it with the usage. */
export function parseReleaseArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      stack: { type: "string" },
      service: { type: "string", multiple: true },
      all: { type: "boolean" },
      tag: { type: "string" },
      commit: { type: "string" },
      pipeline: { type: "string" },
      platform: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new Error("");
  for (const flag of ["stack", "tag", "commit", "pipeline"] as const) if (!values[flag]) throw new Error(`--${flag} is required`);
  if (!TAG_PATTERN.test(values.tag!)) throw new Error(`--tag ${values.tag} is not a Docker tag`);
  const entry = releaseEntrySchema.pick({ commit: true, pipeline: true }).safeParse({ commit: values.commit, pipeline: values.pipeline });
  if (!entry.success) throw new Error(entry.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join("; "));
  // --all: every catalog service; the backup image (`--service backup`) has its own build, this repository's.
  const services = values.all ? [...SERVICE_NAMES] : [...new Set(values.service ?? [])];
  if (values.all && values.service) throw new Error("give --service or --all, not both");
  if (services.length === 0) throw new Error("name at least one --service, or --all");
  const known: readonly string[] = [...SERVICE_NAMES, BACKUP_IMAGE];
  const unknown = services.filter((s) => !known.includes(s));
  if (unknown.length > 0) throw new Error(`unknown service(s) ${unknown.join(", ")}; expected some of: ${known.join(", ")}`);
  return { stack: values.stack!, services, tag: values.tag!, commit: values.commit!, pipeline: values.pipeline!, platform: values.platform };
}

type ReleaseArgs = ReturnType<typeof parseReleaseArgs>;

/**
 * Resolves `tag` in each service's repository (the stack's `registry` + the catalog repository), all
 * in parallel, to the entries that pin them; any failure throws one RegistryError listing every one.
 */
export async function resolvePins(
  req: { stack: string; services: string[]; tag: string; commit: string; pipeline: string; platform?: string },
  projectDir: string,
  login: RegistryLogin | undefined,
  registryFetch?: typeof fetch,
): Promise<ReleaseServices> {
  const registry = new Registry({ login, platform: req.platform, fetch: registryFetch });
  const registryPath = stackRegistry(projectDir, req.stack);
  const results = await Promise.allSettled(
    req.services.map(async (service) => {
      const repository = imageRepository(registryPath, service);
      const { digest } = await registry.resolve(repository, req.tag);
      return [service, { image: pinnedReference(repository, digest), commit: req.commit, pipeline: req.pipeline }] as const;
    }),
  );
  const failures = [...new Set(results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : [])))];
  if (failures.length > 0) {
    const list = failures.length === 1 ? failures[0] : `\n${failures.map((m) => `  - ${m}`).join("\n")}`;
    throw new RegistryError(`${list}\nreleases/${req.stack}.yaml is unchanged.`);
  }
  return Object.fromEntries(results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])));
}

/** Resolves every service in parallel, then writes once; nothing is written when any resolution fails. Returns what changed. */
export async function release(args: ReleaseArgs, projectDir: string, login: RegistryLogin | undefined): Promise<string> {
  const before = readManifest(projectDir, args.stack);
  const pins = await resolvePins(args, projectDir, login);
  return writeChanges(projectDir, args.stack, before, { ...before, ...pins }, args.services.length);
}

export async function main(argv: string[], env = process.env, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, projectDir = PROJECT_DIR): Promise<number> {
  let args: ReleaseArgs;
  try {
    args = parseReleaseArgs(argv);
  } catch (e) {
    err.write(`${(e as Error).message ? `release: ${(e as Error).message}\n\n` : ""}${USAGE}\n`);
    return 2;
  }
  try {
    const { PO_REGISTRY_USERNAME: username, PO_REGISTRY_PASSWORD: password } = env;
    out.write(`${await release(args, projectDir, username && password ? { username, password } : undefined)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof RegistryError || e instanceof ManifestError) {
      err.write(`release: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) runCli("release", () => main(process.argv.slice(2)));
