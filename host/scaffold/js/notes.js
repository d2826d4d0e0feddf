/**
 * The notes' rules: plain JavaScript, so `node --test` checks them without building the component.
 */

export const MAX_CHARS = 200;
export const MESSAGE = "write 1 to 200 characters";

/** A note that breaks the rules; its message is the one to show next to the field. */
export class InvalidNote extends Error {
  constructor(message = MESSAGE) {
    super(message);
    this.name = "InvalidNote";
  }
}

/**
 * The note's text, trimmed, if it holds 1 to 200 characters; throws `InvalidNote` otherwise. It takes any value
 * because a JSON body may hold anything under "text"; characters are counted as code points, as Rust and Python
 * count them.
 *
 * @param {unknown} text
 * @returns {string}
 */
export function checkText(text) {
  if (typeof text !== "string") throw new InvalidNote();
  const trimmed = text.trim();
  const chars = [...trimmed].length;
  if (chars < 1 || chars > MAX_CHARS) throw new InvalidNote();
  return trimmed;
}

/**
 * What pages and the JSON API show of a stored note (never the author's user id).
 *
 * @param {string} id
 * @param {{text: string, author: string, created_ms: number}} note
 */
export function summary(id, note) {
  return { id, text: note.text, author: note.author, created_ms: note.created_ms };
}
