/**
 * Runs inside the backup image (test/e2e/backup-container.e2e.test.ts): the
 * drill's checks (runDrill) of the newest complete backup, read from a
 * repository mounted read-only, restored into an empty PostgreSQL reached over
 * TCP. It prints the result as JSON and exits 0 only when the drill passed.
 * Its env: RESTIC_REPOSITORY, RESTIC_PASSWORD, PO_ENV, and DRILL_PGHOST,
 * DRILL_PGPORT, DRILL_PGUSER, DRILL_PGPASSWORD for the empty server.
 */
import { runDrill } from "../../../backup/drill";
import { run } from "../../../backup/exec";

const e = process.env;
const target = {
  stage: async (dir: string) => dir,
  postgres: (argv: string[]) => run(argv, { env: { ...process.env, PGHOST: e.DRILL_PGHOST, PGPORT: e.DRILL_PGPORT, PGUSER: e.DRILL_PGUSER, PGPASSWORD: e.DRILL_PGPASSWORD } }),
};

runDrill({ env: e.PO_ENV!, restic: { repository: e.RESTIC_REPOSITORY!, env: { RESTIC_PASSWORD: e.RESTIC_PASSWORD }, readOnly: true }, target, rpoHours: 26 }).then(
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(result.ok ? 0 : 1);
  },
  (err: Error) => {
    console.error(err.message);
    process.exit(2);
  },
);
