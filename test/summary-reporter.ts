// Prints one plain closing line, "N passed, N failed, N skipped", that CI logs can be read by.
import type { File, Task } from '@vitest/runner';

function count(tasks: Task[], totals: { passed: number; failed: number; skipped: number }): void {
  for (const task of tasks) {
    if (task.type === 'suite') count(task.tasks, totals);
    else if (task.result?.state === 'pass') totals.passed++;
    else if (task.result?.state === 'fail') totals.failed++;
    else totals.skipped++;
  }
}

export default class SummaryReporter {
  onFinished(files: File[] = [], errors: unknown[] = []): void {
    const totals = { passed: 0, failed: 0, skipped: 0 };
    count(files, totals);
    for (const file of files) if (file.result?.state === 'fail' && file.tasks.length === 0) totals.failed++;
    totals.failed += errors.length;
    process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  }
}
