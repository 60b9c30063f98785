// A CRL source's schedule as the cron expression node-cron runs.
import cron from 'node-cron';

export type CrlSchedule =
  | { kind: 'hourly'; minute: number }
  | { kind: 'daily'; time: string }
  | { kind: 'weekly'; day: 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat'; time: string }
  | { kind: 'cron'; expression: string };

export function cronExpression(schedule: CrlSchedule): string {
  switch (schedule.kind) {
    case 'hourly':
      return `${schedule.minute} * * * *`;
    case 'daily':
      return `${minuteHour(schedule.time)} * * *`;
    case 'weekly':
      return `${minuteHour(schedule.time)} * * ${schedule.day}`;
    case 'cron':
      return schedule.expression;
  }
}

function minuteHour(time: string): string {
  const [hours, minutes] = time.split(':');
  return `${Number(minutes)} ${Number(hours)}`;
}

export interface ScheduledRun {
  stop(): void;
  nextRun(): Date | null;
}

/** Runs `job` on the schedule; throws with node-cron's reason if the expression is invalid. */
export function runOnSchedule(name: string, schedule: CrlSchedule, timezone: string, job: () => Promise<unknown>): ScheduledRun {
  const expression = cronExpression(schedule);
  const validation = cron.validateDetailed(expression);
  if (!validation.valid) throw new Error(`invalid schedule "${expression}": ${validation.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  const task = cron.schedule(expression, () => job(), { name: `crl-${name}`, timezone, noOverlap: true });
  return {
    stop: () => void task.destroy(),
    nextRun: () => task.getNextRun(),
  };
}
