"""The command line: `main` maps errors to exit codes; each module registers its commands."""
