/**
 * Ends every jest run with one plain line, `N passed, N failed, N skipped`,
 * the closing line CI reads to tell how many tests ran. Written on exit, after
 * jest's own summary, so that it is the last line.
 *
 * A suite that fails outside its tests (a throwing beforeAll/afterAll, a file
 * that does not compile) has no failed test of its own; it counts as one
 * failure here, so that a red run never ends with "0 failed".
 */
function summaryLine(results) {
  const suiteFailures = results.testResults.filter((suite) => suite.numFailingTests === 0 && (suite.testExecError || suite.failureMessage)).length;
  return `${results.numPassedTests} passed, ${results.numFailedTests + suiteFailures} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
}

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const line = `${summaryLine(results)}\n`;
    process.once("exit", () => process.stderr.write(line));
  }
}

module.exports = SummaryReporter;
module.exports.summaryLine = summaryLine;
