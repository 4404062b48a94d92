"""Development tools: the sandbox (a local stand-in for Twilio), the demo data, the phone
simulators, and throwaway Redis and PostgreSQL servers for tests and benchmarks.

The app registers them only with PROVIDER=sandbox or in debug (`app.extensions["devtools"]`,
set by create_app); in production create_app() never imports this package.
"""
