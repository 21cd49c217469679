"""The built-in demo corpus (built at run time from text that ships with Python)."""
