"""A local OpenAI-compatible chat-completions server for the language-model fallback's tests."""

from tests.llm_sim.server import DEFAULT_KEY, LlmSimulator

__all__ = ["DEFAULT_KEY", "LlmSimulator"]
