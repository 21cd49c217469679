"""Selection stages: keep the documents that best serve a goal (a target domain, quality)."""
