/**
 * The backup image (backup/Dockerfile) is built only in CI, from what its COPY
 * lines bring in and the production dependencies `npm ci --omit=dev` installs.
 * This walks the backup program's imports from its entry point and holds the
 * Dockerfile to them, so a new import cannot leave the image unable to start.
 */
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { BACKUP_IMAGE_DIRS } from "../../model/backup";

const ROOT = join(__dirname, "..", "..");
const DOCKERFILE = readFileSync(join(ROOT, "backup", "Dockerfile"), "utf8");
const ENTRY = /^CMD \[.*"(backup\/[^"]+\.ts)"/m.exec(DOCKERFILE)![1];
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean; dependencies?: Record<string, string> }> };
/** The program the CMD runs with: `node_modules/.bin/<runner>`. */
const RUNNER = /^CMD \["node_modules\/\.bin\/([^"]+)"/m.exec(DOCKERFILE)![1];

/** Every project file and package the entry point reaches, type-only imports left out (they vanish when run). */
function reach(entry: string) {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
      if (m[1]) continue;
      const spec = m[2];
      if (spec.startsWith(".")) {
        const base = resolve(dirname(file), spec);
        visit([`${base}.ts`, join(base, "index.ts")].find((f) => existsSync(f))!);
      } else if (!spec.startsWith("node:") && !builtinModules.includes(spec)) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);
      }
    }
  };
  visit(join(ROOT, entry));
  return { files: [...files].map((f) => relative(ROOT, f)), packages: [...packages] };
}

const copied = [...DOCKERFILE.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
const { files, packages } = reach(ENTRY);

test("the image copies every folder the backup program imports from", () => {
  const folders = [...new Set(files.map((f) => f.split("/")[0]))];
  expect(folders).toContain("backup");
  for (const folder of folders) expect(copied).toContain(folder);
});

test("the backup program imports nothing from tools/ or the tests, which the image leaves out", () => {
  expect(files.filter((f) => /^(tools|test|testing)\//.test(f))).toEqual([]);
});

test("every package the backup program imports is a production dependency, which npm ci --omit=dev installs", () => {
  expect(packages.length).toBeGreaterThan(0);
  for (const name of packages) expect(Object.keys(pkg.dependencies)).toContain(name);
});

test("npm ci --omit=dev installs every package the program imports, and the runner of its CMD: none is marked dev in the lock file", () => {
  // npm ci installs what package-lock.json says, and --omit=dev leaves out every entry marked "dev": true.
  const needed = [...packages, RUNNER];
  expect(Object.keys(pkg.dependencies)).toContain(RUNNER);
  const devOnly = needed.filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
  expect(devOnly).toEqual([]);
  for (const name of needed) expect(lock.packages[`node_modules/${name}`]).toBeDefined();
});

test("the image installs production dependencies only: one npm ci --omit=dev, and no other npm install", () => {
  const npm = [...DOCKERFILE.matchAll(/\bnpm (\w+)[^&\n]*/g)].map((m) => m[0].trim());
  expect(npm.filter((c) => c.startsWith("npm ci"))).toEqual(["npm ci --omit=dev --ignore-scripts"]);
  expect(npm.filter((c) => /^npm (install|i|add)\b/.test(c))).toEqual([]);
});

test("the image creates the mount points model/backup.ts gives a volume's owner, with that owner and mode", () => {
  for (const dir of BACKUP_IMAGE_DIRS) {
    const [uid, gid] = dir.owner.split(":");
    expect(DOCKERFILE).toMatch(new RegExp(`install -d -o ${uid} -g ${gid} -m ${dir.mode} ${dir.path}(\\s|$)`));
  }
});
