"""Live class sessions: one small ``SessionStore`` interface, in memory (default) or in Redis (replicas)."""

from attnscope_server.classroom.store import MemoryStore, SessionStore, make_store

__all__ = ["MemoryStore", "SessionStore", "make_store"]
