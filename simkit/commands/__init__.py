"""One module per `simkit` subcommand: HELP and register(subparser) -> handler."""
