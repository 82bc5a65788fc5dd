"""lion-distill: adversarial distillation of an API-only LLM into a small open model."""

__version__ = "0.1.0"
