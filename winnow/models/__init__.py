"""Models that winnow runs itself (numpy inference of published formats)."""
