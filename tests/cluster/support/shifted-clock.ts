/**
 * Preloaded (`node --import`) into product processes of the cluster tests: moves this process's wall clock
 * (`Date`) by JPM_SYNC_TEST_CLOCK_OFFSET_MS, so BullMQ's job schedulers reach a chosen weekday and hour within
 * the test instead of at the real one. Every process of a run gets the same offset, so they agree with each other;
 * timers, Redis and Postgres time are untouched, and the bank's business dates still come from the simulator.
 */
const offset = Number(process.env.JPM_SYNC_TEST_CLOCK_OFFSET_MS ?? '0');
if (!Number.isInteger(offset)) {
  throw new Error('JPM_SYNC_TEST_CLOCK_OFFSET_MS must be a whole number of milliseconds');
}
if (offset !== 0) {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) {
        super(RealDate.now() + offset);
      } else {
        super(...(args as ConstructorParameters<DateConstructor>));
      }
    }
    static override now(): number {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}
