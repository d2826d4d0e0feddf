"""Unit tests of the notes' rules, run natively with `python -m unittest`."""

import unittest

from notes import MESSAGE, InvalidNote, check_text, summary


class CheckTextTest(unittest.TestCase):
    def test_text_is_trimmed(self):
        self.assertEqual(check_text("  hello team \n"), "hello team")

    def test_blank_text_is_refused_with_the_message(self):
        with self.assertRaises(InvalidNote) as refused:
            check_text("   ")
        self.assertEqual(str(refused.exception), MESSAGE)

    def test_two_hundred_characters_fit_and_one_more_does_not(self):
        self.assertEqual(check_text("é" * 200), "é" * 200)
        with self.assertRaises(InvalidNote):
            check_text("x" * 201)

    def test_a_value_that_is_not_text_is_refused(self):
        for value in (None, 42, ["hi"]):
            with self.assertRaises(InvalidNote):
                check_text(value)


class SummaryTest(unittest.TestCase):
    def test_the_author_id_stays_out(self):
        note = {"text": "hi", "author": "Bob", "author_id": "u1", "created_ms": 5}
        self.assertEqual(summary("n1", note), {"id": "n1", "text": "hi", "author": "Bob", "created_ms": 5})


if __name__ == "__main__":
    unittest.main()
