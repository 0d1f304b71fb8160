"""The AppArmor-compatible profile language: parser, includes, variables, globs, matcher, lint."""
