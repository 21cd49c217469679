"""Heuristic quality filters: Gopher, C4 and FineWeb, as datatrove implements them."""
