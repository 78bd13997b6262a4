"""The lessons' experiments: each returns tidy tables that notebooks show and figures plot."""
