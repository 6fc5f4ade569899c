"""Why a registration was refused."""


class RegistrationRefusedError(Exception):
    """The username or password breaks a rule; `rule` names it and `field` says which input."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.field = field
        self.rule = rule
        self.message = message
