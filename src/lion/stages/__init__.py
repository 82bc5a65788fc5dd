"""The three stages of a Lion iteration: imitation, discrimination, generation."""
