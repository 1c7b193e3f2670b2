import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { backupImageRefs } from "../../../tools/ci/backup-image";

const ROOT = join(__dirname, "..", "..", "..");
const stackFiles = readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f));
const projectRegistry: string = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")).config.registry.value;

describe("the references the backup image is pushed as", () => {
  it("are each stack file's <registry>/backup:<imageTag>, the project's registry where a stack sets none, without duplicates", () => {
    const expected = new Set(
      stackFiles.map((f) => {
        const config = parse(readFileSync(join(ROOT, f), "utf8")).config ?? {};
        return `${config["portugal-odyssey:registry"] ?? projectRegistry}/backup:${config["portugal-odyssey:imageTag"]}`;
      }),
    );
    expect(backupImageRefs(ROOT).sort()).toEqual([...expected].sort());
  });

  it("a stack with its own registry adds its reference; one with an existing registry and tag adds none", () => {
    const project = mkdtempSync(join(tmpdir(), "backup-image-"));
    try {
      for (const f of ["Pulumi.yaml", ...stackFiles]) copyFileSync(join(ROOT, f), join(project, f));
      const before = backupImageRefs(project);
      writeFileSync(join(project, "Pulumi.zother.yaml"), "config:\n  portugal-odyssey:registry: registry.example.org/other\n  portugal-odyssey:imageTag: v9\n");
      const [sameAsFirst] = before;
      const [registry, tag] = [sameAsFirst.slice(0, sameAsFirst.lastIndexOf("/backup:")), sameAsFirst.slice(sameAsFirst.lastIndexOf(":") + 1)];
      writeFileSync(join(project, "Pulumi.zsame.yaml"), `config:\n  portugal-odyssey:registry: ${registry}\n  portugal-odyssey:imageTag: ${tag}\n`);
      expect(backupImageRefs(project).sort()).toEqual([...before, "registry.example.org/other/backup:v9"].sort());
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("refuses a stack without an image tag, naming it", () => {
    const project = mkdtempSync(join(tmpdir(), "backup-image-"));
    try {
      copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
      writeFileSync(join(project, "Pulumi.notag.yaml"), "config: {}\n");
      expect(() => backupImageRefs(project)).toThrow("stack notag sets no registry or imageTag");
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
