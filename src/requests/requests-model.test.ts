import { describe, expect, it } from 'vitest';
import { AppError } from '../errors/errors.js';
import { checkTransition, computeDueAt, dueDateOf, wholeDays } from './requests-model.js';

const due = (
  received: string,
  deadline: string,
  extra: { pausedDays?: number; extension?: string } = {},
) => dueDateOf(computeDueAt({ receivedAt: new Date(received), deadline, ...extra }));

describe('due dates', () => {
  it('counts one calendar month to the same date, or the last day of a shorter month', () => {
    expect(due('2026-01-15T10:00:00Z', 'P1M')).toBe('2026-02-15');
    expect(due('2026-01-31T10:00:00Z', 'P1M')).toBe('2026-02-28');
    expect(due('2028-01-31T23:30:00Z', 'P1M')).toBe('2028-02-29');
    expect(due('2026-03-31T00:00:00Z', 'P1M')).toBe('2026-04-30');
    expect(due('2026-12-15T00:00:00Z', 'P1M')).toBe('2027-01-15');
  });

  it('counts days and weeks without the day of receipt', () => {
    expect(due('2026-01-01T09:00:00Z', 'P30D')).toBe('2026-01-31');
    expect(due('2026-02-20T09:00:00Z', 'P14D')).toBe('2026-03-06');
    expect(due('2026-02-20T09:00:00Z', 'P2W')).toBe('2026-03-06');
  });

  it('ends at the end of the due day', () => {
    expect(
      computeDueAt({ receivedAt: new Date('2026-01-31T10:00:00Z'), deadline: 'P1M' }).toISOString(),
    ).toBe('2026-02-28T23:59:59.999Z');
  });

  it('adds paused days and one extension', () => {
    expect(due('2026-01-15T10:00:00Z', 'P1M', { pausedDays: 3 })).toBe('2026-02-18');
    expect(due('2026-01-31T10:00:00Z', 'P1M', { extension: 'P2M' })).toBe('2026-04-30');
    expect(wholeDays(new Date('2026-01-01T10:00:00Z'), new Date('2026-01-02T09:59:00Z'))).toBe(0);
    expect(wholeDays(new Date('2026-01-01T10:00:00Z'), new Date('2026-01-03T10:00:00Z'))).toBe(2);
  });
});

describe('state machine', () => {
  it('allows the documented path', () => {
    expect(() => checkTransition('received', 'identity_pending')).not.toThrow();
    expect(() => checkTransition('identity_pending', 'verified')).not.toThrow();
    expect(() => checkTransition('verified', 'in_progress')).not.toThrow();
    expect(() => checkTransition('in_progress', 'partially_completed')).not.toThrow();
  });

  it('refuses an illegal transition with a conflict naming what is allowed', () => {
    try {
      checkTransition('completed', 'in_progress');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).status).toBe(409);
      expect((error as AppError).details?.[0]?.message).toContain('final');
    }
    expect(() => checkTransition('identity_pending', 'completed')).toThrow(
      /cannot become completed/,
    );
  });
});
