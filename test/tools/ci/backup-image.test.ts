import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { BACKUP_IMAGE } from "../../../config/release";
import { backupImageRefs } from "../../../tools/ci/backup-image";

const ROOT = join(__dirname, "..", "..", "..");
const stackFiles = readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
const projectRegistry: string = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")).config.registry.value;
const TAG = "0123456789abcdef0123456789abcdef01234567";

describe("the references the backup image is pushed as", () => {
  it("are <registry>/backup:<tag> for each stack file's registry (the project's where a stack sets none), without duplicates", () => {
    const expected = new Set(
      stackFiles.map((f) => `${(parse(readFileSync(join(ROOT, f), "utf8")).config ?? {})["portugal-odyssey:registry"] ?? projectRegistry}/${BACKUP_IMAGE}:${TAG}`),
    );
    expect(backupImageRefs(ROOT, TAG).sort()).toEqual([...expected].sort());
  });

  it("a stack with its own registry adds its reference; one with an existing registry adds none", () => {
    const project = mkdtempSync(join(tmpdir(), "backup-image-"));
    try {
      for (const f of ["Pulumi.yaml", ...stackFiles]) copyFileSync(join(ROOT, f), join(project, f));
      const before = backupImageRefs(project, TAG);
      writeFileSync(join(project, "Pulumi.zother.yaml"), "config:\n  portugal-odyssey:registry: registry.example.org/other\n");
      const registry = before[0].slice(0, before[0].lastIndexOf(`/${BACKUP_IMAGE}:`));
      writeFileSync(join(project, "Pulumi.zsame.yaml"), `config:\n  portugal-odyssey:registry: ${registry}\n`);
      expect(backupImageRefs(project, TAG).sort()).toEqual([...before, `registry.example.org/other/${BACKUP_IMAGE}:${TAG}`].sort());
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("refuses a stack without a registry, naming it", () => {
    const project = mkdtempSync(join(tmpdir(), "backup-image-"));
    try {
      writeFileSync(join(project, "Pulumi.yaml"), "name: portugal-odyssey\nruntime: nodejs\n");
      writeFileSync(join(project, "Pulumi.noreg.yaml"), "config: {}\n");
      expect(() => backupImageRefs(project, TAG)).toThrow("stack noreg has no registry config");
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
