"""Chat and agent data: formats read into turns and written back, the views built from the
turns, and the one mechanism that carries every text edit into them."""
