"""berth's Python worker: serves one WSGI app over the berth worker protocol."""
