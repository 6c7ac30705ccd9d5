"""Capabilities: one package each, made of pure functions over ``Audio`` and a loaded model."""
