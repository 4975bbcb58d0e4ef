"""The one error a generation raises for what the user asked."""


class GenerationError(ValueError):
    """A request the model cannot serve (size, frame count, steps...): one line for the user."""
