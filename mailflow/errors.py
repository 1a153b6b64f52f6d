"""One exception tree. Protocol codes appear only at the edges (LMTP handler, CLI)."""


class MailflowError(Exception):
    """Base of every error mailflow raises on purpose."""


class ConfigError(MailflowError):
    """A setting, file or secret is missing or wrong; start-up stops."""


class RuleDefinitionError(ConfigError):
    """A rules file is broken; carries the file and the offending key."""


class ParseError(MailflowError):
    """A message cannot be understood. Permanent: retrying will not help."""


class TransientError(MailflowError):
    """A temporary failure (network, lock, 4xx). Retry with backoff."""
