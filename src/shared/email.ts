import { domainToASCII, domainToUnicode } from 'node:url';
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
/** RFC 5321 4.5.3.1: a mailbox name of at most 64 octets, a domain of at most 255 (253 written out), labels of 63. */
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const MAX_LABEL = 63;
/** A label of a domain in its ASCII form: letters, digits and inner hyphens (`xn--` labels included). */
const ASCII_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** Scripts told apart in a domain label; a letter of any other script counts as `other`. */
const SCRIPTS: readonly [string, RegExp][] = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Georgian', /\p{Script=Georgian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Han', /\p{Script=Han}/u],
  ['Hiragana', /\p{Script=Hiragana}/u],
  ['Katakana', /\p{Script=Katakana}/u],
  ['Hangul', /\p{Script=Hangul}/u],
  ['Bopomofo', /\p{Script=Bopomofo}/u],
];
/** The mixes of scripts one label may hold (UTS #39 "highly restrictive"): Japanese, Chinese and Korean with Latin. */
const ALLOWED_MIXES: readonly ReadonlySet<string>[] = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

/**
 * Whether a label of the domain (in Unicode) mixes scripts the way a look-alike does (`аpple` with a Cyrillic а is
 * another domain than `apple`, and reads the same): more than one script, other than the mixes Japanese, Chinese and
 * Korean names use. Digits, hyphens and marks belong to every script.
 */
function mixesScripts(label: string): boolean {
  const found = new Set<string>();
  for (const c of label) {
    if (!/\p{L}/u.test(c) || /\p{Script=Common}|\p{Script=Inherited}/u.test(c)) {
      continue;
    }
    found.add(SCRIPTS.find(([, re]) => re.test(c))?.[0] ?? 'other');
  }
  return found.size > 1 && !ALLOWED_MIXES.some((mix) => [...found].every((script) => mix.has(script)));
}

export type CanonicalEmail = { ok: true; address: string } | { ok: false; message: string };

export function canonicalEmail(raw: string): CanonicalEmail {
  const input = raw.trim();
  // The domain-to-ASCII step drops tabs and line breaks without a word, so `anna@exa\r\nmple.com` would become
  // another address than the one shown; a space or a control character is never part of an address we send to.
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f\u0080-\u009f]/.test(input)) {
    return { ok: false, message: 'Invalid email address: it holds a space, a line break or a control character' };
  }
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
  if (local.length > MAX_LOCAL) {
    return { ok: false, message: `Invalid email address: the part before @ is longer than ${MAX_LOCAL} characters` };
  }
  const domain = domainToASCII(input.slice(at + 1));
  if (domain === '') {
    return {
      ok: false,
      message: 'Invalid email address: the domain after @ is not a valid (internationalized) domain name',
    };
  }
  const labels = domain.split('.');
  if (domain.length > MAX_DOMAIN || labels.some((l) => l.length > MAX_LABEL)) {
    return {
      ok: false,
      message: `Invalid email address: the domain (in punycode) is longer than ${MAX_DOMAIN} characters or has a part longer than ${MAX_LABEL}`,
    };
  }
  // The mailbox name is checked by z.email(); the domain here, since z.email() wants a top-level domain of letters
  // and refuses an internationalized one (`.рф` is `.xn--p1ai`).
  const tld = labels.at(-1) ?? '';
  if (
    labels.length < 2 ||
    !labels.every((l) => ASCII_LABEL.test(l)) ||
    !(/^[a-z]{2,}$/.test(tld) || /^xn--[a-z0-9-]+$/.test(tld)) ||
    !ASCII_ADDRESS.safeParse(`${local}@example.com`).success
  ) {
    return { ok: false, message: 'Invalid email address' };
  }
  if (domainToUnicode(domain).split('.').some(mixesScripts)) {
    return {
      ok: false,
      message:
        'Invalid email address: a part of the domain mixes alphabets (e.g. a Cyrillic letter among Latin ones), as a look-alike of another domain does (in Unicode or punycode alike); check the address and type the domain again',
    };
  }
  const address = `${local}@${domain}`;
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
