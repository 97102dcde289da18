import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; `LOG_LEVEL` decides how much. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'trackql', ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
