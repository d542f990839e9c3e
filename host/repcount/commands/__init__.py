"""The command line: one thin module per `repcount` command (arguments in, printing out)."""
