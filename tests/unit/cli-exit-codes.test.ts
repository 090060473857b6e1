import { describe, expect, it } from 'vitest';
import { EXIT_NOT_YET, expectedFailure } from '../../src/main/commands.ts';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../src/shared/errors.ts';

/** The exit code each kind of refusal gets, for every `jpm-sync` command (README, Operations: CLI exit codes). */
describe('expectedFailure', () => {
  it('not yet (the same command succeeds later, nothing changed): 75, said as such', () => {
    for (const code of ['validation_not_yet_reportable', 'statement_copy_conflict']) {
      expect(expectedFailure(new ConflictError('nothing to report yet', code))).toEqual({
        code: EXIT_NOT_YET,
        message: 'not yet: nothing to report yet',
      });
    }
    expect(EXIT_NOT_YET).toBe(75);
  });

  it('an id that names nothing or a bad value: 2; a refusal by the state of things: 1', () => {
    expect(expectedFailure(new NotFoundError('account', 'x'))?.code).toBe(2);
    expect(expectedFailure(new ValidationError('bad from'))?.code).toBe(2);
    expect(expectedFailure(new ValidationError('bad file'), { invalidInput: 1 })?.code).toBe(1);
    expect(expectedFailure(new NotFoundError('account', 'x'), { invalidInput: 1 })?.code).toBe(2);
    expect(expectedFailure(new ConflictError('account x is paused', 'account_not_active'))?.code).toBe(1);
  });

  it('an error not meant for the operator (unexposed, or no AppError) is left to the one-line "failed"', () => {
    expect(expectedFailure(new AppError('pool gone', { code: 'internal', httpStatus: 500 }))).toBeUndefined();
    expect(expectedFailure(new Error('boom'))).toBeUndefined();
  });
});
