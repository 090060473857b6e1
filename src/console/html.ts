import { escapeHtml } from '../shared/html.ts';

/**
 * HTML templating for the console: a tagged template that escapes every interpolated value unless
 * it is already `Html` (the output of another `html` template or `raw`). Escaping by default is the
 * point: a customer name, a bank narrative or an error message can never become markup. Arrays of
 * `Html` are joined; null, undefined and false render nothing, so `${cond && html`…`}` works.
 */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) {
    return '';
  }
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return (value as readonly HtmlValue[]).map(render).join('');
  }
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Markup we produced ourselves (e.g. the validation calendar's SVG, which escapes its own values). */
export function raw(text: string): Html {
  return new Html(text);
}
