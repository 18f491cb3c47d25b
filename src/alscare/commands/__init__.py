"""Sub-commands of ``alscare``, one module each; ``cli.py`` registers every module listed in
``MODULES`` by calling its ``register(app)``."""

MODULES = ("db", "io", "synth", "rules", "model", "demo", "patients", "imports", "audit",
           "serve", "users")
