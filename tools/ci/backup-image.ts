/**
 * Prints the references the backup image is pushed as, one per line: for each
 * distinct `registry` of the stack files, `<registry>/backup:<tag>`, the
 * repository `npm run release -- --service backup` resolves and pins by digest
 * in releases/<stack>.yaml. The `backup-image` job of .gitlab-ci.yml builds
 * backup/Dockerfile once and tags and pushes it under each, with the commit SHA as the tag.
 *
 *   npx tsx tools/ci/backup-image.ts --tag "$CI_COMMIT_SHA"
 */
import { parseArgs } from "node:util";
import { BACKUP_IMAGE } from "../../config/release";
import { stacksWithFiles } from "../../config/stack-files";
import { imageRepository, stackRegistry } from "../release/manifest";
import { PROJECT_DIR, runCli } from "../run-cli";

export function backupImageRefs(projectDir: string, tag: string): string[] {
  return [...new Set(stacksWithFiles(projectDir).map((stack) => `${imageRepository(stackRegistry(projectDir, stack), BACKUP_IMAGE)}:${tag}`))];
}

if (require.main === module) {
  runCli("backup-image", () => {
    const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options: { tag: { type: "string" } } });
    if (!values.tag) throw new Error("--tag <tag> is required (the commit SHA in CI)");
    process.stdout.write(`${backupImageRefs(PROJECT_DIR, values.tag).join("\n")}\n`);
    return 0;
  });
}
