import { domainToASCII } from 'node:url';
import { z } from 'zod';

/**
 * Email addresses of people (contacts, security administrators) in one canonical form: the domain
 * in its ASCII (punycode, IDNA/UTS #46) form, lowercase; the mailbox name (before the `@`) as given.
 * `anna@bücher.example` and `ANNA@XN--BCHER-KVA.example` are then one address to the
 * case-insensitive unique indexes, and the stored form is what SMTP carries without SMTPUTF8.
 *
 * A mailbox name with non-ASCII characters (`jörg@…`) is refused: it can be delivered only when
 * every relay on the way speaks SMTPUTF8 (RFC 6531), which we cannot promise, and a message that
 * silently never arrives is worse than asking for the person's ASCII address.
 */
const ASCII_ADDRESS = z.email();
const MAX_LENGTH = 320;

export type CanonicalEmail = { ok: true; address: string } | { ok: false; message: string };

export function canonicalEmail(raw: string): CanonicalEmail {
  const input = raw.trim();
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) {
    return { ok: false, message: 'Invalid email address: expected name@domain' };
  }
  const local = input.slice(0, at);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(local)) {
    return {
      ok: false,
      message:
        'the part before @ holds non-ASCII characters, which mail can carry only over SMTPUTF8 and is not sent that way; give an ASCII address for this person (an internationalized domain after @ is fine)',
    };
  }
  const domain = domainToASCII(input.slice(at + 1));
  if (domain === '') {
    return {
      ok: false,
      message: 'Invalid email address: the domain after @ is not a valid (internationalized) domain name',
    };
  }
  const address = `${local}@${domain}`;
  if (!ASCII_ADDRESS.safeParse(address).success) {
    return { ok: false, message: 'Invalid email address' };
  }
  if (address.length > MAX_LENGTH) {
    return { ok: false, message: `Too long: at most ${MAX_LENGTH} characters (with the domain in punycode)` };
  }
  return { ok: true, address };
}

/** A request field holding a person's email address, parsed to its canonical form (see `canonicalEmail`). */
export function emailAddress() {
  return z
    .string()
    .max(MAX_LENGTH)
    .transform((value, ctx) => {
      const c = canonicalEmail(value);
      if (!c.ok) {
        ctx.addIssue({ code: 'custom', message: c.message });
        return z.NEVER;
      }
      return c.address;
    })
    .meta({
      description:
        'An email address; an internationalized domain (bücher.example) is accepted and stored in punycode (xn--bcher-kva.example). The part before @ must be ASCII.',
      format: 'idn-email',
    });
}
