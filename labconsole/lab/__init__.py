"""The lab: config, reducer + state, hypotheses, gate, git, and the Lab service."""
