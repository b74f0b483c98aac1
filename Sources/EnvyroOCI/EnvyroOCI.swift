// EnvyroOCI: the OCI runtime-spec documents envyro reads and writes (issue 8).
