"""The AI core: channel-agnostic conversation engine, LLM adapter, sentence chunking. Empty on purpose."""
