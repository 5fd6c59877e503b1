"""Business operations, Flask-free. Each takes a Session (keyword-only), flushes, never commits."""
