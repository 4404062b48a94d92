"""What every process shares: settings, the database engine and sessions, the Redis and
provider clients, and the addresses the provider calls us back at.

`gateway` (the web app), `workers` and `admin_ui` all import it; it imports none of them.
"""
