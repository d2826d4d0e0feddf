// Unit tests of the notes' rules, run natively with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidNote, MESSAGE, checkText, summary } from "./notes.js";

test("text is trimmed", () => {
  assert.equal(checkText("  hello team \n"), "hello team");
});

test("blank text is refused with the message", () => {
  assert.throws(() => checkText("   "), new InvalidNote());
  assert.throws(() => checkText("   "), { message: MESSAGE });
});

test("two hundred characters fit and one more does not", () => {
  assert.equal(checkText("é".repeat(200)), "é".repeat(200));
  assert.equal(checkText("😀".repeat(200)), "😀".repeat(200));
  assert.throws(() => checkText("x".repeat(201)), InvalidNote);
});

test("a value that is not text is refused", () => {
  for (const value of [undefined, null, 42, ["hi"]]) {
    assert.throws(() => checkText(value), InvalidNote);
  }
});

test("the author id stays out", () => {
  const note = { text: "hi", author: "Bob", author_id: "u1", created_ms: 5 };
  assert.deepEqual(summary("n1", note), { id: "n1", text: "hi", author: "Bob", created_ms: 5 });
});
