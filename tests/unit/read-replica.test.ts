import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { NotFoundError, ValidationError } from '../../src/shared/errors.ts';
import { classifyReadError, FreshAnswer, lsnValue } from '../../src/storage/read-replica.ts';

/** A query function whose answers the test hands out one by one. */
function controllable() {
  const pending: { n: number; answer: (v: number) => void; fail: (e: Error) => void }[] = [];
  let sent = 0;
  const ask = () =>
    new Promise<number>((answer, fail) => {
      sent++;
      pending.push({ n: sent, answer, fail });
    });
  return { ask, pending, sentCount: () => sent };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('FreshAnswer (the primary position shared by concurrent reads)', () => {
  it('never hands a caller an answer to a query sent before it asked', async () => {
    const q = controllable();
    const fresh = new FreshAnswer(q.ask);
    const a = fresh.next();
    await tick();
    expect(q.sentCount()).toBe(1);
    // b and c arrive while query 1 is on the wire: they must not get its answer.
    const b = fresh.next();
    const c = fresh.next();
    let bSettled = false;
    void b.then(() => (bSettled = true));
    q.pending[0]?.answer(1);
    expect(await a).toBe(1);
    await tick();
    expect(bSettled).toBe(false);
    // One query for both of them, sent after query 1 came back.
    expect(q.sentCount()).toBe(2);
    // d arrives while query 2 is on the wire: it waits for query 3.
    const d = fresh.next();
    q.pending[1]?.answer(2);
    expect(await b).toBe(2);
    expect(await c).toBe(2);
    await tick();
    expect(q.sentCount()).toBe(3);
    q.pending[2]?.answer(3);
    expect(await d).toBe(3);
    // Idle: the next caller sends at once.
    const e = fresh.next();
    await tick();
    expect(q.sentCount()).toBe(4);
    q.pending[3]?.answer(4);
    expect(await e).toBe(4);
  });

  it('a failed query fails only its own callers; those that waited get the next one', async () => {
    const q = controllable();
    const fresh = new FreshAnswer(q.ask);
    const a = fresh.next();
    await tick();
    const b = fresh.next();
    q.pending[0]?.fail(new Error('primary gone'));
    await expect(a).rejects.toThrow('primary gone');
    await tick();
    q.pending[1]?.answer(7);
    expect(await b).toBe(7);
  });
});

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('classifyReadError', () => {
  it("inside the read, only the client's own mistakes are answers", () => {
    const zodError = z.object({ a: z.string() }).safeParse({}).error;
    for (const err of [
      new NotFoundError('transaction', 'x'),
      new ValidationError('bad cursor'),
      zodError,
      pgError('22P02', 'invalid input syntax for type uuid'),
      pgError('22003'),
      pgError('23505'),
    ]) {
      expect(classifyReadError(err, 'read')).toEqual({ kind: 'answer' });
    }
  });

  it('inside the read, everything else runs again on the primary; only session faults skip the replica', () => {
    for (const err of [
      pgError('57014', 'canceling statement due to statement timeout'),
      pgError('40P01', 'deadlock detected'),
      pgError('XX000', 'internal error'),
      pgError('58P01', 'could not access file'),
      pgError('42883', 'function does not exist'),
      new TypeError('a bug'),
      'not an error',
    ]) {
      expect(classifyReadError(err, 'read')).toEqual({ kind: 'retry', markDown: false });
    }
    for (const err of [
      pgError('40001', 'canceling statement due to conflict with recovery'),
      pgError('53300', 'too many connections'),
      new Error('timeout exceeded when trying to connect'),
    ]) {
      expect(classifyReadError(err, 'read')).toEqual({ kind: 'retry', markDown: false });
    }
    for (const err of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('08006'),
      pgError('ECONNRESET', 'read ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('Query read timeout'),
    ]) {
      expect(classifyReadError(err, 'read')).toEqual({ kind: 'retry', markDown: true });
    }
  });

  it('before the read, every failure is the replica’s: retried on the primary, the replica skipped', () => {
    for (const err of [
      pgError('28P01', 'password authentication failed'),
      pgError('28000'),
      pgError('3D000', 'database "nope" does not exist'),
      pgError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN replica'),
      pgError('CERT_HAS_EXPIRED', 'certificate has expired'),
      pgError('57014'),
      pgError('XX000'),
      pgError('22P02'),
      new NotFoundError('x', 'y'),
      new Error('Connection terminated due to connection timeout'),
    ]) {
      expect(classifyReadError(err, 'prepare')).toEqual({ kind: 'retry', markDown: true });
    }
    // This read's circumstances, not the replica's: retried on the primary, the replica kept.
    for (const err of [pgError('40001'), pgError('53300'), new Error('timeout exceeded when trying to connect')]) {
      expect(classifyReadError(err, 'prepare')).toEqual({ kind: 'retry', markDown: false });
    }
  });
});

describe('lsnValue', () => {
  it('orders WAL positions across the high word', () => {
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(() => lsnValue('nope')).toThrow('not a WAL position');
  });
});

describe('DATABASE_READ_URL', () => {
  const problemsOf = (env: Record<string, string>): string => {
    try {
      loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'postgres://app@db.internal:5432/jpm', ...env });
      return '';
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems.join('\n');
    }
  };

  it('says what a valid value looks like', () => {
    expect(problemsOf({ DATABASE_READ_URL: 'replica:5432/jpm' })).toMatch(
      /DATABASE_READ_URL: must be a URL like postgres:\/\/user@replica:5432\/db, or empty/,
    );
    expect(problemsOf({ DATABASE_READ_URL: 'mysql://replica/jpm' })).toMatch(/DATABASE_READ_URL: must be a URL like/);
  });

  it('refuses the primary itself, in any spelling of the same server and database', () => {
    for (const same of ['postgres://app@db.internal:5432/jpm', 'postgresql://reader@DB.internal/jpm']) {
      expect(problemsOf({ DATABASE_READ_URL: same })).toMatch(/DATABASE_READ_URL: names the same server and database/);
    }
  });

  it('accepts a replica, or nothing', () => {
    expect(problemsOf({ DATABASE_READ_URL: 'postgres://app@replica.internal:5432/jpm' })).toBe('');
    expect(problemsOf({ DATABASE_READ_URL: '' })).toBe('');
    const { config } = loadConfig({ NODE_ENV: 'test', DATABASE_READ_URL: 'postgres://app@replica.internal/jpm' });
    expect(config.database.readUrl).toBe('postgres://app@replica.internal/jpm');
  });
});
