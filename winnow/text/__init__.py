"""Text analysis shared by stages: word and sentence splitting."""
