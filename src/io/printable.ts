// Names from the user's disk (file and folder names, class names) as they may be printed: a name can hold escape
// codes or newlines that would clear a terminal, forge log lines or break a table, so those are shown escaped.

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides that reorder text. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** The text with every control character written as a JSON-style escape (ESC becomes \u001b). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** True when printable() would change the text. */
export function holdsControlCharacter(text: string): boolean {
  return text.search(UNPRINTABLE) >= 0;
}

/** The text as one cell of a Markdown table: controls escaped (no newline ends the row) and '|' escaped. */
export function markdownCell(text: string): string {
  return printable(text).replace(/\|/g, '\\|');
}
