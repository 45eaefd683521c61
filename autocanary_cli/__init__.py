"""The ``autocanary`` command line: watch and steer rollouts through the operator API."""
