import unittest

from greeting import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(greet("Ada"), {"greeting": "Hello, Ada!"})

    def test_refuses_an_empty_name(self):
        with self.assertRaises(ValueError):
            greet("  ")


if __name__ == "__main__":
    unittest.main()
