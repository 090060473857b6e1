import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JpmRejectedError, JpmUnavailableError } from '../../src/jpm/errors.ts';
import { dataQualityOf, parseEnvelope, parseTransactionRecords } from '../../src/jpm/records.ts';
import {
  balancesResponseSchema,
  errorsEnvelopeSchema,
  gatewayFaultSchema,
  isBalanceAccount,
  transactionsV2EnvelopeSchema,
  transactionsV3EnvelopeSchema,
  type WireAccountWithBalances,
  type WireTransactionDetails,
} from '../../src/jpm/wire.schemas.ts';
import { normalizeBalances } from '../../src/normalization/balances.ts';
import { OccurrenceCounter } from '../../src/normalization/identity.ts';
import { normalizeTransactions } from '../../src/normalization/transactions.ts';
import { parseJsonLossless } from '../../src/shared/json.ts';
import { toMinorUnits } from '../../src/shared/money.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/jpm');
const read = (file: string) => readFileSync(join(FIXTURES, file), 'utf8');

/**
 * Minor units computed from the raw JSON text with nothing but string slicing, independent of
 * `toMinorUnits` and of the schemas: the oracle for "amounts to the cent".
 */
function oracleMinor(text: string, scale: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) {
    throw new Error(`oracle cannot read ${text}`);
  }
  const frac = (m[3] ?? '').padEnd(scale, '0');
  expect(frac.slice(scale)).toMatch(/^0*$/);
  const minor = BigInt(`${m[2]}${frac.slice(0, scale)}`);
  return m[1] === '-' ? -minor : minor;
}

/** Every `"key": <number>` in file order, straight from the text. */
function numbersInText(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`"${key}"\\s*:\\s*(-?[0-9][0-9.eE+-]*)`, 'g'))].map((m) => m[1]!);
}

function parseTransactionsFile(file: string): { text: string; records: WireTransactionDetails[]; rejects: number } {
  const text = read(file);
  const envelope = parseEnvelope(transactionsV2EnvelopeSchema, parseJsonLossless(text), 'transactions', {});
  const { records, rejects } = parseTransactionRecords(envelope.data);
  // Every sample record has everything J.P. Morgan normally sends: no data-quality notes.
  expect(records.filter((r) => dataQualityOf(r).length > 0)).toEqual([]);
  return { text, records: records as WireTransactionDetails[], rejects: rejects.length };
}

describe('Transaction Details samples', () => {
  const files = [
    { file: 'unicorn-finance/uf-transactions.json', count: 49, postCode: 'I' },
    { file: 'jpmorganchase-payments/uf-transactions.json', count: 255, postCode: 'P' },
  ];

  it.each(files)('$file: all $count records pass, amounts exact to the cent', ({ file, count, postCode }) => {
    const { text, records, rejects } = parseTransactionsFile(file);
    expect(rejects).toBe(0);
    expect(records).toHaveLength(count);
    expect(new Set(records.map((r) => r.postCode))).toEqual(new Set([postCode]));

    const amounts = numbersInText(text, 'amount');
    const immediate = numbersInText(text, 'immediateAvailable');
    expect(amounts).toHaveLength(count);
    const normalized = normalizeTransactions(records, new OccurrenceCounter());
    expect(normalized.rejects).toEqual([]);
    records.forEach((record, i) => {
      expect(record.amount).toBe(amounts[i]);
      expect(normalized.records[i]!.amountMinor).toBe(oracleMinor(amounts[i]!, 2));
      expect(normalized.records[i]!.direction).toBe(record.debitCreditCode === 'DEBIT' ? 'debit' : 'credit');
      expect(toMinorUnits(record.immediateAvailable, record.currency.decimalLocation)).toBe(
        oracleMinor(immediate[i]!, 2),
      );
    });
  });

  it('covers the 304 sample records in total', () => {
    const total = files.reduce((n, f) => n + parseTransactionsFile(f.file).records.length, 0);
    expect(total).toBe(304);
  });

  it('never turns an amount into a JS number; only small integer fields are numbers', () => {
    const [record] = parseTransactionsFile('unicorn-finance/uf-transactions.json').records;
    const numbers: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (typeof value === 'number') {
        numbers.push(path);
      } else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          walk(v, path ? `${path}.${k}` : k);
        }
      }
    };
    walk(record, '');
    expect(numbers.sort()).toEqual([
      'account.currency.currencySequence',
      'account.currency.decimalLocation',
      'currency.currencySequence',
      'currency.decimalLocation',
    ]);
    expect(typeof record!.amount).toBe('string');
  });
});

describe('Account Balances samples', () => {
  const files = [
    { file: 'unicorn-finance/uf-balances.json', accounts: 5, errors: 0 },
    { file: 'unicorn-finance/AccountBalances.json', accounts: 43, errors: 1 },
    { file: 'jpmorganchase-payments/uf-balances.json', accounts: 48, errors: 0 },
    { file: 'jpmorganchase-payments/uf-balances-prior.json', accounts: 2, errors: 0 },
  ];
  const AMOUNT_KEYS = [
    'openingAvailableAmount',
    'openingLedgerAmount',
    'endingAvailableAmount',
    'endingLedgerAmount',
  ] as const;
  const MINOR_KEYS = [
    'openingAvailableMinor',
    'openingLedgerMinor',
    'endingAvailableMinor',
    'endingLedgerMinor',
  ] as const;

  it.each(files)('$file: $accounts accounts and $errors error entries, amounts exact', ({ file, accounts, errors }) => {
    const text = read(file);
    const response = parseEnvelope(balancesResponseSchema, parseJsonLossless(text), 'balances', {});
    const withBalances = response.accountList.filter(isBalanceAccount);
    expect(withBalances).toHaveLength(accounts);
    expect(response.accountList.length - withBalances.length).toBe(errors);

    const { balances, rejects } = normalizeBalances(withBalances);
    expect(rejects).toEqual([]);
    for (const [k, key] of AMOUNT_KEYS.entries()) {
      const texts = numbersInText(text, key);
      expect(texts).toHaveLength(balances.length);
      balances.forEach((b, i) => {
        expect(b[MINOR_KEYS[k]!]).toBe(oracleMinor(texts[i]!, 2));
      });
    }
  });

  it('keeps the GCA-024 per-account error entry as data', () => {
    const response = balancesResponseSchema.parse(parseJsonLossless(read('unicorn-finance/AccountBalances.json')));
    const errorEntries = response.accountList.filter((a) => !isBalanceAccount(a));
    expect(errorEntries).toEqual([
      expect.objectContaining({
        accountId: '000000011230554',
        errorCode: 'GCA-024',
        errorMsg: 'No transaction was found for this account on the requested day.',
      }),
    ]);
    expect(errorEntries[0]).not.toHaveProperty('balanceList');
  });

  it('accepts a balance account whose descriptive fields, timestamp and available amounts are null or absent', () => {
    const entry = {
      accountId: '1',
      accountName: null,
      bankId: null,
      currency: { code: 'USD', description: 'US DOLLAR', decimalLocation: '2', currencySequence: '0' },
      balanceList: [
        {
          asOfDate: '2025-01-02',
          recordTimestamp: null,
          currentDay: false,
          openingLedgerAmount: '10.00',
          endingLedgerAmount: '12.50',
          openingAvailableAmount: null,
        },
      ],
    };
    const response = parseEnvelope(balancesResponseSchema, { accountList: [entry] }, 'balances', {});
    const { balances } = normalizeBalances(response.accountList.filter(isBalanceAccount));
    expect(balances[0]).toMatchObject({
      openingAvailableMinor: null,
      openingLedgerMinor: 1000n,
      endingAvailableMinor: null,
      endingLedgerMinor: 1250n,
    });
  });

  it('passes an odd balance on as sent (normalization decides, per balance); the envelope still needs exactly one of balanceList or errorCode', () => {
    const entry = {
      accountId: '1',
      accountName: '',
      branchId: '',
      bankId: '1',
      bankName: 'X',
      currency: { code: 'JPY', description: 'YEN', decimalLocation: '0', currencySequence: '0' },
    };
    const bad = (body: unknown) => () => parseEnvelope(balancesResponseSchema, body, 'balances', { requestId: 'r-1' });
    expect(bad({ accountList: [entry] })).toThrow('accountList[0]: must have exactly one of balanceList or errorCode');
    const odd = {
      asOfDate: '2025-01-02',
      recordTimestamp: 'noon',
      currentDay: true,
      openingAvailableAmount: '1.5',
      openingLedgerAmount: '1',
      endingLedgerAmount: '1',
      extra: ['kept'],
    };
    const response = parseEnvelope(
      balancesResponseSchema,
      { accountList: [{ ...entry, balanceList: [odd, null] }] },
      'balances',
      {},
    );
    expect((response.accountList[0] as WireAccountWithBalances).balanceList).toEqual([odd, null]);
  });
});

describe('records whose money facts are unusable (tests/fixtures/jpm/reject)', () => {
  const scenarios = readdirSync(join(FIXTURES, 'reject'))
    .filter((f) => f.endsWith('.json'))
    .sort();
  const [valid] = (parseJsonLossless(read('unicorn-finance/uf-transactions.json')) as { data: unknown[] }).data;

  it('has scenarios', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(15);
  });

  it.each(scenarios)('%s is rejected with its precise reason, the rest of the page flows', (file) => {
    const scenario = parseJsonLossless(read(join('reject', file))) as { reason: string; record: unknown };
    const { records, rejects } = parseTransactionRecords([valid, scenario.record, valid]);
    expect(records).toHaveLength(2);
    // The reject names every unusable money fact: the reason, and the fields on their own.
    const fields = scenario.reason.split('; ').map((part) => part.slice(0, part.indexOf(': ')));
    expect(rejects).toEqual([{ raw: scenario.record, reason: scenario.reason, index: 1, fields }]);
  });
});

describe('envelopes', () => {
  const record = parseJsonLossless(read('unicorn-finance/uf-transactions.json')) as { data: unknown[] };

  it('parses the v3 page envelope with its pagination block as numbers', () => {
    const body = {
      pagination: { pageSize: '1000', totalPages: '3', pageNumber: '2', totalRecords: '2501' },
      data: record.data.slice(0, 2),
    };
    const page = parseEnvelope(transactionsV3EnvelopeSchema, body, 'transactions', {});
    expect(page.pagination).toEqual({ pageSize: 1000, totalPages: 3, pageNumber: 2, totalRecords: 2501 });
    expect(page.data).toHaveLength(2);
  });

  it('is strict about the envelope: a violation is a permanent schema error with the request id', () => {
    let caught: unknown;
    try {
      parseEnvelope(transactionsV3EnvelopeSchema, { data: [] }, 'transactions', {
        requestId: 'req-42',
        upstreamStatus: 200,
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(JpmRejectedError);
    expect(caught).toMatchObject({
      code: 'jpm_schema_violation',
      retryable: false,
      requestId: 'req-42',
      upstreamStatus: 200,
    });
    expect((caught as Error).message).toContain('pagination: is required but missing');
    expect(() => parseEnvelope(transactionsV2EnvelopeSchema, { data: {} }, 'transactions', {})).toThrow(
      'data: expected array, got an object',
    );
  });

  it('an answer holding nothing ({}, [], null) is retryable; one with content that breaks the schema is not', () => {
    for (const text of ['{}', '[]', 'null', ' { } ']) {
      let caught: unknown;
      try {
        parseEnvelope(balancesResponseSchema, parseJsonLossless(text), 'balance', { upstreamStatus: 200 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(JpmUnavailableError);
      expect(caught).toMatchObject({ code: 'jpm_malformed_response', retryable: true, upstreamStatus: 200 });
    }
    for (const body of [{ accountList: {} }, { accountList: null }, [{}], { balances: [] }]) {
      expect(() => parseEnvelope(balancesResponseSchema, body, 'balance', {})).toThrow(JpmRejectedError);
    }
  });

  it('recognises the errors envelope and the gateway fault body', () => {
    const errors = parseJsonLossless('{"errors":[{"errorCode":"GCA-099","errorMsg":"System is Unavailable"}]}');
    expect(errorsEnvelopeSchema.parse(errors).errors[0]?.errorCode).toBe('GCA-099');
    expect(errorsEnvelopeSchema.safeParse({ errors: [] }).success).toBe(false);
    const fault = {
      fault: { faultstring: 'Gateway Timeout', detail: { errorcode: 'messaging.adaptors.http.flow.GatewayTimeout' } },
    };
    expect(gatewayFaultSchema.parse(fault).fault.detail?.errorcode).toBe('messaging.adaptors.http.flow.GatewayTimeout');
  });
});

describe('amounts in other scales and sizes', () => {
  const [base] = (
    parseJsonLossless(read('unicorn-finance/uf-transactions.json')) as { data: Record<string, unknown>[] }
  ).data;
  const withAmount = (amount: string, decimalLocation: string, code: string) => ({
    ...base,
    amount,
    immediateAvailable: amount,
    currency: { code, description: code, decimalLocation, currencySequence: '0' },
  });

  it.each([
    ['32163647.96', '2', 'USD', 3216364796n],
    ['0.1', '2', 'USD', 10n],
    ['1013.31', '2', 'USD', 101331n],
    ['9999999999999.99', '2', 'USD', 999999999999999n],
    ['0.01', '2', 'USD', 1n],
    ['123456789012345', '0', 'JPY', 123456789012345n],
    ['1234.567', '3', 'KWD', 1234567n],
    ['1.0E7', '2', 'USD', 1000000000n],
  ])('%s with decimalLocation %s (%s) is %s minor units', (amount, scale, code, minor) => {
    const { records, rejects } = parseTransactionRecords([withAmount(amount, scale, code)]);
    expect(rejects).toEqual([]);
    expect(normalizeTransactions(records, new OccurrenceCounter()).records[0]!.amountMinor).toBe(minor);
  });

  it('rejects a decimal amount in a zero-decimal currency (the available amounts are not money facts)', () => {
    const { rejects } = parseTransactionRecords([withAmount('10.5', '0', 'JPY')]);
    expect(rejects[0]?.reason).toBe(`amount: amount "10.5" does not fit the currency's 0 decimal places`);
  });
});
